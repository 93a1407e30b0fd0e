"""Settle rules: validation, per-item status, adjudication override, review queue, gold set."""
from __future__ import annotations

import json

import pytest

from curator.errors import InvalidInput, NotFoundError, PermissionDenied
from curator.permissions import Actor
from curator.settle import (
    SettleRule,
    adjudicate,
    item_status,
    parse_rule,
    project_rule,
    review_queue,
    settled_items,
    status_counts,
)
from curator.store import Store
from curator.store import agreement as store_agreement

LEAD = Actor(9, "lead", "lead")
ANNOTATOR = Actor(1, "ann", "annotator")


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "t.duckdb")
    yield s
    s.close()


def seed(cur, task="classification", rule='{"kind":"majority","min_answers":2,"margin":1}',
         n_items=8, project_id=1):
    cur.execute("INSERT INTO users (id, name, role) VALUES (1, 'ann', 'annotator'), "
                "(2, 'bob', 'annotator'), (3, 'cy', 'annotator'), (9, 'lead', 'lead') "
                "ON CONFLICT DO NOTHING")
    cur.execute("INSERT INTO projects (id, name, task_type, labels, settle_rule) VALUES "
                "(?, ?, ?, '[{\"name\":\"x\"},{\"name\":\"y\"},{\"name\":\"z\"}]', ?)",
                [project_id, f"p{project_id}", task, rule])
    cur.execute("INSERT INTO items (id, project_id, text, dedup_key) "
                "SELECT ? * 100 + i, ?, 't' || i, i FROM range(1, ? + 1) t(i)",
                [project_id, project_id, n_items])


def annotate(cur, rows, project_id=1):
    """rows: (item, user, value, minute[, skipped[, unsure]])."""
    full = []
    for r in rows:
        item, user, value, minute, skipped, unsure = (list(r) + [False, False])[:6]
        full.append((project_id, project_id * 100 + item, user, value, skipped, unsure, minute))
    cur.executemany(
        "INSERT INTO annotations (project_id, item_id, user_id, value, skipped, unsure, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_minutes(?))", full)


# --------------------------------------------------------------------------- rule validation
def test_parse_rule_accepts_json_dict_and_defaults():
    assert parse_rule('{"kind":"unanimous","min_answers":3}') == SettleRule("unanimous", 3, 1)
    assert parse_rule({"kind": "majority", "min_answers": 2, "margin": 2}).margin == 2
    assert parse_rule({"kind": "majority"}) == SettleRule("majority", 1, 1)
    assert parse_rule({"kind": "majority", "min_answers": 3.0}).min_answers == 3
    r = parse_rule({"kind": "majority", "min_answers": 3, "margin": 2})
    assert parse_rule(json.dumps(r.to_dict())) == r
    assert parse_rule(SettleRule("unanimous", 2)).to_dict() == {"kind": "unanimous", "min_answers": 2}


@pytest.mark.parametrize("raw, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ({"kind": "vote"}, "'kind' must be 'unanimous' or 'majority', got 'vote'"),
    ({"min_answers": 2}, "'kind' must be"),
    ({"kind": "majority", "min_answers": 0}, "'min_answers' must be at least 1, got 0"),
    ({"kind": "majority", "min_answers": "2"}, "'min_answers' must be a whole number"),
    ({"kind": "majority", "min_answers": True}, "'min_answers' must be a whole number"),
    ({"kind": "majority", "margin": 0}, "'margin' must be at least 1"),
    ({"kind": "majority", "margin": 1.5}, "'margin' must be a whole number"),
    ({"kind": "unanimous", "margin": 1}, "'margin' applies only to kind 'majority'"),
    ({"kind": "majority", "quorum": 3}, "unknown field(s) 'quorum'"),
])
def test_parse_rule_rejects_with_clear_messages(raw, message):
    with pytest.raises(InvalidInput) as exc:
        parse_rule(raw)
    assert message in str(exc.value)


def test_stored_rule_is_validated(store):
    cur = store.cursor()
    seed(cur, rule='{"kind":"majority","min_answers":-1}')
    with pytest.raises(InvalidInput, match="settle rule of project 1: 'min_answers'"):
        project_rule(cur, 1)
    with pytest.raises(NotFoundError):
        project_rule(cur, 5)


# --------------------------------------------------------------------------- status
def statuses(cur, rule=None, project_id=1):
    return {s.item_id - project_id * 100: s for s in item_status(cur, project_id, rule)}


def test_majority_rule_statuses(store):
    cur = store.cursor()
    seed(cur)
    annotate(cur, [
        (1, 1, "x", 0), (1, 2, "x", 1),                      # 2-0 -> settled x
        (2, 1, "x", 0), (2, 2, "y", 1),                      # 1-1 -> disagreement
        (3, 1, "x", 0), (3, 2, "y", 1), (3, 3, "x", 2),      # 2-1 -> settled x
        (4, 1, "y", 0),                                      # 1 answer -> pending
        (5, 1, "x", 0), (5, 2, None, 1, True),               # skip does not count -> pending
        (6, 1, "y", 0), (6, 1, "x", 3), (6, 2, "x", 1),      # ann changed y -> x: settled x
        (7, 1, "z", 0, False, True), (7, 2, "z", 1),         # settled but flagged unsure
    ])
    st = statuses(cur)
    assert (st[1].status, st[1].gold, st[1].how) == ("settled", "x", "rule")
    assert (st[2].status, st[2].gold, st[2].how) == ("disagreement", None, None)
    assert (st[3].status, st[3].gold) == ("settled", "x")
    assert st[3].counts == {"x": 2, "y": 1} and (st[3].top_count, st[3].runner_up_count) == (2, 1)
    assert st[4].status == "pending" and st[4].answers == 1
    assert st[5].status == "pending" and st[5].skipped == 1 and st[5].answers == 1
    assert (st[6].status, st[6].gold, st[6].counts) == ("settled", "x", {"x": 2})
    assert st[7].status == "settled" and st[7].any_unsure
    assert st[8].status == "pending" and st[8].answers == 0 and st[8].counts == {}

    # the same answers under a stricter margin: 2-1 is no longer enough
    strict = statuses(cur, {"kind": "majority", "min_answers": 2, "margin": 2})
    assert strict[3].status == "disagreement" and strict[1].status == "settled"
    # min_answers 3: two agreeing answers are still pending
    three = statuses(cur, {"kind": "majority", "min_answers": 3, "margin": 1})
    assert three[1].status == "pending" and three[3].status == "settled"


def test_unanimous_rule_statuses(store):
    cur = store.cursor()
    seed(cur, rule='{"kind":"unanimous","min_answers":2}')
    annotate(cur, [
        (1, 1, "x", 0), (1, 2, "x", 1),
        (2, 1, "x", 0), (2, 2, "x", 1), (2, 3, "y", 2),     # one dissent -> disagreement
        (3, 1, "x", 0),                                      # too few -> pending
        (4, 1, "x", 0), (4, 3, "y", 1),                      # can never be unanimous
    ])
    st = statuses(cur)
    assert (st[1].status, st[1].gold) == ("settled", "x")
    assert st[2].status == "disagreement" and st[2].gold is None
    assert st[3].status == "pending"
    assert st[4].status == "disagreement"
    one = statuses(cur, {"kind": "unanimous", "min_answers": 1})
    assert one[3].status == "settled" and one[3].gold == "x"


def test_adjudication_overrides_rule_newest_wins(store):
    cur = store.cursor()
    seed(cur)
    annotate(cur, [(1, 1, "x", 0), (1, 2, "x", 1), (2, 1, "x", 0), (2, 2, "y", 1),
                   (3, 1, "y", 0)])
    with store.locked_transaction() as tx:
        adjudicate(tx, LEAD, 1, 102, "y", "y is right per guideline 3")
        adjudicate(tx, LEAD, 1, 101, "z", "first thought")
        adjudicate(tx, LEAD, 1, 103, "z")
    cur.execute("UPDATE adjudications SET created_at = created_at - INTERVAL 1 HOUR WHERE value = 'z'"
                " AND item_id = 101")
    with store.locked_transaction() as tx:
        adjudicate(tx, LEAD, 1, 101, "y", "second thought")
    st = statuses(cur)
    assert (st[2].status, st[2].gold, st[2].how) == ("settled", "y", "adjudicated")
    assert (st[1].status, st[1].gold, st[1].how) == ("settled", "y", "adjudicated")
    assert (st[3].status, st[3].gold, st[3].how) == ("settled", "z", "adjudicated")
    gold = {s.item_id: (s.gold, s.how) for s in settled_items(cur, 1)}
    assert gold == {101: ("y", "adjudicated"), 102: ("y", "adjudicated"), 103: ("z", "adjudicated")}


def test_adjudicate_validates(store):
    cur = store.cursor()
    seed(cur)
    seed(cur, task="preference", project_id=2, n_items=1)
    with pytest.raises(PermissionDenied):
        adjudicate(cur, ANNOTATOR, 1, 101, "x")
    with pytest.raises(NotFoundError, match="project 7"):
        adjudicate(cur, LEAD, 7, 101, "x")
    with pytest.raises(NotFoundError, match="item 201 is not in project 1"):
        adjudicate(cur, LEAD, 1, 201, "x")
    with pytest.raises(InvalidInput, match="label 'w' is not in the project's labels"):
        adjudicate(cur, LEAD, 1, 101, "w")
    with pytest.raises(InvalidInput, match="non-empty"):
        adjudicate(cur, LEAD, 1, 101, "  ")
    with pytest.raises(InvalidInput, match="A, B, tie, both_bad"):
        adjudicate(cur, LEAD, 2, 201, "C")
    assert adjudicate(cur, LEAD, 2, 201, "tie") > 0
    assert store_agreement.count_rows(cur, "adjudications") == 1


def test_review_queue_counts_and_gold(store):
    cur = store.cursor()
    seed(cur)
    annotate(cur, [
        (1, 1, "x", 0), (1, 2, "x", 1),                                 # settled
        (2, 1, "x", 0), (2, 2, "y", 1),                                 # disagreement (2 answers)
        (3, 1, "x", 0), (3, 2, "y", 1), (3, 3, "z", 2),                 # disagreement (3 answers)
        (4, 1, "x", 0, False, True),                                    # pending, unsure
        (5, 1, None, 0, True, True),                                    # unsure skip
        (6, 1, "y", 0, False, True), (6, 2, "y", 0),                    # settled, unsure
        (7, 1, "x", 0), (7, 2, "y", 1),                                 # disagreement, adjudicated
    ])
    adjudicate(cur, LEAD, 1, 107, "x")
    queue = review_queue(cur, 1)
    assert [(e.item_id - 100, e.reason) for e in queue] == [
        (3, "disagreement"), (2, "disagreement"), (4, "unsure"), (5, "unsure"), (6, "unsure")]
    assert queue[0].counts == {"x": 1, "y": 1, "z": 1}
    assert [e.item_id for e in review_queue(cur, 1, limit=2, offset=1)] == [102, 104]

    c = status_counts(cur, 1)
    assert (c.items, c.settled, c.settled_by_rule, c.adjudicated) == (8, 3, 2, 1)
    assert (c.disagreement, c.pending, c.unanswered) == (2, 3, 2)  # 5: only a skip; 8: nothing
    assert (c.unsure, c.review_queue) == (3, 5)
    assert c.rule == {"kind": "majority", "min_answers": 2, "margin": 1}
    json.dumps(c.to_dict())

    gold = {s.item_id - 100: (s.gold, s.how) for s in settled_items(cur, 1)}
    assert gold == {1: ("x", "rule"), 6: ("y", "rule"), 7: ("x", "adjudicated")}
    only = item_status(cur, 1, item_ids=[102, 106], status="settled")
    assert [s.item_id for s in only] == [106]


def test_projects_are_kept_apart(store):
    cur = store.cursor()
    seed(cur)
    seed(cur, project_id=2, n_items=2)
    annotate(cur, [(1, 1, "x", 0), (1, 2, "x", 0)], project_id=1)
    annotate(cur, [(1, 1, "x", 0), (1, 2, "y", 0)], project_id=2)
    adjudicate(cur, LEAD, 2, 202, "z")
    assert status_counts(cur, 1).settled == 1 and status_counts(cur, 1).adjudicated == 0
    c2 = status_counts(cur, 2)
    assert (c2.items, c2.settled, c2.disagreement) == (2, 1, 1)


def test_gold_table_for_other_store_modules(store):
    cur = store.cursor()
    seed(cur)
    annotate(cur, [(1, 1, "x", 0), (1, 2, "x", 1), (2, 1, "y", 0), (2, 2, "y", 1)])
    store_agreement.create_gold_table(cur, 1, parse_rule({"kind": "majority", "min_answers": 2})
                                      .as_tuple(), "gold_tmp")
    assert cur.execute("SELECT * FROM gold_tmp ORDER BY item_id").fetchall() == [
        (101, "x"), (102, "y")]


def test_status_sql_embeds_and_reuses_current(store):
    cur = store.cursor()
    seed(cur)
    annotate(cur, [(1, 1, "x", 0), (1, 2, "x", 1), (2, 1, "x", 0), (2, 2, "y", 1),
                   (2, 2, "x", 5), (3, 1, "y", 0)])
    rule = ("majority", 2, 1)
    store_agreement.create_current(cur, 1, "cur_tmp")
    assert store_agreement.count_rows(cur, "cur_tmp") == 5      # newest row per (item, user)
    fresh = cur.execute(f"SELECT item_id, status, gold FROM ({store_agreement.status_sql(*rule)})"
                        " ORDER BY item_id", {"project_id": 1}).fetchall()
    reused = cur.execute(
        f"SELECT item_id, status, gold FROM ({store_agreement.status_sql(*rule, current='cur_tmp')})"
        " ORDER BY item_id", {"project_id": 1}).fetchall()
    assert fresh == reused
    assert fresh[:3] == [(101, "settled", "x"), (102, "settled", "x"), (103, "pending", None)]
    store_agreement.create_status_table(cur, 1, rule, "st_tmp")
    assert cur.execute("SELECT count(*) FROM st_tmp WHERE status = 'settled'").fetchone()[0] == 2


def test_same_timestamp_newest_id_wins(store):
    cur = store.cursor()
    seed(cur)
    # both rows of (item 1, ann) share created_at: the later insert (higher id) is current
    annotate(cur, [(1, 1, "y", 0), (1, 1, "x", 0), (1, 2, "x", 0)])
    st = statuses(cur)
    assert (st[1].status, st[1].gold, st[1].counts) == ("settled", "x", {"x": 2})
