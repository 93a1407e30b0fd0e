"""The OpenAI provider on the real SDK against the fake server: payloads, retries, errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from curator.errors import CuratorError
from curator.providers import (
    Provider,
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderPermissionError,
    get_provider,
    is_finished,
    provider_names,
    register_provider,
)
from curator.providers.openai_provider import AzureOpenAIProvider, OpenAIProvider

try:
    from tests.fake_openai import FakeOpenAI
except ImportError:
    from fake_openai import FakeOpenAI

MODEL = "gpt-4.1-mini-2025-04-14"
JOBS = "/v1/fine_tuning/jobs"


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(total_steps=2) as srv:
        yield srv


@pytest.fixture
def provider(server) -> OpenAIProvider:
    return OpenAIProvider(api_key=server.api_key, base_url=server.base_url, max_retries=2,
                          timeout=10)


@pytest.fixture
def train_file(tmp_path) -> Path:
    p = tmp_path / "train.jsonl"
    p.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"ticket {i}"},
        {"role": "assistant", "content": "billing"}]}) + "\n" for i in range(12)))
    return p


def dpo_file(tmp_path) -> Path:
    p = tmp_path / "dpo.jsonl"
    p.write_text("".join(json.dumps({
        "input": {"messages": [{"role": "user", "content": f"q{i}"}]},
        "preferred_output": [{"role": "assistant", "content": "good"}],
        "non_preferred_output": [{"role": "assistant", "content": "bad"}]}) + "\n"
        for i in range(10)))
    return p


def test_status_terminality():
    assert all(is_finished(s) for s in ("succeeded", "failed", "cancelled"))
    assert not any(is_finished(s) for s in ("validating_files", "queued", "running", "paused",
                                            "some_new_status", None))


def test_registry_names_lazy_classes_and_registration():
    assert {"openai", "azure"} <= set(provider_names())
    with pytest.raises(CuratorError, match="unknown provider 'nope'"):
        get_provider("nope")

    class Dummy(OpenAIProvider):
        name = "dummy"
    register_provider("dummy", Dummy)
    assert "dummy" in provider_names()
    assert isinstance(get_provider("dummy", api_key="k", base_url="http://127.0.0.1:9/v1"),
                      Dummy)


def test_supervised_job_lifecycle(provider, server, train_file):
    fid = provider.upload_file(train_file, "sha")
    assert server.files[fid]["purpose"] == "fine-tune"
    job = provider.create_job(model=MODEL, training_file=fid, suffix="s1", seed=7,
                              hyperparameters={"n_epochs": 2, "batch_size": None},
                              metadata={"export_id": "1"})
    body = server.job_requests[-1]
    assert body["method"] == {"type": "supervised",
                              "supervised": {"hyperparameters": {"n_epochs": 2}}}
    assert body["seed"] == 7 and body["suffix"] == "s1" and body["metadata"] == {"export_id": "1"}
    statuses = []
    while not job.finished:
        job = provider.retrieve_job(job.id)
        statuses.append(job.status)
    assert statuses == ["queued", "running", "running", "succeeded"]
    assert job.fine_tuned_model and job.trained_tokens and job.error is None
    assert job.hyperparameters["n_epochs"] == 2
    events = provider.list_events(job.id, limit=3)
    assert len(events) == 3 and events[0].created_at > events[-1].created_at
    cps = provider.list_checkpoints(job.id)
    assert [c.step_number for c in cps] == [2, 1] and "train_loss" in cps[0].metrics


def test_dpo_beta_reaches_server_inside_method(provider, server, tmp_path):
    fid = provider.upload_file(dpo_file(tmp_path), "sha")
    job = provider.create_job(model=MODEL, training_file=fid, method="dpo",
                              hyperparameters={"beta": 0.25, "n_epochs": 1})
    body = server.job_requests[-1]
    assert body["method"] == {"type": "dpo",
                              "dpo": {"hyperparameters": {"beta": 0.25, "n_epochs": 1}}}
    assert "hyperparameters" not in body
    assert job.method == "dpo" and job.hyperparameters["beta"] == 0.25


def test_uploads_api_used_above_threshold(server, train_file):
    p = OpenAIProvider(api_key=server.api_key, base_url=server.base_url,
                       files_api_limit=100, part_size=256)
    before_files = server.count("/v1/files", "POST")
    before_parts = server.count("/v1/uploads/", "POST")
    fid = p.upload_file(train_file, "sha")
    assert server.count("/v1/files", "POST") == before_files  # Files API not used
    n_parts = -(-train_file.stat().st_size // 256)
    assert server.count("/v1/uploads/", "POST") - before_parts == n_parts + 1  # parts + complete
    assert server.file_content[fid] == train_file.read_bytes()
    assert p.has_file(fid) and not p.has_file("file-missing")


def test_failed_part_cancels_the_upload(server, train_file):
    p = OpenAIProvider(api_key=server.api_key, base_url=server.base_url, max_retries=0,
                       files_api_limit=100, part_size=256)
    server.inject(400, times=1, path_prefix="/v1/uploads/", method="POST")
    with pytest.raises(ProviderError, match="400"):
        p.upload_file(train_file, "sha")
    assert any(u["status"] == "cancelled" for u in server.uploads.values())


def test_bad_key_gives_clear_error_without_the_key(server):
    secret = "sk-live-abcdefghijklmnop0123456789"
    p = OpenAIProvider(api_key=secret, base_url=server.base_url, max_retries=2)
    before = server.count(JOBS)
    with pytest.raises(ProviderAuthError) as err:
        p.retrieve_job("ftjob-x")
    text = str(err.value)
    assert "401" in text and "OPENAI_API_KEY" in text
    assert secret not in text and "abcdefghijklmnop" not in text
    assert err.value.__suppress_context__  # the SDK exception (and its text) is not chained
    assert server.count(JOBS) - before == 1  # 401 is not retried


def test_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ProviderAuthError, match="OPENAI_API_KEY"):
        OpenAIProvider(base_url="http://127.0.0.1:9/v1")


def test_key_from_secrets_mapping_and_environment(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    p = OpenAIProvider(secrets={"openai": {"api_key": server.api_key,
                                           "base_url": server.base_url}})
    assert p.model_info(MODEL).shutdown_date == "2027-01-14"
    monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    assert get_provider("openai").model_info(MODEL).id == MODEL
    assert server.api_key not in repr(p)


def test_429_twice_then_success_is_retried(provider, server):
    before = server.count("/v1/models/")
    server.inject(429, times=2, path_prefix="/v1/models/")
    assert provider.model_info(MODEL).id == MODEL
    assert server.count("/v1/models/") - before == 3


def test_500_is_retried_then_reported(provider, server):
    before = server.count("/v1/models/")
    server.inject(500, times=1, path_prefix="/v1/models/")
    assert provider.model_info(MODEL).id == MODEL
    assert server.count("/v1/models/") - before == 2
    server.inject(503, times=5, path_prefix="/v1/models/")
    before = server.count("/v1/models/")
    with pytest.raises(ProviderError, match="server error"):
        provider.model_info(MODEL)
    assert server.count("/v1/models/") - before == 3  # 1 try + max_retries
    server.faults.clear()


def test_400_is_not_retried(provider, server, train_file):
    fid = provider.upload_file(train_file, "sha")
    before = server.count(JOBS, "POST")
    with pytest.raises(ProviderError) as err:
        provider.create_job(model="no-such-model", training_file=fid)
    assert err.value.status_code == 400 and err.value.param == "model"
    assert "no-such-model" in str(err.value)
    assert server.count(JOBS, "POST") - before == 1


def test_403_explains_the_fine_tuning_wind_down(provider, server, train_file):
    fid = provider.upload_file(train_file, "sha")
    server.inject(403, times=1, path_prefix=JOBS, method="POST", body={"error": {
        "message": "You do not have access to create fine-tuning jobs.",
        "type": "invalid_request_error", "param": None, "code": "permission_denied"}})
    with pytest.raises(ProviderPermissionError) as err:
        provider.create_job(model=MODEL, training_file=fid)
    text = str(err.value)
    assert "2027-01-06" in text and "export" in text and "do not have access" in text


def test_404_and_unreachable(provider, server):
    with pytest.raises(ProviderNotFound):
        provider.retrieve_job("ftjob-missing")
    with pytest.raises(ProviderNotFound):
        provider.model_info("gpt-nope")
    dead = OpenAIProvider(api_key="sk-x", base_url="http://127.0.0.1:9/v1", max_retries=0,
                          timeout=2)
    with pytest.raises(ProviderError, match="could not reach"):
        dead.model_info(MODEL)


def test_pause_resume_cancel(provider, server, train_file):
    fid = provider.upload_file(train_file, "sha")
    job = provider.create_job(model=MODEL, training_file=fid)
    server.advance(job.id, 2)
    paused = provider.pause_job(job.id)
    assert paused.status == "paused" and not paused.finished
    assert provider.resume_job(job.id).status == "running"
    assert provider.cancel_job(job.id).finished


def test_failed_job_error_is_normalised(provider, server, tmp_path):
    p = tmp_path / "short.jsonl"
    p.write_text('{"messages": [{"role": "user", "content": "x"}, '
                 '{"role": "assistant", "content": "y"}]}\n')
    job = provider.create_job(model=MODEL, training_file=provider.upload_file(p, "sha"))
    job = provider.retrieve_job(job.id)
    assert job.status == "failed" and job.finished
    assert job.error.param == "training_file" and "at least 10" in job.error.message


def test_chat_returns_n_replies(provider):
    replies = provider.chat([{"role": "user", "content": "hello"}], MODEL, n=2, temperature=0.7)
    assert len(replies) == 2 and replies[0] != replies[1]


def test_azure_provider(server, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", server.api_key)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.azure_endpoint)
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    az = get_provider("azure")
    assert isinstance(az, AzureOpenAIProvider) and isinstance(az, Provider)
    assert az.chat([{"role": "user", "content": "hi"}], MODEL)[0].startswith("Reply 1")
    assert az.model_info(MODEL).shutdown_date == "2027-01-14"
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT")
    with pytest.raises(ProviderError, match="AZURE_OPENAI_ENDPOINT"):
        get_provider("azure")
    bad = AzureOpenAIProvider(api_key="0123456789abcdef0123456789abcdef",
                              endpoint=server.azure_endpoint, api_version="2025-04-01-preview",
                              max_retries=0)
    with pytest.raises(ProviderAuthError) as err:
        bad.model_info(MODEL)
    assert "0123456789abcdef" not in str(err.value) and "AZURE_OPENAI_API_KEY" in str(err.value)
