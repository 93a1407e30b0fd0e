"""Import: every supported format and encoding, read exactly as written."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from curator import users
from curator.errors import InvalidInput
from curator.importing import detect_encoding, detect_format, import_file, preview
from curator.projects import create_project, get_project
from curator.permissions import SYSTEM
from tests.conftest import SHARED_DATA


@pytest.fixture
def people(store):
    """A lead and an annotator without passwords (no argon2 cost: these tests are about files)."""
    return {"lee": users.create_user(store, SYSTEM, "lee", "lead").actor,
            "ann": users.create_user(store, SYSTEM, "ann", "annotator").actor}


def items(store, project):
    return store.cursor().execute(
        "SELECT external_id, text, metadata, candidate_a, candidate_b FROM items "
        "WHERE project_id = ? ORDER BY id", [project.id]).fetchall()


def answers(store, project):
    return store.cursor().execute(
        "SELECT i.external_id, u.name, a.value, a.source FROM annotations a "
        "JOIN items i ON i.id = a.item_id JOIN users u ON u.id = a.user_id "
        "WHERE a.project_id = ? ORDER BY a.id", [project.id]).fetchall()


@pytest.fixture
def resp_project(store, people):
    return create_project(store, people["lee"], "replies", "response")


@pytest.fixture
def pref_project(store, people):
    return create_project(store, people["lee"], "prefs", "preference")


def test_csv_quotes_embedded_newlines_crlf_and_formulas(store, people, clf_project, tmp_path):
    f = tmp_path / "t.csv"
    f.write_bytes(
        b'id,subject,body,channel\r\n'
        b'1,Refund,"line one\r\nline two, with ""quotes""",email\r\n'
        b'2,Link,"=HYPERLINK(""http://x"",""click"")",web\r\n'
        b'3,Plus,+1 555 0100 @SUM(A1),chat\r\n')
    r = import_file(store, people["lee"], clf_project, f, text_cols=["subject", "body"],
                    near_dup=False)
    assert (r.rows_read, r.added, r.rejected) == (3, 3, 0)
    got = items(store, clf_project)
    assert got[0][:2] == ("1", 'Refund\n\nline one\r\nline two, with "quotes"')
    assert got[1][1] == 'Link\n\n=HYPERLINK("http://x","click")'   # stored as text
    assert got[2][1] == "Plus\n\n+1 555 0100 @SUM(A1)"
    assert json.loads(got[0][2]) == {"channel": "email"}
    assert r.mapping["id_col"] == "id" and r.detected["delimiter"] == ","


def test_cr_only_line_endings(store, people, clf_project, tmp_path):
    f = tmp_path / "mac.csv"
    f.write_bytes(b'text,n\r"first\rsecond",1\rthird,2\r')
    r = import_file(store, people["lee"], clf_project, f, near_dup=False)
    assert r.added == 2
    assert [t for _, t, *_ in items(store, clf_project)] == ["first\rsecond", "third"]


@pytest.mark.parametrize("encoding,expected", [
    ("utf-8-sig", "utf-8-sig"), ("utf-16-le", "utf-16"), ("utf-16-be", "utf-16"),
    ("cp1252", "cp1252"),
])
def test_encodings(store, people, clf_project, tmp_path, encoding, expected):
    text = "Café “smart quotes” – 50€ naïve"
    body = f"text,id\r\n\"{text}\",a1\r\nsecond row,a2\r\n"
    raw = body.encode(encoding)
    if encoding.startswith("utf-16"):
        raw = ("\ufeff" + body).encode(encoding)  # with BOM
    f = tmp_path / f"enc-{encoding}.csv"
    f.write_bytes(raw)
    assert detect_encoding(f) == expected
    r = import_file(store, people["lee"], clf_project, f, near_dup=False)
    assert r.added == 2 and r.detected["encoding"] == expected
    assert items(store, clf_project)[0][:2] == ("a1", text)


def test_latin1_detected_late_in_file(store, people, clf_project, tmp_path):
    # first megabyte is plain ASCII; the Windows-1252 byte comes later
    rows = "".join(f"row number {i},{i}\n" for i in range(60_000))
    f = tmp_path / "late.csv"
    f.write_bytes(b"text,id\n" + rows.encode() + "caf\xe9 latte,x\n".encode("cp1252"))
    r = import_file(store, people["lee"], clf_project, f, near_dup=False)
    assert r.added == 60_001 and r.detected["encoding"] == "cp1252"
    got = store.cursor().execute("SELECT text FROM items WHERE external_id = 'x'").fetchall()
    assert got == [("café latte",)]


def test_utf16_without_bom_is_detected(store, people, clf_project, tmp_path):
    f = tmp_path / "nobom.csv"
    f.write_bytes("text\nhello there\nsecond\n".encode("utf-16-le"))
    assert detect_encoding(f) == "utf-16-le"
    assert import_file(store, people["lee"], clf_project, f, near_dup=False).added == 2


def test_tsv_and_semicolon_delimiters(store, people, clf_project, tmp_path):
    f = tmp_path / "t.tsv"
    f.write_text("text\tcat\nhello, world\tx\nsecond; row\ty\n")
    r = import_file(store, people["lee"], clf_project, f, near_dup=False)
    assert r.added == 2 and r.detected["delimiter"] == "\t"
    g = tmp_path / "semi.csv"
    g.write_text("text;cat\nbonjour, monde;x\nencore;y\n")
    r = import_file(store, people["lee"], clf_project, g, near_dup=False)
    assert r.added == 2 and r.detected["delimiter"] == ";"
    assert "bonjour, monde" in [t for _, t, *_ in items(store, clf_project)]


def test_jsonl_types_and_metadata(store, people, clf_project, tmp_path):
    f = tmp_path / "t.jsonl"
    lines = [{"id": 7, "text": "a \u00e9 \"quoted\" \\ line", "tags": ["x", "y"], "n": 1.5},
             {"id": "b-2", "text": "second", "tags": None, "n": 2}]
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    r = import_file(store, people["lee"], clf_project, f, near_dup=False)
    assert (r.format, r.rows_read, r.added) == ("jsonl", 2, 2)
    got = items(store, clf_project)
    assert got[0][:2] == ("7", 'a é "quoted" \\ line')
    assert json.loads(got[0][2]) == {"tags": ["x", "y"], "n": 1.5}
    assert got[1][0] == "b-2"


def test_json_array(store, people, clf_project, tmp_path):
    f = tmp_path / "t.json"
    f.write_text(json.dumps([{"text": "one", "k": 1}, {"text": "two", "k": 2}]))
    assert detect_format(f) == "json"
    r = import_file(store, people["lee"], clf_project, f, near_dup=False)
    assert r.added == 2 and [t for _, t, *_ in items(store, clf_project)] == ["one", "two"]


def test_parquet(store, people, clf_project, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = tmp_path / "t.parquet"
    pq.write_table(pa.table({"ticket_id": [10, 11], "text": ["p one", "p two"],
                             "score": [0.5, 0.25]}), f)
    r = import_file(store, people["lee"], clf_project, f, id_col="ticket_id", near_dup=False)
    assert r.added == 2
    got = items(store, clf_project)
    assert got[0][0] == "10" and json.loads(got[1][2]) == {"score": 0.25}
    g = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), g)
    with pytest.raises(InvalidInput, match="text must be a string column"):
        import_file(store, people["lee"], clf_project, g, near_dup=False)


def test_xlsx_formulas_stay_text(store, people, clf_project, tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "text", "amount"])
    ws.append([1, '=HYPERLINK("http://evil","click me")', 12.0])
    ws.append([2, "plain ticket", 3.5])
    ws.append([None, None, None])
    ws.append([3, "=1+1", None])
    f = tmp_path / "t.xlsx"
    wb.save(f)
    r = import_file(store, people["lee"], clf_project, f, near_dup=False)
    assert (r.format, r.added) == ("xlsx", 3)
    got = items(store, clf_project)
    assert got[0][:2] == ("1", '=HYPERLINK("http://evil","click me")')
    assert got[2][1] == "=1+1"
    assert json.loads(got[0][2]) == {"amount": "12"}


def test_openai_sft(store, people, resp_project, tmp_path):
    sys = {"role": "system", "content": "You are a support agent."}
    lines = [
        {"messages": [sys, {"role": "user", "content": "Where is my order?"},
                      {"role": "assistant", "content": "Let me check."}]},
        {"messages": [sys, {"role": "user", "content": [{"type": "text", "text": "Refund?"}]},
                      {"role": "assistant", "content": "Sure."}]},
    ]
    f = tmp_path / "sft.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert detect_format(f) == "openai-sft"
    r = import_file(store, people["lee"], resp_project, f, near_dup=False,
                    answer_source="openai-import")
    assert r.added == 2 and r.answers_added == 2 and r.system_prompt_set
    assert get_project(store, resp_project.id).system_prompt == "You are a support agent."
    assert [t for _, t, m, *_ in items(store, resp_project)] == ["Where is my order?", "Refund?"]
    assert all(m is None for _, _, m, *_ in items(store, resp_project))  # system not repeated
    assert answers(store, resp_project) == [(None, "openai-import", "Let me check.", "import"),
                                            (None, "openai-import", "Sure.", "import")]


def test_openai_sft_classification_labels_checked(store, people, clf_project, tmp_path):
    f = tmp_path / "sft.jsonl"
    f.write_text(
        json.dumps({"messages": [{"role": "user", "content": "charged twice"},
                                 {"role": "assistant", "content": "billing"}]}) + "\n" +
        json.dumps({"messages": [{"role": "user", "content": "hello"},
                                 {"role": "assistant", "content": "greeting"}]}) + "\n")
    with pytest.raises(InvalidInput) as e:
        import_file(store, people["lee"], clf_project, f, near_dup=False)
    assert e.value.errors[0].row == 2 and "greeting" in e.value.errors[0].message
    # the project keeps its own system prompt; nothing was written
    assert get_project(store, clf_project.id).system_prompt == "Classify the support ticket."
    assert items(store, clf_project) == []


def test_openai_dpo(store, people, pref_project, tmp_path):
    line = {"input": {"messages": [{"role": "user", "content": "Reset my password"}]},
            "preferred_output": [{"role": "assistant", "content": "Click 'Forgot password'."}],
            "non_preferred_output": [{"role": "assistant", "content": "No."}]}
    f = tmp_path / "dpo.jsonl"
    f.write_text(json.dumps(line) + "\n")
    assert detect_format(f) == "openai-dpo"
    r = import_file(store, people["lee"], pref_project, f, near_dup=False,
                    answer_source="dpo-source")
    assert r.added == 1 and r.answers_added == 1
    assert items(store, pref_project)[0][1:] == (
        "Reset my password", None, "Click 'Forgot password'.", "No.")
    assert answers(store, pref_project)[0][1:3] == ("dpo-source", "A")


def test_dpo_into_classification_project_is_refused(store, people, clf_project, tmp_path):
    f = tmp_path / "dpo.jsonl"
    f.write_text(json.dumps({"input": {"messages": []}, "preferred_output": [],
                             "non_preferred_output": []}) + "\n")
    with pytest.raises(InvalidInput, match="preference project"):
        import_file(store, people["lee"], clf_project, f)


def test_label_studio_export(store, people, clf_project, tmp_path):
    tasks = [
        {"id": 101, "data": {"text": "card charged twice", "source": "mail"},
         "annotations": [
             {"completed_by": 3, "was_cancelled": False,
              "result": [{"type": "choices", "value": {"choices": ["billing"]}}]},
             {"completed_by": {"id": 4, "email": "kim@example.org"},
              "result": [{"type": "choices", "value": {"choices": ["refund"]}}]},
             {"completed_by": 5, "was_cancelled": True,
              "result": [{"type": "choices", "value": {"choices": ["bug"]}}]}]},
        {"id": 102, "data": {"text": "app crashes"}, "annotations": []},
    ]
    f = tmp_path / "ls.json"
    f.write_text(json.dumps(tasks))
    assert detect_format(f) == "label-studio"
    r = import_file(store, people["lee"], clf_project, f, near_dup=False)
    assert r.added == 2 and r.answers_added == 2
    assert items(store, clf_project)[0][:3] == ("101", "card charged twice", '{"source":"mail"}')
    assert answers(store, clf_project) == [("101", "labelstudio-3", "billing", "import"),
                                           ("101", "kim@example.org", "refund", "import")]


def test_label_studio_unknown_label_rejects_file(store, people, clf_project, tmp_path):
    f = tmp_path / "ls.json"
    f.write_text(json.dumps([{"id": 1, "data": {"text": "x"}, "annotations": [
        {"completed_by": 1, "result": [{"value": {"choices": ["Positive"]}}]}]}]))
    with pytest.raises(InvalidInput, match="Positive"):
        import_file(store, people["lee"], clf_project, f, near_dup=False)


def test_preference_table_with_candidate_columns(store, people, pref_project, tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("text,chosen,rejected\nprompt one,good,bad\nprompt two,,bad\n")
    with pytest.raises(InvalidInput) as e:
        import_file(store, people["lee"], pref_project, f, near_dup=False)
    assert (e.value.errors[0].row, e.value.errors[0].column) == (2, "candidate_a")
    r = import_file(store, people["lee"], pref_project, f, near_dup=False, skip_bad_rows=True,
                    rejects_path=tmp_path / "rej.csv")
    assert r.added == 1 and items(store, pref_project)[0][3:] == ("good", "bad")


def test_format_override_and_missing_text_column(store, people, clf_project, tmp_path):
    f = tmp_path / "data.txt"
    f.write_text('{"body": "x"}\n')
    with pytest.raises(InvalidInput, match="no 'text' column.*body"):
        import_file(store, people["lee"], clf_project, f, format="jsonl")
    r = import_file(store, people["lee"], clf_project, f, format="jsonl", text_cols="body",
                    near_dup=False)
    assert r.added == 1


def test_preview_shows_rows_as_imported(store, people, clf_project, tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("subject,body\nHi,mail me at jo@example.com\nYo,\n" +
                 "".join(f"s{i},b{i}\n" for i in range(100)))
    p = preview(store, people["lee"], clf_project, f, rows=5, text_cols="subject,body", pii=True)
    assert len(p["rows"]) == 5
    assert p["rows"][0]["text"] == "Hi\n\nmail me at [EMAIL]"
    assert p["rows"][1]["text"] == "Yo"      # empty body part left out
    assert p["pii"]["email"] == 1 and p["pii_examples"][0]["kind"] == "email"
    assert p["detected"]["delimiter"] == ","
    assert items(store, clf_project) == []


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED_DATA / "intent" / "banking77_train.csv").exists(),
                    reason="../shared/data not present")
def test_shared_banking77(store, people, tmp_path):
    proj = create_project(store, people["lee"], "bank", "classification", labels="x")
    r = import_file(store, people["lee"], proj, SHARED_DATA / "intent" / "banking77_train.csv",
                    near_dup=False)
    assert r.rows_read == 10_003 and r.added + r.exact_duplicates == 10_003
    assert r.mapping["meta_cols"] == ["category"]


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED_DATA / "intent" / "bitext_customer_support_train_4514rows.csv").exists(),
                    reason="../shared/data not present")
def test_shared_bitext_embedded_newlines(store, people):
    proj = create_project(store, people["lee"], "bitext", "response")
    r = import_file(store, people["lee"], proj,
                    SHARED_DATA / "intent" / "bitext_customer_support_train_4514rows.csv",
                    text_cols="instruction", near_dup=False)
    assert r.rows_read == 4514 and r.rejected == 0


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED_DATA / "preference" / "rasbt_instruction-data-with-preference.json").exists(),
                    reason="../shared/data not present")
def test_shared_rasbt_preference(store, people):
    proj = create_project(store, people["lee"], "rasbt", "preference")
    r = import_file(store, people["lee"], proj,
                    SHARED_DATA / "preference" / "rasbt_instruction-data-with-preference.json",
                    text_cols="instruction,input", near_dup=False)
    assert r.rows_read == 1100 and r.added + r.exact_duplicates == 1100


def test_ids_follow_file_order_when_another_writer_draws_from_the_sequence(
        store, people, resp_project, tmp_path, monkeypatch):
    """The ids of an import are one block drawn from seq_items; if another writer drew a
    value in between (the block is not contiguous), the drawn values are given out by rank:
    ids still rise in file order and imported answers land on the right items."""
    from curator.store import imports as imports_sql

    real = imports_sql._reserve_ids

    def interleaved(cur, n):
        first = cur.execute("SELECT nextval('seq_items')").fetchall()[0][0]
        cur.execute("SELECT nextval('seq_items')")   # "another writer"
        lo, hi = real(cur, n)
        return first, hi

    monkeypatch.setattr(imports_sql, "_reserve_ids", interleaved)
    lines = [{"messages": [{"role": "user", "content": f"question {i}"},
                           {"role": "assistant", "content": f"answer {i}"}]} for i in range(5)]
    lines.insert(2, lines[0])   # an exact duplicate: skipped, with its answer
    f = tmp_path / "sft.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    r = import_file(store, people["lee"], resp_project, f, near_dup=False)
    assert (r.added, r.answers_added, r.answers_skipped) == (5, 5, 1)
    rows = store.cursor().execute(
        "SELECT i.id, i.text, a.value FROM items i JOIN annotations a ON a.item_id = i.id "
        "WHERE i.project_id = ? ORDER BY i.id", [resp_project.id]).fetchall()
    assert [(t, v) for _, t, v in rows] == [(f"question {i}", f"answer {i}") for i in range(5)]
