"""SQL for users and API tokens."""
from __future__ import annotations

from typing import Any

from duckdb import DuckDBPyConnection as Cursor

_COLS = "id, name, role, password_hash, disabled, created_at"


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
        f"SELECT {', '.join('u.' + c.strip() for c in _COLS.split(','))} FROM api_tokens t "
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
