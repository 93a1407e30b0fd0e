"""Drafts (response projects) through the real SDK against the fake server, and preference
pairs from "model draft vs expert edit" and from two model samples."""
from __future__ import annotations

import pytest

from conftest import add_items
from curator import queue
from curator.errors import InvalidInput, PermissionDenied
from curator.pairs import DRAFT_SOURCE, draft_reply, pairs_from_drafts, pairs_from_model_samples
from curator.projects import create_project
from curator.providers.openai_provider import OpenAIProvider

try:
    from tests.fake_openai import FakeOpenAI
except ImportError:  # pragma: no cover
    from fake_openai import FakeOpenAI

MODEL = "gpt-4.1-mini-2025-04-14"


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def provider(fake):
    return OpenAIProvider(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)


def test_draft_edit_becomes_a_dpo_pair(store, people, provider, fake):
    resp = create_project(store, people["lee"], "replies", "response",
                          system_prompt="You are a support agent.")
    (item,) = add_items(store, resp, ["My parcel is late, order 4411"])
    ann = people["ann"]
    q = queue.next_item(store, ann, resp)
    draft = draft_reply(store, ann, resp, q.id, model=MODEL, provider=provider)
    assert "order 4411" in draft
    sent = fake.chat_requests[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "You are a support agent."}
    edit = "Sorry for the delay! Order 4411 ships today; here is the tracking link."
    a = queue.submit(store, ann, resp, q.id, edit, draft=draft, draft_model=MODEL)
    assert a.draft == draft and a.value == edit

    pref = create_project(store, people["lee"], "pairs", "preference")
    rep = pairs_from_drafts(store, people["lee"], resp, pref)
    assert rep.pairs_added == 1
    again = pairs_from_drafts(store, people["lee"], resp, pref)
    assert again.pairs_added == 0 and again.skipped_existing == 1
    row = store.cursor().execute(
        "SELECT candidate_a, candidate_b, candidate_source FROM items WHERE project_id = ?",
        [pref.id]).fetchone()
    assert row == (edit, draft, DRAFT_SOURCE)
    choice = store.cursor().execute(
        "SELECT a.value FROM annotations a JOIN users u ON u.id = a.user_id "
        "WHERE a.project_id = ? AND u.name = ?", [pref.id, DRAFT_SOURCE]).fetchone()
    assert choice == ("A",)


def test_annotators_cannot_make_pairs(store, people):
    resp = create_project(store, people["lee"], "r2", "response")
    pref = create_project(store, people["lee"], "p2", "preference")
    with pytest.raises(PermissionDenied):
        pairs_from_drafts(store, people["ann"], resp, pref)
    with pytest.raises(InvalidInput):
        pairs_from_drafts(store, people["lee"], pref, resp)


def test_two_model_samples(store, people, provider):
    pref = create_project(store, people["lee"], "samples", "preference")
    rep = pairs_from_model_samples(store, people["lee"], pref,
                                   [("T1", "How do I reset my password?"), ("T2", "Cancel my plan")],
                                   model=MODEL, provider=provider)
    assert rep.pairs_added == 2
    q = queue.next_item(store, people["ann"], pref)
    assert q.candidates_shown and all(c.startswith("Reply") for c in q.candidates_shown)
