"""Bulk import of answers (labels, replies, choices) made elsewhere.

The file is CSV/TSV or JSONL with columns ``external_id`` (the item's id from its import),
``annotator`` (a user name) and exactly one answer column that fits the project:

* ``label``    classification; several labels joined by ``|`` when the project is multi-label;
               every label must be in the project's label set (stored sorted, ``|``-joined)
* ``response`` response projects: the reply text
* ``choice``   preference projects: ``A``, ``B``, ``tie`` or ``both_bad``; A and B are the
               candidates in the order they were imported

Optional ``note`` and ``created_at`` (ISO 8601). All or nothing: any bad row (unknown
external_id, unknown annotator unless ``create_users``, unknown label, wrong column) rejects
the file with row numbers, and nothing is written. Rows are appended to ``annotations``
with ``source='import'`` in one transaction.
"""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from curator.errors import InvalidInput, NotFoundError, RowError
from curator.importing import readers
from curator.permissions import Actor, require
from curator.projects import Project, get_project
from curator.store import Store, transaction_on
from curator.store import imports as sql

__all__ = ["AnnotationImportReport", "import_annotations", "ANSWER_COLUMN"]

#: the answer column each task type takes
ANSWER_COLUMN = {"classification": "label", "response": "response", "preference": "choice"}
_KNOWN = {"external_id", "annotator", "label", "response", "choice", "note", "created_at"}


@dataclass
class AnnotationImportReport:
    project: str
    filename: str
    rows_read: int = 0
    added: int = 0
    items: int = 0
    annotators: int = 0
    users_created: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_annotations(store: Store, actor: Actor, project: str | int | Project,
                       path: str | Path, *, create_users: bool = False,
                       format: str | None = None, encoding: str | None = None) -> AnnotationImportReport:
    """Append the answers in ``path`` to ``project``; see the module docstring."""
    require(actor, "import")
    proj = project if isinstance(project, Project) else get_project(store, project)
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no such file: {path}")
    fmt = readers.detect_format(path, format)
    if fmt not in ("csv", "tsv", "jsonl"):
        raise InvalidInput(f"annotations import reads CSV, TSV or JSONL, not {fmt}", file=path.name)
    report = AnnotationImportReport(project=proj.name, filename=path.name)
    cur = store.cursor()
    try:
        with tempfile.TemporaryDirectory(prefix="curator-annimport-") as wd:
            opts = readers.StructuredOptions(proj.task_type, proj.label_names, proj.multi_label,
                                             "", None, None, None)
            src = readers.read_source(cur, path, fmt, workdir=Path(wd), encoding=encoding,
                                      delimiter=None, limit=None, structured=opts)
            report.rows_read = src.rows_read
            cols = {c.lower(): c for c in src.columns}
            answer_cols = [c for c in ("label", "response", "choice") if c in cols]
            want = ANSWER_COLUMN[proj.task_type]
            missing = [c for c in ("external_id", "annotator") if c not in cols]
            if missing:
                raise InvalidInput(
                    f"missing column {missing[0]!r}; the file needs external_id, annotator and "
                    f"{want} (columns found: {', '.join(src.columns)})", file=path.name)
            if answer_cols != [want]:
                other = [c for c in answer_cols if c != want]
                if other:
                    raise InvalidInput(
                        f"column {other[0]!r} does not fit {proj.name!r}, a {proj.task_type} "
                        f"project: its answers go in a {want!r} column", file=path.name)
                raise InvalidInput(f"missing column {want!r} (the answer of a {proj.task_type} "
                                   f"project)", file=path.name)
            report.ignored_columns = [c for c in src.columns if c.lower() not in _KNOWN]
            roles = {k: cols.get(k) for k in ("external_id", "annotator", "note", "created_at")}
            if src.kind == "json":
                sql.json_to_columns(cur, [c for c in roles.values() if c] + [cols[want]])
            sql.build_annotation_stage(cur, kind=src.kind, row_expr=src.row_expr, join=src.join,
                                       columns=roles, answer_col=cols[want])
            sql.validate_annotation_stage(
                cur, project_id=proj.id, task_type=proj.task_type, labels=proj.label_names,
                multi_label=proj.multi_label, create_users=create_users, answer_col=want)
            errors = sql.annotation_errors(cur)
            if errors:
                raise InvalidInput(
                    f"{len(errors)} bad row{'s' if len(errors) != 1 else ''}; no answers were imported",
                    errors=[RowError(r, c, m) for r, c, m in errors[:100]], file=path.name)
            summary = sql.annotation_summary(cur)
            report.items, report.annotators = summary["items"], summary["annotators"]
            _commit(store, cur, proj, report, create_users)
    finally:
        try:
            sql.drop_temp(cur)
            sql.drop_annotation_temp(cur)
        except duckdb.Error:
            pass
        cur.close()
    store.notify_changed(proj.id)
    return report


def _commit(store: Store, cur: duckdb.DuckDBPyConnection, proj: Project,
            report: AnnotationImportReport, create_users: bool) -> None:
    from curator.store import users as users_sql
    from curator.users import _NAME_RE as user_name_re

    with transaction_on(cur):
        if create_users:
            missing = sql.annotation_missing_users(cur)
            bad = [n for n in missing if not user_name_re.match(n)]
            if bad:
                raise InvalidInput(f"cannot create user {bad[0]!r}: use 1-64 letters, digits, "
                                   "'_', '.', '@' or '-'")
            for n in missing:
                users_sql.insert_user(cur, n, "annotator", None)
            report.users_created = missing
        report.added = sql.insert_staged_annotations(cur, proj.id)

