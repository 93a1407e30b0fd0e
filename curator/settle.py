"""Settling: when do an item's answers become its gold answer?

A project's ``settle_rule`` (JSON) is one of

* ``{"kind": "unanimous", "min_answers": k}`` — at least k current answers, all equal.
  Two different answers make the item a *disagreement* at once (unanimity is then impossible).
* ``{"kind": "majority", "min_answers": k, "margin": m}`` — at least k answers and the most
  frequent value leads the runner-up by at least m. With k answers or more and a smaller lead
  the item is a *disagreement*.

Otherwise an item is *pending*. A lead's adjudication (newest row per item in
``adjudications``) overrides the rule: the item is settled with that value, ``how='adjudicated'``.
Current answers are the newest row per (item, user); skips do not count as answers, but an
"unsure" flag on a current row (skip or answer) puts the item in the review queue.

Status is computed live from the tables in one set-based query (``store.agreement.status_sql``),
so a changed answer or a new adjudication is reflected immediately. Call the read functions
with any cursor; call ``adjudicate`` inside ``store.locked_transaction()``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from curator.errors import InvalidInput, NotFoundError
from curator.permissions import Actor, require
from curator.store import agreement as sql

__all__ = [
    "RULE_KINDS",
    "PREFERENCE_VALUES",
    "SettleRule",
    "parse_rule",
    "project_rule",
    "ItemStatus",
    "ReviewEntry",
    "SettledItem",
    "SettleCounts",
    "item_status",
    "status_counts",
    "review_queue",
    "settled_items",
    "adjudicate",
]

RULE_KINDS = ("unanimous", "majority")
PREFERENCE_VALUES = ("A", "B", "tie", "both_bad")
Cursor = duckdb.DuckDBPyConnection


@dataclass(frozen=True)
class SettleRule:
    """A validated settle rule; build it with ``parse_rule``."""

    kind: str
    min_answers: int = 1
    margin: int = 1  # majority only

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "min_answers": self.min_answers}
        if self.kind == "majority":
            d["margin"] = self.margin
        return d

    def as_tuple(self) -> tuple[str, int, int]:
        return (self.kind, self.min_answers, self.margin)

    def describe(self) -> str:
        if self.kind == "unanimous":
            return f"unanimous, at least {self.min_answers} answer(s)"
        return (f"majority, at least {self.min_answers} answer(s), "
                f"leading the runner-up by at least {self.margin}")


def _positive_int(rule: dict[str, Any], key: str, where: str) -> int:
    v = rule.get(key, 1)
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise InvalidInput(f"{where}: {key!r} must be a whole number >= 1, got {v!r}")
    if v < 1:
        raise InvalidInput(f"{where}: {key!r} must be at least 1, got {v}")
    return int(v)


def parse_rule(raw: "str | dict[str, Any] | SettleRule", *, where: str = "settle rule") -> SettleRule:
    """Validate a rule given as JSON text, a dict or a ``SettleRule``.

    ``min_answers`` and ``margin`` default to 1. Raises ``InvalidInput`` naming the field.
    """
    if isinstance(raw, SettleRule):
        raw = raw.to_dict()
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{where} is not valid JSON ({exc.msg} at position {exc.pos}); "
                               'expected e.g. {"kind": "majority", "min_answers": 2, "margin": 1}'
                               ) from None
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where} must be a JSON object such as "
                           f'{{"kind": "unanimous", "min_answers": 2}}, got {type(raw).__name__}')
    kind = raw.get("kind")
    if kind not in RULE_KINDS:
        raise InvalidInput(f"{where}: 'kind' must be 'unanimous' or 'majority', got {kind!r}")
    allowed = {"kind", "min_answers"} | ({"margin"} if kind == "majority" else set())
    extra = sorted(set(raw) - allowed)
    if extra:
        hint = " ('margin' applies only to kind 'majority')" if "margin" in extra else ""
        raise InvalidInput(f"{where}: unknown field(s) {', '.join(map(repr, extra))} for kind "
                           f"{kind!r}; allowed: {', '.join(sorted(allowed))}{hint}")
    min_answers = _positive_int(raw, "min_answers", where)
    margin = _positive_int(raw, "margin", where) if kind == "majority" else 1
    return SettleRule(kind, min_answers, margin)


def project_rule(cur: Cursor, project_id: int) -> SettleRule:
    """The project's stored rule, validated."""
    raw = sql.project_rule_json(cur, project_id)
    if raw is None:
        raise NotFoundError(f"project {project_id} does not exist")
    return parse_rule(raw, where=f"settle rule of project {project_id}")


def _rule(cur: Cursor, project_id: int, rule: Any) -> SettleRule:
    if rule is None:
        return project_rule(cur, project_id)
    if sql.project_task(cur, project_id) is None:
        raise NotFoundError(f"project {project_id} does not exist")
    return parse_rule(rule)


@dataclass
class ItemStatus:
    """One item's settle state. ``counts`` is value -> current answers, most frequent first."""

    item_id: int
    status: str  # settled | disagreement | pending
    gold: str | None
    how: str | None  # rule | adjudicated | None
    answers: int
    distinct_values: int
    top_value: str | None
    top_count: int
    runner_up_count: int
    counts: dict[str, int]
    any_unsure: bool
    skipped: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReviewEntry(ItemStatus):
    """An item in the lead's review queue; ``reason`` is 'disagreement' or 'unsure'."""

    reason: str = ""


@dataclass(frozen=True)
class SettledItem:
    item_id: int
    gold: str
    how: str  # rule | adjudicated


@dataclass
class SettleCounts:
    """Item counts by settle state under ``rule``."""

    rule: dict[str, Any]
    items: int
    settled: int
    settled_by_rule: int
    adjudicated: int
    disagreement: int
    pending: int
    unsure: int
    review_queue: int
    unanswered: int
    by_status: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _status(row: tuple[Any, ...]) -> ItemStatus:
    (item_id, status, gold, how, n, k, top, top_n, second_n, counts, unsure, skipped) = row
    return ItemStatus(int(item_id), status, gold, how, int(n), int(k), top, int(top_n),
                      int(second_n), {c["value"]: int(c["n"]) for c in counts}, bool(unsure),
                      int(skipped))


def item_status(cur: Cursor, project_id: int, rule: Any = None, *,
                item_ids: list[int] | None = None, status: str | None = None) -> list[ItemStatus]:
    """Settle status of the project's items (all, or ``item_ids``; optionally one ``status``).

    ``rule`` defaults to the project's stored rule; pass a dict/JSON to preview another.
    """
    r = _rule(cur, project_id, rule)
    if status is not None and status not in ("settled", "disagreement", "pending"):
        raise InvalidInput(f"status must be settled, disagreement or pending, got {status!r}")
    return [_status(row) for row in
            sql.item_status_rows(cur, project_id, r.as_tuple(), item_ids, status)]


def status_counts(cur: Cursor, project_id: int, rule: Any = None) -> SettleCounts:
    """How many items are settled (by rule / adjudicated), in disagreement, pending, flagged."""
    r = _rule(cur, project_id, rule)
    (items, settled, by_rule, adjudicated, disagreement, pending, unsure, queue,
     unanswered) = (int(x) for x in sql.status_counts(cur, project_id, r.as_tuple()))
    return SettleCounts(
        rule=r.to_dict(), items=items, settled=settled, settled_by_rule=by_rule,
        adjudicated=adjudicated, disagreement=disagreement, pending=pending, unsure=unsure,
        review_queue=queue, unanswered=unanswered,
        by_status={"settled": settled, "disagreement": disagreement, "pending": pending},
    )


def review_queue(cur: Cursor, project_id: int, rule: Any = None, *, limit: int | None = None,
                 offset: int = 0) -> list[ReviewEntry]:
    """Items for a lead to settle: disagreements first (most answers first, then item id), then
    items with an "unsure" flag (by item id). Adjudicated items leave the queue."""
    r = _rule(cur, project_id, rule)
    if limit is not None and limit < 0 or offset < 0:
        raise InvalidInput("review queue limit and offset must not be negative")
    out = []
    for row in sql.review_rows(cur, project_id, r.as_tuple(), limit, offset):
        st = _status(row[1:])
        out.append(ReviewEntry(**asdict(st), reason=row[0]))
    return out


def settled_items(cur: Cursor, project_id: int, rule: Any = None) -> list[SettledItem]:
    """Every settled item with its gold value and how it was settled (what export uses).

    Store modules that need this as a relation can embed ``store.agreement.status_sql`` or
    call ``store.agreement.create_gold_table``.
    """
    r = _rule(cur, project_id, rule)
    return [SettledItem(int(i), g, h) for i, g, h in sql.settled_rows(cur, project_id, r.as_tuple())]


def adjudicate(cur: Cursor, actor: Actor, project_id: int, item_id: int, value: str,
               reason: str = "") -> int:
    """Record a lead's decision for an item (overrides the rule); returns the adjudication id.

    ``value`` is checked against the task: a label of the project (multi-label: labels joined
    by '|'), or A / B / tie / both_bad for preference items (A, B in imported order).
    Needs the 'settle' permission. Run inside ``store.locked_transaction()``.
    """
    require(actor, "settle")
    task = sql.project_task(cur, project_id)
    if task is None:
        raise NotFoundError(f"project {project_id} does not exist")
    if sql.item_project(cur, item_id) != project_id:
        raise NotFoundError(f"item {item_id} is not in project {project_id}")
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("adjudicated value must be a non-empty text")
    if task == "preference" and value not in PREFERENCE_VALUES:
        raise InvalidInput(f"preference value must be one of {', '.join(PREFERENCE_VALUES)}, "
                           f"got {value!r}")
    if task == "classification":
        labels = sql.project_labels(cur, project_id)
        unknown = [v for v in value.split("|") if v not in labels]
        if labels and unknown:
            raise InvalidInput(f"label {unknown[0]!r} is not in the project's labels "
                               f"({', '.join(labels)})")
    return sql.insert_adjudication(cur, project_id, item_id, actor.id, value, reason or "")
