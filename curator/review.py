"""What leads and engineers read and decide: status, agreement, the review queue, adjudication.

Thin, permission-checked services over ``curator.agreement`` and ``curator.settle`` (which
take a cursor and hold the set-based SQL)."""
from __future__ import annotations

from typing import Any

from curator import agreement as _agreement
from curator import settle as _settle
from curator.errors import NotFoundError, PermissionDenied
from curator.permissions import Actor, can, require
from curator.projects import Project, get_project, project_counts
from curator.queue import Answer, item_history
from curator.store import Store
from curator.store import answers as answers_sql

__all__ = ["project_status", "agreement", "review_queue", "item_detail", "adjudicate",
           "own_result", "settle_counts", "throughput", "settled"]


def _proj(store: Store, project: Project | str | int) -> Project:
    return project if isinstance(project, Project) else get_project(store, project)


def project_status(store: Store, actor: Actor, project: Project | str | int) -> dict[str, Any]:
    """Counts: items, annotations, settled, per label, per annotator (leads/engineers)."""
    require(actor, "view_all_answers")
    p = _proj(store, project)
    cur = store.cursor()
    counts = project_counts(store, p)
    settle = _settle.status_counts(cur, p.id)
    return {
        "project": p.name, "task_type": p.task_type, "overlap": p.overlap,
        **counts,
        "settled": settle.settled, "disagreement": settle.disagreement,
        "pending": settle.pending, "unanswered": settle.unanswered,
        "review_queue": settle.review_queue, "settle_rule": settle.rule,
        "per_label": dict(answers_sql.per_label_counts(cur, p.id)) if p.task_type != "response" else {},
        "per_annotator": dict(answers_sql.per_annotator_counts(cur, p.id)),
    }


def settle_counts(store: Store, actor: Actor, project: Project | str | int) -> _settle.SettleCounts:
    require(actor, "view_agreement")
    return _settle.status_counts(store.cursor(), _proj(store, project).id)


def agreement(store: Store, actor: Actor, project: Project | str | int) -> _agreement.AgreementReport:
    require(actor, "view_agreement")
    return _agreement.project_agreement(store.cursor(), _proj(store, project).id)


def review_queue(store: Store, actor: Actor, project: Project | str | int, *,
                 limit: int | None = 50, offset: int = 0) -> list[_settle.ReviewEntry]:
    require(actor, "settle")
    return _settle.review_queue(store.cursor(), _proj(store, project).id, limit=limit, offset=offset)


def item_detail(store: Store, actor: Actor, project: Project | str | int, item_id: int) -> dict[str, Any]:
    """The item, every annotator's current answer and note, the full history, the settle
    status and adjudications. Leads and above only (annotators are blind)."""
    require(actor, "view_all_answers")
    p = _proj(store, project)
    cur = store.cursor()
    row = answers_sql.get_item(cur, item_id)
    if not row or row[1] != p.id:
        raise NotFoundError(f"no item {item_id} in project {p.name!r}")
    history = item_history(store, actor, item_id, all_users=True)
    current: dict[str, Answer] = {}
    for a in history:
        current[a.user] = a
    status = _settle.item_status(cur, p.id, item_ids=[item_id])
    return {
        "item": {"id": row[0], "external_id": row[2], "text": row[3], "metadata": row[4],
                 "candidate_a": row[5], "candidate_b": row[6]},
        "answers": [a for a in current.values() if not a.skipped],
        "history": history,
        "status": status[0] if status else None,
        "adjudications": answers_sql.adjudications(cur, item_id),
    }


def adjudicate(store: Store, actor: Actor, project: Project | str | int, item_id: int,
               value: str, reason: str = "") -> int:
    p = _proj(store, project)
    with store.locked_transaction() as cur:
        return _settle.adjudicate(cur, actor, p.id, item_id, value, reason)


def own_result(store: Store, actor: Actor, project: Project | str | int,
               item_id: int) -> dict[str, Any] | None:
    """After an item is settled, how the actor's answer compared with gold — only when the
    project turns this on (off by default). Never shows other annotators' answers."""
    p = _proj(store, project)
    if not p.show_own_result and not can(actor, "view_all_answers"):
        raise PermissionDenied(f"project {p.name!r} does not show settled results to annotators")
    st = _settle.item_status(store.cursor(), p.id, item_ids=[item_id])
    if not st or st[0].status != "settled":
        return None
    mine = answers_sql.latest_for_user(store.cursor(), item_id, actor.id)
    if not mine:
        return None
    return {"gold": st[0].gold, "mine": mine[4], "agrees": mine[4] == st[0].gold}


def throughput(store: Store, actor: Actor, project: Project | str | int) -> list[dict[str, Any]]:
    """Answers per annotator per day, for the throughput chart (leads and engineers)."""
    require(actor, "view_agreement")
    rows = answers_sql.throughput(store.cursor(), _proj(store, project).id)
    return [{"day": d, "annotator": n, "answers": int(c)} for d, n, c in rows]


def settled(store: Store, actor: Actor, project: Project | str | int) -> list[_settle.SettledItem]:
    """Every settled item with its gold answer and how it was settled (leads and engineers)."""
    require(actor, "view_agreement")
    return _settle.settled_items(store.cursor(), _proj(store, project).id)
