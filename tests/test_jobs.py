"""The jobs service: launch from an export dir, follow, cancel — real DuckDB, real SDK, fake server."""
from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest

from curator import jobs
from curator.errors import ConflictError, CuratorError, InvalidInput, NotFoundError, PermissionDenied
from curator.permissions import Actor
from curator.providers import ProviderAuthError
from curator.providers.openai_provider import OpenAIProvider
from curator.store import Store

try:
    from tests.fake_openai import FakeOpenAI
except ImportError:
    from fake_openai import FakeOpenAI

MODEL = "gpt-4.1-mini-2025-04-14"
TODAY = date(2026, 11, 20)
ENGINEER = Actor(1, "erin", "engineer")
LEAD = Actor(2, "lee", "lead")
ANNOTATOR = Actor(3, "ann", "annotator")


def sft_line(i: int) -> str:
    return json.dumps({"messages": [
        {"role": "system", "content": "Classify the ticket."},
        {"role": "user", "content": f"My invoice {i} is wrong"},
        {"role": "assistant", "content": "billing"}]})


def write_export(d: Path, *, kind: str = "sft", n_train: int = 12, n_val: int = 3,
                 lines: list[str] | None = None, cost=None, export_id=7) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    if lines is None:
        if kind == "sft":
            lines = [sft_line(i) for i in range(n_train)]
        else:
            lines = [json.dumps({
                "input": {"messages": [{"role": "user", "content": f"q{i}"}]},
                "preferred_output": [{"role": "assistant", "content": "good answer"}],
                "non_preferred_output": [{"role": "assistant", "content": "bad"}]})
                for i in range(n_train)]
    # the shape of schemas/manifest.schema.json (only the keys the jobs service reads)
    (d / "train.jsonl").write_text("\n".join(lines) + "\n")
    names = ["train.jsonl"]
    if n_val and kind == "sft":
        (d / "validation.jsonl").write_text("".join(sft_line(100 + i) + "\n"
                                                    for i in range(n_val)))
        names.append("validation.jsonl")
    files = [{"name": n, "split": n.split(".")[0], "bytes": (d / n).stat().st_size,
              "sha256": hashlib.sha256((d / n).read_bytes()).hexdigest()} for n in names]
    manifest = {"schema_version": 1, "export_id": export_id, "kind": kind, "files": files,
                "cost_estimate": cost if cost is not None else {"usd": 0.3, "epochs": 3},
                "settings": {"model": MODEL, "balance": "none", "val_fraction": 0.2}}
    (d / "manifest.json").write_text(json.dumps(manifest))
    return d


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(total_steps=3) as srv:
        yield srv


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "db.duckdb")
    yield s
    s.close()


@pytest.fixture
def provider(server):
    return OpenAIProvider(api_key=server.api_key, base_url=server.base_url, max_retries=2,
                          timeout=10)


@pytest.fixture
def export(tmp_path) -> Path:
    return write_export(tmp_path / "export")


def go(store, export, provider, **kw):
    kw.setdefault("today", TODAY)
    return jobs.launch(store, ENGINEER, export, MODEL, provider=provider, confirm=True, **kw)


def test_plan_without_confirm_touches_nothing(store, export, server):
    before = len(server.requests)
    plan = jobs.launch(store, ENGINEER, export, MODEL, suffix="tickets-v1",
                       hyperparameters={"n_epochs": 6}, today=TODAY)
    assert not plan.launched and plan.job is None
    assert plan.method == "supervised" and plan.kind == "sft"
    assert plan.estimated_cost_usd == pytest.approx(0.6)  # 0.3 at 3 epochs, rescaled to 6
    assert plan.hyperparameters["n_epochs"] == 6 and plan.hyperparameters["batch_size"] == "auto"
    assert [f["role"] for f in plan.files] == ["train", "validation"]
    assert any("2027-01-06" in n for n in plan.notices)
    json.dumps(plan.to_dict())
    assert len(server.requests) == before  # no provider call, no key needed
    assert jobs.list_jobs(store, ENGINEER) == []


def test_launch_follow_to_success(store, export, server, provider):
    plan = go(store, export, provider, suffix="tickets-v1", seed=3)
    assert plan.launched and plan.job.status == "validating_files" and not plan.job.finished
    body = server.job_requests[-1]
    digest = hashlib.sha256((export / "manifest.json").read_bytes()).hexdigest()
    assert body["metadata"] == {"export_id": "7", "manifest_sha256": digest}
    assert plan.job.settings["manifest_sha256"] == digest
    assert body["validation_file"] and body["suffix"] == "tickets-v1" and body["seed"] == 3
    job_id = plan.job.id
    assert jobs.list_jobs(store, LEAD)[0].provider_job_id == plan.job.provider_job_id
    statuses = []
    for _ in range(10):
        rec = jobs.refresh(store, LEAD, job_id, provider=provider)
        statuses.append(rec.status)
        if rec.finished:
            break
    assert statuses == ["queued", "running", "running", "running", "succeeded"]
    assert rec.fine_tuned_model.startswith(f"ft:{MODEL}:") and rec.trained_tokens > 0
    # a finished job is not polled again
    before = server.count("/v1/fine_tuning/jobs/")
    assert jobs.refresh(store, LEAD, job_id, provider=provider).status == "succeeded"
    assert server.count("/v1/fine_tuning/jobs/") == before

    detail = jobs.show_job(store, LEAD, job_id, provider=provider, today=TODAY)
    assert detail.provider_error is None and detail.fine_tuned_model == rec.fine_tuned_model
    assert [e["created_at"] for e in detail.events] == sorted(
        (e["created_at"] for e in detail.events), reverse=True)
    assert [r["step"] for r in detail.loss] == [1, 2, 3]
    assert all(r["train_loss"] is not None and r["valid_loss"] is not None for r in detail.loss)
    assert detail.loss[0]["train_loss"] > detail.loss[-1]["train_loss"]
    assert [c["step_number"] for c in detail.checkpoints] == [3, 2, 1]
    assert "valid_loss" in detail.checkpoints[0]["metrics"]
    json.dumps(detail.to_dict())
    stored = jobs.list_jobs(store, LEAD)
    assert [j.id for j in stored] == [job_id] and stored[0].status == "succeeded"


def test_dpo_export_sends_beta_in_method(store, tmp_path, server, provider):
    d = write_export(tmp_path / "dpo", kind="dpo")
    plan = go(store, d, provider, hyperparameters={"beta": 0.2})
    assert plan.method == "dpo" and plan.job.method == "dpo"
    assert server.job_requests[-1]["method"] == {
        "type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}}
    with pytest.raises(InvalidInput, match="method"):
        jobs.launch(store, ENGINEER, d, MODEL, method="supervised", today=TODAY)


def test_invalid_file_is_refused_before_upload(store, tmp_path, server, provider):
    d = write_export(tmp_path / "bad", lines=[sft_line(i) for i in range(11)] + ["{oops"])
    before = server.count("/v1/files")
    with pytest.raises(InvalidInput) as err:
        go(store, d, provider)
    assert "row 12" in str(err.value) and "not valid JSON" in str(err.value)
    d2 = write_export(tmp_path / "few", n_train=4, n_val=0)
    with pytest.raises(InvalidInput, match="at least 10"):
        go(store, d2, provider)
    assert server.count("/v1/files") == before


def test_provider_side_validation_failure_is_readable(store, tmp_path, server, provider):
    # the service can refuse what no local validator sees (moderation); the error must read well
    lines = [json.dumps({"messages": [{"role": "user", "content": f"BLOCKED-{i}"},
                                      {"role": "assistant", "content": "a"}]}) for i in range(10)]
    d = write_export(tmp_path / "blocked", lines=lines, n_val=0)
    server.reject_marker = "BLOCKED-"
    try:
        plan = go(store, d, provider)
        rec = jobs.refresh(store, ENGINEER, plan.job.id, provider=provider)
    finally:
        server.reject_marker = None
    assert rec.status == "failed" and rec.finished
    assert rec.error["param"] == "training_file" and rec.error["code"] == "unsafe_file"
    assert "moderation" in rec.error["message"]
    detail = jobs.show_job(store, ENGINEER, plan.job.id, provider=provider)
    assert detail.error == rec.error and detail.loss == []
    assert any(e["level"] == "error" for e in detail.events)


def test_changed_file_is_refused(store, export, provider):
    with (export / "train.jsonl").open("a") as fh:
        fh.write(sft_line(99) + "\n")
    with pytest.raises(InvalidInput, match="changed since the export"):
        go(store, export, provider)


def test_same_sha256_is_not_uploaded_twice(store, export, server, provider):
    go(store, export, provider)
    before = server.count("/v1/files", "POST") + server.count("/v1/uploads", "POST")
    plan = go(store, export, provider, suffix="again")
    assert all(f["reused"] for f in plan.files)
    assert server.count("/v1/files", "POST") + server.count("/v1/uploads", "POST") == before
    # a file the provider lost is uploaded again
    del server.files[plan.files[0]["file_id"]]
    plan = go(store, export, provider)
    assert [f["reused"] for f in plan.files] == [False, True]


def test_large_file_goes_through_uploads_api(store, export, server):
    p = OpenAIProvider(api_key=server.api_key, base_url=server.base_url, files_api_limit=500,
                       part_size=700)
    before = server.count("/v1/uploads", "POST")
    plan = go(store, export, p)
    assert plan.launched and server.count("/v1/uploads", "POST") > before
    train = Path(plan.files[0]["path"]).read_bytes()
    assert server.file_content[plan.job.settings["training_file"]] == train


@pytest.mark.parametrize("suffix", ["", "x" * 65, "has space", "a:b"])
def test_bad_suffix(store, export, suffix):
    with pytest.raises(InvalidInput, match="suffix"):
        jobs.launch(store, ENGINEER, export, MODEL, suffix=suffix, today=TODAY)


def test_suffix_of_64_is_fine(store, export):
    assert jobs.launch(store, ENGINEER, export, MODEL, suffix="a" * 64, today=TODAY).suffix


@pytest.mark.parametrize("hp, needle", [
    ({"n_epochs": 0}, "n_epochs"), ({"n_epochs": 51}, "n_epochs"),
    ({"batch_size": 257}, "batch_size"), ({"batch_size": 1.5}, "batch_size"),
    ({"learning_rate_multiplier": 0}, "learning_rate_multiplier"),
    ({"beta": 0.1}, "beta"),  # beta is for dpo only
    ({"epochz": 3}, "epochz"), ({"n_epochs": True}, "n_epochs"),
])
def test_bad_hyperparameters(store, export, hp, needle):
    with pytest.raises(InvalidInput, match=needle):
        jobs.launch(store, ENGINEER, export, MODEL, hyperparameters=hp, today=TODAY)


def test_hyperparameter_ranges_for_dpo():
    assert jobs.check_hyperparameters({"beta": 2, "n_epochs": "auto"}, "dpo") == {"beta": 2}
    for bad in (0, 2.01, -1):
        with pytest.raises(InvalidInput, match="beta"):
            jobs.check_hyperparameters({"beta": bad}, "dpo")
    assert jobs.check_hyperparameters({"n_epochs": 50, "batch_size": 256,
                                       "learning_rate_multiplier": 0.05}, "supervised")


def test_cutoff_refusal(store, export, server):
    before = len(server.requests)
    with pytest.raises(CuratorError) as err:
        jobs.launch(store, ENGINEER, export, MODEL, today=date(2027, 1, 6))
    text = str(err.value)
    assert "2027-01-06" in text and "no longer accepts" in text and str(export) in text
    assert len(server.requests) == before
    # the day before is still allowed to plan
    assert jobs.launch(store, ENGINEER, export, MODEL, today=date(2027, 1, 5)).kind == "sft"


def test_permissions(store, export, provider):
    with pytest.raises(PermissionDenied):
        jobs.launch(store, LEAD, export, MODEL, today=TODAY)
    plan = go(store, export, provider)
    with pytest.raises(PermissionDenied):
        jobs.list_jobs(store, ANNOTATOR)
    with pytest.raises(PermissionDenied):
        jobs.cancel_job(store, LEAD, plan.job.id, provider=provider)
    with pytest.raises(PermissionDenied):
        jobs.show_job(store, ANNOTATOR, plan.job.id, provider=provider)


def test_cancel_and_pause(store, export, server, provider):
    plan = go(store, export, provider)
    server.advance(plan.job.provider_job_id, 2)  # running
    rec = jobs.pause_job(store, ENGINEER, plan.job.id, provider=provider)
    assert rec.status == "paused" and not rec.finished
    assert jobs.refresh(store, ENGINEER, plan.job.id, provider=provider).status == "paused"
    assert jobs.resume_job(store, ENGINEER, plan.job.id, provider=provider).status == "running"
    rec = jobs.cancel_job(store, ENGINEER, plan.job.id, provider=provider)
    assert rec.status == "cancelled" and rec.finished
    with pytest.raises(ConflictError, match="already cancelled"):
        jobs.cancel_job(store, ENGINEER, plan.job.id, provider=provider)


def test_manifest_with_files_mapping_and_own_sha(store, tmp_path, server, provider):
    d = write_export(tmp_path / "m")
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["files"] = {f["split"]: {"path": str(d / f["name"]), "sha256": f["sha256"]}
                         for f in manifest["files"]}
    manifest["manifest_sha256"] = "a" * 64
    del manifest["settings"]
    (d / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InvalidInput, match="no model"):
        jobs.launch(store, ENGINEER, d, today=TODAY)
    plan = go(store, d, provider)
    assert [f["role"] for f in plan.files] == ["train", "validation"]
    assert server.job_requests[-1]["metadata"]["manifest_sha256"] == "a" * 64


def test_model_defaults_to_the_manifest(store, export):
    assert jobs.launch(store, ENGINEER, export, today=TODAY).model == MODEL


def test_missing_manifest_and_unknown_job(store, tmp_path, provider):
    with pytest.raises(NotFoundError, match="manifest.json"):
        jobs.launch(store, ENGINEER, tmp_path, MODEL, today=TODAY)
    with pytest.raises(NotFoundError, match="999"):
        jobs.show_job(store, ENGINEER, 999, provider=provider)


def test_bad_key_on_launch_and_show(store, export, server, provider, monkeypatch):
    secret = "sk-proj-verysecretvalue987654321"
    bad = OpenAIProvider(api_key=secret, base_url=server.base_url, max_retries=0)
    with pytest.raises(ProviderAuthError) as err:
        go(store, export, bad)
    assert secret not in str(err.value)
    plan = go(store, export, provider)
    detail = jobs.show_job(store, ENGINEER, plan.job.id, provider=bad)
    assert detail.provider_error and "401" in detail.provider_error
    assert secret not in detail.provider_error and secret not in json.dumps(detail.to_dict())
    assert detail.job.status == "validating_files"  # what is stored is still shown
    row = store.cursor().execute("SELECT settings, last_seen FROM jobs").fetchall()
    assert secret not in json.dumps(row) and server.api_key not in json.dumps(row)


def test_model_shut_down_or_unknown(store, export, server):
    server.models["gpt-old-2020"] = "2026-01-01"
    p = OpenAIProvider(api_key=server.api_key, base_url=server.base_url)
    with pytest.raises(CuratorError, match="shut down on 2026-01-01"):
        jobs.launch(store, ENGINEER, export, "gpt-old-2020", provider=p, confirm=True,
                    today=TODAY)
    with pytest.raises(InvalidInput, match="does not know model"):
        jobs.launch(store, ENGINEER, export, "gpt-unknown-x", provider=p, confirm=True,
                    today=TODAY)


def test_wait_polls_until_finished(store, export, provider):
    plan = go(store, export, provider)
    sleeps: list[float] = []
    seen: list[str] = []
    rec = jobs.wait(store, ENGINEER, plan.job.id, provider=provider, interval=5,
                    on_update=lambda r: seen.append(r.status), sleep=sleeps.append)
    assert rec.status == "succeeded" and seen[-1] == "succeeded"
    assert sleeps == [5] * (len(seen) - 1)
    plan = go(store, export, provider)
    with pytest.raises(CuratorError, match="still"):
        jobs.wait(store, ENGINEER, plan.job.id, provider=provider, interval=5, timeout=1,
                  sleep=sleeps.append)


def test_loss_series_falls_back_to_checkpoints():
    cps = [{"step_number": 2, "metrics": {"train_loss": 0.5}},
           {"step_number": 1, "metrics": {"train_loss": 0.9, "valid_loss": 1.0}}]
    assert jobs.loss_series([], cps) == [
        {"step": 1, "train_loss": 0.9, "valid_loss": 1.0},
        {"step": 2, "train_loss": 0.5, "valid_loss": None}]
