"""SQL for the near-duplicate review list."""
from __future__ import annotations

from typing import Any

from duckdb import DuckDBPyConnection as Cursor


def list_pairs(cur: Cursor, project_id: int, status: str | None, limit: int,
               offset: int) -> list[tuple[Any, ...]]:
    sql = """
        SELECT d.item_id, d.similar_item_id, d.similarity, d.status, a.external_id, a.text,
               b.external_id, b.text, u.name, d.reviewed_at
        FROM near_duplicates d
        JOIN items a ON a.id = d.item_id
        JOIN items b ON b.id = d.similar_item_id
        LEFT JOIN users u ON u.id = d.reviewed_by
        WHERE d.project_id = ?"""
    params: list[Any] = [project_id]
    if status:
        sql += " AND d.status = ?"
        params.append(status)
    sql += " ORDER BY d.similarity DESC, d.item_id LIMIT ? OFFSET ?"
    return cur.execute(sql, [*params, limit, offset]).fetchall()


def counts(cur: Cursor, project_id: int) -> dict[str, int]:
    return dict(cur.execute(
        "SELECT status, count(*) FROM near_duplicates WHERE project_id = ? GROUP BY status",
        [project_id]).fetchall())


def set_status(cur: Cursor, project_id: int, item_id: int, similar_item_id: int, status: str,
               user_id: int | None) -> int:
    return cur.execute(
        "UPDATE near_duplicates SET status = ?, reviewed_by = ?, reviewed_at = now() "
        "WHERE project_id = ? AND item_id = ? AND similar_item_id = ? RETURNING 1",
        [status, user_id, project_id, item_id, similar_item_id]).fetchall().__len__()
