import threading

import pytest

from curator import queue
from curator.errors import ConflictError, InvalidInput, PermissionDenied
from curator.permissions import Actor
from curator.projects import create_project, update_project
from curator import users
from curator.permissions import SYSTEM
from curator.store import answers as ann_sql

from conftest import add_items


def test_fewest_answers_first_and_overlap(store, people, clf_project):
    ids = add_items(store, clf_project, [f"ticket {i}" for i in range(3)])
    ann, bob, cat = people["ann"], people["bob"], people["cat"]
    a1 = queue.next_item(store, ann, clf_project)
    assert a1.id == ids[0]
    # asking again returns the same claim, not a new one
    assert queue.next_item(store, ann, clf_project).id == ids[0]
    b1 = queue.next_item(store, bob, clf_project)
    assert b1.id == ids[1]          # ids[0] has one taken slot; ids[1] has none
    queue.submit(store, ann, clf_project, a1.id, "billing")
    queue.submit(store, bob, clf_project, b1.id, "refund")
    c1 = queue.next_item(store, cat, clf_project)
    assert c1.id == ids[2]
    queue.submit(store, cat, clf_project, c1.id, "bug")
    # now every item has one answer; ann gets one she has not answered
    a2 = queue.next_item(store, ann, clf_project)
    assert a2.id in (ids[1], ids[2])
    queue.submit(store, ann, clf_project, a2.id, "other")
    # overlap 2: ids[0] has ann; bob and cat can still take it
    assert ann_sql.answers_per_item_max_excess(store.cursor(), clf_project.id, 2) == 0


def test_change_answer_keeps_history(store, people, clf_project):
    (item,) = add_items(store, clf_project, ["refund please"])
    ann = people["ann"]
    q = queue.next_item(store, ann, clf_project)
    queue.submit(store, ann, clf_project, q.id, "billing")
    queue.submit(store, ann, clf_project, q.id, "refund", unsure=True, note="could be billing")
    hist = queue.item_history(store, ann, item)
    assert [h.value for h in hist] == ["billing", "refund"]
    assert hist[-1].unsure and hist[-1].note == "could be billing"
    assert queue.my_answer(store, ann, item).value == "refund"
    assert ann_sql.count_rows(store.cursor(), clf_project.id) == 2
    back = queue.get_item(store, ann, clf_project, item)
    assert back.my_answer.value == "refund"


def test_skip_frees_slot_and_is_not_served_again(store, people, clf_project):
    update_project(store, people["lee"], clf_project.id, overlap=1)
    ids = add_items(store, clf_project, ["a", "b"])
    ann, bob = people["ann"], people["bob"]
    q = queue.next_item(store, ann, clf_project)
    queue.skip(store, ann, clf_project, q.id)
    q2 = queue.next_item(store, ann, clf_project)
    assert q2.id == ids[1]
    # bob can take the skipped item
    assert queue.next_item(store, bob, clf_project).id == ids[0]


def test_blind_annotators_cannot_read_others(store, people, clf_project):
    (item,) = add_items(store, clf_project, ["x"])
    ann, bob = people["ann"], people["bob"]
    queue.submit(store, ann, clf_project, queue.next_item(store, ann, clf_project).id, "bug")
    qb = queue.next_item(store, bob, clf_project)
    assert qb.id == item and qb.my_answer is None
    assert queue.item_history(store, bob, item) == []
    with pytest.raises(PermissionDenied):
        queue.item_history(store, bob, item, all_users=True)
    assert len(queue.item_history(store, people["lee"], item, all_users=True)) == 1


def test_values_are_validated(store, people, clf_project):
    add_items(store, clf_project, ["x"])
    ann = people["ann"]
    q = queue.next_item(store, ann, clf_project)
    with pytest.raises(InvalidInput, match="unknown label"):
        queue.submit(store, ann, clf_project, q.id, "nonsense")
    with pytest.raises(InvalidInput, match="one label"):
        queue.submit(store, ann, clf_project, q.id, ["bug", "refund"])
    multi = update_project(store, people["lee"], clf_project.id, multi_label=True)
    a = queue.submit(store, ann, multi, q.id, ["other", "billing"])
    assert a.value == "billing|other"


def test_unassigned_annotator_is_refused(store, people, clf_project):
    update_project(store, people["lee"], clf_project.id, members=["ann"])
    add_items(store, clf_project, ["x"])
    assert queue.next_item(store, people["ann"], clf_project) is not None
    with pytest.raises(PermissionDenied):
        queue.next_item(store, people["bob"], clf_project)


def test_preference_order_is_random_and_stored(store, people):
    p = create_project(store, people["lee"], "prefs", "preference", overlap=1)
    ids = add_items(store, p, [f"prompt {i}" for i in range(40)],
                    candidates=[(f"good {i}", f"bad {i}") for i in range(40)])
    ann = people["ann"]
    orders = []
    for _ in ids:
        q = queue.next_item(store, ann, p)
        orders.append(q.shown_order)
        first = q.candidates_shown[0]
        # the person clicks the first shown candidate
        queue.submit(store, ann, p, q.id, queue.shown_to_canonical("A", q.shown_order))
        stored = queue.my_answer(store, ann, q.id)
        assert stored.shown_order == q.shown_order
        assert (stored.value == "A") == first.startswith("good")
    assert {"AB", "BA"} == set(orders)


def test_last_slot_cannot_be_claimed_twice(store, people, clf_project):
    update_project(store, people["lee"], clf_project.id, overlap=1)
    add_items(store, clf_project, ["only one"])
    got = []
    barrier = threading.Barrier(3)

    def ask(actor):
        barrier.wait()
        got.append(queue.next_item(store, actor, clf_project))

    ts = [threading.Thread(target=ask, args=(people[n],)) for n in ("ann", "bob", "cat")]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert sum(1 for g in got if g is not None) == 1


def test_eight_annotators_4000_answers(store, people):
    p = create_project(store, people["lee"], "load", "classification", labels="a,b", overlap=2)
    add_items(store, p, [f"t{i}" for i in range(2500)])  # 5,000 slots for 4,000 answers
    actors = [users.create_user(store, SYSTEM, f"w{i}", "annotator").actor for i in range(8)]
    errors = []

    def work(actor):
        try:
            for n in range(500):
                q = queue.next_item(store, actor, p)
                assert q is not None
                queue.submit(store, actor, p, q.id, "a" if n % 2 else "b")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    ts = [threading.Thread(target=work, args=(a,)) for a in actors]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors
    cur = store.cursor()
    assert ann_sql.count_rows(cur, p.id) == 4000
    assert ann_sql.answers_per_item_max_excess(cur, p.id, 2) == 0
    # no item answered twice by the same person (no duplicate claim)
    dup = cur.execute("SELECT count(*) FROM (SELECT item_id, user_id FROM annotations "
                      "WHERE project_id = ? GROUP BY ALL HAVING count(*) > 1)", [p.id]).fetchone()[0]
    assert dup == 0
    prog = queue.progress(store, actors[0], p)
    assert prog.project_slots_filled == 4000 and prog.project_slots_total == 5000


def test_labels_with_descriptions_and_keys_from_text():
    from curator.projects import parse_labels

    labels = parse_labels("billing:charges and invoices:b, refund:money back, other")
    assert [(l.name, l.description, l.key) for l in labels] == [
        ("billing", "charges and invoices", "b"), ("refund", "money back", ""), ("other", "", "")]
