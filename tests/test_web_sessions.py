"""Browser log-in sessions (reloading the page keeps the user logged in): the one-time code,
the session token, revocation, and the server's /auth routes with their cookie flags."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from conftest import serving
from curator import users, web_sessions
from curator.permissions import SYSTEM


def test_code_becomes_a_session_once(store, people):
    ann = users.get_user(store, "ann")
    code = web_sessions.start(store, ann)
    assert not web_sessions.code_done(store, code)
    token = web_sessions.redeem(store, code)
    assert token and token != code
    assert web_sessions.code_done(store, code)
    assert web_sessions.redeem(store, code) is None          # used up
    assert web_sessions.user_for(store, token).name == "ann"
    assert web_sessions.user_for(store, code) is None        # the code is not a token
    for junk in (None, "", "x", "a" * 5000):
        assert web_sessions.user_for(store, junk) is None
        assert web_sessions.redeem(store, junk) is None
    # only hashes are stored
    cur = store.cursor()
    stored = cur.execute("SELECT code_sha256, token_sha256 FROM web_sessions").fetchall()
    assert all(code not in r and token not in r for r in stored)


def test_expired_code_and_session(store, people, monkeypatch):
    ann = users.get_user(store, "ann")
    monkeypatch.setattr(web_sessions, "CODE_SECONDS", -1)
    code = web_sessions.start(store, ann)
    assert web_sessions.code_done(store, code) and web_sessions.redeem(store, code) is None
    monkeypatch.setattr(web_sessions, "CODE_SECONDS", 120)
    monkeypatch.setattr(web_sessions, "SESSION_SECONDS", -1)
    token = web_sessions.redeem(store, web_sessions.start(store, ann))
    assert token and web_sessions.user_for(store, token) is None


def test_log_out_disable_and_password_reset_end_sessions(store, people):
    ann, bob = users.get_user(store, "ann"), users.get_user(store, "bob")
    # log out by the tab's code, or by the cookie's token
    code = web_sessions.start(store, ann)
    token = web_sessions.redeem(store, code)
    web_sessions.end(store, code=code)
    assert web_sessions.user_for(store, token) is None
    token = web_sessions.redeem(store, web_sessions.start(store, ann))
    web_sessions.end(store, token=token)
    assert web_sessions.user_for(store, token) is None
    # a code revoked before the browser used it cannot be redeemed
    code = web_sessions.start(store, ann)
    web_sessions.end(store, code=code)
    assert web_sessions.redeem(store, code) is None
    # the role is read at each restore; disabling the account ends its sessions
    t_ann = web_sessions.redeem(store, web_sessions.start(store, ann))
    t_bob = web_sessions.redeem(store, web_sessions.start(store, bob))
    users.set_role(store, people["ada"], "ann", "lead")
    assert web_sessions.user_for(store, t_ann).role == "lead"
    users.set_disabled(store, people["ada"], "ann")
    assert web_sessions.user_for(store, t_ann) is None
    users.set_disabled(store, people["ada"], "ann", False)
    assert web_sessions.user_for(store, t_ann) is None        # stays revoked
    # a password reset ends that user's sessions only
    users.reset_password(store, people["ada"], "bob", "a-new-password")
    assert web_sessions.user_for(store, t_bob) is None
    t_ann = web_sessions.redeem(store, web_sessions.start(store, ann))
    assert web_sessions.user_for(store, t_ann).name == "ann"
    web_sessions.end_all(store, ann.id)
    assert web_sessions.user_for(store, t_ann) is None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


@pytest.fixture
def server_with_codes(tmp_path):
    from curator.store import Store

    db = tmp_path / "web.duckdb"
    s = Store.open(db)
    ann = users.create_user(s, SYSTEM, "ann", "annotator", "ann-password")
    codes = [web_sessions.start(s, ann) for _ in range(2)]
    s.close()
    with serving(db, tmp_path / "server.log") as srv:
        yield {"url": srv["url"], "codes": codes, "db": db}


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, list[str]]:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status, r.headers.get_all("set-cookie") or []
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_all("set-cookie") or []


def test_auth_routes_set_and_clear_an_httponly_cookie(server_with_codes):
    url, (code, other) = server_with_codes["url"], server_with_codes["codes"]
    # another site's page cannot use a code (and does not use it up)
    for site in ("cross-site", "same-site", "none"):
        assert _get(f"{url}/auth/session?code={code}", {"Sec-Fetch-Site": site}) == (403, [])
    status, cookies = _get(f"{url}/auth/session?code={code}", {"Sec-Fetch-Site": "same-origin"})
    assert status == 204 and len(cookies) == 1
    c = cookies[0]
    name, value = c.split(";")[0].split("=", 1)
    flags = {p.strip().lower() for p in c.split(";")[1:]}
    assert name == web_sessions.COOKIE and len(value) > 30
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert f"max-age={web_sessions.SESSION_SECONDS}" in flags and "secure" not in flags  # http
    # the code works once; a wrong or missing code sets nothing
    assert _get(f"{url}/auth/session?code={code}") == (403, [])
    assert _get(f"{url}/auth/session?code=nope") == (403, [])
    assert _get(f"{url}/auth/session") == (403, [])
    # log-out drops the cookie
    status, cookies = _get(f"{url}/auth/logout")
    assert status == 204 and cookies and cookies[0].startswith(f"{web_sessions.COOKIE}=")
    assert "max-age=0" in cookies[0].lower() or "expires=" in cookies[0].lower()
    assert other  # the second code is still unused


def test_old_sessions_are_deleted(store, people):
    ann = users.get_user(store, "ann")
    web_sessions.start(store, ann)
    cur = store.cursor()
    cur.execute("UPDATE web_sessions SET expires_at = now() - INTERVAL 2 DAY")
    web_sessions.start(store, ann)
    assert cur.execute("SELECT count(*) FROM web_sessions").fetchall()[0][0] == 1


def test_session_length_setting(monkeypatch):
    for value, hours in [("2", 2), ("0.5", 0.5), ("abc", 12), ("-3", 12), (None, 12)]:
        if value is None:
            monkeypatch.delenv("CURATOR_SESSION_HOURS", raising=False)
        else:
            monkeypatch.setenv("CURATOR_SESSION_HOURS", value)
        assert web_sessions._session_seconds() == int(hours * 3600)
