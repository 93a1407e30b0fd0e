"""Model drafts for response projects, and preference pairs from three sources:

* imported pairs (``curator.importing``: OpenAI DPO JSONL, or files with two candidate columns);
* two model samples for a prompt (``pairs_from_model_samples``);
* a response project's "model draft vs expert edit" (``pairs_from_drafts``): the expert's
  edited reply is recorded as preferred — a DPO pair source that comes free with reviewing drafts.

Models are reached through the provider interface (``curator.providers``); keys come from the
environment or the app's secrets, never from the database.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from curator.errors import InvalidInput
from curator.permissions import Actor, require
from curator.projects import Project, check_annotator_access, get_project
from curator.store import Store
from curator.store import pairs as sql
from curator.store.imports import normalize_text

__all__ = ["DRAFT_SOURCE", "draft_reply", "pairs_from_drafts", "pairs_from_model_samples", "PairReport"]

DRAFT_SOURCE = "draft-vs-edit"


def _messages(project: Project, text: str) -> list[dict[str, str]]:
    msgs = []
    if project.system_prompt:
        msgs.append({"role": "system", "content": project.system_prompt})
    msgs.append({"role": "user", "content": text})
    return msgs


def _provider(provider: Any, provider_config: Mapping[str, Any] | None):
    from curator.providers import get_provider

    if provider is None or isinstance(provider, str):
        return get_provider(provider or "openai", **dict(provider_config or {}))
    return provider


def draft_reply(store: Store, actor: Actor, project: Project | str | int, item_id: int, *,
                model: str, provider: Any = None,
                provider_config: Mapping[str, Any] | None = None) -> str:
    """A model's draft of the assistant reply for an item of a response project."""
    p = project if isinstance(project, Project) else get_project(store, project)
    check_annotator_access(store, actor, p)
    if p.task_type != "response":
        raise InvalidInput("drafts are for response projects")
    row = sql.item_text(store.cursor(), p.id, item_id)
    if row is None:
        raise InvalidInput(f"no item {item_id} in project {p.name!r}")
    return _provider(provider, provider_config).chat(_messages(p, row), model, n=1)[0]


@dataclass
class PairReport:
    pairs_added: int
    skipped_identical: int
    skipped_existing: int

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _same(a: str, b: str) -> bool:
    """Equal after the import's normalisation (NFKC, casefold, white space collapsed)."""
    return normalize_text(a) == normalize_text(b)


def pairs_from_drafts(store: Store, actor: Actor, response_project: Project | str | int,
                      preference_project: Project | str | int, *,
                      record_preference: bool = True) -> PairReport:
    """For every response answer that started from a model draft and was edited, add a
    preference item (candidate A = the expert's edit, B = the draft) to the preference
    project, with the recorded preference 'A' by the user "draft-vs-edit" when asked.
    Items already paired (same prompt and candidates) are not added twice."""
    require(actor, "manage_projects")
    src = response_project if isinstance(response_project, Project) else get_project(store, response_project)
    dst = preference_project if isinstance(preference_project, Project) else get_project(store, preference_project)
    if src.task_type != "response" or dst.task_type != "preference":
        raise InvalidInput("pairs come from a response project into a preference project")
    rows = sql.edited_drafts(store.cursor(), src.id)
    added = identical = existing = 0
    with store.locked_transaction() as cur:
        source_user = sql.ensure_source_user(cur, DRAFT_SOURCE) if record_preference else None
        for external_id, text, edit, draft in rows:
            if _same(edit, draft):
                identical += 1
                continue
            if sql.pair_exists(cur, dst.id, text, edit, draft):
                existing += 1
                continue
            item_id = sql.insert_pair(cur, dst.id, external_id, text, edit, draft, DRAFT_SOURCE)
            if source_user is not None:
                sql.insert_choice(cur, dst.id, item_id, source_user, "A", DRAFT_SOURCE)
            added += 1
    store.notify_changed(dst.id)
    return PairReport(added, identical, existing)


def pairs_from_model_samples(store: Store, actor: Actor, preference_project: Project | str | int,
                             prompts: list[tuple[str | None, str]], *, model: str,
                             temperature: float = 1.0, provider: Any = None,
                             provider_config: Mapping[str, Any] | None = None) -> PairReport:
    """Ask the model for two samples per prompt ((external_id, text) pairs) and add them as
    preference items for annotators to judge."""
    require(actor, "manage_projects")
    dst = preference_project if isinstance(preference_project, Project) else get_project(store, preference_project)
    if dst.task_type != "preference":
        raise InvalidInput("model samples become items of a preference project")
    prov = _provider(provider, provider_config)
    added = identical = existing = 0
    for external_id, text in prompts:
        a, b = prov.chat(_messages(dst, text), model, n=2, temperature=temperature)[:2]
        if _same(a, b):
            identical += 1
            continue
        with store.locked_transaction() as cur:
            if sql.pair_exists(cur, dst.id, text, a, b):
                existing += 1
                continue
            sql.insert_pair(cur, dst.id, external_id, text, a, b, "model_samples")
        added += 1
    store.notify_changed(dst.id)
    return PairReport(added, identical, existing)
