"""SQL for drafts and preference pairs."""
from __future__ import annotations

from typing import Any

from duckdb import DuckDBPyConnection as Cursor

from curator.store.imports import key_of, normalize_text


def item_text(cur: Cursor, project_id: int, item_id: int) -> str | None:
    row = cur.execute("SELECT text FROM items WHERE id = ? AND project_id = ?",
                      [item_id, project_id]).fetchone()
    return row[0] if row else None


def edited_drafts(cur: Cursor, project_id: int) -> list[tuple[Any, ...]]:
    """(external_id, ticket text, final reply, model draft) for current answers that started
    from a draft, one per (item, annotator)."""
    return cur.execute(
        """
        SELECT i.external_id, i.text, a.value, a.draft FROM (
          SELECT * FROM annotations WHERE project_id = ? AND NOT skipped
          QUALIFY row_number() OVER (PARTITION BY item_id, user_id ORDER BY id DESC) = 1) a
        JOIN items i ON i.id = a.item_id
        WHERE a.draft IS NOT NULL AND a.value IS NOT NULL
        ORDER BY a.item_id, a.user_id
        """,
        [project_id],
    ).fetchall()


def ensure_source_user(cur: Cursor, name: str) -> int:
    row = cur.execute("SELECT id FROM users WHERE name = ?", [name]).fetchone()
    if row:
        return row[0]
    return cur.execute(
        "INSERT INTO users (name, role) VALUES (?, 'annotator') RETURNING id", [name]
    ).fetchone()[0]


def pair_exists(cur: Cursor, project_id: int, text: str, a: str, b: str) -> bool:
    """Whether the project has this prompt with these candidates (the import's exact-duplicate
    rule: same dedup key, then the same normalised texts)."""
    key = key_of(cur, text, (a, b))
    want = tuple(normalize_text(x) for x in (text, a, b))
    rows = cur.execute(
        "SELECT text, candidate_a, candidate_b FROM items WHERE project_id = ? AND dedup_key = ?",
        [project_id, key]).fetchall()
    return any(tuple(normalize_text(x or "") for x in r) == want for r in rows)


def insert_pair(cur: Cursor, project_id: int, external_id: str | None, text: str,
                a: str, b: str, source: str) -> int:
    return cur.execute(
        "INSERT INTO items (project_id, external_id, text, dedup_key, candidate_a, candidate_b,"
        " candidate_source) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [project_id, external_id, text, key_of(cur, text, (a, b)), a, b, source],
    ).fetchone()[0]


def insert_choice(cur: Cursor, project_id: int, item_id: int, user_id: int, value: str,
                  source: str) -> None:
    cur.execute(
        "INSERT INTO annotations (project_id, item_id, user_id, value, source) VALUES (?, ?, ?, ?, ?)",
        [project_id, item_id, user_id, value, source],
    )
