"""Navigation per role, the page guards, and the Projects, Users and Account pages."""
from __future__ import annotations

import pytest

from apptest_util import (app_for, close_stores, errors, go, nav_keys, page_path,
                          run_page_directly, texts)
from curator import users
from curator.errors import AuthError
from curator.projects import get_project

EXPECTED_NAV = {
    "annotator": {"label", "account"},
    "lead": {"label", "review", "projects", "import", "agreement", "export", "jobs", "account"},
    "engineer": {"label", "import", "agreement", "export", "jobs", "account"},
    "admin": {"label", "review", "projects", "import", "agreement", "export", "jobs", "users",
              "account"},
}
MINE = ("review", "agreement", "jobs", "projects", "users", "account")
WHO = {"annotator": "ann", "lead": "lee", "engineer": "eve", "admin": "ada"}


@pytest.fixture(autouse=True)
def _teardown():
    yield
    close_stores()


def test_each_role_sees_exactly_its_pages_and_they_render(db_path, store, people, clf_project,
                                                          monkeypatch, tmp_path):
    monkeypatch.setenv("CURATOR_EXPORTS_DIR", str(tmp_path / "exports"))
    for role, expected in EXPECTED_NAV.items():
        at = app_for(db_path, people[WHO[role]], monkeypatch=monkeypatch)
        assert not at.exception, (role, at.exception)
        assert nav_keys(at) == expected, role
        for key in MINE:
            if key in expected:
                go(at, key)
                assert not at.exception, (role, key, at.exception)
                assert not any("cannot use this page" in e for e in errors(at)), (role, key)
            else:
                with pytest.raises(ValueError, match="Could not find a navigation page"):
                    at.switch_page(page_path(key))


def test_forbidden_page_shows_the_guard_error_and_nothing_else(db_path, monkeypatch):
    """Each page checks the role itself, even when run without the navigation."""
    cases = [("annotator", k) for k in ("review", "agreement", "jobs", "projects", "users")]
    cases += [("engineer", "users"), ("engineer", "review"), ("engineer", "projects"),
              ("lead", "users")]
    for role, key in cases:
        user = {"id": 99, "name": "someone", "role": role}
        at = run_page_directly(db_path, key, user, monkeypatch=monkeypatch)
        assert not at.exception, (role, key)
        assert errors(at) == [f"Your role ({role}) cannot use this page."], (role, key)
        assert not at.title and not at.button and not at.dataframe and not at.text_input
    user = {"id": 99, "name": "someone", "role": "annotator"}
    at = run_page_directly(db_path, "account", user, monkeypatch=monkeypatch)
    assert not errors(at) and at.title  # every role has an account page


def test_login_page_without_user(db_path, store, people, monkeypatch):
    at = app_for(db_path, None, monkeypatch=monkeypatch)
    assert not at.exception
    assert len(at._registered_pages) == 1  # only the login page
    assert at.text_input(key="login_name")


def test_lead_creates_and_edits_a_project(db_path, store, people, monkeypatch):
    at = app_for(db_path, people["lee"], monkeypatch=monkeypatch)
    go(at, "projects")
    assert not at.exception
    assert "No projects yet" in texts(at)
    at.text_input(key="new_name").input("refunds-v2")
    at.session_state["new_labels"] = {
        "edited_rows": {0: {"name": "refund", "description": "wants money back", "key": "m"}},
        "added_rows": [{"name": "other", "description": "anything else"}],
        "deleted_rows": []}
    at.text_area(key="new_guidelines").input("# Rules\n\n*Refund* means money back.")
    at.text_area(key="new_system").input("Classify the ticket.")
    at.number_input(key="new_overlap").set_value(3)
    at.selectbox(key="new_rule_kind").set_value("majority")
    at.number_input(key="new_rule_min").set_value(2)
    at.multiselect(key="new_members").set_value(["ann", "bob"])
    at.toggle(key="new_show_own").set_value(True)
    at.run()
    assert "Refund" in texts(at)  # the Markdown preview
    at.button(key="new_create").click().run()
    assert not at.exception and not errors(at), errors(at)
    assert "Project 'refunds-v2' created." in texts(at)
    p = get_project(store, "refunds-v2")
    assert p.task_type == "classification" and p.overlap == 3
    assert [(l.name, l.description, l.key) for l in p.labels] == [
        ("refund", "wants money back", "m"), ("other", "anything else", "")]
    assert p.settle_rule == {"kind": "majority", "min_answers": 2, "margin": 1}
    assert set(p.members) == {"ann", "bob"} and p.show_own_result
    assert p.guidelines.startswith("# Rules") and p.system_prompt == "Classify the ticket."
    listing = at.dataframe[0].value
    assert list(listing["name"]) == ["refunds-v2"] and list(listing["items"]) == [0]

    # edit: overlap and rule, then a bad value is refused with a message
    at.selectbox(key="edit_pick").set_value("refunds-v2").run()
    at.number_input(key=f"edit_{p.id}_overlap").set_value(2)
    at.selectbox(key=f"edit_{p.id}_rule_kind").set_value("unanimous")
    at.run()
    at.button(key=f"edit_{p.id}_save").click().run()
    assert not errors(at), errors(at)
    p2 = get_project(store, "refunds-v2")
    assert p2.overlap == 2 and p2.settle_rule == {"kind": "unanimous", "min_answers": 2}

    # a duplicate name is refused on screen, not with a traceback
    at.text_input(key="new_name").input("refunds-v2")
    at.session_state["new_labels"] = {"edited_rows": {0: {"name": "x"}}, "added_rows": [],
                                      "deleted_rows": []}
    at.button(key="new_create").click().run()
    assert not at.exception
    assert any("already exists" in e for e in errors(at))


def test_preference_project_needs_no_labels(db_path, store, people, monkeypatch):
    at = app_for(db_path, people["ada"], monkeypatch=monkeypatch)
    go(at, "projects")
    at.text_input(key="new_name").input("pairs")
    at.selectbox(key="new_task").set_value("preference").run()
    assert not at.exception
    at.button(key="new_create").click().run()
    assert not errors(at)
    assert get_project(store, "pairs").task_type == "preference"


def test_admin_manages_users(db_path, store, people, monkeypatch):
    at = app_for(db_path, people["ada"], monkeypatch=monkeypatch)
    go(at, "users")
    assert not at.exception
    assert set(at.dataframe[0].value["name"]) == {"ada", "lee", "eve", "ann", "bob", "cat"}
    at.text_input(key="users_add_name").input("dan")
    at.selectbox(key="users_add_role").set_value("lead")
    at.text_input(key="users_add_password").input("a-long-password")
    at.button[[b.label for b in at.button].index("Add user")].click().run()
    assert not at.exception and not errors(at), errors(at)
    assert "User 'dan' added as lead." in texts(at)
    assert users.authenticate(store, "dan", "a-long-password").role == "lead"

    # a too short password is refused with the reason
    at.text_input(key="users_add_name").input("eva")
    at.text_input(key="users_add_password").input("short")
    at.button[[b.label for b in at.button].index("Add user")].click().run()
    assert any("password too short" in e for e in errors(at))

    at.selectbox(key="users_role_who").set_value("dan").run()
    at.selectbox(key="users_role_new").set_value("engineer")
    at.button(key="users_role_apply").click().run()
    assert users.get_user(store, "dan").role == "engineer"

    at.selectbox(key="users_access_who").set_value("dan").run()
    at.button(key="users_access_apply").click().run()
    assert users.get_user(store, "dan").disabled
    with pytest.raises(AuthError):
        users.authenticate(store, "dan", "a-long-password")
    at.selectbox(key="users_access_who").set_value("dan").run()
    at.button(key="users_access_apply").click().run()
    assert not users.get_user(store, "dan").disabled

    at.selectbox(key="users_pw_who").set_value("dan")
    at.text_input(key="users_pw_new").input("another-password")
    at.button[[b.label for b in at.button].index("Reset password")].click().run()
    assert not errors(at)
    assert users.authenticate(store, "dan", "another-password").name == "dan"

    # the last admin cannot be demoted
    at.selectbox(key="users_role_who").set_value("ada").run()
    at.selectbox(key="users_role_new").set_value("lead")
    at.button(key="users_role_apply").click().run()
    assert any("last admin" in e for e in errors(at))
    assert users.get_user(store, "ada").role == "admin"


def test_account_token_and_password(db_path, store, people, monkeypatch):
    at = app_for(db_path, people["ann"], monkeypatch=monkeypatch)
    go(at, "account")
    assert not at.exception
    at.button(key="account_token_create").click().run()
    assert not at.exception and not errors(at)
    token = at.code[0].value
    assert token.startswith("cur_")
    assert users.user_for_token(store, token).name == "ann"
    assert f"export CURATOR_API_TOKEN={token}" in at.code[1].value
    assert "curator status PROJECT" in at.code[1].value
    at.run()  # shown once: gone on the next run
    assert not at.code

    at.text_input(key="account_pw_current").input("wrong-password")
    at.text_input(key="account_pw_new").input("new-password-1")
    at.text_input(key="account_pw_again").input("new-password-1")
    at.button[[b.label for b in at.button].index("Change password")].click().run()
    assert any("wrong user name or password" in e for e in errors(at))
    at.text_input(key="account_pw_current").input("password-ann")
    at.text_input(key="account_pw_new").input("new-password-1")
    at.text_input(key="account_pw_again").input("new-password-2")
    at.button[[b.label for b in at.button].index("Change password")].click().run()
    assert any("differ" in e for e in errors(at))
    at.text_input(key="account_pw_current").input("password-ann")
    at.text_input(key="account_pw_new").input("new-password-1")
    at.text_input(key="account_pw_again").input("new-password-1")
    at.button[[b.label for b in at.button].index("Change password")].click().run()
    assert "Password changed." in texts(at)
    assert users.authenticate(store, "ann", "new-password-1").name == "ann"


def _html_bodies(at) -> list[str]:
    return [str(el.proto.body) for el in at.get("html")]


def test_login_hands_the_browser_a_session_code_and_logout_revokes_it(db_path, store, people,
                                                                       monkeypatch):
    """Log in through the form: the sidebar draws the invisible /auth/session image with a
    one-time code (until the server has used it); log out revokes the session and draws the
    /auth/logout image. The browser side is in test_browser.py."""
    import re

    from curator import web_sessions

    at = app_for(db_path, None, monkeypatch=monkeypatch)
    at.text_input(key="login_name").input("ann")
    at.text_input(key="login_password").input("password-ann")
    at.button[0].click().run()
    assert not at.exception and at.session_state["user"]["name"] == "ann"
    imgs = [b for b in _html_bodies(at) if "/auth/session?code=" in b]
    assert len(imgs) == 1
    code = re.search(r"code=([A-Za-z0-9_-]+)", imgs[0]).group(1)
    token = web_sessions.redeem(store, code)          # what the server does for the image
    assert web_sessions.user_for(store, token).name == "ann"
    at.run()
    assert not [b for b in _html_bodies(at) if "/auth/session" in b]   # used: not drawn again
    at.button(key="logout").click().run()
    assert not at.exception and "user" not in at.session_state
    assert any("/auth/logout" in b for b in _html_bodies(at))
    assert web_sessions.user_for(store, token) is None
