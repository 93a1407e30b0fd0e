"""Format and encoding detection, and reading a file into the import's temporary tables.

Tabular files (CSV/TSV, JSONL, JSON arrays, Parquet) are read by DuckDB itself
(``read_csv``/``read_json_objects``/``read_parquet``); XLSX is streamed with openpyxl in
read-only mode; the nested formats (OpenAI SFT/DPO chat JSONL, Label Studio exports) are
parsed line by line in Python and written to the stage in Arrow batches. Nothing holds the
whole file in a DataFrame.
"""
from __future__ import annotations

import codecs
import datetime as _dt
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb
import orjson
import pyarrow as pa

from curator.errors import InvalidInput, RowError
from curator.store import imports as sql

__all__ = [
    "FORMATS", "Source", "FileDigest", "detect_format", "detect_encoding", "read_source",
    "ParsedAnswer", "StructuredOptions",
]

FORMATS = ("csv", "tsv", "jsonl", "json", "parquet", "xlsx", "openai-sft", "openai-dpo",
           "label-studio")
_EXT = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "csv", ".jsonl": "jsonl",
        ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".pq": "parquet",
        ".xlsx": "xlsx", ".xlsm": "xlsx"}
_SAMPLE = 1 << 20
_BATCH = 20_000


@dataclass
class Source:
    """What was read: how to address its rows and columns in SQL, and what was detected."""

    format: str
    kind: str                    # 'tabular' (VARCHAR columns), 'json' (column j), 'parquet', 'structured'
    columns: list[str] = field(default_factory=list)
    col_types: dict[str, str] = field(default_factory=dict)
    row_expr: str = "_row"
    join: str = ""
    detected: dict[str, Any] = field(default_factory=dict)
    rows_read: int = 0
    system_prompt: str | None = None   # SFT/DPO: identical system message on every line
    text_label: str = "text"           # how the text is named in errors
    finalized: bool = False            # the stage already has its hashes and duplicate marks
    direct: str | None = None          # CSV read straight into the stage: the read_csv(...) call


@dataclass
class StructuredOptions:
    """What the Python parsers need to know about the target project."""

    task_type: str
    label_names: list[str]
    multi_label: bool
    answer_source: str
    text_cols: list[str] | None
    id_col: str | None
    limit: int | None


@dataclass
class ParsedAnswer:
    annotator: str
    value: str
    note: str | None = None


# ---------------------------------------------------------------------------- detection
def _head(path: Path, n: int = _SAMPLE) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def detect_format(path: Path, format: str | None = None) -> str:
    """The import format: ``format`` if given, else from the extension refined by content."""
    if format:
        fmt = format.lower().replace("_", "-")
        aliases = {"labelstudio": "label-studio", "sft": "openai-sft", "dpo": "openai-dpo",
                   "ndjson": "jsonl", "excel": "xlsx"}
        fmt = aliases.get(fmt, fmt)
        if fmt not in FORMATS:
            raise InvalidInput(f"unknown format {format!r}; expected one of: {', '.join(FORMATS)}")
        return fmt
    head = _head(path, 65536)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"PAR1"):
        return "parquet"
    ext = _EXT.get(path.suffix.lower())
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if ext in ("jsonl", "json", None) and stripped[:1] in (b"{", b"["):
        if stripped[:1] == b"[":
            return "label-studio" if _looks_label_studio(path) else "json"
        first = stripped.split(b"\n", 1)[0]
        try:
            obj = orjson.loads(first)
        except orjson.JSONDecodeError:
            return "jsonl"
        if isinstance(obj, dict) and isinstance(obj.get("messages"), list):
            return "openai-sft"
        if isinstance(obj, dict) and "preferred_output" in obj and "input" in obj:
            return "openai-dpo"
        return "jsonl"
    return ext or "csv"


def _looks_label_studio(path: Path) -> bool:
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"SELECT json_keys(json), json_type(json, '$.data') FROM read_json_objects("
            f"{sql.sql_str(str(path))}, format='array', maximum_object_size=67108864) LIMIT 1"
        ).fetchall()
    except duckdb.Error:
        return False
    finally:
        con.close()
    if not rows:
        return False
    keys, data_type = rows[0]
    return data_type == "OBJECT" and bool({"annotations", "predictions", "id"} & set(keys or []))


def detect_encoding(path: Path, encoding: str | None = None) -> str:
    """The file's text encoding (a Python codec name). BOMs win, then valid UTF-8, then
    UTF-16 without BOM (NUL-byte pattern), then charset-normalizer; Windows-1252 if unsure."""
    if encoding:
        try:
            return codecs.lookup(encoding).name
        except LookupError:
            raise InvalidInput(f"unknown encoding {encoding!r}") from None
    head = _head(path)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith(codecs.BOM_UTF32_LE) or head.startswith(codecs.BOM_UTF32_BE):
        return "utf-32"
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    if head.count(b"\x00") > len(head) // 4 and len(head) >= 4:
        even = head[0::2].count(b"\x00")
        odd = head[1::2].count(b"\x00")
        return "utf-16-le" if odd > even else "utf-16-be"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < _SAMPLE)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    return _guess_8bit(head)


def _guess_8bit(sample: bytes) -> str:
    from charset_normalizer import from_bytes

    import unicodedata

    best = from_bytes(sample).best()
    if best is not None:
        # charset-normalizer tells scripts apart well (Cyrillic, Greek, ...) but guesses
        # among the many Latin code pages almost at random on short samples; a Latin result
        # is taken to be Windows-1252, what Western spreadsheet tools write.
        letters = [c for c in str(best) if ord(c) > 127 and c.isalpha()]
        latin = sum(1 for c in letters if unicodedata.name(c, "").startswith("LATIN"))
        if letters and latin < len(letters) / 2:
            return codecs.lookup(best.encoding).name
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d are undefined in cp1252
        return "latin-1"


def _transcode(path: Path, encoding: str, dest: Path) -> None:
    """Stream ``path`` in ``encoding`` to UTF-8 at ``dest`` (line endings untouched)."""
    try:
        with open(path, "r", encoding=encoding, newline="") as src, \
                open(dest, "w", encoding="utf-8", newline="") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"cannot decode the file as {encoding} (byte {exc.start} of a chunk: {exc.reason}); "
            f"pass the right encoding (e.g. --encoding cp1252)"
        ) from None


def _utf8_path(path: Path, encoding: str, workdir: Path) -> Path:
    if encoding in ("utf-8", "utf-8-sig"):
        return path
    dest = workdir / (path.stem + ".utf8" + path.suffix)
    _transcode(path, encoding, dest)
    return dest


# ---------------------------------------------------------------------------- reading
def read_source(cur: duckdb.DuckDBPyConnection, path: Path, fmt: str, *, workdir: Path,
                encoding: str | None, delimiter: str | None, limit: int | None,
                structured: StructuredOptions,
                progress: Callable[[int, int, str], None] | None = None,
                direct: bool = False) -> Source:
    """Read ``path`` into ``_imp_raw`` (tabular formats) or straight into the stage.

    With ``direct`` a UTF-8 CSV/TSV file is not read yet: the Source names the
    ``read_csv(...)`` call that ``build_stage`` reads from (one pass instead of two); if
    that pass finds a bad record the caller reads again without ``direct``."""
    if path.stat().st_size == 0 or not _head(path, 4096).strip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n"):
        raise InvalidInput("the file is empty", file=path.name)
    sql.create_perr(cur)
    if fmt in ("csv", "tsv") and direct and limit is None:
        src = _csv_direct(cur, path, fmt, encoding=encoding, delimiter=delimiter)
        if src is not None:
            return src
    if fmt in ("csv", "tsv"):
        return _read_csv(cur, path, fmt, workdir=workdir, encoding=encoding,
                         delimiter=delimiter, limit=limit)
    if fmt == "jsonl":
        return _read_jsonl(cur, path, workdir=workdir, encoding=encoding, limit=limit)
    if fmt == "json":
        try:
            sql.read_json_array_raw(cur, str(path), limit=limit)
        except duckdb.Error as exc:
            raise InvalidInput(f"not a JSON array of objects: {_first_line(exc)}",
                               file=path.name) from None
        src = Source("json", "json", row_expr="_row")
        src.columns = sql.json_columns(cur)
        src.rows_read = sql.count_rows(cur, "_imp_raw") + sql.count_rows(cur, "_imp_perr")
        src.detected = {"format": "json", "encoding": "utf-8"}
        return src
    if fmt == "parquet":
        try:
            sql.read_parquet_raw(cur, str(path), limit=limit)
        except duckdb.Error as exc:
            raise InvalidInput(f"cannot read Parquet: {_first_line(exc)}", file=path.name) from None
        types = sql.parquet_columns(cur)
        src = Source("parquet", "parquet", columns=list(types), col_types=types, row_expr="_row")
        src.rows_read = sql.count_rows(cur, "_imp_raw")
        src.detected = {"format": "parquet", "column_types": types}
        return src
    if fmt == "xlsx":
        return _read_xlsx(cur, path, limit=limit)
    enc = detect_encoding(path, encoding)
    upath = _utf8_path(path, enc, workdir)
    if fmt in ("openai-sft", "openai-dpo"):
        src = _read_chat(cur, upath, fmt, structured, progress)
    else:
        src = _read_label_studio(cur, upath, structured)
    src.detected["encoding"] = enc
    return src


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300]


_REJECT_TEXT = {
    "TOO MANY COLUMNS": "more fields than the header",
    "MISSING COLUMNS": "fewer fields than the header",
    "UNQUOTED VALUE": "a quote inside an unquoted field (quote the whole field and double inner quotes)",
    "LINE SIZE OVER MAXIMUM": f"record longer than {sql.MAX_LINE_BYTES:,} bytes",
    "INVALID UNICODE": "bytes that are not valid in the file's encoding",
    "INVALID ENCODING": "bytes that are not valid in the file's encoding (pass the encoding)",
}


def _delimiter(fmt: str, delimiter: str | None) -> str | None:
    if delimiter is None and fmt == "tsv":
        delimiter = "\t"
    if delimiter is not None and len(delimiter) != 1 and delimiter != "\\t":
        raise InvalidInput(f"delimiter must be one character, got {delimiter!r}")
    return "\t" if delimiter == "\\t" else delimiter


def _csv_direct(cur, path: Path, fmt: str, *, encoding: str | None,
                delimiter: str | None) -> Source | None:
    """A Source for reading a UTF-8 CSV straight into the stage, or None (not UTF-8, or the
    sniffer cannot read it with the default record size)."""
    enc = detect_encoding(path, encoding)
    if enc not in ("utf-8", "utf-8-sig"):
        return None
    delimiter = _delimiter(fmt, delimiter)
    found = sql.csv_source(cur, str(path), delimiter=delimiter)
    if found is None:
        return None
    call, columns, sniffed = found
    src = Source(fmt, "tabular", columns=columns, row_expr="_row", direct=call)
    src.detected = {"format": fmt, "encoding": enc, "columns": columns, **sniffed}
    if delimiter is not None:
        src.detected["delimiter"] = delimiter
    return src


def _read_csv(cur, path: Path, fmt: str, *, workdir: Path, encoding: str | None,
              delimiter: str | None, limit: int | None) -> Source:
    enc = detect_encoding(path, encoding)
    delimiter = _delimiter(fmt, delimiter)
    upath = _utf8_path(path, enc, workdir)
    try:
        sql.read_csv_raw(cur, str(upath), delimiter=delimiter, limit=limit)
    except duckdb.Error as exc:
        raise InvalidInput(f"cannot read as CSV: {_first_line(exc)}", file=path.name) from None
    rejects = sql.csv_rejects(cur)
    if encoding is None and enc == "utf-8" and any(r[2] in ("INVALID UNICODE", "INVALID ENCODING") for r in rejects):
        # the first megabyte was valid UTF-8 but a later part is not: detect on the whole file
        with open(path, "rb") as f:
            enc = _guess_8bit(f.read())
        upath = _utf8_path(path, enc, workdir)
        sql.drop_temp(cur)
        sql.create_perr(cur)
        sql.read_csv_raw(cur, str(upath), delimiter=delimiter, limit=limit)
        rejects = sql.csv_rejects(cur)
    sniff = sql.sniff_csv(cur, str(upath), delimiter)
    columns = sql.raw_columns(cur)
    src = Source(fmt, "tabular", columns=columns)
    # DuckDB numbers rejected records counting the header as line 1
    bad: dict[int, str] = {}
    for line, col, etype, msg in rejects:
        row = int(line) - 1
        if row not in bad:
            bad[row] = _REJECT_TEXT.get(etype, msg)
    sql.add_parse_errors(cur, [(r, None, m) for r, m in sorted(bad.items())])
    if bad:
        sql.map_rows_after_rejects(cur, list(bad))
        src.row_expr, src.join = "m.n", "JOIN _imp_rowmap m ON m.rid = _imp_raw.rowid"
    else:
        src.row_expr = "_imp_raw.rowid + 1"
    src.rows_read = sql.count_rows(cur, "_imp_raw") + len(bad)
    src.detected = {"format": fmt, "encoding": enc, "columns": columns, **sniff}
    if delimiter is not None:
        src.detected["delimiter"] = delimiter
    if src.rows_read == 0:
        raise InvalidInput("the file has a header row but no data rows", file=path.name)
    return src


def _read_jsonl(cur, path: Path, *, workdir: Path, encoding: str | None,
                limit: int | None) -> Source:
    enc = detect_encoding(path, encoding)
    upath = _utf8_path(path, enc, workdir)
    try:
        sql.read_lines_raw(cur, str(upath), limit=limit)
    except duckdb.Error as exc:
        raise InvalidInput(f"cannot read as JSON lines: {_first_line(exc)}", file=path.name) from None
    rejects = sql.csv_rejects(cur)
    bad = sorted({int(r[0]) for r in rejects})
    sql.add_parse_errors(cur, [(r, None, "not a valid JSON line") for r in bad])
    if bad:
        sql.map_rows_after_rejects(cur, bad)
        sql.lines_to_json(cur, "m.n", "JOIN _imp_rowmap m ON m.rid = _imp_raw.rowid")
    else:
        sql.lines_to_json(cur, "_imp_raw.rowid + 1", "")
    src = Source("jsonl", "json", row_expr="_row")
    src.columns = sql.json_columns(cur)
    src.rows_read = sql.count_rows(cur, "_imp_raw") + sql.count_rows(cur, "_imp_perr")
    src.detected = {"format": "jsonl", "encoding": enc}
    if src.rows_read == 0:
        raise InvalidInput("the file has no JSON lines", file=path.name)
    return src


def _cell(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (_dt.datetime, _dt.date, _dt.time)):
        return v.isoformat()
    return str(v)


def _read_xlsx(cur, path: Path, *, limit: int | None) -> Source:
    """First worksheet, first row is the header. Formulas are kept as their text
    (``=HYPERLINK(...)``), never evaluated; other cells become strings."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise InvalidInput(f"cannot open as XLSX: {exc}", file=path.name) from None
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header: list[str] | None = None
        perr: list[tuple[int, str | None, str]] = []
        batch: list[list[str | None]] = []
        nums: list[int] = []
        created = False
        n_read = 0

        def flush() -> None:
            nonlocal created, batch, nums
            assert header is not None
            cols = {"_row": pa.array(nums, pa.int64())}
            for i, h in enumerate(header):
                cols[h] = pa.array([r[i] for r in batch], pa.string())
            tbl = pa.table(cols)
            if not created:
                sql.create_table_from_arrow(cur, "_imp_raw", tbl)
                created = True
            else:
                sql.append_arrow(cur, "_imp_raw", tbl)
            batch, nums = [], []

        for rnum, values in enumerate(rows, start=0):
            cells = [_cell(v) for v in values]
            if header is None:
                if not any(c not in (None, "") for c in cells):
                    continue
                while cells and cells[-1] in (None, ""):
                    cells.pop()
                header = [c if c else f"column{i + 1}" for i, c in enumerate(cells)]
                row0 = rnum
                continue
            if not any(c not in (None, "") for c in cells):
                continue
            row = rnum - row0
            n_read += 1
            extra = [c for c in cells[len(header):] if c not in (None, "")]
            if extra:
                perr.append((row, None, f"{len(header) + len(extra)} cells but the header has "
                                        f"{len(header)}"))
            else:
                cells = (cells + [None] * len(header))[: len(header)]
                batch.append(cells)
                nums.append(row)
            if len(batch) >= _BATCH:
                flush()
            if limit and n_read >= limit:
                break
        if header is None:
            raise InvalidInput("the worksheet is empty", file=path.name)
        if batch or not created:
            flush()
    finally:
        wb.close()
    sql.add_parse_errors(cur, perr)
    if n_read == 0:
        raise InvalidInput("the worksheet has a header row but no data rows", file=path.name)
    src = Source("xlsx", "tabular", columns=list(header), row_expr="_row", rows_read=n_read)
    src.detected = {"format": "xlsx", "sheet": ws.title, "columns": list(header)}
    return src


# ---------------------------------------------------------------------------- nested formats
class _StageWriter:
    """Collects stage rows and answers and appends them to the temp tables in batches."""

    def __init__(self, cur) -> None:
        self.cur = cur
        self.rows: dict[str, list[Any]] = {k: [] for k in sql.STAGE_COLUMNS}
        self.ans: dict[str, list[Any]] = {k: [] for k in sql.ANSWER_COLUMNS}
        self.count = 0
        sql.create_empty_stage(cur)

    def add(self, row: int, *, text: str | None = None, external_id: str | None = None,
            metadata: dict[str, Any] | None = None, candidate_a: str | None = None,
            candidate_b: str | None = None, err: str | None = None, err_col: str | None = None,
            answers: list[ParsedAnswer] | None = None) -> None:
        vals = {"_row": row, "text": text, "external_id": external_id,
                "metadata": orjson.dumps(metadata).decode() if metadata else None,
                "candidate_a": candidate_a, "candidate_b": candidate_b, "err": err,
                "err_col": err_col}
        for k, v in vals.items():
            self.rows[k].append(v)
        for a in answers or []:
            self.ans["_row"].append(row)
            self.ans["annotator"].append(a.annotator)
            self.ans["value"].append(a.value)
            self.ans["note"].append(a.note)
        self.count += 1
        if len(self.rows["_row"]) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if self.rows["_row"]:
            tbl = pa.table({k: pa.array(v, pa.int64() if k == "_row" else pa.string())
                            for k, v in self.rows.items()})
            sql.append_arrow(self.cur, "_imp_stage", tbl)
            self.rows = {k: [] for k in sql.STAGE_COLUMNS}
        if self.ans["_row"]:
            tbl = pa.table({k: pa.array(v, pa.int64() if k == "_row" else pa.string())
                            for k, v in self.ans.items()})
            sql.append_arrow(self.cur, "_imp_ans", tbl)
            self.ans = {k: [] for k in sql.ANSWER_COLUMNS}


def _content(msg: Any) -> str:
    """The text of a chat message's content (a string, or a list of text parts)."""
    c = msg.get("content")
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        parts = [p.get("text") for p in c if isinstance(p, dict) and p.get("type") == "text"]
        if all(isinstance(p, str) for p in parts) and parts:
            return "\n".join(parts)
    if c is None:
        return ""
    raise ValueError(f"{msg.get('role')} message content must be a string or text parts")


def _check_answer(value: str, opts: StructuredOptions) -> tuple[str | None, str | None]:
    """(normalized value, error) for an answer in the project's task type."""
    if opts.task_type == "classification":
        labels = [x.strip() for x in value.split("|")] if opts.multi_label else [value.strip()]
        unknown = [x for x in labels if x not in opts.label_names]
        if unknown or not labels:
            return None, (f"answer {value[:80]!r} is not a label of this project "
                          f"(labels: {', '.join(opts.label_names)})")
        return "|".join(sorted(set(labels))), None
    return value, None


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as f:
        for i, line in enumerate(f, start=1):
            if i == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[3:]
            yield i, line


def _read_chat(cur, path: Path, fmt: str, opts: StructuredOptions,
               progress: Callable[[int, int, str], None] | None) -> Source:
    """OpenAI chat JSONL: SFT (``messages``) or DPO (``input``/``preferred_output``/...)."""
    w = _StageWriter(cur)
    systems: set[str] = set()
    lines_with_system = 0
    dpo = fmt == "openai-dpo"
    total_bytes = max(path.stat().st_size, 1)
    done_bytes = 0
    for row, raw in _lines(path):
        done_bytes += len(raw)
        if not raw.strip():
            continue
        if opts.limit and w.count >= opts.limit:
            break
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            w.add(row, err=f"not valid JSON ({exc})")
            continue
        if not isinstance(obj, dict):
            w.add(row, err="expected a JSON object")
            continue
        try:
            if dpo:
                inp = obj.get("input")
                msgs = inp.get("messages") if isinstance(inp, dict) else None
                col = "input.messages"
            else:
                msgs = obj.get("messages")
                col = "messages"
            if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
                w.add(row, err=f"{col} must be a list of message objects", err_col=col)
                continue
            system = [_content(m) for m in msgs if m.get("role") in ("system", "developer")]
            users = [_content(m) for m in msgs if m.get("role") == "user"]
            assistants = [_content(m) for m in msgs if m.get("role") == "assistant"]
            meta: dict[str, Any] = {}
            if system:
                lines_with_system += 1
                systems.add("\n\n".join(system))
                meta["system"] = "\n\n".join(system)
            if not users:
                w.add(row, err="no user message", err_col=col)
                continue
            text = "\n\n".join(u for u in users if u)
            if dpo:
                outs = []
                for key in ("preferred_output", "non_preferred_output"):
                    val = obj.get(key)
                    if not isinstance(val, list) or not val or not isinstance(val[-1], dict):
                        raise ValueError(f"{key} must be a list with one assistant message")
                    outs.append(_content(val[-1]))
                if len(users) > 1 or assistants:
                    meta["messages"] = msgs
                w.add(row, text=text, metadata=meta or None, candidate_a=outs[0],
                      candidate_b=outs[1],
                      answers=[ParsedAnswer(opts.answer_source, "A")])
            else:
                answers = []
                if len(users) > 1 or len(assistants) > 1:
                    meta["messages"] = msgs
                if assistants and assistants[-1].strip():
                    value, err = _check_answer(assistants[-1], opts)
                    if err:
                        w.add(row, err=err, err_col="messages")
                        continue
                    answers.append(ParsedAnswer(opts.answer_source, value))
                w.add(row, text=text, metadata=meta or None, answers=answers)
        except (ValueError, AttributeError) as exc:
            w.add(row, err=str(exc), err_col=col)
        if progress and row % 10000 == 0:
            progress(done_bytes, total_bytes, "read")
    w.flush()
    src = Source(fmt, "structured", rows_read=w.count, text_label="user messages")
    if len(systems) == 1 and lines_with_system == w.count:
        src.system_prompt = next(iter(systems))
    src.detected = {"format": fmt, "system_prompts": len(systems),
                    "lines_with_system": lines_with_system}
    if w.count == 0:
        raise InvalidInput("the file has no JSON lines", file=path.name)
    return src


def _ls_user(completed_by: Any) -> str:
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if isinstance(email, str) and email:
            return re.sub(r"[^A-Za-z0-9_.@-]", "-", email)[:64]
        completed_by = completed_by.get("id")
    return re.sub(r"[^A-Za-z0-9_.@-]", "-", f"labelstudio-{completed_by}")[:64]


def _read_label_studio(cur, path: Path, opts: StructuredOptions) -> Source:
    """Label Studio JSON export: a list of tasks with ``data`` and ``annotations``."""
    try:
        tasks = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc}", file=path.name) from None
    if not isinstance(tasks, list):
        raise InvalidInput("a Label Studio export is a JSON list of tasks", file=path.name)
    w = _StageWriter(cur)
    keys_seen: dict[str, None] = {}
    for i, task in enumerate(tasks, start=1):
        if opts.limit and w.count >= opts.limit:
            break
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict):
            w.add(i, err="task has no 'data' object", err_col="data")
            continue
        for k in data:
            keys_seen.setdefault(k, None)
        cols = opts.text_cols
        if not cols:
            strings = [k for k, v in data.items() if isinstance(v, str)]
            cols = ["text"] if "text" in data else strings[:1] if len(strings) == 1 else None
        if not cols:
            w.add(i, err=f"cannot tell which data field is the text (fields: "
                         f"{', '.join(data)}); pass text columns", err_col="data")
            continue
        missing = [c for c in cols if c not in data]
        bad_type = [c for c in cols if c in data and data[c] is not None
                    and not isinstance(data[c], str)]
        if bad_type:
            w.add(i, err=f"data.{bad_type[0]} must be a string", err_col=f"data.{bad_type[0]}")
            continue
        text = "\n\n".join(data[c] for c in cols if c in data and data[c]) or None
        if missing and len(missing) == len(cols):
            text = None
        ext = data.get(opts.id_col) if opts.id_col else task.get("id")
        meta = {k: v for k, v in data.items() if k not in cols and k != opts.id_col}
        answers: list[ParsedAnswer] = []
        err = None
        for ann in task.get("annotations") or []:
            if not isinstance(ann, dict) or ann.get("was_cancelled"):
                continue
            choices: list[str] = []
            texts: list[str] = []
            for res in ann.get("result") or []:
                val = res.get("value") if isinstance(res, dict) else None
                if not isinstance(val, dict):
                    continue
                choices += [c for c in val.get("choices") or [] if isinstance(c, str)]
                texts += [t for t in val.get("text") or [] if isinstance(t, str)]
            if opts.task_type == "response":
                raw_value = "\n".join(texts)
            elif opts.task_type == "preference":
                raw_value = "|".join(choices)
            else:
                raw_value = "|".join(choices)
            if not raw_value:
                continue
            value, err = _check_answer(raw_value, opts)
            if opts.task_type == "preference" and raw_value not in ("A", "B", "tie", "both_bad"):
                err = f"choice {raw_value!r} must be A, B, tie or both_bad"
            if err:
                break
            answers.append(ParsedAnswer(_ls_user(ann.get("completed_by")), value or raw_value))
        if err:
            w.add(i, err=err, err_col="annotations")
            continue
        w.add(i, text=text, external_id=None if ext is None else str(ext), metadata=meta or None,
              answers=answers)
    w.flush()
    src = Source("label-studio", "structured", columns=list(keys_seen), rows_read=w.count,
                 text_label="data." + ((opts.text_cols or ["text"])[0]))
    src.detected = {"format": "label-studio", "data_fields": list(keys_seen)}
    if w.count == 0:
        raise InvalidInput("the export has no tasks", file=path.name)
    return src


class FileDigest:
    """sha256 of a file, computed in a background thread while the import reads and
    checks the file (hashlib releases the GIL, so it overlaps DuckDB's work). (At the
    lowest thread priority it was starved while DuckDB used both cores and then held up
    the commit: slower.)"""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stop = threading.Event()
        self._value: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="curator-file-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import hashlib

        try:
            h = hashlib.sha256()
            with open(self._path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 22), b""):
                    if self._stop.is_set():
                        return
                    h.update(chunk)
            self._value = h.hexdigest()
        except BaseException as exc:  # reported by result()
            self._error = exc

    def result(self) -> str:
        self._thread.join()
        if self._error is not None or self._value is None:
            return file_sha256(self._path)   # raises the real error, if any
        return self._value

    def cancel(self) -> None:
        self._stop.set()


def file_sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def os_size(path: Path) -> int:
    return os.path.getsize(path)
