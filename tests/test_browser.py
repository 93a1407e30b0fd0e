"""A real browser: start `curator serve` in a subprocess on a free port, drive Debian's chromium
through Playwright, log in as an annotator, label three tickets with the keyboard, and check
through the core that the three answers are stored; and the log-in surviving a reload."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from conftest import serving

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")


def _browser(pw):
    return pw.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"])


def _log_in(page, url: str, name: str, password: str) -> None:
    page.goto(url)
    page.get_by_label("User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.fixture
def seeded_db(tmp_path):
    from conftest import add_items
    from curator import queue, users
    from curator.permissions import SYSTEM
    from curator.projects import create_project
    from curator.store import Store

    db = tmp_path / "browser.duckdb"
    s = Store.open(db)
    users.create_user(s, SYSTEM, "lee", "lead", "lead-password")
    ann = users.create_user(s, SYSTEM, "ann", "annotator", "ann-password")
    p = create_project(s, SYSTEM, "tickets", "classification", labels="billing,refund,bug",
                       overlap=1, guidelines="Pick the customer's request.")
    add_items(s, p, ["I was charged twice this month", "Please refund my order 4411",
                     "The app crashes when I open settings", "Where is my invoice?"])
    queue.forget_indexes(s)
    s.close()
    return db, ann


def test_annotator_labels_three_tickets_with_the_keyboard(seeded_db, tmp_path):
    db, ann = seeded_db
    with serving(db, tmp_path / "server.log") as srv, playwright.sync_playwright() as pw:
        browser = _browser(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        _log_in(page, srv["url"], "ann", "ann-password")
        page.get_by_text("charged twice").wait_for(timeout=30000)
        for key, next_text in [("1", "refund my order"), ("2", "crashes when I open"),
                               ("3", "Where is my invoice")]:
            # the label buttons are drawn and idle (the script run has finished)
            page.get_by_role("button", name="billing", exact=False).first.wait_for(timeout=30000)
            page.wait_for_function(
                "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                timeout=30000)
            page.wait_for_timeout(700)
            page.get_by_role("heading", name="Label").click()  # focus off any input
            page.keyboard.press(key)
            page.get_by_text(next_text).wait_for(timeout=30000)
        page.screenshot(path=str(tmp_path / "after.png"))
        browser.close()

    from curator import queue
    from curator.store import Store

    s = Store.open(db)
    try:
        answers = queue.recent_answers(s, ann.actor, "tickets")
        assert [a["value"] for a in reversed(answers)] == ["billing", "refund", "bug"]
        assert [a["text"][:12] for a in reversed(answers)] == [
            "I was charge", "Please refun", "The app cras"]
    finally:
        queue.forget_indexes(s)
        s.close()


def test_reload_keeps_the_login_and_log_out_ends_it(seeded_db, tmp_path):
    """The session cookie: a reload (and a new tab) stays logged in; the cookie is HttpOnly;
    after log-out a reload shows the log-in page again."""
    db, ann = seeded_db
    with serving(db, tmp_path / "server.log") as srv, playwright.sync_playwright() as pw:
        url = srv["url"]
        browser = _browser(pw)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        _log_in(page, url, "ann", "ann-password")
        page.get_by_text("charged twice").wait_for(timeout=30000)
        # the page hands the browser its cookie
        deadline = time.time() + 30
        while not [c for c in context.cookies() if c["name"] == "curator_session"]:
            assert time.time() < deadline, "no session cookie was set"
            page.wait_for_timeout(200)
        cookie = next(c for c in context.cookies() if c["name"] == "curator_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert "curator_session" not in page.evaluate("document.cookie")
        page.reload()
        page.get_by_text("charged twice").wait_for(timeout=30000)
        assert page.get_by_label("User name").count() == 0
        other = context.new_page()           # a second tab of the same browser
        other.goto(url)
        other.get_by_text("charged twice").wait_for(timeout=30000)
        other.close()
        page.get_by_role("button", name="Log out").click()
        page.get_by_label("User name").wait_for(timeout=30000)
        page.reload()
        page.get_by_label("User name").wait_for(timeout=30000)
        # a fresh browser without the cookie sees the log-in page too
        fresh = browser.new_context().new_page()
        fresh.goto(url)
        fresh.get_by_label("User name").wait_for(timeout=30000)
        browser.close()
