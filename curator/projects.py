"""Projects: task type, label set, guidelines, system prompt, overlap, settle rule, members."""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from curator.errors import ConflictError, InvalidInput, NotFoundError, PermissionDenied
from curator.permissions import Actor, require
from curator.store import Store
from curator.store import projects as sql
from curator.store import users as users_sql

__all__ = [
    "TASK_TYPES", "Label", "Project", "create_project", "update_project", "get_project",
    "list_projects", "parse_labels", "set_members", "check_annotator_access",
]

TASK_TYPES = ("classification", "response", "preference")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEFAULT_RULE = {"kind": "majority", "min_answers": 1, "margin": 1}
# Streamlit reserves C and R; the Label page uses S (skip), A/B/T/X (preference choices).
_RESERVED_KEYS = {"c", "r", "s"}


@dataclass(frozen=True)
class Label:
    name: str
    description: str = ""
    key: str = ""  # keyboard shortcut; defaults to 1..9 by position


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    task_type: str
    labels: tuple[Label, ...]
    multi_label: bool
    system_prompt: str
    guidelines: str
    overlap: int
    settle_rule: dict[str, Any]
    show_own_result: bool
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    members: tuple[str, ...] = field(default=())

    @property
    def label_names(self) -> list[str]:
        return [l.name for l in self.labels]

    def label_keys(self) -> dict[str, str]:
        """label name -> shortcut key (explicit key, else 1..9 then 0 by position)."""
        defaults = [str(i) for i in range(1, 10)] + ["0"]
        taken = {l.key for l in self.labels if l.key}
        free = [k for k in defaults if k not in taken]
        out = {}
        for l in self.labels:
            out[l.name] = l.key or (free.pop(0) if free else "")
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["labels"] = [asdict(l) for l in self.labels]
        d["members"] = list(self.members)
        d["created_at"] = self.created_at.isoformat()
        d["updated_at"] = self.updated_at.isoformat()
        return d


def parse_labels(spec: str | list | None) -> list[Label]:
    """Labels from 'a,b,c', from 'name:description' or 'name:description:key' entries (the key:
    one letter or digit), or from a list of dicts/Labels."""
    if spec is None or spec == "":
        return []
    items: list[Label] = []
    if isinstance(spec, str):
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            bits = part.split(":")
            key = ""
            if len(bits) >= 3 and len(bits[-1].strip()) == 1:
                key = bits.pop().strip()
            items.append(Label(bits[0].strip(), ":".join(bits[1:]).strip(), key))
    else:
        for x in spec:
            if isinstance(x, Label):
                items.append(x)
            elif isinstance(x, str):
                items.append(Label(x.strip()))
            elif isinstance(x, dict) and x.get("name"):
                items.append(Label(str(x["name"]).strip(), str(x.get("description") or ""),
                                   str(x.get("key") or "")))
            else:
                raise InvalidInput(f"cannot read label {x!r}: expected a name or {{'name': ...}}")
    names = [l.name for l in items]
    bad = [n for n in names if not n or "|" in n or len(n) > 100]
    if bad:
        raise InvalidInput(f"invalid label name {bad[0]!r}: 1-100 characters, no '|'")
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise InvalidInput(f"duplicate label {sorted(dup)[0]!r}")
    keys = [l.key for l in items if l.key]
    for k in keys:
        if len(k) != 1 or not k.isalnum() or k.lower() in _RESERVED_KEYS or not k.isascii():
            raise InvalidInput(
                f"shortcut key {k!r} cannot be used: use one letter or digit "
                f"(not {', '.join(sorted(_RESERVED_KEYS))}, which the app reserves)")
    if len({k.lower() for k in keys}) != len(keys):
        raise InvalidInput("two labels share one shortcut key")
    return items


def _validate_rule(rule: dict[str, Any]) -> dict[str, Any]:
    from curator.settle import parse_rule  # one validator for settle rules

    return parse_rule(rule).to_dict()


def _row_to_project(cur, row) -> Project:
    labels = tuple(Label(**l) for l in json.loads(row[3]))
    return Project(
        id=row[0], name=row[1], task_type=row[2], labels=labels, multi_label=bool(row[4]),
        system_prompt=row[5], guidelines=row[6], overlap=row[7], settle_rule=json.loads(row[8]),
        show_own_result=bool(row[9]), created_by=row[10], created_at=row[11], updated_at=row[12],
        members=tuple(sql.members(cur, row[0])),
    )


def _fields(task_type, labels, multi_label, system_prompt, guidelines, overlap, settle_rule,
            show_own_result) -> dict[str, Any]:
    f: dict[str, Any] = {}
    if task_type is not None:
        if task_type not in TASK_TYPES:
            raise InvalidInput(f"unknown task type {task_type!r}; expected one of: {', '.join(TASK_TYPES)}")
        f["task_type"] = task_type
    if labels is not None:
        f["labels"] = json.dumps([asdict(l) for l in parse_labels(labels)])
    if multi_label is not None:
        f["multi_label"] = bool(multi_label)
    if system_prompt is not None:
        f["system_prompt"] = system_prompt
    if guidelines is not None:
        f["guidelines"] = guidelines
    if overlap is not None:
        if int(overlap) < 1 or int(overlap) > 50:
            raise InvalidInput("overlap must be between 1 and 50 annotators per item")
        f["overlap"] = int(overlap)
    if settle_rule is not None:
        f["settle_rule"] = json.dumps(_validate_rule(settle_rule))
    if show_own_result is not None:
        f["show_own_result"] = bool(show_own_result)
    return f


def create_project(
    store: Store, actor: Actor, name: str, task_type: str, *, labels: Any = None,
    multi_label: bool = False, system_prompt: str = "", guidelines: str = "", overlap: int = 1,
    settle_rule: dict[str, Any] | None = None, show_own_result: bool = False,
    members: list[str] | None = None,
) -> Project:
    require(actor, "manage_projects")
    name = name.strip()
    if not _NAME_RE.match(name):
        raise InvalidInput(
            f"invalid project name {name!r}: use 1-64 letters, digits, '_', '.', '-' "
            "(it is also the export folder name)"
        )
    f = _fields(task_type, labels or [], multi_label, system_prompt, guidelines, overlap,
                settle_rule or DEFAULT_RULE, show_own_result)
    if task_type == "classification" and not json.loads(f["labels"]):
        raise InvalidInput("a classification project needs labels, e.g. --labels billing,refund,other")
    with store.locked_transaction() as cur:
        if sql.get_by_name(cur, name):
            raise ConflictError(f"project {name!r} already exists")
        f["name"] = name
        f["created_by"] = actor.id or None
        pid = sql.insert_project(cur, f)
        if members:
            sql.set_members(cur, pid, _member_ids(cur, members))
    return get_project(store, pid)


def update_project(store: Store, actor: Actor, name_or_id: str | int, *, labels: Any = None,
                   multi_label: bool | None = None, system_prompt: str | None = None,
                   guidelines: str | None = None, overlap: int | None = None,
                   settle_rule: dict[str, Any] | None = None, show_own_result: bool | None = None,
                   members: list[str] | None = None) -> Project:
    """Edit a project (task type is fixed once created)."""
    require(actor, "manage_projects")
    project = get_project(store, name_or_id)
    f = _fields(None, labels, multi_label, system_prompt, guidelines, overlap, settle_rule,
                show_own_result)
    if "labels" in f and project.task_type == "classification" and not json.loads(f["labels"]):
        raise InvalidInput("a classification project needs at least one label")
    with store.locked_transaction() as cur:
        sql.update_project(cur, project.id, f)
        if members is not None:
            sql.set_members(cur, project.id, _member_ids(cur, members))
    store.notify_changed(project.id, "config")
    return get_project(store, project.id)


def set_members(store: Store, actor: Actor, name_or_id: str | int, members: list[str]) -> Project:
    return update_project(store, actor, name_or_id, members=members)


def _member_ids(cur, names: list[str]) -> list[int]:
    ids = []
    for n in names:
        row = users_sql.get_by_name(cur, n)
        if not row:
            raise NotFoundError(f"cannot assign {n!r}: no such user")
        ids.append(row[0])
    return ids


def get_project(store: Store, name_or_id: str | int) -> Project:
    cur = store.cursor()
    if isinstance(name_or_id, int) or (isinstance(name_or_id, str) and name_or_id.isdigit()
                                       and not sql.get_by_name(cur, name_or_id)):
        row = sql.get_by_id(cur, int(name_or_id))
    else:
        row = sql.get_by_name(cur, name_or_id)
    if not row:
        raise NotFoundError(
            f"no project {name_or_id!r}; `curator projects list` shows the projects"
        )
    return _row_to_project(cur, row)


def list_projects(store: Store, actor: Actor | None = None) -> list[Project]:
    """Projects the actor can see: annotators see those they are assigned to (or open ones)."""
    cur = store.cursor()
    out = [_row_to_project(cur, r) for r in sql.list_projects(cur)]
    if actor is not None and actor.role == "annotator":
        out = [p for p in out if not p.members or actor.name in p.members]
    return out


def check_annotator_access(store: Store, actor: Actor, project: Project) -> None:
    """Annotators may work only on projects they are assigned to (or open projects)."""
    require(actor, "annotate")
    if actor.role == "annotator" and project.members and actor.name not in project.members:
        raise PermissionDenied(f"{actor.name} is not assigned to project {project.name!r}")


def project_counts(store: Store, project: Project) -> dict[str, int]:
    return sql.counts(store.cursor(), project.id)
