"""The annotation queue and answers: claim the next item, answer, skip, go back, history.

How claiming stays correct (overlap k is never exceeded, two annotators asking at once never
both get the last open slot) and fast (1M items):

* The database is the truth for answers (append-only ``annotations``).
* Per project, this process keeps an in-memory index, rebuilt from the database on first use
  and whenever the store signals a change made outside this module (imports): for every item
  the number of *taken* slots (distinct users whose current row is an answer, plus users
  holding an unexpired claim), and the open items bucketed by that number in id order
  (``SortedList``), so "fewest answers first" is the first item of the lowest bucket that
  this user has not touched.
* Claims are leases held in memory under the store's process-wide write lock; an annotator
  holds at most one claim per project; a claim expires after ``CLAIM_TTL`` seconds and its
  slot returns to the pool. Answers are written to the database inside the same lock, so the
  index and the table never disagree.

Only one process may hold the DuckDB file read-write, so an in-process lock is a global one.
"""
from __future__ import annotations

import itertools
import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sortedcontainers import SortedList

from curator.errors import ConflictError, InvalidInput, NotFoundError, PermissionDenied
from curator.permissions import Actor, can, require
from curator.projects import Project, check_annotator_access, get_project
from curator.store import Store
from curator.store import answers as sql

__all__ = [
    "CLAIM_TTL", "CHOICES", "QueueItem", "Answer", "Progress", "next_item", "submit", "skip",
    "get_item", "my_answer", "item_history", "recent_answers", "progress", "release_claim",
    "normalize_value", "shown_to_canonical", "canonical_to_shown",
]

CLAIM_TTL = 30 * 60  # seconds an unanswered claim is held
CHOICES = ("A", "B", "tie", "both_bad")


@dataclass
class QueueItem:
    """An item as one annotator sees it. Never carries other annotators' answers."""

    id: int
    project_id: int
    external_id: str | None
    text: str
    metadata: Any
    shown_order: str | None = None        # preference: 'AB' or 'BA'
    candidates_shown: tuple[str, str] | None = None  # (left/first, right/second) as shown
    my_answer: "Answer | None" = None


@dataclass
class Answer:
    id: int
    item_id: int
    user: str
    value: str | None
    skipped: bool
    unsure: bool
    note: str | None
    draft: str | None
    draft_model: str | None
    shown_order: str | None
    source: str
    created_at: datetime

    @property
    def labels(self) -> list[str]:
        return self.value.split("|") if self.value else []

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["created_at"] = self.created_at.isoformat()
        return d


@dataclass
class Progress:
    mine_answered: int
    mine_skipped: int
    mine_remaining: int           # open slots this user could still take
    project_slots_filled: int
    project_slots_total: int      # items x overlap

    @property
    def project_fraction(self) -> float:
        return self.project_slots_filled / self.project_slots_total if self.project_slots_total else 0.0


def _answer(row) -> Answer:
    return Answer(*row[:2], *row[3:])


# ----------------------------------------------------------------------------- the index
@dataclass
class _Claim:
    item_id: int
    shown_order: str | None
    at: float


@dataclass
class _Index:
    overlap: int
    generation: int
    taken: dict[int, int]
    levels: list[SortedList]
    touched: dict[int, dict[int, bool]]          # user -> {item: answered?}
    claims: dict[int, _Claim] = field(default_factory=dict)  # user -> claim
    # answers being written (slot held, row not yet committed): (user, item) -> previous touched
    inflight: dict[tuple[int, int], bool | None] = field(default_factory=dict)
    last_sweep: float = 0.0

    def move(self, item_id: int, delta: int) -> None:
        t = self.taken.get(item_id, 0)
        if t < self.overlap:
            self.levels[t].discard(item_id)
        t += delta
        self.taken[item_id] = t
        if t < self.overlap:
            self.levels[t].add(item_id)


_indexes: dict[tuple[str, int], _Index] = {}
_indexes_lock = threading.Lock()


def _build(store: Store, project: Project) -> _Index:
    cur = store.cursor()
    item_ids = sql.project_item_ids(cur, project.id)
    items, users, answered = sql.current_takers(cur, project.id)
    k = project.overlap
    taken: dict[int, int] = dict.fromkeys(item_ids.tolist(), 0)
    touched: dict[int, dict[int, bool]] = {}
    for i, u, a in zip(items.tolist(), users.tolist(), answered.tolist()):
        touched.setdefault(u, {})[i] = bool(a)
        if a and i in taken:
            taken[i] += 1
    levels = [SortedList() for _ in range(k)]
    by_level: list[list[int]] = [[] for _ in range(k)]
    for i, t in taken.items():
        if t < k:
            by_level[t].append(i)
    for t in range(k):
        levels[t] = SortedList(by_level[t])
    return _Index(k, store.generation(project.id), taken, levels, touched)


def _index(store: Store, project: Project) -> _Index:
    """The project's index (caller holds the write lock)."""
    key = (store.uid, project.id)
    idx = _indexes.get(key)
    if idx is None or idx.generation != store.generation(project.id) or idx.overlap != project.overlap:
        old_claims = idx.claims if idx is not None else {}
        old_inflight = idx.inflight if idx is not None else {}
        idx = _build(store, project)
        for user, c in old_claims.items():  # keep live leases across a rebuild
            if not idx.touched.get(user, {}).get(c.item_id) and c.item_id in idx.taken:
                if idx.taken[c.item_id] < idx.overlap:
                    idx.move(c.item_id, +1)
                    idx.claims[user] = c
        for (user, item), prev in old_inflight.items():  # answers not yet committed
            mine = idx.touched.setdefault(user, {})
            if not mine.get(item) and item in idx.taken:
                idx.move(item, +1)
            mine[item] = True
            idx.inflight[(user, item)] = prev
        _indexes[key] = idx
    now = time.monotonic()
    if now - idx.last_sweep > 5:
        idx.last_sweep = now
        for user, c in list(idx.claims.items()):
            if now - c.at > CLAIM_TTL:
                del idx.claims[user]
                idx.move(c.item_id, -1)
    return idx


def forget_indexes(store: Store | None = None) -> None:
    """Drop cached indexes (tests; or after the database was replaced)."""
    with _indexes_lock:
        for key in list(_indexes):
            if store is None or key[0] == store.uid:
                del _indexes[key]
        for key in list(_project_cache):
            if store is None or key[0] == store.uid:
                del _project_cache[key]
    with _item_rows_lock:
        for key in list(_item_rows):
            if store is None or key[0] == store.uid:
                del _item_rows[key]


# ----------------------------------------------------------------------------- values
def normalize_value(project: Project, value: Any) -> str:
    """The canonical stored value for an answer, or ``InvalidInput``."""
    if project.task_type == "classification":
        labels = value if isinstance(value, (list, tuple, set)) else str(value or "").split("|")
        labels = [str(l).strip() for l in labels if str(l).strip()]
        if not labels:
            raise InvalidInput("choose a label")
        unknown = [l for l in labels if l not in project.label_names]
        if unknown:
            raise InvalidInput(
                f"unknown label {unknown[0]!r}; project {project.name!r} has: "
                + ", ".join(project.label_names)
            )
        if len(set(labels)) > 1 and not project.multi_label:
            raise InvalidInput(f"project {project.name!r} takes one label per item")
        order = {n: i for i, n in enumerate(project.label_names)}
        return "|".join(sorted(set(labels), key=order.__getitem__))
    if project.task_type == "response":
        text = str(value or "").strip()
        if not text:
            raise InvalidInput("the reply is empty; write the assistant's reply or skip")
        return text
    choice = str(value or "")
    if choice not in CHOICES:
        raise InvalidInput(f"choice must be one of {', '.join(CHOICES)}")
    return choice


def shown_to_canonical(choice: str, shown_order: str | None) -> str:
    """Map what the person clicked ('A' = first shown) to imported order."""
    if choice in ("A", "B") and shown_order == "BA":
        return "B" if choice == "A" else "A"
    return choice


def canonical_to_shown(choice: str | None, shown_order: str | None) -> str | None:
    return shown_to_canonical(choice, shown_order) if choice else choice


# ----------------------------------------------------------------------------- service
_PREFETCH = 63
_ITEM_CACHE_SIZE = 20_000
_item_rows: "OrderedDict[tuple[str, int], tuple[Any, ...]]" = OrderedDict()
_item_rows_lock = threading.Lock()


def _cache_items(store: Store, item_ids: list[int]) -> None:
    rows = sql.get_items(store.cursor(), item_ids)
    with _item_rows_lock:
        for r in rows:
            _item_rows[(store.uid, r[0])] = r
        while len(_item_rows) > _ITEM_CACHE_SIZE:
            _item_rows.popitem(last=False)


def _item_row(store: Store, item_id: int) -> tuple[Any, ...] | None:
    with _item_rows_lock:
        row = _item_rows.get((store.uid, item_id))
    return row if row is not None else sql.get_item(store.cursor(), item_id)


def _queue_item(store: Store, project: Project, user_id: int, item_id: int,
                shown_order: str | None, *, touched: bool = True) -> QueueItem:
    cur = store.cursor()
    row = _item_row(store, item_id)
    if not row or row[1] != project.id:
        raise NotFoundError(f"no item {item_id} in project {project.name!r}")
    latest = sql.latest_for_user(cur, item_id, user_id) if touched else None
    mine = _answer(latest) if latest else None
    if mine and mine.shown_order:
        shown_order = mine.shown_order
    candidates = None
    if project.task_type == "preference":
        shown_order = shown_order or "AB"
        a, b = row[5] or "", row[6] or ""
        candidates = (a, b) if shown_order == "AB" else (b, a)
    return QueueItem(row[0], row[1], row[2], row[3], row[4], shown_order, candidates, mine)


_project_cache: dict[tuple[str, int], tuple[int, Project]] = {}


def _project(store: Store, project: Project | str | int) -> Project:
    """The project as stored now (a caller's object may be stale: overlap, members).

    Cached per process; ``update_project`` signals a change through the store."""
    if isinstance(project, Project):
        key = (store.uid, project.id)
        gen = store.generation(project.id, "config")
        hit = _project_cache.get(key)
        if hit is not None and hit[0] == gen:
            return hit[1]
        fresh = get_project(store, project.id)
        _project_cache[key] = (gen, fresh)
        return fresh
    return get_project(store, project)


def next_item(store: Store, actor: Actor, project: Project | str | int) -> QueueItem | None:
    """Claim (or return the already claimed) next item for ``actor``; None when done."""
    project = _project(store, project)
    check_annotator_access(store, actor, project)
    with store.write_lock:
        idx = _index(store, project)
        claim = idx.claims.get(actor.id)
        if claim is not None:
            claim.at = time.monotonic()
            item_id, order = claim.item_id, claim.shown_order
            touched = claim.item_id in idx.touched.get(actor.id, {})
            prefetch = None
        else:
            touched = False
            mine = idx.touched.get(actor.id, {})
            item_id = None
            for t in range(idx.overlap):
                for candidate in idx.levels[t]:
                    if candidate not in mine:
                        item_id = candidate
                        break
                if item_id is not None:
                    break
            if item_id is None:
                return None
            order = random.choice(("AB", "BA")) if project.task_type == "preference" else None
            idx.move(item_id, +1)
            idx.claims[actor.id] = _Claim(item_id, order, time.monotonic())
            if (store.uid, item_id) not in _item_rows:
                # the items next in line are what the next requests will claim: read them in
                # one query (items never change once imported, so the cache stays true)
                prefetch = [item_id, *itertools.islice(idx.levels[t].irange(minimum=item_id), _PREFETCH)]
            else:
                prefetch = None
    if prefetch:
        _cache_items(store, prefetch)
    return _queue_item(store, project, actor.id, item_id, order, touched=touched)


def release_claim(store: Store, actor: Actor, project: Project | str | int) -> None:
    """Give back the actor's open claim (logging out, leaving the page)."""
    project = _project(store, project)
    with store.write_lock:
        idx = _index(store, project)
        claim = idx.claims.pop(actor.id, None)
        if claim is not None:
            idx.move(claim.item_id, -1)


def submit(store: Store, actor: Actor, project: Project | str | int, item_id: int, value: Any, *,
           unsure: bool = False, note: str | None = None, draft: str | None = None,
           draft_model: str | None = None, shown_order: str | None = None,
           source: str = "app") -> Answer:
    """Record ``actor``'s answer (a new row; earlier rows stay as history).

    ``value`` is canonical: a label (or list of labels), the reply text, or a choice in
    imported order (use ``shown_to_canonical`` for what the person clicked)."""
    project = _project(store, project)
    check_annotator_access(store, actor, project)
    stored = normalize_value(project, value)
    if note is not None and len(note) > 5000:
        raise InvalidInput("note too long (at most 5,000 characters)")
    if unsure and not (note or "").strip() and project.task_type == "classification":
        note = note or ""
    key = (actor.id, item_id)
    with store.write_lock:
        idx = _index(store, project)
        if item_id not in idx.taken:
            raise NotFoundError(f"no item {item_id} in project {project.name!r}")
        mine = idx.touched.setdefault(actor.id, {})
        claim = idx.claims.get(actor.id)
        holds = claim is not None and claim.item_id == item_id
        reserved = False
        if mine.get(item_id):
            pass                           # changing an earlier answer: no slot changes
        elif holds:                        # the claim becomes the answer
            shown_order = shown_order or claim.shown_order
            del idx.claims[actor.id]
            reserved = True
        elif idx.taken[item_id] < idx.overlap:
            idx.move(item_id, +1)          # going back to a skipped item with a free slot
            reserved = True
        else:
            raise ConflictError(
                "this item already has all the answers it needs (your claim expired and the "
                "slot went to someone else); your answer was not saved — take the next item"
            )
        if reserved:
            idx.inflight[key] = mine.get(item_id)
            mine[item_id] = True
    # The row is written outside the lock (appends need no lock; other annotators go on);
    # the slot stays held in ``inflight`` until the row is committed.
    try:
        row = {
            "project_id": project.id, "item_id": item_id, "user_id": actor.id,
            "value": stored, "skipped": False, "unsure": bool(unsure),
            "note": (note or None), "draft": draft, "draft_model": draft_model,
            "shown_order": shown_order, "source": source,
        }
        aid, created_at = store.append_row("annotations", row, id_sequence="seq_annotations")
    except BaseException:
        if reserved:
            with store.write_lock:
                idx = _index(store, project)
                if key in idx.inflight:
                    prev = idx.inflight.pop(key)
                    idx.move(item_id, -1)
                    touched = idx.touched.setdefault(actor.id, {})
                    if prev is None:
                        touched.pop(item_id, None)
                    else:
                        touched[item_id] = prev
        raise
    if reserved:
        with store.write_lock:
            idx = _index(store, project)
            idx.inflight.pop(key, None)
            idx.touched.setdefault(actor.id, {})[item_id] = True
    return Answer(aid, item_id, actor.name, stored, False, bool(unsure), note or None, draft,
                  draft_model, shown_order, source, created_at)


def skip(store: Store, actor: Actor, project: Project | str | int, item_id: int,
         note: str | None = None) -> None:
    """Skip the claimed item: recorded (so it is not served again) and its slot freed."""
    project = _project(store, project)
    check_annotator_access(store, actor, project)
    with store.write_lock:
        idx = _index(store, project)
        mine = idx.touched.setdefault(actor.id, {})
        if mine.get(item_id):
            raise ConflictError("you already answered this item; change the answer instead of skipping")
        claim = idx.claims.get(actor.id)
        row = {
            "project_id": project.id, "item_id": item_id, "user_id": actor.id,
            "value": None, "skipped": True, "note": note or None,
            "shown_order": claim.shown_order if claim else None,
        }
        store.append_row("annotations", row, id_sequence="seq_annotations")
        if claim is not None and claim.item_id == item_id:
            del idx.claims[actor.id]
            idx.move(item_id, -1)
        mine[item_id] = False


def get_item(store: Store, actor: Actor, project: Project | str | int, item_id: int) -> QueueItem:
    """An item the actor has answered or skipped (to go back), or any item for leads."""
    project = _project(store, project)
    check_annotator_access(store, actor, project)
    with store.write_lock:
        idx = _index(store, project)
        touched = item_id in idx.touched.get(actor.id, {})
        claim = idx.claims.get(actor.id)
        holds = claim is not None and claim.item_id == item_id
    if not (touched or holds or can(actor, "view_all_answers")):
        raise PermissionDenied("you can open items from your queue or ones you answered")
    return _queue_item(store, project, actor.id, item_id, claim.shown_order if holds else None)


def my_answer(store: Store, actor: Actor, item_id: int) -> Answer | None:
    row = sql.latest_for_user(store.cursor(), item_id, actor.id)
    return _answer(row) if row else None


def item_history(store: Store, actor: Actor, item_id: int, *, all_users: bool = False) -> list[Answer]:
    """Every row for the item: the actor's own, or everyone's when ``all_users`` (leads+)."""
    if all_users:
        require(actor, "view_all_answers")
        rows = sql.history(store.cursor(), item_id)
    else:
        rows = sql.history(store.cursor(), item_id, actor.id)
    return [_answer(r) for r in rows]


def recent_answers(store: Store, actor: Actor, project: Project | str | int,
                   limit: int = 50) -> list[dict[str, Any]]:
    """The actor's own answers in the project, newest first (for "go back")."""
    project = _project(store, project)
    check_annotator_access(store, actor, project)
    rows = sql.recent_for_user(store.cursor(), project.id, actor.id, limit)
    return [
        {"item_id": r[0], "external_id": r[1], "text": r[2], "value": r[3], "skipped": r[4],
         "unsure": r[5], "note": r[6], "created_at": r[7]}
        for r in rows
    ]


def progress(store: Store, actor: Actor, project: Project | str | int) -> Progress:
    project = _project(store, project)
    answered, skipped = sql.user_progress(store.cursor(), project.id, actor.id)
    with store.write_lock:
        idx = _index(store, project)
        total = len(idx.taken) * idx.overlap
        filled = sum(min(t, idx.overlap) for t in idx.taken.values())
        claim = idx.claims.get(actor.id)
        filled -= len(idx.claims)
        mine = idx.touched.get(actor.id, {})
        remaining = sum(1 for t in range(idx.overlap) for i in idx.levels[t] if i not in mine)
        if claim is not None and idx.taken.get(claim.item_id, 0) >= idx.overlap:
            remaining += 1  # the claimed item is full now, so the buckets no longer list it
    return Progress(answered, skipped, remaining, filled, total)
