"""The Review and Agreement pages (AppTest on a real temp database)."""
from __future__ import annotations

import pytest

from curator.errors import InvalidInput

from curator import queue, review
from curator.projects import create_project
from curator.settle import item_status, settled_items
from apptest_util import app_for, close_stores, errors, go, run_page_directly, texts
from conftest import add_items

TICKETS = ["I was charged twice", "Please refund my order", "The app crashes on start",
           "Where is your office?", "Invoice shows the wrong VAT", "Login button does nothing"]


def work(store, actor, project, by_text: dict[str, str], unsure: set[str] = frozenset()):
    while (item := queue.next_item(store, actor, project)) is not None:
        queue.submit(store, actor, project, item.id, by_text[item.text],
                     unsure=item.text in unsure, note="not sure" if item.text in unsure else None)


@pytest.fixture(autouse=True)
def _teardown():
    yield
    close_stores()


@pytest.fixture
def answered(store, people, clf_project):
    """tickets: ann and bob answer 6 items; they disagree on two; ann flags one unsure."""
    add_items(store, clf_project, TICKETS)
    ann = {"I was charged twice": "billing", "Please refund my order": "refund",
           "The app crashes on start": "bug", "Where is your office?": "other",
           "Invoice shows the wrong VAT": "billing", "Login button does nothing": "bug"}
    bob = dict(ann, **{"Invoice shows the wrong VAT": "refund", "Where is your office?": "bug"})
    work(store, people["ann"], clf_project, ann, unsure={"The app crashes on start"})
    work(store, people["bob"], clf_project, bob)
    return clf_project


def test_lead_settles_a_disagreement(db_path, store, people, answered, monkeypatch):
    at = app_for(db_path, people["lee"], monkeypatch=monkeypatch)
    assert not at.exception
    go(at, "review")
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Disagreement"] == "2" and metrics["Unsure flags"] == "1"
    assert metrics["To review"] == "3" and metrics["Settled"] == "4"
    shown = texts(at)
    assert "Item **1** of **3**" in shown and "disagreement" in shown
    # the first disagreement: both answers and notes on screen
    answers_df = at.dataframe[0].value
    assert set(answers_df["annotator"]) == {"ann", "bob"}
    first_text = next(t.value for t in at.text)
    first_item = next(i for i in review.review_queue(store, people["lee"], answered, limit=1))
    assert first_text == review.item_detail(store, people["lee"], answered,
                                            first_item.item_id)["item"]["text"]

    # pick "other" with its button, give a reason, settle
    at.button(key=f"review_btn_queue_{first_item.item_id}_3").click().run()
    assert "Chosen: **other**" in texts(at)
    at.text_input(key=f"review_reason_queue_{first_item.item_id}").input("asks for an address")
    at.button(key=f"review_settle_queue_{first_item.item_id}").click().run()
    assert not at.exception and not errors(at)
    assert f"Item {first_item.item_id} settled as 'other'" in texts(at)

    st = item_status(store.cursor(), answered.id, item_ids=[first_item.item_id])[0]
    assert (st.status, st.gold, st.how) == ("settled", "other", "adjudicated")
    adj = review.item_detail(store, people["lee"], answered, first_item.item_id)["adjudications"]
    assert [(a["user"], a["value"], a["reason"]) for a in adj] == [
        ("lee", "other", "asks for an address")]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["To review"] == "2" and metrics["Settled"] == "5"

    # a typed value works too, and a wrong label is refused with a message, not a traceback
    nxt = review.review_queue(store, people["lee"], answered, limit=1)[0]
    at.text_input(key=f"review_typed_queue_{nxt.item_id}").input("nonsense").run()
    at.button(key=f"review_settle_queue_{nxt.item_id}").click().run()
    assert not at.exception
    assert any("not in the project's labels" in e for e in errors(at))
    at.text_input(key=f"review_typed_queue_{nxt.item_id}").input("billing").run()
    at.button(key=f"review_settle_queue_{nxt.item_id}").click().run()
    assert ("billing", "adjudicated") == next(
        (s.gold, s.how) for s in settled_items(store.cursor(), answered.id)
        if s.item_id == nxt.item_id)

    # the "settled by a lead" tab shows who decided; changing a decision keeps history
    item = first_item.item_id
    at.selectbox(key="review_done_item").set_value(item).run()
    assert "Settled by **lee**" in texts(at)
    at.button(key=f"review_btn_done_{item}_2").click().run()
    at.button(key=f"review_settle_done_{item}").click().run()
    assert not at.exception and not errors(at)
    adj = review.item_detail(store, people["lee"], answered, item)["adjudications"]
    assert [a["value"] for a in adj] == ["other", "bug"]
    assert item_status(store.cursor(), answered.id, item_ids=[item])[0].gold == "bug"


def test_unsure_flag_then_empty_state(db_path, store, people, answered, monkeypatch):
    at = app_for(db_path, people["ada"], monkeypatch=monkeypatch)
    go(at, "review")
    for entry in review.review_queue(store, people["ada"], answered, limit=None):
        review.adjudicate(store, people["ada"], answered, entry.item_id,
                          entry.top_value or "other", "cleared")
    at.run()
    assert not at.exception
    assert "Nothing to review" in texts(at)
    assert {m.label: m.value for m in at.metric}["To review"] == "0"


def test_preference_review_uses_choice_buttons(db_path, store, people, monkeypatch):
    proj = create_project(store, people["lee"], "pairs", "preference", overlap=2)
    add_items(store, proj, ["Say hi", "Say bye"], candidates=[("hi", "hello"), ("bye", "ciao")])
    work(store, people["ann"], proj, {"Say hi": "A", "Say bye": "tie"})
    work(store, people["bob"], proj, {"Say hi": "B", "Say bye": "tie"})
    at = app_for(db_path, people["lee"], monkeypatch=monkeypatch)
    go(at, "review")
    at.selectbox(key="review_project").set_value("pairs").run()
    assert not at.exception
    shown = texts(at)
    assert "Candidate A" in shown and "Candidate B" in shown
    entry = review.review_queue(store, people["lee"], proj, limit=1)[0]
    at.button(key=f"review_btn_queue_{entry.item_id}_both_bad").click().run()
    at.button(key=f"review_settle_queue_{entry.item_id}").click().run()
    assert not errors(at)
    st = item_status(store.cursor(), proj.id, item_ids=[entry.item_id])[0]
    assert (st.gold, st.how) == ("both_bad", "adjudicated")


def test_agreement_page_shows_numbers(db_path, store, people, answered, monkeypatch):
    at = app_for(db_path, people["eve"], monkeypatch=monkeypatch)
    go(at, "agreement")
    assert not at.exception, at.exception
    rep = review.agreement(store, people["eve"], answered)
    summary = at.dataframe[0].value  # summary, pairs, labels, annotators
    row = summary.set_index("measure")
    assert row.loc["Percent agreement (pairwise)", "value"] == f"{100 * rep.percent.pairwise:.1f}%"
    assert rep.percent.pairwise == pytest.approx(4 / 6)
    assert row.loc["Krippendorff's alpha (nominal)", "value"] == f"{rep.alpha.alpha:.3f}"
    pairs = at.dataframe[1].value
    assert list(pairs["n (shared items)"]) == [6]
    assert pairs["kappa"][0] == pytest.approx(rep.cohen[0].kappa, abs=1e-4)
    labels = at.dataframe[2].value
    assert set(labels["label"]) >= {"billing", "refund", "bug", "other"}
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert any("Cohen's kappa (annotator" in s for s in specs)  # kappa heatmap
    assert any("Confusion between annotators" in s for s in specs)
    assert len(specs) == 4  # + settled-label bars + answers per annotator
    assert at.get("download_button")


def test_agreement_empty_state(db_path, store, people, clf_project, monkeypatch):
    add_items(store, clf_project, TICKETS[:2])
    work(store, people["ann"], clf_project, {TICKETS[0]: "billing", TICKETS[1]: "refund"})
    at = app_for(db_path, people["lee"], monkeypatch=monkeypatch)
    go(at, "agreement")
    assert not at.exception
    assert "at least two annotators" in texts(at)


def test_annotator_cannot_open_review_or_agreement(db_path, store, people, answered,
                                                   monkeypatch):
    at = app_for(db_path, people["ann"], monkeypatch=monkeypatch)
    for key in ("review", "agreement"):
        with pytest.raises(ValueError):
            go(at, key)  # not in the annotator's navigation
        direct = run_page_directly(db_path, key, people["ann"], monkeypatch=monkeypatch)
        assert not direct.exception
        assert errors(direct) == ["Your role (annotator) cannot use this page."]
        assert not direct.metric and not direct.dataframe and not direct.button


def test_label_keys_streamlit_reserves_are_refused(db_path, store, people, monkeypatch):
    """Streamlit reserves C and R (and the Label page uses S to skip): the core refuses
    them as label shortcuts, so no page can break on them."""
    with pytest.raises(InvalidInput, match="cannot be used"):
        create_project(store, people["lee"], "keys", "classification", overlap=2, labels=[
            {"name": "refund", "key": "r"}, {"name": "cancel", "key": "c"},
            {"name": "other", "key": "o"}])
    proj = create_project(store, people["lee"], "keys", "classification", overlap=2, labels=[
        {"name": "refund", "key": "f"}, {"name": "cancel", "key": "n"}, {"name": "other", "key": "o"}])
    add_items(store, proj, ["Cancel my plan"])
    work(store, people["ann"], proj, {"Cancel my plan": "cancel"})
    work(store, people["bob"], proj, {"Cancel my plan": "refund"})
    at = app_for(db_path, people["lee"], monkeypatch=monkeypatch)
    go(at, "review")
    at.selectbox(key="review_project").set_value("keys").run()
    assert not at.exception, at.exception
    shortcuts = {b.label: b.proto.shortcut for b in at.button}
    assert shortcuts["refund"] == "f" and shortcuts["cancel"] == "n" and shortcuts["other"] == "o"
