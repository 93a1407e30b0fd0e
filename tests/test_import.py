"""Import: all-or-nothing, row-numbered errors, limits, dedup, PII, dry run, rejects file, kill -9."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from curator import users
from curator.errors import InvalidInput, NotFoundError, PermissionDenied
from curator.importing import MAX_TEXT_CHARS, import_file, normalize_text
from curator.store.imports import key_string
from curator.permissions import SYSTEM
from curator.store import Store
from curator.store import imports as imports_sql

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def people(store):
    return {"lee": users.create_user(store, SYSTEM, "lee", "lead").actor,
            "ann": users.create_user(store, SYSTEM, "ann", "annotator").actor}


def counts(store):
    return imports_sql.table_counts(store.cursor())


def texts(store, project):
    return [r[0] for r in store.cursor().execute(
        "SELECT text FROM items WHERE project_id = ? ORDER BY id", [project.id]).fetchall()]


def write_csv(path: Path, rows, header=("id", "text")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def rejected(store, people, project, path, **kw):
    """Import must fail; the database must be exactly as before. Returns the error."""
    before = counts(store)
    with pytest.raises(InvalidInput) as e:
        import_file(store, people["lee"], project, path, near_dup=False, **kw)
    assert counts(store) == before
    return e.value


def test_ragged_rows_reject_the_file_with_row_numbers(store, people, clf_project, tmp_path):
    f = tmp_path / "ragged.csv"
    f.write_text('id,text\n1,ok\n2,"multi\nline",extra\n3,fine\n4\n5,last\n')
    err = rejected(store, people, clf_project, f)
    assert [(e.row, e.message) for e in err.errors] == [
        (2, "more fields than the header"), (4, "fewer fields than the header")]
    assert "ragged.csv" in str(err) and "row 2" in str(err)


def test_skip_bad_rows_writes_rejects_and_keeps_row_numbers(store, people, clf_project, tmp_path):
    f = tmp_path / "ragged.csv"
    f.write_text('id,text\n1,ok\n2,"multi\nline",extra\n3,fine\n4\n5,\n6,last\n')
    rej = tmp_path / "rejects.csv"
    r = import_file(store, people["lee"], clf_project, f, skip_bad_rows=True, rejects_path=rej,
                    near_dup=False)
    assert (r.rows_read, r.added, r.rejected) == (6, 3, 3)
    assert texts(store, clf_project) == ["ok", "fine", "last"]
    with open(rej, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(x["row"], x["reason"]) for x in rows] == [
        ("2", "more fields than the header"), ("4", "fewer fields than the header"),
        ("5", "missing or empty text")]
    # external ids line up with their rows even after parser rejects
    got = store.cursor().execute("SELECT external_id FROM items ORDER BY id").fetchall()
    assert got == [("1",), ("3",), ("6",)]
    imp = store.cursor().execute("SELECT report FROM imports").fetchall()
    assert json.loads(imp[0][0])["rejected"] == 3


def test_skip_bad_rows_jsonl_rejects_file(store, people, clf_project, tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text('{"text": "good"}\n{"text": \n[1]\n{"text": {"a": 1}}\n{"text": "also good"}\n')
    err = rejected(store, people, clf_project, f)
    assert [(e.row, e.message[:22]) for e in err.errors] == [
        (2, "not valid JSON: {\"text"), (3, "expected a JSON object"), (4, "text must be a string,")]
    rej = tmp_path / "rej.jsonl"
    r = import_file(store, people["lee"], clf_project, f, skip_bad_rows=True, rejects_path=rej,
                    near_dup=False)
    assert r.added == 2
    lines = [json.loads(x) for x in rej.read_text().splitlines()]
    assert [x["row"] for x in lines] == [2, 3, 4] and lines[2]["column"] == "text"


def test_nul_bytes_are_rejected(store, people, clf_project, tmp_path):
    f = tmp_path / "nul.csv"
    f.write_bytes(b"id,text\n1,ok\n2,bad\x00byte\n")
    err = rejected(store, people, clf_project, f)
    assert err.errors[0].row == 2 and "NUL" in err.errors[0].message
    g = tmp_path / "nul.jsonl"
    g.write_text('{"text": "a\\u0000b"}\n')
    assert "NUL" in rejected(store, people, clf_project, g).errors[0].message


def test_empty_and_header_only_files(store, people, clf_project, tmp_path):
    for name, content, msg in [("empty.csv", b"", "empty"), ("blank.csv", b"\n\r\n  \n", "empty"),
                               ("bom.csv", b"\xef\xbb\xbf", "empty"),
                               ("header.csv", b"id,text\r\n", "header row but no data"),
                               ("empty.jsonl", b"\n\n", "empty"), ("arr.json", b"[]", "no")]:
        f = tmp_path / name
        f.write_bytes(content)
        err = rejected(store, people, clf_project, f)
        assert msg in str(err), name


def test_text_length_limit(store, people, clf_project, tmp_path):
    ok = write_csv(tmp_path / "ok.csv", [("1", "x" * 60_000), ("2", "y" * MAX_TEXT_CHARS)])
    assert import_file(store, people["lee"], clf_project, ok, near_dup=False).added == 2
    big = write_csv(tmp_path / "big.csv", [("3", "fine"), ("4", "z" * (MAX_TEXT_CHARS + 1))])
    err = rejected(store, people, clf_project, big)
    assert err.errors[0].row == 2
    assert err.errors[0].message == "text has 100001 characters; the limit is 100,000"


def test_other_limits_and_empty_text(store, people, clf_project, tmp_path):
    f = write_csv(tmp_path / "t.csv", [("a" * 201, "text one"), ("", "text two"),
                                       ("3", "   "), ("4", "")], header=("id", "text"))
    err = rejected(store, people, clf_project, f)
    assert [(e.row, e.column) for e in err.errors] == [(1, "external_id"), (3, "text"),
                                                       (4, "text")]
    # an empty id cell in CSV is simply "no id" (NULL), so row 2 is fine


def test_external_id_conflicts(store, people, clf_project, tmp_path):
    f = write_csv(tmp_path / "a.csv", [("x1", "first"), ("x1", "FIRST "), ("x2", "other")])
    r = import_file(store, people["lee"], clf_project, f, near_dup=False)
    assert (r.added, r.exact_duplicates_in_file) == (2, 1)   # same id, same text: a duplicate
    g = write_csv(tmp_path / "b.csv", [("x9", "new"), ("x9", "different")])
    err = rejected(store, people, clf_project, g)
    assert err.errors[0].row == 2 and "also on row 1" in err.errors[0].message
    h = write_csv(tmp_path / "c.csv", [("x2", "changed text")])
    assert "already item" in rejected(store, people, clf_project, h).errors[0].message


def test_exact_dedup_in_file_and_against_project(store, people, clf_project, tmp_path):
    f = write_csv(tmp_path / "a.csv", [
        ("1", "My card was charged twice"), ("2", "  my CARD was\tcharged\n twice "),
        ("3", "Ｍｙ ｃａｒｄ ｗａｓ ｃｈａｒｇｅｄ ｔｗｉｃｅ"),   # fullwidth: NFKC folds it
        ("4", "STRASSE closed"), ("5", "straße closed"),                # casefold: ß == ss
        ("6", "another ticket")])
    r = import_file(store, people["lee"], clf_project, f, near_dup=False)
    assert (r.rows_read, r.added, r.exact_duplicates_in_file) == (6, 3, 3)
    assert texts(store, clf_project) == ["My card was charged twice", "STRASSE closed",
                                         "another ticket"]
    g = write_csv(tmp_path / "b.csv", [("7", "ANOTHER ticket"), ("8", "brand new")])
    r = import_file(store, people["lee"], clf_project, g, near_dup=False)
    assert (r.added, r.exact_duplicates_in_project, r.exact_duplicates) == (1, 1, 1)
    cur = store.cursor()
    for text, key in cur.execute("SELECT text, dedup_key FROM items").fetchall():
        assert key == cur.execute("SELECT hash(?)", [key_string(text)]).fetchall()[0][0]


def test_white_space_position_matters_amount_does_not(store, people, clf_project, tmp_path):
    """Where white space is matters ("log in" and "login" are two items); how much of it,
    and case, do not."""
    f = write_csv(tmp_path / "a.csv", [("1", "please log in"), ("2", "please login"),
                                       ("3", "PLEASE  LOG\nIN"), ("4", "pleaselogin"),
                                       ("5", "please login")])
    r = import_file(store, people["lee"], clf_project, f, near_dup=False)
    assert (r.added, r.exact_duplicates_in_file) == (3, 2)
    assert texts(store, clf_project) == ["please log in", "please login", "pleaselogin"]
    g = write_csv(tmp_path / "b.csv", [("6", "Please Log In"), ("7", "plea selogin"),
                                       ("8", "PLEASE LOGIN")])
    r = import_file(store, people["lee"], clf_project, g, near_dup=False)
    assert (r.added, r.exact_duplicates_in_project) == (1, 2)
    assert texts(store, clf_project)[-1] == "plea selogin"


def _keys_sql_vs_python(cur, texts):
    import pyarrow as pa

    cur.register("cps", pa.table({"t": pa.array(texts)}))
    try:
        got = cur.execute(
            f"SELECT ({imports_sql.slow_sql(cur, 't')}) AS slow, {imports_sql.fast_key_sql('t')} AS k "
            "FROM cps").fetchall()
    finally:
        cur.unregister("cps")
    return [t for t, (slow, k) in zip(texts, got) if not slow and k != key_string(t)]


def test_sql_key_matches_python(store):
    samples = ["  Hello\t\tWorld \n", "a\x0bb\x1cc\x1fd", "ÉCOLE  Straße", "ﬁne ＡＢＣ",
               "x\u00a0y\u2003z\u2028w", "İstanbul ΣΑΣ", "plain", "\r\n", "Ǆ ǅ",
               "Cafe\u0301 cafe\u0301", "ǰ j\u030c", "a\r\rb\t \n c", "  ", "x" * 5 + "\n" * 9,
               "\u1100\u1161\u11a8", "ς σ Σ", "Ⅻ ½ …", "é ø € £ ü — “quoted”",
               "tab\tonly  x ", "cr\ronly", "\r\n\r\nX\r\n", "\t", "A\n\n\nB\n \nC"]
    assert _keys_sql_vs_python(store.cursor(), samples) == []


def test_sql_normalisation_every_code_point(store):
    """Every code point, alone between letters and spaces and before a combining mark: the
    SQL fast path either hands the row to Python or gets the same key string."""
    chars = [chr(c) for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts = [f"Ab {c}Z\n" for c in chars] + [f"{c}\u0301 x" for c in chars[::7]]
    bad = _keys_sql_vs_python(store.cursor(), texts)
    assert not bad, [ascii(b) for b in bad[:20]]


def test_common_accented_text_stays_on_the_sql_path(store):
    """Precomposed accents, currency signs and typographic quotes need no Python."""
    cur = store.cursor()
    cls = imports_sql.slow_class(cur)
    for s in ["é ø í á £ € ë ó ü ñ ç å Ä Ö Ü É", "— – “quoted” ‘single’ · •", "日本語 한국어 中文",
              "Привет мир", "Γειά σου"]:
        assert not cur.execute("SELECT regexp_matches(?, ?)", [s, cls]).fetchall()[0][0], s
    for s in ["ß", "ﬁ", "Ａ", "\u00a0", "e\u0301", "…", "ς"]:
        assert cur.execute("SELECT regexp_matches(?, ?)", [s, cls]).fetchall()[0][0], ascii(s)


def test_dry_run_changes_nothing(store, people, clf_project, tmp_path):
    f = write_csv(tmp_path / "a.csv", [("1", "one"), ("2", "two"), ("3", "ONE")])
    before = counts(store)
    r = import_file(store, people["lee"], clf_project, f, dry_run=True, near_dup=False)
    assert (r.dry_run, r.added, r.exact_duplicates, r.import_id) == (True, 2, 1, None)
    assert counts(store) == before


def test_pii_masked_text_is_stored(store, people, clf_project, tmp_path):
    f = write_csv(tmp_path / "a.csv", [("1", "mail jo@example.com or call +44 20 7946 0958"),
                                       ("2", "no personal data here")])
    r = import_file(store, people["lee"], clf_project, f, pii=True, near_dup=False)
    assert r.pii["email"] == 1 and r.pii["phone"] == 1
    assert texts(store, clf_project)[0] == "mail [EMAIL] or call [PHONE]"
    assert r.pii_examples[0]["row"] == 1


def test_permissions_and_missing_file(store, people, clf_project, tmp_path):
    f = write_csv(tmp_path / "a.csv", [("1", "one")])
    with pytest.raises(PermissionDenied):
        import_file(store, people["ann"], clf_project, f)
    with pytest.raises(NotFoundError):
        import_file(store, people["lee"], clf_project, tmp_path / "nope.csv")


def test_failure_inside_the_transaction_rolls_everything_back(store, people, clf_project,
                                                              tmp_path, monkeypatch):
    f = write_csv(tmp_path / "a.csv", [(str(i), f"ticket {i}") for i in range(50)])
    before = counts(store)

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(imports_sql, "set_import_report", boom)
    with pytest.raises(RuntimeError):
        import_file(store, people["lee"], clf_project, f, near_dup=False)
    assert counts(store) == before
    monkeypatch.undo()
    assert import_file(store, people["lee"], clf_project, f, near_dup=False).added == 50


def test_near_duplicates_are_flagged_not_dropped(store, people, clf_project, tmp_path):
    pytest.importorskip("curator.neardup")
    base = "My order 1234 arrived damaged and the box was open, please send a replacement soon"
    f = write_csv(tmp_path / "a.csv", [("1", base), ("2", base.replace("soon", "today")),
                                       ("3", "Completely unrelated question about invoices")])
    r = import_file(store, people["lee"], clf_project, f, near_dup=True, near_dup_threshold=0.7)
    assert r.added == 3 and r.near_duplicates >= 1
    rows = store.cursor().execute(
        "SELECT i.external_id, s.external_id FROM near_duplicates n JOIN items i ON i.id = n.item_id "
        "JOIN items s ON s.id = n.similar_item_id").fetchall()
    assert {frozenset(p) for p in rows} == {frozenset({"1", "2"})}
    g = write_csv(tmp_path / "b.csv", [("4", base.replace("soon", "now"))])
    r = import_file(store, people["lee"], clf_project, g, near_dup=True, near_dup_threshold=0.7)
    assert r.added == 1 and r.near_duplicates == 1
    got = store.cursor().execute(
        "SELECT i.external_id, s.external_id, n.import_id, n.status FROM near_duplicates n "
        "JOIN items i ON i.id = n.item_id JOIN items s ON s.id = n.similar_item_id "
        "WHERE i.external_id = '4'").fetchall()
    assert got[0][0] == "4" and got[0][1] in ("1", "2") and got[0][2] == r.import_id
    assert got[0][3] == "open"


def test_kill_9_mid_import_leaves_nothing(tmp_path):
    """A separate process imports; it is killed inside the transaction, after the items were
    inserted. The database must then hold no row of that import."""
    db = tmp_path / "kill.duckdb"
    f = write_csv(tmp_path / "many.csv", [(str(i), f"ticket number {i}") for i in range(20_000)])
    marker = tmp_path / "in-transaction"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from curator.store import Store, imports
        from curator.permissions import SYSTEM
        from curator.projects import create_project
        from curator.importing import import_file
        s = Store.open({str(db)!r})
        create_project(s, SYSTEM, "p", "response")
        real = imports.set_import_report
        def hang(cur, *a, **k):
            n = cur.execute("SELECT count(*) FROM items").fetchall()[0][0]
            open({str(marker)!r}, "w").write(str(n))
            time.sleep(120)
        imports.set_import_report = hang
        import_file(s, SYSTEM, "p", {str(f)!r}, near_dup=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not marker.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert marker.exists(), proc.stderr.read().decode() if proc.poll() is not None else "timeout"
        time.sleep(0.2)
        assert marker.read_text() == "20000"   # the items were in, uncommitted
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    s = Store.open(db)
    try:
        c = imports_sql.table_counts(s.cursor())
        assert (c["projects"], c["imports"], c["items"]) == (1, 0, 0)
    finally:
        s.close()


def test_import_caps_duckdb_memory_and_restores_it(store, people, clf_project, tmp_path):
    """The import runs under IMPORT_MEMORY_LIMIT (temporary tables spill) and leaves the
    database's memory limit as it found it; items get ids in file order."""
    cur = store.cursor()
    before = cur.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    seen = []

    def progress(done, total, stage):
        seen.append(cur.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])

    f = write_csv(tmp_path / "m.csv", [(str(i), f"text number {i}") for i in range(1, 60)])
    import_file(store, people["lee"], clf_project, f, near_dup=False, progress=progress)
    assert seen and all(v != before for v in seen)
    assert cur.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == before
    rows = cur.execute("SELECT external_id FROM items WHERE project_id = ? ORDER BY id",
                       [clf_project.id]).fetchall()
    assert [int(r[0]) for r in rows] == list(range(1, 60))
    assert imports_sql.IMPORT_MEMORY_LIMIT


def test_shipped_slow_class_matches_a_fresh_computation():
    """The precomputed class in the package is what this DuckDB, Unicode and Python compute
    (regenerate with ``imports_sql.write_slow_class_file``); other versions compute their own."""
    import duckdb

    cur = duckdb.connect()
    shipped = imports_sql._shipped_slow_class()
    if shipped.get("tag") != imports_sql._slow_class_tag(cur):
        pytest.skip(f"slow_class.json is for {shipped.get('tag')}, this is "
                    f"{imports_sql._slow_class_tag(cur)}")
    assert shipped["class"] == imports_sql._regex_class(imports_sql._slow_chars(cur))


def test_import_records_the_files_sha256(store, people, clf_project, tmp_path):
    import hashlib

    f = write_csv(tmp_path / "a.csv", [("1", "first ticket"), ("2", "second ticket")])
    r = import_file(store, people["lee"], clf_project, f, near_dup=False)
    got = store.cursor().execute("SELECT file_sha256 FROM imports WHERE id = ?",
                                 [r.import_id]).fetchall()[0][0]
    assert got == hashlib.sha256(f.read_bytes()).hexdigest()


def test_items_added_while_an_import_runs_are_not_added_twice(store, people, clf_project,
                                                              tmp_path, monkeypatch):
    """Import A checks for duplicates, then import B of the same file commits before A
    does: A checks again under the write lock and adds nothing."""
    import threading

    f = write_csv(tmp_path / "a.csv", [("1", "alpha ticket"), ("2", "beta ticket"),
                                       ("3", "gamma ticket")])
    real = imports_sql.mark_duplicates
    other: list = []

    def racing(cur, project_id, *, preference):
        real(cur, project_id, preference=preference)
        if not other:
            other.append(None)
            t = threading.Thread(target=lambda: other.append(
                import_file(store, people["lee"], clf_project, f, near_dup=False)))
            t.start()
            t.join()

    monkeypatch.setattr(imports_sql, "mark_duplicates", racing)
    first = import_file(store, people["lee"], clf_project, f, near_dup=False)
    second = other[1]
    assert second.added == 3
    assert (first.added, first.exact_duplicates_in_project) == (0, 3)
    assert texts(store, clf_project) == ["alpha ticket", "beta ticket", "gamma ticket"]
