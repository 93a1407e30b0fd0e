"""The all-or-nothing import: read, map, (mask PII), validate, dedup, insert in one transaction.

Steps (each reported in ``ImportReport.timings``):

1. read    the file into a temporary table (DuckDB readers; Python for nested formats)
2. map     text/id/metadata columns -> one staged row per record, with type errors
3. pii     optional: mask personal data in text (and candidates); masked text is stored
4. validate  row rules (empty text, limits, NUL bytes, ambiguous external ids), content hash,
           exact duplicates inside the file and against the project
5. near_dup  similar-but-not-equal texts, flagged for review (never dropped)
6. insert  ONE transaction: imports row, items, near-duplicate flags, answers, system prompt

A bad row rejects the whole file (``InvalidInput`` listing rows and reasons) unless
``skip_bad_rows``; then bad rows go to a rejects file and the rest is imported.
"""
from __future__ import annotations

import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import duckdb
import pyarrow as pa

from curator.errors import CuratorError, InvalidInput, NotFoundError, RowError
from curator.importing import readers
from curator.importing.readers import Source, StructuredOptions
from curator.permissions import Actor, require
from curator.projects import Project, get_project
from curator.store import Store, transaction_on
from curator.store import imports as sql

__all__ = ["ImportReport", "import_file", "preview", "Progress", "MAX_ERRORS_LISTED"]

Progress = Callable[[int, int, str], None]
MAX_ERRORS_LISTED = 100      # rows listed in the error / report (all go to the rejects file)
_PII_BATCH = 20_000
_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    project: str
    filename: str
    format: str
    dry_run: bool
    import_id: int | None = None
    rows_read: int = 0
    added: int = 0
    exact_duplicates: int = 0
    exact_duplicates_in_file: int = 0
    exact_duplicates_in_project: int = 0
    near_duplicates: int | None = None      # None: near-dup detection not run
    rejected: int = 0
    rejected_rows: list[RowError] = field(default_factory=list)
    rejects_path: str | None = None
    pii: dict[str, int] = field(default_factory=dict)
    pii_examples: list[dict[str, Any]] = field(default_factory=list)
    answers_added: int = 0
    answers_skipped: int = 0                # answers on duplicate or rejected rows
    system_prompt_set: bool = False
    mapping: dict[str, Any] = field(default_factory=dict)
    detected: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rejected_rows"] = [asdict(e) for e in self.rejected_rows]
        return d


@dataclass
class _Options:
    format: str | None = None
    text_cols: Sequence[str] | None = None
    id_col: str | None = None
    meta_cols: Sequence[str] | None = None
    candidate_cols: Sequence[str] | None = None
    encoding: str | None = None
    delimiter: str | None = None
    pii: bool = False
    near_dup: bool = True
    near_dup_threshold: float = 0.8
    skip_bad_rows: bool = False
    rejects_path: str | Path | None = None
    answer_source: str = "openai-import"


def _as_list(v: str | Sequence[str] | None) -> list[str] | None:
    if v is None:
        return None
    if isinstance(v, str):
        return [c.strip() for c in v.split(",") if c.strip()]
    return list(v)


def _find_col(columns: list[str], name: str) -> str | None:
    if name in columns:
        return name
    low = [c for c in columns if c.lower() == name.lower()]
    return low[0] if len(low) == 1 else None


def _need_cols(columns: list[str], wanted: list[str], what: str, file: str) -> list[str]:
    out = []
    for w in wanted:
        c = _find_col(columns, w)
        if c is None:
            raise InvalidInput(f"no {what} column {w!r}; the columns are: {', '.join(columns)}",
                               file=file)
        out.append(c)
    return out


def _map_tabular(cur: duckdb.DuckDBPyConnection, src: Source, project: Project, o: _Options,
                 file: str) -> dict[str, Any] | None:
    """Build the stage from ``_imp_raw`` (or straight from the file, ``src.direct``); returns
    the mapping used, or None when a direct read met a bad record (read it the long way).
    Without PII masking the row rules and dedup keys are computed in the same pass."""
    cols = src.columns
    if not cols:
        raise InvalidInput("no columns found", file=file)
    if o.text_cols:
        text_cols = _need_cols(cols, list(o.text_cols), "text", file)
    else:
        t = _find_col(cols, "text")
        if t is None:
            raise InvalidInput(
                f"no 'text' column; choose the text column(s) (--text-col) from: {', '.join(cols)}",
                file=file)
        text_cols = [t]
    if o.id_col:
        id_col = _need_cols(cols, [o.id_col], "id", file)[0]
    else:
        id_col = _find_col(cols, "external_id") or _find_col(cols, "id")
    cand: list[str] = []
    if project.task_type == "preference":
        if o.candidate_cols:
            cand = _need_cols(cols, list(o.candidate_cols), "candidate", file)
            if len(cand) != 2:
                raise InvalidInput("a preference import needs exactly two candidate columns")
        else:
            for pair in (("candidate_a", "candidate_b"), ("chosen", "rejected")):
                found = [_find_col(cols, p) for p in pair]
                if all(found):
                    cand = [f for f in found if f]
                    break
            if not cand:
                raise InvalidInput(
                    "a preference project needs two candidate columns (candidate_a, candidate_b; "
                    f"or pass candidate columns); the columns are: {', '.join(cols)}", file=file)
    used = set(text_cols) | set(cand) | ({id_col} if id_col else set())
    if o.meta_cols is None:
        meta_cols = [c for c in cols if c not in used]
    else:
        meta_cols = _need_cols(cols, list(o.meta_cols), "metadata", file)
    if src.kind == "parquet":
        for c in text_cols + cand:
            if src.col_types[c] != "VARCHAR":
                raise InvalidInput(f"column {c!r} is {src.col_types[c]}; text must be a string column",
                                   file=file)
        if id_col and src.col_types[id_col] not in ("VARCHAR", "BIGINT", "INTEGER", "UBIGINT",
                                                    "UINTEGER", "SMALLINT", "HUGEINT"):
            raise InvalidInput(f"id column {id_col!r} is {src.col_types[id_col]}; expected text or "
                               "an integer", file=file)
    if src.kind == "json":
        sql.json_to_columns(cur, list(dict.fromkeys(
            text_cols + cand + ([id_col] if id_col else []) + meta_cols)))
    checks: list[tuple[str, str, str]] = []
    for c in text_cols + cand:
        checks += sql.type_checks(src.kind, c, ["VARCHAR"], "a string")
    if id_col:
        checks += sql.type_checks(src.kind, id_col, ["VARCHAR", "BIGINT", "UBIGINT"],
                                  "a string or an integer")
    src.text_label = " + ".join(text_cols)
    staged = sql.build_stage(
        cur, row_expr=src.row_expr, join=src.join, source=src.direct,
        text=sql.text_sql(src.kind, text_cols),
        external_id=sql.value_sql(src.kind, id_col) if id_col else "NULL",
        metadata=sql.metadata_sql(src.kind, meta_cols),
        candidate_a=sql.value_sql(src.kind, cand[0]) if cand else "NULL",
        candidate_b=sql.value_sql(src.kind, cand[1]) if cand else "NULL",
        type_errors=checks,
        final=None if o.pii else (src.text_label, project.task_type == "preference"),
    )
    if not staged:
        return None
    if src.direct:
        src.rows_read = sql.count_rows(cur, "_imp_stage")
        if src.rows_read == 0:
            raise InvalidInput("the file has a header row but no data rows", file=file)
    src.finalized = not o.pii
    return {"text_cols": text_cols, "id_col": id_col, "meta_cols": meta_cols,
            "candidate_cols": cand or None}


def _mask_pii(cur: duckdb.DuckDBPyConnection, report: ImportReport, preference: bool,
              total: int, progress: Progress | None) -> None:
    """Mask PII in the staged text (and candidates) in Arrow batches."""
    try:
        from curator.pii import mask_batch
    except ImportError:
        raise CuratorError("PII masking is not available in this installation (curator.pii)") from None
    cols = ["text", "candidate_a", "candidate_b"] if preference else ["text"]
    counts: dict[str, int] = {}
    done = 0
    changed: list[pa.Table] = []
    for batch in sql.stage_texts(cur, cols, _PII_BATCH):
        rows = batch.column(0).to_pylist()
        out: dict[str, list[Any]] = {"_row": rows}
        touched: set[int] = set()
        for ci, c in enumerate(cols, start=1):
            original = batch.column(ci).to_pylist()
            masked, cnt, examples = mask_batch(original, max_examples=20)
            touched.update(i for i, (a, b) in enumerate(zip(original, masked)) if a is not b)
            for k, v in cnt.items():
                counts[k] = counts.get(k, 0) + v
            for idx, kind, orig, new in examples:
                if len(report.pii_examples) < 20:
                    report.pii_examples.append({"row": rows[idx], "column": c, "kind": kind,
                                                "original": orig, "masked": new})
            out[c] = masked
        if touched:
            keep = sorted(touched)
            changed.append(pa.table({
                k: pa.array([v[i] for i in keep], pa.int64() if k == "_row" else pa.string())
                for k, v in out.items()}))
        done += len(rows)
        if progress:
            progress(done, total, "pii")
    if changed:
        sql.replace_texts(cur, pa.concat_tables(changed), cols)
    report.pii = counts


def _near_dups(cur: duckdb.DuckDBPyConnection, project: Project, threshold: float,
               progress: Progress | None) -> list[tuple[int, int, float]] | None:
    """Near-duplicate pairs among the new rows and against the project's items.

    New rows are identified by ``-_row`` (negative) until they have item ids."""
    try:
        from curator.neardup import find_near_duplicates
    except ImportError:
        return None
    rows, texts = sql.valid_new_rows(cur)
    ex_ids, ex_texts = sql.existing_items(cur, project.id)
    pairs = find_near_duplicates(
        texts, [-r for r in rows], threshold=threshold,
        existing=(ex_texts, ex_ids) if ex_ids else None,
        progress=(lambda d, t: progress(d, t, "near_dup")) if progress else None,
    )
    return [(int(a), int(b), float(s)) for a, b, s in pairs]


def _run(store: Store, actor: Actor, project: str | int | Project, path: str | Path, o: _Options,
         *, dry_run: bool, limit: int | None, progress: Progress | None,
         preview_rows: int = 0) -> tuple[ImportReport, list[dict[str, Any]]]:
    require(actor, "import")
    proj = project if isinstance(project, Project) else get_project(store, project)
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no such file: {path}")
    fmt = readers.detect_format(path, o.format)
    preference = proj.task_type == "preference"
    if fmt == "openai-dpo" and not preference:
        raise InvalidInput(f"an OpenAI DPO file imports into a preference project; {proj.name!r} "
                           f"is a {proj.task_type} project", file=path.name)
    if fmt == "openai-sft" and preference:
        raise InvalidInput(f"an OpenAI SFT file cannot fill a preference project ({proj.name!r}); "
                           "use a DPO file or a table with two candidate columns", file=path.name)
    if not _USER_RE.match(o.answer_source):
        raise InvalidInput(f"invalid answer source user name {o.answer_source!r}")
    if not 0.0 < o.near_dup_threshold <= 1.0:
        raise InvalidInput("near-duplicate threshold must be in (0, 1]")
    report = ImportReport(project=proj.name, filename=path.name, format=fmt, dry_run=dry_run)
    timings = report.timings
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[name] = round(now - t, 4)
        t = now

    cur = store.cursor()
    sha = None if (dry_run or preview_rows) else readers.FileDigest(path)
    rows_out: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="curator-import-") as wd, sql.import_memory(cur):
            structured = StructuredOptions(
                task_type=proj.task_type, label_names=proj.label_names,
                multi_label=proj.multi_label, answer_source=o.answer_source,
                text_cols=_as_list(o.text_cols), id_col=o.id_col, limit=limit)
            def read(direct: bool) -> Source:
                return readers.read_source(
                    cur, path, fmt, workdir=Path(wd), encoding=o.encoding,
                    delimiter=o.delimiter, limit=limit, structured=structured,
                    progress=progress, direct=direct)

            src = read(True)
            lap("read")
            if src.kind == "structured":
                report.mapping = {"format": fmt, "answer_source": o.answer_source}
            else:
                mapping = _map_tabular(cur, src, proj, o, path.name)
                if mapping is None:   # the one-pass read met a bad record: number them
                    src = read(False)
                    mapping = _map_tabular(cur, src, proj, o, path.name)
                report.mapping = mapping
            report.rows_read = src.rows_read
            report.detected = src.detected
            if progress:
                progress(src.rows_read, src.rows_read, "read")
            lap("map")
            if o.pii:
                _mask_pii(cur, report, preference, src.rows_read, progress)
                lap("pii")
            if not src.finalized:
                sql.finalize_stage(cur, text_col=src.text_label, preference=preference)
            version = sql.project_version(cur, proj.id)
            sql.mark_duplicates(cur, proj.id, preference=preference)
            set_prompt = (src.system_prompt is not None and not proj.system_prompt)
            if src.system_prompt is not None and src.system_prompt == (proj.system_prompt or src.system_prompt):
                sql.drop_metadata_key(cur, "system")
            elif src.system_prompt is not None:
                report.notes.append("the file's system message differs from the project's system "
                                    "prompt; it is kept in each item's metadata as 'system'")
            elif src.detected.get("system_prompts"):
                report.notes.append("system messages differ between lines (or some lines have "
                                    "none); each is kept in its item's metadata as 'system'")
            errors = sql.stage_errors(cur)
            report.rejected = len(errors)
            report.rejected_rows = [RowError(r, c, m) for r, c, m in errors[:MAX_ERRORS_LISTED]]
            dups = sql.duplicate_counts(cur)
            report.exact_duplicates_in_file = dups["in_file"]
            report.exact_duplicates_in_project = dups["in_project"]
            report.exact_duplicates = dups["in_file"] + dups["in_project"]
            lap("validate")
            if progress:
                progress(src.rows_read, src.rows_read, "validate")
            if errors and not o.skip_bad_rows and not preview_rows:
                raise InvalidInput(
                    f"{len(errors)} bad row{'s' if len(errors) != 1 else ''}; nothing was imported "
                    "(fix them, or import with skip_bad_rows / --skip-bad-rows to import the rest)",
                    errors=[RowError(r, c, m) for r, c, m in errors[:MAX_ERRORS_LISTED]],
                    file=path.name)
            if preview_rows:
                rows_out = sql.stage_rows(cur, preview_rows)
            pairs = None
            if o.near_dup:
                pairs = _near_dups(cur, proj, o.near_dup_threshold, progress)
                if pairs is None:
                    report.notes.append("near-duplicate detection is not available (curator.neardup)")
                else:
                    report.near_duplicates = len(pairs)
                lap("near_dup")
            ans = sql.answers_counts(cur)
            report.answers_skipped = ans.get("dup", 0) + ans.get("rejected", 0)
            if errors and o.skip_bad_rows and not preview_rows:
                rp = Path(o.rejects_path) if o.rejects_path else path.with_name(path.name + ".rejects.csv")
                sql.write_rejects(cur, str(rp), jsonl=rp.suffix.lower() in (".jsonl", ".json"))
                report.rejects_path = str(rp)
            if dry_run or preview_rows:
                report.added = sql.count_rows(cur, "_imp_stage", "err IS NULL AND dup IS NULL")
                report.answers_added = ans.get("ok", 0)
                report.system_prompt_set = set_prompt
                return report, rows_out
            assert sha is not None
            _commit(store, cur, proj, path, fmt, o, report, pairs, set_prompt, src, actor,
                    version, sha)
            lap("insert")
            if progress:
                progress(report.added, report.added, "insert")
    finally:
        if sha is not None:
            sha.cancel()
        try:
            sql.drop_temp(cur)
        except duckdb.Error:
            pass
        cur.close()
    store.notify_changed(proj.id)
    if report.system_prompt_set:
        store.notify_changed(proj.id, "config")
    return report, rows_out


def _commit(store: Store, cur: duckdb.DuckDBPyConnection, proj: Project, path: Path, fmt: str,
            o: _Options, report: ImportReport, pairs: list[tuple[int, int, float]] | None,
            set_prompt: bool, src: Source, actor: Actor, version: tuple[int, int],
            sha: "readers.FileDigest") -> None:
    """The one transaction: import row, items, near-duplicate flags, users, answers, prompt."""
    from curator.store import projects as projects_sql
    from curator.store import users as users_sql

    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(o).items()}
    options["text_cols"] = list(o.text_cols) if o.text_cols else None
    preference = proj.task_type == "preference"
    with store.write_lock:  # dedup-against-project must not race another import
        with transaction_on(cur):
            if sql.project_version(cur, proj.id) != version:
                # items were added since the check: dedup against the project again
                sql.mark_duplicates(cur, proj.id, preference=preference)
                errors = sql.stage_errors(cur)
                if len(errors) != report.rejected:
                    if not o.skip_bad_rows:
                        raise InvalidInput(
                            f"{len(errors)} bad row{'s' if len(errors) != 1 else ''} (items were "
                            "added to the project during the import); nothing was imported",
                            errors=[RowError(r, c, m) for r, c, m in errors[:MAX_ERRORS_LISTED]],
                            file=path.name)
                    report.rejected = len(errors)
                    report.rejected_rows = [RowError(r, c, m) for r, c, m in errors[:MAX_ERRORS_LISTED]]
                    rp = Path(o.rejects_path) if o.rejects_path else path.with_name(path.name + ".rejects.csv")
                    sql.write_rejects(cur, str(rp), jsonl=rp.suffix.lower() in (".jsonl", ".json"))
                    report.rejects_path = str(rp)
            import_id = sql.insert_import(cur, proj.id, path.name, fmt, None, options,
                                          actor.id or None)
            report.import_id = import_id
            report.added = sql.insert_items(cur, proj.id, import_id, preference=preference)
            dups = sql.duplicate_counts(cur)
            report.exact_duplicates_in_file = dups["in_file"]
            report.exact_duplicates_in_project = dups["in_project"]
            report.exact_duplicates = dups["in_file"] + dups["in_project"]
            if pairs or sql.has_answers(cur):
                sql.item_ids(cur, import_id)
            if pairs:
                ids = sql.row_item_ids(cur)

                def item(x: int) -> int | None:
                    return ids.get(-x) if x < 0 else x

                mapped = [(item(a), item(b), s) for a, b, s in pairs]
                mapped = [(a, b, s) for a, b, s in mapped if a is not None and b is not None]
                report.near_duplicates = sql.insert_near_duplicates(cur, proj.id, import_id, mapped)
            names = sql.answer_annotators(cur)
            if names:
                have = sql.user_ids(cur, names)
                for n in names:
                    if n not in have:
                        if not _USER_RE.match(n):
                            raise InvalidInput(f"cannot create answer user {n!r}: not a valid user name")
                        users_sql.insert_user(cur, n, "annotator", None)
                        report.notes.append(f"created user {n!r} (annotator, no password) for imported answers")
                report.answers_added = sql.insert_answers(cur, proj.id)
            if set_prompt and src.system_prompt:
                projects_sql.update_project(cur, proj.id, {"system_prompt": src.system_prompt})
                report.system_prompt_set = True
            # the file's sha256 ran in a thread alongside (done long before this point)
            sql.set_import_sha256(cur, import_id, sha.result())
            sql.set_import_report(cur, import_id, report.to_dict())


def import_file(
    store: Store, actor: Actor, project: str | int | Project, path: str | Path, *,
    format: str | None = None, text_cols: str | Sequence[str] | None = None,
    id_col: str | None = None, meta_cols: str | Sequence[str] | None = None,
    candidate_cols: str | Sequence[str] | None = None, encoding: str | None = None,
    delimiter: str | None = None, dry_run: bool = False, pii: bool = False,
    near_dup: bool = True, near_dup_threshold: float = 0.8, skip_bad_rows: bool = False,
    rejects_path: str | Path | None = None, answer_source: str = "openai-import",
    progress: Progress | None = None,
) -> ImportReport:
    """Import ``path`` into ``project``, all or nothing; see docs/import.md.

    Raises ``InvalidInput`` (with ``errors``: row numbers and reasons) when a row is bad and
    ``skip_bad_rows`` is False; the database is then unchanged.
    """
    o = _Options(format=format, text_cols=_as_list(text_cols), id_col=id_col,
                 meta_cols=_as_list(meta_cols), candidate_cols=_as_list(candidate_cols),
                 encoding=encoding, delimiter=delimiter, pii=pii, near_dup=near_dup,
                 near_dup_threshold=near_dup_threshold, skip_bad_rows=skip_bad_rows,
                 rejects_path=rejects_path, answer_source=answer_source)
    report, _ = _run(store, actor, project, path, o, dry_run=dry_run, limit=None,
                     progress=progress)
    return report


def preview(
    store: Store, actor: Actor, project: str | int | Project, path: str | Path, *,
    rows: int = 20, format: str | None = None, text_cols: str | Sequence[str] | None = None,
    id_col: str | None = None, meta_cols: str | Sequence[str] | None = None,
    candidate_cols: str | Sequence[str] | None = None, encoding: str | None = None,
    delimiter: str | None = None, pii: bool = False, answer_source: str = "openai-import",
) -> dict[str, Any]:
    """The first ``rows`` records exactly as they would be imported (text after mapping and
    PII masking, external_id, metadata, candidates, answers, the row's error or duplicate
    status), with the detected settings, the mapping and PII examples. Writes nothing."""
    o = _Options(format=format, text_cols=_as_list(text_cols), id_col=id_col,
                 meta_cols=_as_list(meta_cols), candidate_cols=_as_list(candidate_cols),
                 encoding=encoding, delimiter=delimiter, pii=pii, near_dup=False,
                 answer_source=answer_source)
    report, out = _run(store, actor, project, path, o, dry_run=True, limit=max(rows, 1),
                       progress=None, preview_rows=max(rows, 1))
    return {"rows": out, "detected": report.detected, "mapping": report.mapping,
            "pii": report.pii, "pii_examples": report.pii_examples, "format": report.format,
            "notes": report.notes}
