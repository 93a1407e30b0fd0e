"""SQL for users and API tokens."""
from __future__ import annotations

from typing import Any

from duckdb import DuckDBPyConnection as Cursor

_COLS = "id, name, role, password_hash, disabled, created_at"
_U_COLS = ", ".join("u." + c.strip() for c in _COLS.split(","))   # the same, joined as ``u``


def insert_user(cur: Cursor, name: str, role: str, password_hash: str | None) -> int:
    return cur.execute(
        "INSERT INTO users (name, role, password_hash) VALUES (?, ?, ?) RETURNING id",
        [name, role, password_hash],
    ).fetchone()[0]


def get_by_name(cur: Cursor, name: str) -> tuple[Any, ...] | None:
    return cur.execute(f"SELECT {_COLS} FROM users WHERE name = ?", [name]).fetchone()


def get_by_id(cur: Cursor, user_id: int) -> tuple[Any, ...] | None:
    return cur.execute(f"SELECT {_COLS} FROM users WHERE id = ?", [user_id]).fetchone()


def list_users(cur: Cursor) -> list[tuple[Any, ...]]:
    return cur.execute(f"SELECT {_COLS} FROM users ORDER BY name").fetchall()


def count_users(cur: Cursor, role: str | None = None) -> int:
    if role:
        return cur.execute(
            "SELECT count(*) FROM users WHERE role = ? AND NOT disabled", [role]
        ).fetchone()[0]
    return cur.execute("SELECT count(*) FROM users").fetchone()[0]


def set_role(cur: Cursor, user_id: int, role: str) -> None:
    cur.execute("UPDATE users SET role = ? WHERE id = ?", [role, user_id])


def set_disabled(cur: Cursor, user_id: int, disabled: bool) -> None:
    cur.execute("UPDATE users SET disabled = ? WHERE id = ?", [disabled, user_id])


def set_password_hash(cur: Cursor, user_id: int, password_hash: str) -> None:
    cur.execute("UPDATE users SET password_hash = ? WHERE id = ?", [password_hash, user_id])


def insert_token(cur: Cursor, user_id: int, name: str, token_sha256: str) -> int:
    return cur.execute(
        "INSERT INTO api_tokens (user_id, name, token_sha256) VALUES (?, ?, ?) RETURNING id",
        [user_id, name, token_sha256],
    ).fetchone()[0]


def user_for_token(cur: Cursor, token_sha256: str) -> tuple[Any, ...] | None:
    return cur.execute(
        f"SELECT {_U_COLS} FROM api_tokens t "
        "JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = ? AND t.revoked_at IS NULL",
        [token_sha256],
    ).fetchone()


def list_tokens(cur: Cursor, user_id: int | None = None) -> list[tuple[Any, ...]]:
    sql = (
        "SELECT t.id, u.name, t.name, t.created_at, t.revoked_at FROM api_tokens t "
        "JOIN users u ON u.id = t.user_id"
    )
    if user_id is not None:
        return cur.execute(sql + " WHERE t.user_id = ? ORDER BY t.id", [user_id]).fetchall()
    return cur.execute(sql + " ORDER BY t.id").fetchall()


def revoke_token(cur: Cursor, token_id: int) -> None:
    cur.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = ?", [token_id])


# ---------------------------------------------------------------- browser log-in sessions
def insert_web_session(cur: Cursor, user_id: int, code_sha256: str, seconds: int) -> int:
    """A new code for ``user_id``; sessions over a day past their end are deleted first."""
    cur.execute("DELETE FROM web_sessions WHERE expires_at < now() - INTERVAL 1 DAY")
    return cur.execute(
        "INSERT INTO web_sessions (user_id, code_sha256, expires_at) "
        "VALUES (?, ?, now() + to_seconds(?)) RETURNING id",
        [user_id, code_sha256, seconds],
    ).fetchone()[0]


def redeem_web_session(cur: Cursor, code_sha256: str, token_sha256: str, seconds: int) -> bool:
    """Turn an unused, unexpired code into a session; False if there is none."""
    row = cur.execute(
        "SELECT id FROM web_sessions WHERE code_sha256 = ? AND redeemed_at IS NULL "
        "AND revoked_at IS NULL AND expires_at > now()", [code_sha256]).fetchone()
    if not row:
        return False
    cur.execute("UPDATE web_sessions SET token_sha256 = ?, redeemed_at = now(), "
                "expires_at = now() + to_seconds(?) WHERE id = ?", [token_sha256, seconds, row[0]])
    return True


def user_for_web_session(cur: Cursor, token_sha256: str) -> tuple[Any, ...] | None:
    return cur.execute(
        f"SELECT {_U_COLS} FROM web_sessions s "
        "JOIN users u ON u.id = s.user_id WHERE s.token_sha256 = ? AND s.revoked_at IS NULL "
        "AND s.expires_at > now()", [token_sha256]).fetchone()


def revoke_web_session(cur: Cursor, *, code_sha256: str | None = None,
                       token_sha256: str | None = None) -> None:
    cur.execute("UPDATE web_sessions SET revoked_at = now() WHERE revoked_at IS NULL "
                "AND (code_sha256 = ? OR token_sha256 = ?)", [code_sha256, token_sha256])


def revoke_user_web_sessions(cur: Cursor, user_id: int) -> None:
    cur.execute("UPDATE web_sessions SET revoked_at = now() WHERE revoked_at IS NULL "
                "AND user_id = ?", [user_id])


def web_session_code_done(cur: Cursor, code_sha256: str) -> bool:
    """True once a code is redeemed, revoked or expired (or unknown)."""
    row = cur.execute(
        "SELECT redeemed_at IS NOT NULL OR revoked_at IS NOT NULL OR expires_at <= now() "
        "FROM web_sessions WHERE code_sha256 = ?", [code_sha256]).fetchone()
    return True if row is None else bool(row[0])
