"""The store: the one place that talks to DuckDB.

* One ``Store`` (one DuckDB connection) per process and database file; ``Store.open(path)``
  returns the shared instance. Each unit of work takes its own ``cursor()`` (a DuckDB
  connection is not safe to share between threads; cursors are).
* ``transaction()`` gives a cursor inside BEGIN/COMMIT (ROLLBACK on error).
* ``write_lock`` is the process-wide lock around read-modify-write steps (claiming queue
  slots, settling, adjudicating). Plain appends need no lock.
* Named migrations run at open time when ``migrate=True`` (``curator init``); a database
  written by a newer curator is refused.

SQL for each capability lives in the sibling modules (``users``, ``projects``, ``items``, ...),
as functions taking a cursor.
"""
from __future__ import annotations

import os
import queue as _queue
import re
import threading
import uuid
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb

from curator.errors import CuratorError, DatabaseLocked, SchemaTooNew
from curator.store.migrations import MIGRATIONS

__all__ = ["Store", "default_db_path", "server_info_path", "transaction_on"]

# The storage format new database files are written in (DuckDB's storage_compatibility_version;
# a file keeps the format it was created with). v1.2.0 is the newest format that compresses
# text with FSST and dictionaries; the newer default (DICT_FSST, DuckDB 1.3+) made files no
# smaller on ticket text (303 MB for a million tickets either way, same scan speed) but took
# ~1.5 CPU-seconds more per million tickets to write, ~1 s of a 1M-row import. Bonus: the
# file opens in DuckDB 1.2 and later. See docs/import.md ("Storage format").
STORAGE_VERSION = "v1.2.0"

_LOCK_RE = re.compile(r"Conflicting lock is held in (?P<prog>.*?) \(PID (?P<pid>\d+)\)")


def default_db_path() -> Path:
    """``$CURATOR_DB``, else ``./curator.duckdb``."""
    return Path(os.environ.get("CURATOR_DB") or "curator.duckdb")


def server_info_path(db_path: str | Path) -> Path:
    """Where ``curator serve`` records its port and pid for the CLI to find."""
    return Path(str(db_path) + ".server.json")


def _describe_pid(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        cmd = ""
    return f"PID {pid}" + (f" ({cmd[:300]})" if cmd else "")


class Store:
    """One DuckDB connection for this process; see the module docstring."""

    _instances: dict[str, "Store"] = {}
    _instances_lock = threading.Lock()

    def __init__(self, path: str | Path, *, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self.write_lock = threading.RLock()
        self._generations: dict[tuple[int, str], int] = {}
        self.uid = uuid.uuid4().hex  # identifies this open store in in-process caches
        self._appender: _GroupCommitter | None = None
        self._appender_lock = threading.Lock()
        try:
            self.conn = self._connect(read_only)
        except duckdb.IOException as exc:
            raise self._lock_error(exc) from None
        except duckdb.Error as exc:
            raise CuratorError(f"cannot open database {self.path}: {exc}") from None

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(str(self.path), read_only=read_only,
                                  config={"storage_compatibility_version": STORAGE_VERSION})
        except duckdb.InvalidInputException as exc:
            if "is not a known DuckDB version" not in str(exc):
                raise
        # a DuckDB that no longer writes STORAGE_VERSION: its own default format, still usable
        return duckdb.connect(str(self.path), read_only=read_only)

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, path: str | Path, *, migrate: bool = True, read_only: bool = False) -> "Store":
        """The process-wide store for ``path`` (created on first use).

        With ``migrate`` pending migrations are applied; without it a database that needs
        migrating is refused with a message that says to run ``curator init``.
        """
        key = str(Path(path).resolve())
        with cls._instances_lock:
            store = cls._instances.get(key)
            if store is None:
                store = cls(path, read_only=read_only)
                try:
                    store._check_version(migrate=migrate and not read_only)
                except BaseException:
                    store.conn.close()
                    raise
                cls._instances[key] = store
            return store

    def close(self) -> None:
        key = str(self.path.resolve())
        with self._instances_lock:
            if self._instances.get(key) is self:
                del self._instances[key]
        with self._appender_lock:
            if self._appender is not None:
                self._appender.stop()
                self._appender = None
        try:
            self.conn.close()
        except duckdb.Error:
            pass

    @classmethod
    def close_all(cls) -> None:
        for store in list(cls._instances.values()):
            store.close()

    def _lock_error(self, exc: Exception) -> CuratorError:
        text = str(exc)
        m = _LOCK_RE.search(text)
        if not m:
            return CuratorError(f"cannot open database {self.path}: {text}")
        who = _describe_pid(int(m.group("pid")))
        return DatabaseLocked(
            f"database {self.path} is in use by another process, {who}. "
            f"If that is `curator serve`, use the running app or its API "
            f"(set CURATOR_API_TOKEN and the CLI talks to the server); otherwise stop that "
            f"process and try again."
        )

    # ------------------------------------------------------------------ units of work
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A fresh cursor for one unit of work (use it from one thread only)."""
        return self.conn.cursor()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside BEGIN ... COMMIT; ROLLBACK when the block raises."""
        cur = self.conn.cursor()
        try:
            with transaction_on(cur):
                yield cur
        finally:
            cur.close()

    def append(self, fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        """Run ``fn(cursor)`` — a small append such as one annotation row — and return its
        result once it is committed.

        Appends that arrive together share one transaction (group commit): with many
        annotators saving at once, one commit (one WAL flush) serves them all instead of each
        waiting for its own. An append that fails is retried alone, so it never takes others
        down with it, and its error is raised to its caller."""
        with self._appender_lock:
            if self._appender is None:
                self._appender = _GroupCommitter(self)
            appender = self._appender
        return appender.run(fn)

    def append_row(self, table: str, row: dict[str, Any], *, id_sequence: str) -> tuple[int, Any]:
        """Append one row to ``table`` with an id from ``id_sequence``; returns
        ``(id, created_at)`` once committed. Rows arriving together go into one multi-row
        INSERT in one transaction (group commit), which costs far less than one statement
        and one commit per row when many annotators save at once."""
        with self._appender_lock:
            if self._appender is None:
                self._appender = _GroupCommitter(self)
            appender = self._appender
        return appender.run_row(table, row, id_sequence)

    @contextmanager
    def locked_transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """``transaction()`` under the process-wide write lock (read-modify-write steps)."""
        with self.write_lock:
            with self.transaction() as cur:
                yield cur

    # ------------------------------------------------------------------ migrations
    def applied_migrations(self) -> list[str]:
        cur = self.cursor()
        exists = cur.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = '_migrations'"
        ).fetchone()[0]
        if not exists:
            return []
        return [r[0] for r in cur.execute("SELECT name FROM _migrations ORDER BY name").fetchall()]

    def pending_migrations(self) -> list[str]:
        applied = set(self.applied_migrations())
        return [m.name for m in MIGRATIONS if m.name not in applied]

    def _check_version(self, *, migrate: bool) -> None:
        known = {m.name for m in MIGRATIONS}
        applied = self.applied_migrations()
        unknown = [name for name in applied if name not in known]
        if unknown:
            raise SchemaTooNew(
                f"database {self.path} was written by a newer version of curator "
                f"(it has migration {unknown[-1]!r}, which this version does not know). "
                f"Upgrade curator (pip install -U curator) to open it."
            )
        if self.pending_migrations():
            if migrate:
                self.migrate()
            elif applied:
                raise CuratorError(
                    f"database {self.path} needs migrating: run `curator init` first."
                )
        if migrate and "002_dedup_key" in self.applied_migrations():
            self._check_dedup_keys()

    def _check_dedup_keys(self) -> None:
        """Stored dedup keys are DuckDB hashes: if this DuckDB hashes differently from the
        one that wrote them, recompute them (else re-imports would miss duplicates)."""
        from curator.store import imports
        cur = self.cursor()
        if not imports.keys_current(cur):
            with self.transaction() as tx:
                imports.recompute_item_keys(tx)

    def migrate(self) -> list[str]:
        """Apply pending migrations, each in one transaction with the row that records it."""
        cur = self.cursor()
        cur.execute(
            "CREATE TABLE IF NOT EXISTS _migrations ("
            " name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        done: list[str] = []
        applied = set(self.applied_migrations())
        for m in MIGRATIONS:
            if m.name in applied:
                continue
            with self.transaction() as tx:
                tx.execute(m.sql)
                if m.after is not None:
                    m.after(tx)
                if m.sql_after:
                    tx.execute(m.sql_after)
                tx.execute("INSERT INTO _migrations (name) VALUES (?)", [m.name])
                if m.name == MIGRATIONS[0].name:
                    tx.execute(
                        "INSERT INTO meta VALUES ('database_id', ?)", [str(uuid.uuid4())]
                    )
            done.append(m.name)
        return done

    # ------------------------------------------------------------------ change signals
    def notify_changed(self, project_id: int, what: str = "data") -> None:
        """Tell in-process caches that a project changed outside their own write path:
        ``what="data"`` for items or answers (imports, bulk annotation imports),
        ``what="config"`` for the project's settings (labels, overlap, members)."""
        with self.write_lock:
            key = (project_id, what)
            self._generations[key] = self._generations.get(key, 0) + 1

    def generation(self, project_id: int, what: str = "data") -> int:
        return self._generations.get((project_id, what), 0)

    # ------------------------------------------------------------------ identity
    def database_id(self) -> str:
        row = self.cursor().execute("SELECT value FROM meta WHERE key = 'database_id'").fetchone()
        return row[0] if row else ""


@contextmanager
def transaction_on(cur: duckdb.DuckDBPyConnection, *, commit: bool = True) -> Iterator[None]:
    """BEGIN ... COMMIT on a cursor the caller keeps (one that holds temporary tables, say);
    ROLLBACK when the block raises, or always with ``commit=False`` (scratch work)."""
    cur.execute("BEGIN TRANSACTION")
    try:
        yield
        cur.execute("COMMIT" if commit else "ROLLBACK")
    except BaseException:
        _rollback_quietly(cur)
        raise


def _rollback_quietly(cur: duckdb.DuckDBPyConnection) -> None:
    """ROLLBACK after a failure; a transaction already gone is not a second error."""
    try:
        cur.execute("ROLLBACK")
    except duckdb.Error:
        pass


class _GroupCommitter:
    """One writer thread committing batches of appends (see ``Store.append``)."""

    MAX_BATCH = 64

    def __init__(self, store: Store):
        self.store = store
        self.q: _queue.Queue = _queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="curator-group-commit", daemon=True)
        self.thread.start()

    def run(self, fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        if threading.current_thread() is self.thread:  # nested use: run inline
            with self.store.transaction() as cur:
                return fn(cur)
        fut: Future = Future()
        self.q.put((fn, fut))
        return fut.result()

    def run_row(self, table: str, row: dict[str, Any], id_sequence: str) -> tuple[int, Any]:
        if threading.current_thread() is self.thread:  # pragma: no cover - nested use
            with self.store.transaction() as cur:
                return _insert_rows(cur, table, [row], id_sequence)[0]
        fut: Future = Future()
        self.q.put(((table, tuple(row), id_sequence), row, fut))
        return fut.result()

    def stop(self) -> None:
        self.q.put(None)
        self.thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            first = self.q.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.MAX_BATCH:
                try:
                    nxt = self.q.get_nowait()
                except _queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list) -> None:
        cur = self.store.conn.cursor()
        if len(batch) == 1 and len(batch[0]) == 3:  # one row alone: one autocommit statement
            (table, _cols, seq), row, fut = batch[0]
            try:
                cols = list(row)
                fut.set_result(cur.execute(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
                    " RETURNING id, created_at", list(row.values())).fetchone())
            except BaseException as exc:
                fut.set_exception(exc)
            finally:
                cur.close()
            return
        try:
            results: list[Any] = [None] * len(batch)
            cur.execute("BEGIN TRANSACTION")
            try:
                groups: dict[tuple, list[int]] = {}
                for i, item in enumerate(batch):
                    if len(item) == 2:              # a function
                        results[i] = item[0](cur)
                    else:                           # a row: grouped by table and columns
                        groups.setdefault(item[0], []).append(i)
                for (table, _cols, seq), idxs in groups.items():
                    out = _insert_rows(cur, table, [batch[i][1] for i in idxs], seq)
                    for i, r in zip(idxs, out):
                        results[i] = r
                cur.execute("COMMIT")
            except BaseException:
                _rollback_quietly(cur)
                if len(batch) == 1:
                    raise
                for item in batch:  # one failed: run each alone so the others still land
                    self._commit([item])
                return
            for item, res in zip(batch, results):
                item[-1].set_result(res)
        except BaseException as exc:  # a single append failed: its caller gets the error
            for item in batch:
                if not item[-1].done():
                    item[-1].set_exception(exc)
        finally:
            cur.close()


def _insert_rows(cur: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]],
                 id_sequence: str) -> list[tuple[int, Any]]:
    """One multi-row INSERT with ids drawn from ``id_sequence`` (inside the caller's
    transaction, so the sequence advance is logged). Returns ``(id, created_at)`` per row."""
    ids = [r[0] for r in cur.execute(
        f"SELECT nextval('{id_sequence}') FROM range(?)", [len(rows)]).fetchall()]
    now = cur.execute("SELECT now()").fetchone()[0]   # the transaction's time: created_at
    cols = ["id", *rows[0]]
    one = "(" + ", ".join("?" for _ in cols) + ")"
    params: list[Any] = []
    for i, r in zip(ids, rows):
        params.append(i)
        params.extend(r.values())
    cur.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES {', '.join(one for _ in rows)}",
                params)
    return [(i, now) for i in ids]
