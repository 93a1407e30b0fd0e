"""Roles and what each may do. Every core service checks the acting user here.

Roles (from least to most): annotator, lead, engineer, admin. Pages hide what a role cannot
use, but the check that counts is ``require(actor, action)`` inside the core.
"""
from __future__ import annotations

from dataclasses import dataclass

from curator.errors import PermissionDenied

ROLES = ("annotator", "lead", "engineer", "admin")

# action -> roles allowed
ACTIONS: dict[str, frozenset[str]] = {
    "annotate": frozenset({"annotator", "lead", "engineer", "admin"}),
    "view_projects": frozenset({"annotator", "lead", "engineer", "admin"}),
    "manage_projects": frozenset({"lead", "admin"}),
    "import": frozenset({"lead", "engineer", "admin"}),
    "view_all_answers": frozenset({"lead", "engineer", "admin"}),
    "view_agreement": frozenset({"lead", "engineer", "admin"}),
    "settle": frozenset({"lead", "admin"}),
    "export": frozenset({"engineer", "lead", "admin"}),
    "validate": frozenset({"annotator", "lead", "engineer", "admin"}),
    "launch_jobs": frozenset({"engineer", "admin"}),
    "view_jobs": frozenset({"engineer", "lead", "admin"}),
    "manage_users": frozenset({"admin"}),
    "manage_tokens": frozenset({"annotator", "lead", "engineer", "admin"}),
}


@dataclass(frozen=True)
class Actor:
    """Who performs an action. ``id`` is the users.id; ``system`` actors (CLI run by the
    machine's operator on the database file) have role 'admin' and id 0."""

    id: int
    name: str
    role: str

    @property
    def is_system(self) -> bool:
        return self.id == 0


SYSTEM = Actor(0, "system", "admin")


def can(actor: Actor, action: str) -> bool:
    try:
        return actor.role in ACTIONS[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}") from None


def require(actor: Actor, action: str) -> None:
    """Raise ``PermissionDenied`` unless ``actor`` may do ``action``."""
    if not can(actor, action):
        allowed = ", ".join(r for r in ROLES if r in ACTIONS[action])
        raise PermissionDenied(
            f"{actor.name} ({actor.role}) may not {action.replace('_', ' ')}; "
            f"this needs one of the roles: {allowed}"
        )


__all__ = ["ROLES", "ACTIONS", "Actor", "SYSTEM", "can", "require"]
