"""Shared fixtures: a fresh database per test, users of every role, small projects."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# Tokenizer tables: use ../shared/tiktoken-cache when it is there (fast); otherwise curator
# seeds a cache from the bpe-openai package (offline).
_SHARED_CACHE = Path(__file__).resolve().parents[2] / "shared" / "tiktoken-cache"
if "TIKTOKEN_CACHE_DIR" not in os.environ and _SHARED_CACHE.is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(_SHARED_CACHE)

from curator import users  # noqa: E402
from curator.permissions import SYSTEM  # noqa: E402
from curator.projects import create_project  # noqa: E402
from curator.store import Store  # noqa: E402
from curator.store import imports as imports_sql  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "curator.duckdb"


@pytest.fixture
def store(db_path: Path):
    s = Store.open(db_path)
    yield s
    from curator import queue

    queue.forget_indexes(s)
    s.close()


@pytest.fixture
def people(store):
    """One user per role (password 'password-<name>')."""
    out = {}
    for name, role in [("ada", "admin"), ("lee", "lead"), ("eve", "engineer"),
                       ("ann", "annotator"), ("bob", "annotator"), ("cat", "annotator")]:
        out[name] = users.create_user(store, SYSTEM, name, role, f"password-{name}").actor
    return out


def add_items(store, project, texts, *, candidates=None):
    """Insert items directly (tests of code that needs items but not the importer)."""
    cur = store.cursor()
    rows = []
    for i, t in enumerate(texts):
        a, b = (candidates[i] if candidates else (None, None))
        h = imports_sql.key_of(cur, t, (a, b) if candidates else None)
        rows.append([project.id, f"ext-{i}", t, h, a, b])
    cur.executemany(
        "INSERT INTO items (project_id, external_id, text, dedup_key, candidate_a, candidate_b)"
        " VALUES (?, ?, ?, ?, ?, ?)", rows)
    store.notify_changed(project.id)
    return [r[0] for r in cur.execute(
        "SELECT id FROM items WHERE project_id = ? ORDER BY id", [project.id]).fetchall()]


@pytest.fixture
def clf_project(store, people):
    return create_project(store, people["lee"], "tickets", "classification",
                          labels="billing,refund,bug,other", overlap=2,
                          system_prompt="Classify the support ticket.")


@contextmanager
def serving(db: Path, log: Path, env: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """``curator serve`` on ``db`` in a subprocess on a free port, until the block ends:
    yields {"url", "proc", "env"}; the server's output goes to ``log`` (printed on failure)."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CURATOR_DB": str(db), "CURATOR_LOG_LEVEL": "warning", **(env or {})}
    env.pop("CURATOR_API_TOKEN", None)   # the server needs none; tests add it to CLI calls
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "curator.cli", "serve", "--port", str(port)],
                                env=env, stdout=f, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError(f"server did not start:\n{log.read_text()}")
            time.sleep(0.3)
        try:
            yield {"url": url, "proc": proc, "env": env}
        except BaseException:
            print(log.read_text())
            raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
