"""SQL for fine-tuning jobs and the files uploaded to providers.

Rows come back as plain dicts; JSON columns (``settings``, ``last_seen``) are decoded.
"""
from __future__ import annotations

import json
from typing import Any

from duckdb import DuckDBPyConnection as Cursor

__all__ = [
    "insert_job",
    "update_job",
    "get_job",
    "find_job",
    "list_jobs",
    "get_provider_file",
    "put_provider_file",
    "delete_provider_file",
]

_JOB_COLS = ("id", "export_id", "provider", "provider_job_id", "model", "method", "status",
             "fine_tuned_model", "settings", "last_seen", "created_by", "created_at",
             "updated_at")
_FILE_COLS = ("provider", "sha256", "file_id", "filename", "bytes", "created_at")


def _job_row(row: tuple[Any, ...] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    d = dict(zip(_JOB_COLS, row))
    d["settings"] = json.loads(d["settings"]) if d["settings"] else {}
    d["last_seen"] = json.loads(d["last_seen"]) if d["last_seen"] else None
    return d


def insert_job(cur: Cursor, *, export_id: int | None, provider: str, provider_job_id: str,
               model: str, method: str, status: str, fine_tuned_model: str | None,
               settings: dict[str, Any], last_seen: dict[str, Any] | None,
               created_by: int | None) -> int:
    return cur.execute(
        "INSERT INTO jobs (export_id, provider, provider_job_id, model, method, status,"
        " fine_tuned_model, settings, last_seen, created_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [export_id, provider, provider_job_id, model, method, status, fine_tuned_model,
         json.dumps(settings), json.dumps(last_seen) if last_seen is not None else None,
         created_by],
    ).fetchone()[0]


def update_job(cur: Cursor, job_id: int, *, status: str, fine_tuned_model: str | None,
               last_seen: dict[str, Any] | None) -> None:
    """Record what the provider last said about a job (keeps a known fine-tuned model)."""
    cur.execute(
        "UPDATE jobs SET status = ?, fine_tuned_model = coalesce(?, fine_tuned_model),"
        " last_seen = coalesce(?, last_seen), updated_at = now() WHERE id = ?",
        [status, fine_tuned_model, json.dumps(last_seen) if last_seen is not None else None,
         job_id],
    )


def get_job(cur: Cursor, job_id: int) -> dict[str, Any] | None:
    return _job_row(cur.execute(
        f"SELECT {', '.join(_JOB_COLS)} FROM jobs WHERE id = ?", [job_id]).fetchone())


def find_job(cur: Cursor, provider: str, provider_job_id: str) -> dict[str, Any] | None:
    return _job_row(cur.execute(
        f"SELECT {', '.join(_JOB_COLS)} FROM jobs WHERE provider = ? AND provider_job_id = ?",
        [provider, provider_job_id]).fetchone())


def list_jobs(cur: Cursor, *, export_id: int | None = None, status: str | None = None,
              limit: int = 100) -> list[dict[str, Any]]:
    """Newest first."""
    where, params = [], []
    if export_id is not None:
        where.append("export_id = ?")
        params.append(export_id)
    if status is not None:
        where.append("status = ?")
        params.append(status)
    sql = f"SELECT {', '.join(_JOB_COLS)} FROM jobs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
    rows = cur.execute(sql, [*params, limit]).fetchall()
    return [_job_row(r) for r in rows]  # type: ignore[misc]


def get_provider_file(cur: Cursor, provider: str, sha256: str) -> dict[str, Any] | None:
    row = cur.execute(
        f"SELECT {', '.join(_FILE_COLS)} FROM provider_files WHERE provider = ? AND sha256 = ?",
        [provider, sha256]).fetchone()
    return dict(zip(_FILE_COLS, row)) if row else None


def put_provider_file(cur: Cursor, *, provider: str, sha256: str, file_id: str, filename: str,
                      size: int) -> None:
    cur.execute(
        "INSERT INTO provider_files (provider, sha256, file_id, filename, bytes)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (provider, sha256) DO UPDATE SET"
        " file_id = excluded.file_id, filename = excluded.filename, bytes = excluded.bytes,"
        " created_at = now()",
        [provider, sha256, file_id, filename, size],
    )


def delete_provider_file(cur: Cursor, provider: str, sha256: str) -> None:
    cur.execute("DELETE FROM provider_files WHERE provider = ? AND sha256 = ?",
                [provider, sha256])
