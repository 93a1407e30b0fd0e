"""AppTest: the foundation path through the app — import a small CSV, label two tickets,
export an SFT file — and each page's guard."""
from __future__ import annotations

import json

import jsonschema
import pytest

from apptest_util import errors, go, run_page_directly, texts
from conftest import add_items
from curator import queue
from curator.permissions import SYSTEM
from curator.projects import create_project, get_project
from curator.paths import SCHEMAS_DIR
from curator.store import answers as answers_sql

CSV = (b"ticket_id,subject,body,channel\r\n"
       b"T1,Refund,\"I was charged twice, please refund\",email\r\n"
       b"T2,Login,\"Cannot log in since the update\",chat\r\n"
       b"T3,Invoice,\"Where is my invoice for March?\",email\r\n")


@pytest.fixture
def app(db_path, store, people, monkeypatch, tmp_path):
    monkeypatch.setenv("CURATOR_DB", str(db_path))
    monkeypatch.setenv("CURATOR_EXPORTS_DIR", str(tmp_path / "exports"))
    from apptest_util import app_for

    def make(user):
        return app_for(db_path, user, monkeypatch=monkeypatch)

    return make


def test_import_page_imports_a_csv(app, store, people, clf_project):
    at = go(app(people["lee"]), "import")
    assert not at.exception
    at.file_uploader(key="import_file").set_value(("tickets.csv", CSV, "text/csv")).run()
    assert not at.exception, at.exception
    at.multiselect(key="import_text_cols").set_value(["subject", "body"]).run()
    at.selectbox(key="import_id_col").set_value("ticket_id").run()
    assert "Refund" in str(at.dataframe[0].value)
    at.button(key="import_go").click().run()
    assert not at.exception, at.exception
    assert not errors(at), errors(at)
    assert "Imported 3 of 3 rows" in texts(at)
    rows = store.cursor().execute(
        "SELECT external_id, text FROM items WHERE project_id = ? ORDER BY external_id",
        [clf_project.id]).fetchall()
    assert rows[0] == ("T1", "Refund\n\nI was charged twice, please refund")


def test_import_page_shows_row_errors_and_changes_nothing(app, store, people, clf_project):
    at = go(app(people["lee"]), "import")
    bad = b"subject,body\r\nok,fine\r\n,\r\n"
    at.file_uploader(key="import_file").set_value(("bad.csv", bad, "text/csv")).run()
    at.multiselect(key="import_text_cols").set_value(["subject", "body"]).run()
    at.button(key="import_go").click().run()
    assert not at.exception
    assert any("Nothing was imported" in e for e in errors(at))
    assert store.cursor().execute("SELECT count(*) FROM items").fetchone()[0] == 0


def test_label_page_labels_two_tickets(app, store, people, clf_project):
    ids = add_items(store, clf_project, ["I was charged twice", "App crashes on start"])
    at = go(app(people["ann"]), "label")
    assert not at.exception, at.exception
    assert "charged twice" in texts(at)
    at.button(key="label-billing").click().run()
    assert not at.exception, at.exception
    assert "App crashes" in texts(at)
    at.checkbox(key=f"unsure-{ids[1]}").check()
    at.button(key="label-bug").click().run()
    assert not at.exception
    mine = queue.recent_answers(store, people["ann"], clf_project)
    assert [m["value"] for m in mine] == ["bug", "billing"]
    assert mine[0]["unsure"] is True
    assert "queue is empty" in texts(at)


def test_label_page_go_back_changes_answer(app, store, people, clf_project):
    (item,) = add_items(store, clf_project, ["refund please"])
    at = go(app(people["ann"]), "label")
    at.button(key="label-billing").click().run()
    at.button(key=f"back-{item}").click().run()
    assert "changing your earlier answer" in texts(at)
    at.button(key="label-refund").click().run()
    hist = queue.item_history(store, people["ann"], item)
    assert [h.value for h in hist] == ["billing", "refund"]


def test_label_page_preference(app, store, people):
    p = create_project(store, people["lee"], "prefs", "preference")
    (item,) = add_items(store, p, ["How do I reset?"], candidates=[("Good answer", "Bad answer")])
    at = go(app(people["ann"]), "label")
    assert not at.exception
    q = queue.next_item(store, people["ann"], p)  # the claim the page holds
    first_is_good = q.candidates_shown[0] == "Good answer"
    at.button(key="choice-A").click().run()
    ans = queue.my_answer(store, people["ann"], item)
    assert ans.value == ("A" if first_is_good else "B")
    assert ans.shown_order == q.shown_order


def test_export_page_writes_valid_sft(app, store, people, clf_project, tmp_path):
    ids = add_items(store, clf_project, [f"ticket number {i} about billing" for i in range(12)])
    for who in ("ann", "bob"):
        for _ in ids:
            q = queue.next_item(store, people[who], clf_project)
            queue.submit(store, people[who], clf_project, q.id, "billing")
    at = go(app(people["eve"]), "export")
    assert not at.exception, at.exception
    at.slider(key="exp_val").set_value(0.2).run()
    at.button(key="exp_go").click().run()
    assert not at.exception, at.exception
    assert not errors(at), errors(at)
    out = list((tmp_path / "exports").rglob("train.jsonl"))
    assert len(out) == 1
    schema = json.loads((SCHEMAS_DIR / "sft_line.schema.json").read_text())
    lines = [json.loads(l) for l in out[0].read_text().splitlines()]
    assert lines
    for line in lines:
        jsonschema.validate(line, schema)
        assert line["messages"][-1] == {"role": "assistant", "content": "billing"}
    assert at.download_button(key="exp_dl_zip")


@pytest.mark.parametrize("page,role", [("import", "ann"), ("export", "ann"), ("label", None)])
def test_pages_refuse_when_reached_directly(db_path, store, people, monkeypatch, page, role):
    user = people[role] if role else {"id": 0, "name": "nobody", "role": "guest"}
    if role is None:
        monkeypatch.setenv("CURATOR_DB", str(db_path))
        monkeypatch.syspath_prepend(str(__import__("apptest_util").PAGES))
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(__import__("apptest_util").page_path(page), default_timeout=30).run()
    else:
        at = run_page_directly(db_path, page, user, monkeypatch=monkeypatch)
    assert not at.exception
    assert errors(at)
    assert not at.button
