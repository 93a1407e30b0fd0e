"""Near-duplicates flagged at import are listed for review and decided by a person."""
from __future__ import annotations

import pytest

from apptest_util import app_for, go, texts
from curator.duplicates import list_near_duplicates, near_duplicate_counts, resolve_near_duplicate
from curator.errors import InvalidInput, NotFoundError, PermissionDenied
from curator.importing import import_file

BASE = ("My order 4411 arrived broken and the box was crushed, the lamp does not turn on at all "
        "and I would like a replacement sent to the same address as soon as possible please")


@pytest.fixture
def flagged(store, people, clf_project, tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("id,text\n"
                 f"1,\"{BASE}\"\n"
                 f"2,\"{BASE.replace('possible please', 'possible, thanks')}\"\n"
                 "3,\"Where is my invoice for March? I cannot find it in the portal anywhere.\"\n")
    rep = import_file(store, people["lee"], clf_project, f, id_col="id")
    assert rep.near_duplicates == 1
    return clf_project


def test_list_and_resolve(store, people, flagged):
    lee = people["lee"]
    (pair,) = list_near_duplicates(store, lee, flagged)
    assert {pair.external_id, pair.similar_external_id} == {"1", "2"}
    assert 0.8 <= pair.similarity < 1.0 and pair.status == "open"
    assert near_duplicate_counts(store, lee, flagged) == {"kept": 0, "dismissed": 0, "open": 1}
    resolve_near_duplicate(store, lee, flagged, pair.item_id, pair.similar_item_id, "dismissed")
    assert list_near_duplicates(store, lee, flagged) == []
    (done,) = list_near_duplicates(store, lee, flagged, status="dismissed")
    assert done.reviewed_by == "lee" and done.reviewed_at is not None
    with pytest.raises(InvalidInput):
        resolve_near_duplicate(store, lee, flagged, pair.item_id, pair.similar_item_id, "drop")
    with pytest.raises(NotFoundError):
        resolve_near_duplicate(store, lee, flagged, 999, 998, "kept")
    with pytest.raises(PermissionDenied):
        list_near_duplicates(store, people["ann"], flagged)


def test_cli(store, people, flagged, db_path, capsys, monkeypatch):
    from curator.cli import main

    (pair,) = list_near_duplicates(store, people["lee"], flagged)
    assert main(["--db", str(db_path), "duplicates", "list", flagged.name, "--json"]) == 0
    assert '"similarity"' in capsys.readouterr().out
    assert main(["--db", str(db_path), "duplicates", "resolve", flagged.name,
                 str(pair.item_id), str(pair.similar_item_id), "kept"]) == 0
    assert near_duplicate_counts(store, people["lee"], flagged)["kept"] == 1


def test_import_page_review_tab(store, people, flagged, db_path, monkeypatch):
    at = go(app_for(db_path, people["lee"], monkeypatch=monkeypatch), "import")
    assert not at.exception, at.exception
    assert "1 to review" in " ".join(t.label for t in at.tabs)
    (pair,) = list_near_duplicates(store, people["lee"], flagged)
    at.button(key=f"dup-keep-{pair.item_id}-{pair.similar_item_id}").click().run()
    assert not at.exception
    assert near_duplicate_counts(store, people["lee"], flagged)["kept"] == 1
    assert "No near-duplicates to review" in texts(at)
