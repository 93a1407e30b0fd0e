"""SQL for items as annotators see them, and the append-only annotations table."""
from __future__ import annotations

from typing import Any

import numpy as np
from duckdb import DuckDBPyConnection as Cursor

ITEM_COLS = "id, project_id, external_id, text, metadata, candidate_a, candidate_b, candidate_source"
ANN_COLS = (
    "a.id, a.item_id, a.user_id, u.name, a.value, a.skipped, a.unsure, a.note, a.draft, "
    "a.draft_model, a.shown_order, a.source, a.created_at"
)


def get_item(cur: Cursor, item_id: int) -> tuple[Any, ...] | None:
    return cur.execute(f"SELECT {ITEM_COLS} FROM items WHERE id = ?", [item_id]).fetchone()


def get_items(cur: Cursor, item_ids: list[int]) -> list[tuple[Any, ...]]:
    return cur.execute(f"SELECT {ITEM_COLS} FROM items WHERE id IN (SELECT unnest(?::BIGINT[]))",
                       [item_ids]).fetchall()


def project_item_ids(cur: Cursor, project_id: int) -> np.ndarray:
    rel = cur.execute("SELECT id FROM items WHERE project_id = ? ORDER BY id", [project_id])
    return rel.fetchnumpy()["id"]


def current_takers(cur: Cursor, project_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(item_id, user_id, answered) for every (item, user) with any annotation row.

    ``answered`` is true when the user's newest row is an answer (not a skip)."""
    res = cur.execute(
        """
        SELECT item_id, user_id, NOT skipped AS answered FROM annotations
        WHERE project_id = ?
        QUALIFY row_number() OVER (PARTITION BY item_id, user_id ORDER BY id DESC) = 1
        """,
        [project_id],
    ).fetchnumpy()
    return res["item_id"], res["user_id"], res["answered"]


def insert_annotation(cur: Cursor, row: dict[str, Any]) -> tuple[int, Any]:
    """Append one row (autocommit: one statement is its own transaction). -> (id, created_at)"""
    keys = list(row)
    return cur.execute(
        f"INSERT INTO annotations ({', '.join(keys)}) VALUES ({', '.join('?' for _ in keys)}) "
        "RETURNING id, created_at",
        [row[k] for k in keys],
    ).fetchone()


def history(cur: Cursor, item_id: int, user_id: int | None = None) -> list[tuple[Any, ...]]:
    sql = f"SELECT {ANN_COLS} FROM annotations a JOIN users u ON u.id = a.user_id WHERE a.item_id = ?"
    params: list[Any] = [item_id]
    if user_id is not None:
        sql += " AND a.user_id = ?"
        params.append(user_id)
    return cur.execute(sql + " ORDER BY a.id", params).fetchall()


def latest_for_user(cur: Cursor, item_id: int, user_id: int) -> tuple[Any, ...] | None:
    return cur.execute(
        f"SELECT {ANN_COLS} FROM annotations a JOIN users u ON u.id = a.user_id "
        "WHERE a.item_id = ? AND a.user_id = ? ORDER BY a.id DESC LIMIT 1",
        [item_id, user_id],
    ).fetchone()


def recent_for_user(cur: Cursor, project_id: int, user_id: int, limit: int) -> list[tuple[Any, ...]]:
    """The user's current answers in a project, newest first, with the item text."""
    return cur.execute(
        """
        SELECT a.item_id, i.external_id, i.text, a.value, a.skipped, a.unsure, a.note, a.created_at
        FROM annotations a JOIN items i ON i.id = a.item_id
        WHERE a.project_id = ? AND a.user_id = ?
        QUALIFY row_number() OVER (PARTITION BY a.item_id ORDER BY a.id DESC) = 1
        ORDER BY a.id DESC LIMIT ?
        """,
        [project_id, user_id, limit],
    ).fetchall()


def user_progress(cur: Cursor, project_id: int, user_id: int) -> tuple[int, int]:
    """(answered, skipped) current counts for one user in a project."""
    row = cur.execute(
        """
        SELECT count(*) FILTER (WHERE NOT skipped), count(*) FILTER (WHERE skipped) FROM (
          SELECT skipped FROM annotations WHERE project_id = ? AND user_id = ?
          QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY id DESC) = 1)
        """,
        [project_id, user_id],
    ).fetchone()
    return int(row[0]), int(row[1])


def per_annotator_counts(cur: Cursor, project_id: int) -> list[tuple[str, int]]:
    return cur.execute(
        """
        SELECT u.name, count(*) FROM (
          SELECT user_id, skipped FROM annotations WHERE project_id = ?
          QUALIFY row_number() OVER (PARTITION BY item_id, user_id ORDER BY id DESC) = 1) c
        JOIN users u ON u.id = c.user_id WHERE NOT c.skipped GROUP BY u.name ORDER BY u.name
        """,
        [project_id],
    ).fetchall()


def per_label_counts(cur: Cursor, project_id: int) -> list[tuple[str, int]]:
    """Current answers per value, multi-label values split on '|'."""
    return cur.execute(
        """
        SELECT label, count(*) FROM (
          SELECT unnest(string_split(value, '|')) AS label FROM annotations
          WHERE project_id = ? AND NOT skipped
          QUALIFY row_number() OVER (PARTITION BY item_id, user_id ORDER BY id DESC) = 1)
        GROUP BY label ORDER BY count(*) DESC, label
        """,
        [project_id],
    ).fetchall()


def count_rows(cur: Cursor, project_id: int | None = None) -> int:
    if project_id is None:
        return cur.execute("SELECT count(*) FROM annotations").fetchone()[0]
    return cur.execute(
        "SELECT count(*) FROM annotations WHERE project_id = ?", [project_id]
    ).fetchone()[0]


def answers_per_item_max_excess(cur: Cursor, project_id: int, overlap: int) -> int:
    """How many items have more distinct answering users than ``overlap`` (should be 0)."""
    return cur.execute(
        """
        SELECT count(*) FROM (
          SELECT item_id, count(DISTINCT user_id) AS n FROM annotations
          WHERE project_id = ? AND NOT skipped GROUP BY item_id) WHERE n > ?
        """,
        [project_id, overlap],
    ).fetchone()[0]


def adjudications(cur: Cursor, item_id: int) -> list[dict[str, Any]]:
    rows = cur.execute(
        "SELECT a.id, u.name, a.value, a.reason, a.created_at FROM adjudications a "
        "JOIN users u ON u.id = a.user_id WHERE a.item_id = ? ORDER BY a.id",
        [item_id],
    ).fetchall()
    return [{"id": r[0], "user": r[1], "value": r[2], "reason": r[3], "created_at": r[4]}
            for r in rows]


def throughput(cur: Cursor, project_id: int) -> list[tuple[Any, ...]]:
    """(day, annotator, answers) — answer rows per annotator per day (changes included)."""
    return cur.execute(
        """
        SELECT date_trunc('day', a.created_at)::DATE AS day, u.name, count(*)
        FROM annotations a JOIN users u ON u.id = a.user_id
        WHERE a.project_id = ? AND NOT a.skipped
        GROUP BY ALL ORDER BY day, u.name
        """,
        [project_id],
    ).fetchall()
