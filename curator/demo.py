"""The built-in demo: users of every role, three projects (one per task type) over generated
tickets, and some answers so agreement and review have something to show.

Everything goes through the same core services a person would use (import, queue, ...)."""
from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

from curator import queue
from curator.demo_data import CATEGORIES, generate_reply_pair, generate_tickets, write_tickets_csv
from curator.errors import NotFoundError
from curator.importing import import_file
from curator.permissions import SYSTEM
from curator.projects import create_project, get_project
from curator.store import Store
from curator.users import create_user, get_user

__all__ = ["DEMO_ACCOUNTS", "DEMO_PROJECT", "build_demo"]

DEMO_ACCOUNTS: list[tuple[str, str, str]] = [
    ("admin", "admin", "demo-admin"),
    ("lead", "lead", "demo-lead"),
    ("engineer", "engineer", "demo-engineer"),
    ("ana", "annotator", "demo-ana"),
    ("ben", "annotator", "demo-ben"),
    ("chloe", "annotator", "demo-chloe"),
]
DEMO_PROJECT = "support-tickets"

GUIDELINES = """\
### How to label a ticket
Pick the **one** label that best describes what the customer needs *from us*.

* A refund request that mentions a wrong charge is **refund** (they want money back), not billing.
* A late order the customer now wants to cancel is **cancellation**.
* Angry tone alone does not make a ticket a **complaint**: label the request.
* Use **other** only when nothing else fits; mark *unsure* and add a note when torn.

Shortcuts: press the number shown on a label button; `s` skips.
"""

SYSTEM_PROMPT = ("You are the support triage assistant. Read the customer's ticket and answer "
                 "with exactly one category name.")


def _ensure_users(store: Store) -> None:
    for name, role, password in DEMO_ACCOUNTS:
        try:
            get_user(store, name)
        except NotFoundError:
            create_user(store, SYSTEM, name, role, password)


def build_demo(store: Store, *, tickets: int = 400, seed: int = 7) -> dict[str, Any]:
    """Create the demo content unless it exists; returns what is there."""
    _ensure_users(store)
    try:
        p = get_project(store, DEMO_PROJECT)
        from curator.projects import project_counts

        return {"created": False, "project": p.name, "items": project_counts(store, p)["items"]}
    except NotFoundError:
        pass
    lead = get_user(store, "lead").actor
    labels = [{"name": k, "description": v} for k, v in CATEGORIES.items()]
    p = create_project(store, lead, DEMO_PROJECT, "classification", labels=labels, overlap=2,
                       system_prompt=SYSTEM_PROMPT, guidelines=GUIDELINES,
                       settle_rule={"kind": "majority", "min_answers": 2, "margin": 1})
    with tempfile.TemporaryDirectory(prefix="curator-demo-") as tmp:
        path = Path(tmp) / "demo-tickets.csv"
        write_tickets_csv(path, tickets, seed)
        report = import_file(store, lead, p, path, text_cols=["subject", "body"],
                             id_col="external_id", meta_cols=["channel", "customer_tier", "created_at"],
                             pii=True)
    _seed_answers(store, p, tickets, seed)
    _build_preference(store, lead, seed)
    return {"created": True, "project": p.name, "items": report.added}


def _seed_answers(store: Store, project, n: int, seed: int) -> None:
    """Two annotators answer 70% of the tickets each (mostly right, sometimes not). The queue
    serves items with fewer answers first, so the second pass overlaps: about 40% of the
    tickets get two answers, and the agreement and review pages have real numbers."""
    rng = random.Random(seed)
    truth = {t["external_id"]: t["category"] for t in generate_tickets(n, seed)}
    names = list(CATEGORIES)
    annotators = [get_user(store, n).actor for n in ("ana", "ben")]
    accuracy = {"ana": 0.9, "ben": 0.8}
    for _ in range(int(n * 0.7)):
        for a in annotators:
            item = queue.next_item(store, a, project)
            if item is None:
                return
            gold = truth.get(item.external_id, "other")
            label = gold if rng.random() < accuracy[a.name] else rng.choice(names)
            unsure = rng.random() < 0.05
            queue.submit(store, a, project, item.id, label, unsure=unsure,
                         note="could be two labels" if unsure else None, source="demo")


def _build_preference(store: Store, lead, seed: int) -> None:
    """A small preference project: pairs of replies (one better) for a few tickets."""
    rng = random.Random(seed + 1)
    p = create_project(
        store, lead, "reply-preferences", "preference", overlap=2,
        system_prompt="You are a friendly, precise customer-support agent.",
        guidelines="Pick the reply you would rather send: correct policy first, then tone.",
        settle_rule={"kind": "majority", "min_answers": 2, "margin": 1})
    import json

    with tempfile.TemporaryDirectory(prefix="curator-demo-") as tmp:
        path = Path(tmp) / "pairs.jsonl"
        better_side: dict[str, str] = {}
        with open(path, "w", encoding="utf-8") as f:
            for t in generate_tickets(40, seed + 2):
                better, worse = generate_reply_pair(t, rng)
                a, b = (better, worse) if rng.random() < 0.5 else (worse, better)
                better_side[t["external_id"]] = "A" if a == better else "B"
                f.write(json.dumps({"id": t["external_id"], "text": t["text"],
                                    "candidate_a": a, "candidate_b": b}) + "\n")
        import_file(store, lead, p, path, id_col="id", candidate_cols=["candidate_a", "candidate_b"])
    # ana judges every pair and ben 25 of them (mostly the better reply, sometimes not, a few
    # ties); the other slots are left for the person trying the demo.
    for name, accuracy, todo in (("ana", 0.85, 40), ("ben", 0.75, 25)):
        actor = get_user(store, name).actor
        for _ in range(todo):
            item = queue.next_item(store, actor, p)
            if item is None:
                break
            good = better_side[item.external_id]
            roll = rng.random()
            choice = good if roll < accuracy else ("tie" if roll < accuracy + 0.05 else
                                                   ("B" if good == "A" else "A"))
            queue.submit(store, actor, p, item.id, choice, shown_order=item.shown_order,
                         source="demo")
