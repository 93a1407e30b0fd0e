"""Shared helpers for the Streamlit AppTest tests: open the real app on a temp database,
log a user in, switch pages, read what the page shows.

The app runs in this process (AppTest), so it shares ``curator.store.Store`` instances with
the test: data the test writes through the core is what the page reads.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

__all__ = ["ROOT", "PAGES", "PAGE_FILES", "app_for", "go", "page_path", "nav_keys", "texts",
           "errors", "run_page_directly", "close_stores"]

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "pages"
PAGE_FILES = {
    "label": "label.py", "review": "review.py", "projects": "projects.py",
    "import": "import_data.py", "agreement": "agreement.py", "export": "export.py",
    "jobs": "jobs.py", "users": "users.py", "account": "account.py",
}


def page_path(key: str) -> str:
    """Absolute path of the page file for a page key ('review', 'jobs', ...)."""
    return str(PAGES / PAGE_FILES[key])


def _user_dict(user: Any) -> dict[str, Any]:
    if isinstance(user, dict):
        return user
    return {"id": user.id, "name": user.name, "role": user.role}


def app_for(db_path: str | Path, user: Any = None, *, monkeypatch: pytest.MonkeyPatch | None = None,
            secrets: dict[str, Any] | None = None, run: bool = True) -> AppTest:
    """The app on ``db_path`` with ``user`` (an Actor, User or {'id','name','role'}) logged in.

    Sets ``CURATOR_DB`` (through ``monkeypatch`` when given, so it is undone after the test)."""
    if monkeypatch is not None:
        monkeypatch.setenv("CURATOR_DB", str(db_path))
    else:
        os.environ["CURATOR_DB"] = str(db_path)
    at = AppTest.from_file(str(PAGES / "app.py"), default_timeout=30)
    if secrets:
        for k, v in secrets.items():
            at.secrets[k] = v
    if user is not None:
        at.session_state["user"] = _user_dict(user)
    if run:
        at.run()
    return at


def go(at: AppTest, key: str) -> AppTest:
    """Switch to page ``key`` and run it (ValueError when the role's navigation lacks it)."""
    return at.switch_page(page_path(key)).run()


def nav_keys(at: AppTest) -> set[str]:
    """The page keys whose files the last run registered with ``st.navigation``."""
    by_file = {name: key for key, name in PAGE_FILES.items()}
    out = set()
    for info in at._registered_pages.values():
        script = info.get("script_path")
        out.add(by_file.get(Path(str(script)).name, str(script)) if script
                else str(info.get("page_name")))
    return out


def texts(at: AppTest) -> str:
    """Every markdown/caption/title/header/alert text of the last run, joined (for asserts)."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "text", "info",
                 "success", "warning", "error", "code", "metric"):
        for el in getattr(at, kind):
            parts.append(str(getattr(el, "value", "")))
            if kind == "metric":
                parts.append(str(el.label))
    return "\n".join(parts)


def errors(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.error]


def run_page_directly(db_path: str | Path, key: str, user: Any, *,
                      monkeypatch: pytest.MonkeyPatch | None = None) -> AppTest:
    """Run one page file on its own (bypassing the navigation) to check its own guard."""
    if monkeypatch is not None:
        monkeypatch.setenv("CURATOR_DB", str(db_path))
        monkeypatch.syspath_prepend(str(PAGES))
    at = AppTest.from_file(page_path(key), default_timeout=30)
    at.session_state["user"] = _user_dict(user)
    return at.run()


def close_stores() -> None:
    """Close every Store this process opened and forget the queue indexes (teardown)."""
    from curator import queue
    from curator.store import Store

    queue.forget_indexes()
    Store.close_all()
