"""Exceptions the core raises for user mistakes and refused actions.

Every class here carries a message a person can act on. The CLI prints it as one line on
stderr and exits non-zero; the app shows it with ``st.error``. Anything that is *not* a
``CuratorError`` is a bug and may show a traceback.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class CuratorError(Exception):
    """Base class: a user-facing error with an actionable message."""

    exit_code = 1


class NotFoundError(CuratorError):
    """A named project, user, item, export or job does not exist."""


class PermissionDenied(CuratorError):
    """The acting user's role does not allow this action."""

    exit_code = 3


class AuthError(CuratorError):
    """Login failed, or an API token is missing or wrong."""

    exit_code = 3


class ConflictError(CuratorError):
    """The action conflicts with existing data (duplicate name, item already full, ...)."""


class DatabaseLocked(CuratorError):
    """Another process holds the DuckDB file."""

    exit_code = 4


class SchemaTooNew(CuratorError):
    """The database was written by a newer curator than this one."""

    exit_code = 4


@dataclass
class RowError:
    """One bad row in an input file: where it is and what was expected."""

    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column!r}")
        return (", ".join(where) + ": " if where else "") + self.message


class InvalidInput(CuratorError):
    """An input file or value is malformed. ``errors`` lists the rows at fault."""

    def __init__(self, message: str, errors: list[RowError] | None = None, file: str | None = None):
        self.errors = list(errors or [])
        self.file = file
        self.summary = message
        text = message
        if file:
            text = f"{file}: {text}"
        if self.errors:
            shown = "; ".join(str(e) for e in self.errors[:5])
            more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
            text = f"{text}: {shown}{more}"
        super().__init__(text)


__all__ = [
    "CuratorError",
    "NotFoundError",
    "PermissionDenied",
    "AuthError",
    "ConflictError",
    "DatabaseLocked",
    "SchemaTooNew",
    "RowError",
    "InvalidInput",
]
