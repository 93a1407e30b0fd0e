"""Named migrations: a database written by an earlier version is brought up to date at open,
with its data intact and its dedup keys right."""
from __future__ import annotations

import csv

import duckdb

from curator.importing import import_file
from curator.permissions import SYSTEM
from curator.store import Store
from curator.store import imports as imports_sql
from curator.store.migrations import M001_CORE


def _old_database(path):
    """A database as the first release (migration 001 only) left it, with items whose dedup
    key was a sha256 column."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE _migrations (name VARCHAR PRIMARY KEY, "
                "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
    con.execute(M001_CORE)
    con.execute("INSERT INTO _migrations (name) VALUES ('001_core')")
    con.execute("INSERT INTO meta VALUES ('database_id', 'old-db')")
    con.execute("INSERT INTO projects (name, task_type, labels) VALUES "
                "('p', 'classification', '[{\"name\":\"x\"},{\"name\":\"y\"}]'), "
                "('q', 'preference', '[]')")
    texts = ["My card was charged twice", "Ｆｕｌｌｗｉｄｔｈ ticket ﬁle", "another  one\n"]
    con.executemany("INSERT INTO items (project_id, external_id, text, content_hash) "
                    "VALUES (1, ?, ?, 'sha-' || ?)", [[f"e{i}", t, str(i)] for i, t in enumerate(texts)])
    con.execute("INSERT INTO items (project_id, text, content_hash, candidate_a, candidate_b) "
                "VALUES (2, 'prompt', 'h', 'Reply A', 'Reply B')")
    con.close()
    return texts


def test_001_database_is_migrated_with_its_items_and_keys(tmp_path):
    db = tmp_path / "old.duckdb"
    texts = _old_database(db)
    store = Store.open(db)
    try:
        assert store.applied_migrations() == ["001_core", "002_dedup_key", "003_web_sessions"]
        cur = store.cursor()
        cols = [r[0] for r in cur.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'items'").fetchall()]
        assert "dedup_key" in cols and "content_hash" not in cols
        assert cur.execute("SELECT count(*) FROM duckdb_indexes() "
                           "WHERE index_name = 'items_project'").fetchall()[0][0] == 0
        rows = cur.execute("SELECT text, dedup_key, candidate_a, candidate_b FROM items "
                           "ORDER BY id").fetchall()
        assert [r[0] for r in rows[:3]] == texts
        for text, key, a, b in rows:
            want = imports_sql.key_of(cur, text, (a, b) if a is not None else None)
            assert key == want, text
        assert imports_sql.keys_current(cur)
        # the migrated keys dedup a new import against the old items
        f = tmp_path / "new.csv"
        with open(f, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "text"])
            w.writerows([["n1", "MY CARD WAS CHARGED TWICE"], ["n2", "fullwidth ticket file"],
                         ["n3", "Another one"], ["n4", "brand new"]])
        r = import_file(store, SYSTEM, "p", f, near_dup=False)
        assert (r.added, r.exact_duplicates_in_project) == (1, 3)
    finally:
        store.close()


def test_keys_are_recomputed_when_duckdb_hashes_differently(tmp_path):
    """Stored keys are DuckDB hashes; a fingerprint that no longer matches (another DuckDB)
    makes the next open recompute them."""
    db = tmp_path / "x.duckdb"
    store = Store.open(db)
    cur = store.cursor()
    cur.execute("INSERT INTO projects (name, task_type, labels) VALUES ('p', 'response', '[]')")
    cur.execute("INSERT INTO items (project_id, text, dedup_key) VALUES (1, 'Hello  World', 42)")
    cur.execute("UPDATE meta SET value = 'stale' WHERE key = 'dedup_key_check'")
    store.close()
    store = Store.open(db)
    try:
        cur = store.cursor()
        key = cur.execute("SELECT dedup_key FROM items").fetchall()[0][0]
        assert key == imports_sql.key_of(cur, "hello world")
        assert imports_sql.keys_current(cur)
    finally:
        store.close()


def test_new_database_files_use_the_fsst_storage_format(tmp_path):
    """A new file is written in ``STORAGE_VERSION`` (FSST and dictionary compression for
    text, not DuckDB 1.3+'s DICT_FSST, which cost more to write for no smaller file); a file
    created in another format keeps it and stays usable."""
    from curator.projects import create_project
    from curator.store import STORAGE_VERSION

    src = tmp_path / "t.csv"
    with src.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "text"])
        for i in range(20000):
            w.writerow([i, f"ticket {i}: my order #{i * 7919 % 100003} never arrived, please help"])
    db = tmp_path / "new.duckdb"
    store = Store.open(db)
    create_project(store, SYSTEM, "p", "response")
    assert import_file(store, SYSTEM, "p", src, text_cols=["text"], id_col="id").added == 20000
    cur = store.cursor()
    cur.execute("CHECKPOINT")
    tags = cur.execute("SELECT tags FROM duckdb_databases() WHERE NOT internal").fetchall()
    assert tags == [({"storage_version": STORAGE_VERSION + "+"},)]
    methods = {r[0] for r in cur.execute(
        "SELECT DISTINCT compression FROM pragma_storage_info('items') "
        "WHERE column_name = 'text' AND segment_type = 'VARCHAR'").fetchall()}
    assert methods and "DICT_FSST" not in methods and methods <= {"FSST", "Dictionary"}
    store.close()

    other = tmp_path / "latest.duckdb"
    duckdb.connect(str(other)).close()   # DuckDB's own default format
    store = Store.open(other)
    create_project(store, SYSTEM, "p", "response")
    assert import_file(store, SYSTEM, "p", src, text_cols=["text"], id_col="id").added == 20000
    cur = store.cursor()
    cur.execute("CHECKPOINT")
    assert cur.execute("SELECT tags FROM duckdb_databases() WHERE NOT internal").fetchall() != tags
    assert cur.execute("SELECT count(DISTINCT text) FROM items").fetchall() == [(20000,)]
    store.close()


def test_a_duckdb_without_the_storage_format_still_opens_databases(tmp_path, monkeypatch):
    """Should a later DuckDB stop knowing ``STORAGE_VERSION``, databases open in its own
    default format instead of not opening at all."""
    import curator.store as store_mod
    from curator.projects import create_project, list_projects

    monkeypatch.setattr(store_mod, "STORAGE_VERSION", "v0.0.0-gone")
    store = Store.open(tmp_path / "x.duckdb")
    create_project(store, SYSTEM, "p", "response")
    assert [p.name for p in list_projects(store, SYSTEM)] == ["p"]
    store.close()
