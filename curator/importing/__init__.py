"""Importing files into a project: CSV/TSV, JSONL, JSON arrays, Parquet, XLSX, OpenAI SFT and
DPO chat JSONL, and Label Studio exports. All or nothing; see ``docs/import.md``.

    from curator.importing import import_file, preview
    report = import_file(store, actor, "tickets", "tickets.csv", text_cols=["subject", "body"],
                         id_col="external_id", pii=True)
"""
from __future__ import annotations

from curator.importing.readers import FORMATS, detect_encoding, detect_format
from curator.importing.service import MAX_ERRORS_LISTED, ImportReport, Progress, import_file, preview
from curator.store.imports import (
    MAX_ID_CHARS, MAX_LINE_BYTES, MAX_METADATA_CHARS, MAX_TEXT_CHARS, normalize_text,
)

__all__ = [
    "import_file", "preview", "ImportReport", "Progress", "FORMATS", "detect_format",
    "detect_encoding", "normalize_text", "MAX_TEXT_CHARS", "MAX_ID_CHARS", "MAX_METADATA_CHARS",
    "MAX_LINE_BYTES", "MAX_ERRORS_LISTED",
]
