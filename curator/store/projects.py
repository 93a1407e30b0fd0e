"""SQL for projects and project members."""
from __future__ import annotations

from typing import Any

from duckdb import DuckDBPyConnection as Cursor

COLS = (
    "id, name, task_type, labels, multi_label, system_prompt, guidelines, overlap, settle_rule, "
    "show_own_result, created_by, created_at, updated_at"
)


def insert_project(cur: Cursor, fields: dict[str, Any]) -> int:
    keys = list(fields)
    return cur.execute(
        f"INSERT INTO projects ({', '.join(keys)}) VALUES ({', '.join('?' for _ in keys)}) RETURNING id",
        [fields[k] for k in keys],
    ).fetchone()[0]


def update_project(cur: Cursor, project_id: int, fields: dict[str, Any]) -> None:
    if not fields:
        return
    sets = ", ".join(f"{k} = ?" for k in fields)
    cur.execute(
        f"UPDATE projects SET {sets}, updated_at = now() WHERE id = ?",
        [*fields.values(), project_id],
    )


def get_by_name(cur: Cursor, name: str) -> tuple[Any, ...] | None:
    return cur.execute(f"SELECT {COLS} FROM projects WHERE name = ?", [name]).fetchone()


def get_by_id(cur: Cursor, project_id: int) -> tuple[Any, ...] | None:
    return cur.execute(f"SELECT {COLS} FROM projects WHERE id = ?", [project_id]).fetchone()


def list_projects(cur: Cursor) -> list[tuple[Any, ...]]:
    return cur.execute(f"SELECT {COLS} FROM projects ORDER BY name").fetchall()


def members(cur: Cursor, project_id: int) -> list[str]:
    return [r[0] for r in cur.execute(
        "SELECT u.name FROM project_members m JOIN users u ON u.id = m.user_id "
        "WHERE m.project_id = ? ORDER BY u.name", [project_id]).fetchall()]


def set_members(cur: Cursor, project_id: int, user_ids: list[int]) -> None:
    cur.execute("DELETE FROM project_members WHERE project_id = ?", [project_id])
    if user_ids:
        cur.executemany(
            "INSERT INTO project_members VALUES (?, ?)", [[project_id, u] for u in user_ids]
        )


def is_member(cur: Cursor, project_id: int, user_id: int) -> bool:
    """True when the user is assigned, or the project has no assignment list (open to all)."""
    row = cur.execute(
        "SELECT count(*), count(*) FILTER (WHERE user_id = ?) FROM project_members WHERE project_id = ?",
        [user_id, project_id],
    ).fetchone()
    return row[0] == 0 or row[1] > 0


def counts(cur: Cursor, project_id: int) -> dict[str, int]:
    row = cur.execute(
        """
        SELECT
          (SELECT count(*) FROM items WHERE project_id = $p),
          (SELECT count(*) FROM annotations WHERE project_id = $p AND NOT skipped),
          (SELECT count(DISTINCT user_id) FROM annotations WHERE project_id = $p AND NOT skipped),
          (SELECT count(*) FROM imports WHERE project_id = $p),
          (SELECT count(*) FROM exports WHERE project_id = $p)
        """,
        {"p": project_id},
    ).fetchone()
    return {"items": row[0], "annotation_rows": row[1], "annotators": row[2],
            "imports": row[3], "exports": row[4]}
