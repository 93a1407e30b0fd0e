"""Bulk annotation import: labels, replies, choices; all or nothing with row-numbered errors."""
from __future__ import annotations

import json

import pytest

from curator import users
from curator.annotations_import import import_annotations
from curator.errors import InvalidInput, PermissionDenied
from curator.importing import import_file
from curator.permissions import SYSTEM
from curator.projects import create_project
from curator.store import imports as imports_sql


@pytest.fixture
def people(store):
    return {"lee": users.create_user(store, SYSTEM, "lee", "lead").actor,
            "ann": users.create_user(store, SYSTEM, "ann", "annotator").actor,
            "bob": users.create_user(store, SYSTEM, "bob", "annotator").actor}


@pytest.fixture
def tickets(store, people, clf_project, tmp_path):
    f = tmp_path / "items.csv"
    f.write_text("external_id,text\nT1,card charged twice\nT2,app crashes\nT3,want money back\n")
    import_file(store, people["lee"], clf_project, f, near_dup=False)
    return clf_project


def rows(store, project):
    return store.cursor().execute(
        "SELECT i.external_id, u.name, a.value, a.note, a.source FROM annotations a "
        "JOIN items i ON i.id = a.item_id JOIN users u ON u.id = a.user_id "
        "WHERE a.project_id = ? ORDER BY a.id", [project.id]).fetchall()


def counts(store):
    return imports_sql.table_counts(store.cursor())


def test_labels_csv(store, people, tickets, tmp_path):
    f = tmp_path / "labels.csv"
    f.write_text("external_id,annotator,label,note,extra\nT1,ann,billing,sure,x\n"
                 "T2,bob, bug ,,y\nT1,bob,billing,,z\n")
    r = import_annotations(store, people["lee"], tickets, f)
    assert (r.rows_read, r.added, r.items, r.annotators) == (3, 3, 2, 2)
    assert r.ignored_columns == ["extra"]
    assert rows(store, tickets) == [("T1", "ann", "billing", "sure", "import"),
                                    ("T2", "bob", "bug", None, "import"),
                                    ("T1", "bob", "billing", None, "import")]


def test_errors_are_row_numbered_and_nothing_is_written(store, people, tickets, tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("external_id,annotator,label,created_at\n"
                 "T1,ann,billing,2026-01-02T03:04:05Z\n"    # fine
                 "T9,ann,billing,\n"                        # unknown item
                 "T2,zed,bug,\n"                            # unknown annotator
                 "T3,ann,Billing,\n"                        # labels are case-sensitive
                 "T3,ann,billing|refund,\n"                 # single-label project
                 "T3,ann,,\n"                               # empty
                 "T3,ann,refund,yesterday\n")               # bad timestamp
    before = counts(store)
    with pytest.raises(InvalidInput) as e:
        import_annotations(store, people["lee"], tickets, f)
    assert counts(store) == before
    got = [(x.row, x.column) for x in e.value.errors]
    assert got == [(2, "external_id"), (3, "annotator"), (4, "label"), (5, "label"),
                   (6, "label"), (7, "created_at")]
    assert "unknown external_id T9" in e.value.errors[0].message
    assert "--create-users" in e.value.errors[1].message


def test_create_users_and_created_at(store, people, tickets, tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps({"external_id": "T2", "annotator": "newbie", "label": "bug",
                             "created_at": "2025-05-06T07:08:09Z"}) + "\n")
    r = import_annotations(store, people["lee"], tickets, f, create_users=True)
    assert r.added == 1 and r.users_created == ["newbie"]
    assert users.get_user(store, "newbie").role == "annotator"
    ts = store.cursor().execute("SELECT created_at FROM annotations").fetchall()[0][0]
    assert ts.isoformat().startswith("2025-05-06T07:08:09")


def test_wrong_answer_column_for_the_task(store, people, tickets, tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("external_id,annotator,choice\nT1,ann,A\n")
    with pytest.raises(InvalidInput, match="'choice' does not fit .* 'label' column"):
        import_annotations(store, people["lee"], tickets, f)
    g = tmp_path / "d.csv"
    g.write_text("external_id,label\nT1,billing\n")
    with pytest.raises(InvalidInput, match="missing column 'annotator'"):
        import_annotations(store, people["lee"], tickets, g)


def test_multi_label(store, people, tmp_path):
    proj = create_project(store, people["lee"], "multi", "classification",
                          labels="billing,refund,bug", multi_label=True)
    items = tmp_path / "i.csv"
    items.write_text("external_id,text\nM1,charged and want refund\n")
    import_file(store, people["lee"], proj, items, near_dup=False)
    f = tmp_path / "l.csv"
    f.write_text("external_id,annotator,label\nM1,ann,refund | billing\n")
    import_annotations(store, people["lee"], proj, f)
    assert rows(store, proj)[0][2] == "billing|refund"


def test_preference_choices_and_responses(store, people, tmp_path):
    pref = create_project(store, people["lee"], "pref", "preference")
    items = tmp_path / "p.csv"
    items.write_text("id,text,candidate_a,candidate_b\nP1,prompt,first,second\nP2,other,x,y\n")
    import_file(store, people["lee"], pref, items, near_dup=False)
    f = tmp_path / "c.csv"
    f.write_text("external_id,annotator,choice\nP1,ann,a\nP2,bob,both_bad\nP1,bob,TIE\n")
    assert import_annotations(store, people["lee"], pref, f).added == 3
    assert [r[2] for r in rows(store, pref)] == ["A", "both_bad", "tie"]
    bad = tmp_path / "bad.csv"
    bad.write_text("external_id,annotator,choice\nP1,ann,C\n")
    with pytest.raises(InvalidInput, match="row 1.*A, B, tie or both_bad"):
        import_annotations(store, people["lee"], pref, bad)

    resp = create_project(store, people["lee"], "resp", "response")
    items = tmp_path / "r.csv"
    items.write_text("id,text\nR1,where is my parcel\n")
    import_file(store, people["lee"], resp, items, near_dup=False)
    g = tmp_path / "r.jsonl"
    g.write_text(json.dumps({"external_id": "R1", "annotator": "ann",
                             "response": "It ships today.\nTracking follows."}) + "\n")
    assert import_annotations(store, people["lee"], resp, g).added == 1
    assert rows(store, resp)[0][2] == "It ships today.\nTracking follows."


def test_annotators_may_not_bulk_import(store, people, tickets, tmp_path):
    f = tmp_path / "labels.csv"
    f.write_text("external_id,annotator,label\nT1,ann,billing\n")
    with pytest.raises(PermissionDenied):
        import_annotations(store, people["ann"], tickets, f)
