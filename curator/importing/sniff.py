"""Look at a file before mapping it: its format and column names (nothing is written)."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from curator.importing import readers
from curator.store import Store, transaction_on

__all__ = ["sniff"]


def sniff(store: Store, path: str | Path, *, format: str | None = None,
          encoding: str | None = None, delimiter: str | None = None) -> dict[str, Any]:
    """``{"format", "columns", "detected"}`` for ``path`` from its first rows.

    Runs in a transaction that is rolled back, so only temporary tables were ever touched."""
    path = Path(path)
    fmt = readers.detect_format(path, format)
    cur = store.cursor()
    try:
        with transaction_on(cur, commit=False), tempfile.TemporaryDirectory(prefix="curator-sniff-") as wd:
            src = readers.read_source(cur, path, fmt, workdir=Path(wd), encoding=encoding,
                                      delimiter=delimiter, limit=20,
                                      structured=readers.StructuredOptions(
                                          task_type="classification", label_names=[],
                                          multi_label=False, answer_source="sniff",
                                          text_cols=None, id_col=None, limit=20))
    finally:
        cur.close()
    return {"format": src.format, "kind": src.kind, "columns": list(src.columns),
            "detected": dict(src.detected)}
