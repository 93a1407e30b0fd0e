"""Near-duplicates flagged at import, for a person to review (never dropped silently).

A pair is ``open`` until someone decides: ``kept`` (they are near-duplicates: exports keep them
on the same side of the train/validation split) or ``dismissed`` (not duplicates: exports treat
them independently). Exact duplicates never reach the project: the import skips them."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from curator.errors import InvalidInput, NotFoundError
from curator.permissions import Actor, require
from curator.projects import Project, get_project
from curator.store import Store
from curator.store import duplicates as sql

__all__ = ["DECISIONS", "NearDuplicate", "list_near_duplicates", "near_duplicate_counts",
           "resolve_near_duplicate"]

DECISIONS = ("kept", "dismissed", "open")


@dataclass
class NearDuplicate:
    item_id: int
    similar_item_id: int
    similarity: float
    status: str
    external_id: str | None
    text: str
    similar_external_id: str | None
    similar_text: str
    reviewed_by: str | None
    reviewed_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reviewed_at"] = self.reviewed_at.isoformat() if self.reviewed_at else None
        return d


def _proj(store: Store, project: Project | str | int) -> Project:
    return project if isinstance(project, Project) else get_project(store, project)


def list_near_duplicates(store: Store, actor: Actor, project: Project | str | int, *,
                         status: str | None = "open", limit: int = 50,
                         offset: int = 0) -> list[NearDuplicate]:
    """Flagged pairs, most similar first (``status=None``: all)."""
    require(actor, "import")
    if status is not None and status not in DECISIONS:
        raise InvalidInput(f"status must be one of {', '.join(DECISIONS)}")
    rows = sql.list_pairs(store.cursor(), _proj(store, project).id, status, limit, offset)
    return [NearDuplicate(*r) for r in rows]


def near_duplicate_counts(store: Store, actor: Actor, project: Project | str | int) -> dict[str, int]:
    require(actor, "import")
    c = sql.counts(store.cursor(), _proj(store, project).id)
    return {k: int(c.get(k, 0)) for k in DECISIONS}


def resolve_near_duplicate(store: Store, actor: Actor, project: Project | str | int, item_id: int,
                           similar_item_id: int, decision: str) -> None:
    """Record a person's decision on a flagged pair (``open`` reopens it)."""
    require(actor, "import")
    if decision not in DECISIONS:
        raise InvalidInput(f"decision must be one of {', '.join(DECISIONS)}")
    p = _proj(store, project)
    with store.locked_transaction() as cur:
        n = sql.set_status(cur, p.id, item_id, similar_item_id, decision,
                           actor.id or None if decision != "open" else None)
    if not n:
        raise NotFoundError(f"no flagged pair ({item_id}, {similar_item_id}) in project {p.name!r}")
