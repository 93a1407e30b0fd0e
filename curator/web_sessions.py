"""Browser log-in sessions: reloading the page keeps the user logged in.

Streamlit keeps a user's state per browser tab connection, so a reload used to log them out.
Now a successful log-in also starts a web session:

1. ``start`` makes a one-time code (valid ``CODE_SECONDS``) for the user, and the page asks
   the server for ``/auth/session?code=...`` (an invisible image: no JavaScript needed).
2. That route calls ``redeem``, which swaps the unused code for a random session token and
   sets it as an ``HttpOnly``, ``SameSite=Lax`` cookie (``COOKIE``), valid ``SESSION_SECONDS``.
3. On a reload the app reads the cookie (``st.context.cookies``) and ``user_for`` finds the
   user again: enabled, with the role they have now.
4. Logging out (``end``), a password reset and disabling the account (``end_all``) revoke
   sessions in the database, so an old cookie no longer works anywhere.

Only sha256 hashes of codes and tokens are stored. Served with ``streamlit run`` (no
``/auth`` route) nothing changes: the image just fails and a reload logs out as before.
"""
from __future__ import annotations

import os
import secrets

from curator.store import Store
from curator.store import users as sql
from curator.users import User, _row_to_user
from curator.users import _token_hash as _sha   # sha256 hex, as for API tokens

__all__ = ["COOKIE", "CODE_SECONDS", "SESSION_SECONDS", "start", "redeem", "user_for",
           "code_done", "end", "end_all"]

COOKIE = "curator_session"
CODE_SECONDS = 120


def _session_seconds() -> int:
    try:
        hours = float(os.environ.get("CURATOR_SESSION_HOURS", "12"))
    except ValueError:
        hours = 12.0
    return int(hours * 3600) if hours > 0 else 12 * 3600


#: How long a browser stays logged in without logging in again (``CURATOR_SESSION_HOURS``,
#: default 12; a value that is not a positive number means the default).
SESSION_SECONDS = _session_seconds()


def start(store: Store, user: User) -> str:
    """A one-time code that ``redeem`` turns into a session of ``user``."""
    code = secrets.token_urlsafe(32)
    with store.transaction() as cur:
        sql.insert_web_session(cur, user.id, _sha(code), CODE_SECONDS)
    return code


def redeem(store: Store, code: str) -> str | None:
    """The session token for an unused, unexpired code (then used up), or None."""
    if not isinstance(code, str) or not code or len(code) > 200:
        return None
    token = secrets.token_urlsafe(32)
    with store.locked_transaction() as cur:
        ok = sql.redeem_web_session(cur, _sha(code), _sha(token), SESSION_SECONDS)
    return token if ok else None


def user_for(store: Store, token: str | None) -> User | None:
    """The user of a live session token, or None (unknown, expired, revoked, disabled)."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    row = sql.user_for_web_session(store.cursor(), _sha(token))
    if not row:
        return None
    user = _row_to_user(row)
    return None if user.disabled else user


def code_done(store: Store, code: str) -> bool:
    """True once ``code`` is redeemed, revoked or expired: the page stops handing it out."""
    return sql.web_session_code_done(store.cursor(), _sha(code))


def end(store: Store, *, code: str | None = None, token: str | None = None) -> None:
    """Revoke the session started with ``code`` or holding ``token``."""
    if not code and not token:
        return
    with store.transaction() as cur:
        sql.revoke_web_session(cur, code_sha256=_sha(code) if code else None,
                               token_sha256=_sha(token) if token else None)


def end_all(store: Store, user_id: int) -> None:
    """Revoke every browser session of a user (password reset, account disabled)."""
    with store.transaction() as cur:
        sql.revoke_user_web_sessions(cur, user_id)
