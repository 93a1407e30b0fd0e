"""The Jobs page against the local fake OpenAI server: estimate, launch, follow to success."""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone
from pathlib import Path

import jsonschema
import pytest

from apptest_util import app_for, close_stores, errors, go, texts
from curator import jobs
from curator.models import OPENAI_FT_CUTOFF
from curator.paths import schema_path

try:
    from tests.fake_openai import FakeOpenAI
except ImportError:
    from fake_openai import FakeOpenAI

MODEL = "gpt-4.1-mini-2025-04-14"
# OpenAI refuses new jobs from the cut-off on; after it the same flow runs on Azure OpenAI
PROVIDER = "openai" if date.today() < OPENAI_FT_CUTOFF else "azure"


def sft_line(i: int) -> str:
    return json.dumps({"messages": [
        {"role": "system", "content": "Classify the support ticket."},
        {"role": "user", "content": f"My invoice number {i} is wrong, please fix it"},
        {"role": "assistant", "content": "billing"}]})


def write_export(d: Path, project) -> Path:
    """A small SFT export: 12 train + 3 validation lines and a manifest per the schema."""
    d.mkdir(parents=True)
    (d / "train.jsonl").write_text("".join(sft_line(i) + "\n" for i in range(12)))
    (d / "validation.jsonl").write_text("".join(sft_line(100 + i) + "\n" for i in range(3)))
    files = []
    for name, split, n in (("train.jsonl", "train", 12), ("validation.jsonl", "validation", 3)):
        raw = (d / name).read_bytes()
        files.append({"name": name, "split": split, "format": "openai-chat-jsonl",
                      "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw), "lines": n})
    manifest = {
        "schema_version": 1, "export_id": 1, "kind": "sft",
        "created_at": datetime.now(timezone.utc).isoformat(), "created_by": "eve",
        "project": {"id": project.id, "name": project.name, "task_type": "classification",
                    "labels": list(project.label_names)},
        "database": {"identity": "test-db"},
        "settings": {"balance": "none", "val_fraction": 0.2, "model": MODEL},
        "seed": 7, "counts": {"train": 12, "validation": 3},
        "distributions": {"before": {"billing": 15}, "after": {"billing": 15}},
        "tokens": {"train": {"n_examples": 12, "total": 480},
                   "validation": {"n_examples": 3, "total": 120}},
        "cost_estimate": {"model": MODEL, "epochs": 3, "billable_tokens": 1440, "usd": 0.0072},
        "files": files,
        "item_ids": {"train": list(range(1, 13)), "validation": [13, 14, 15]},
    }
    jsonschema.validate(manifest, json.loads(schema_path("manifest").read_text()))
    (d / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return d


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(total_steps=3) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _teardown():
    yield
    close_stores()


@pytest.fixture
def env(tmp_path, monkeypatch, server):
    monkeypatch.setenv("CURATOR_EXPORTS_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", server.api_key)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.azure_endpoint)
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    return tmp_path / "exports"


def test_engineer_estimates_launches_and_follows_a_job(db_path, store, people, clf_project,
                                                       env, server, monkeypatch):
    export = write_export(env / clf_project.name / "2026-01-01-sft", clf_project)
    at = app_for(db_path, people["eve"], monkeypatch=monkeypatch)
    go(at, "jobs")
    assert not at.exception, at.exception
    assert "No fine-tuning jobs yet" in texts(at)
    assert at.selectbox(key="jobs_export").value == export
    # the model picker shows the table's shutdown date, then what the provider says
    label = next(o for o in at.selectbox(key="jobs_model").options if o.startswith(MODEL))
    assert "shuts down: 2027-01-14" in label and "provider says" not in label
    at.selectbox(key="jobs_provider").set_value(PROVIDER).run()
    at.button(key="jobs_check_models").click().run()
    assert not errors(at)
    label = next(o for o in at.selectbox(key="jobs_model").options if o.startswith(MODEL))
    assert "provider says 2027-01-14" in label

    before = len(server.job_requests)
    at.text_input(key="jobs_suffix").input("tickets-v1")
    at.text_input(key="jobs_hp_n_epochs").input("6")
    at.button(key="jobs_estimate").click().run()
    assert not at.exception and not errors(at), errors(at)
    shown = texts(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Estimated cost"] == "$0.01"  # 0.0072 at 3 epochs, rescaled to 6
    assert metrics["Method"] == "supervised"
    if PROVIDER == "openai":
        assert "2027-01-06" in shown and "2027-01-14" in shown  # cut-off and retirement
    assert len(server.job_requests) == before  # estimating calls nobody
    assert jobs.list_jobs(store, people["eve"]) == []

    at.button(key="jobs_confirm").click().run()
    assert not at.exception and not errors(at), errors(at)
    assert len(server.job_requests) == before + 1
    assert server.job_requests[-1]["suffix"] == "tickets-v1"
    [job] = jobs.list_jobs(store, people["eve"])
    assert "Launched job" in texts(at)
    assert server.api_key not in str(at.main)  # the key is never drawn

    # every run asks the provider once (the fake advances one step per retrieve)
    seen = []
    for _ in range(12):
        seen.append({m.label: m.value for m in at.metric}.get("Status"))
        if seen[-1] == "succeeded":
            break
        at.run()
        assert not at.exception, at.exception
    assert seen[-1] == "succeeded", seen
    assert {"queued", "running"} & set(seen)
    detail = jobs.show_job(store, people["eve"], job.id, refresh_status=False)
    assert detail.fine_tuned_model and detail.fine_tuned_model.startswith(f"ft:{MODEL}:")
    assert f"Fine-tuned model: `{detail.fine_tuned_model}`" in texts(at)
    assert "Finished." in texts(at)
    charts = [b"".join(d.data.data for d in c.proto.datasets) for c in at.get("vega_lite_chart")]
    assert any(b"train_loss" in c and b"valid_loss" in c for c in charts)  # the loss chart
    events = at.dataframe[-1].value
    assert "successfully completed" in events["message"].iloc[0]  # newest first
    assert all(b.key != f"jobs_cancel_{job.id}" for b in at.button)


def test_failed_job_shows_code_message_param_and_cancel(db_path, store, people, clf_project,
                                                        env, server, monkeypatch):
    export = write_export(env / clf_project.name / "e1", clf_project)
    plan = jobs.launch(store, people["eve"], export, MODEL, provider=PROVIDER, confirm=True,
                       today=date(2026, 11, 1))
    server.jobs[plan.job.provider_job_id].update(status="failed", error={
        "code": "invalid_file_format", "param": "training_file",
        "message": "Training file is invalid: Line 3 is not valid JSON."})
    plan2 = jobs.launch(store, people["eve"], export, MODEL, provider=PROVIDER, confirm=True,
                        today=date(2026, 11, 1))
    server.set_status(plan2.job.provider_job_id, "paused")

    at = app_for(db_path, people["eve"], monkeypatch=monkeypatch)
    go(at, "jobs")
    at.selectbox(key="jobs_pick").set_value(plan.job.id).run()
    assert not at.exception
    err = " ".join(errors(at))
    assert "invalid_file_format" in err and "Line 3" in err and "training_file" in err
    # a paused job is not finished: it keeps polling and can be cancelled
    at.selectbox(key="jobs_pick").set_value(plan2.job.id).run()
    assert {m.label: m.value for m in at.metric}["Status"] == "paused"
    assert "Not finished" in texts(at)
    at.button(key=f"jobs_cancel_{plan2.job.id}").click().run()
    assert not at.exception and not errors(at)
    assert "Cancel requested" in texts(at)
    assert jobs.list_jobs(store, people["eve"])[0].status == "cancelled"


def test_lead_follows_a_job_with_keys_from_streamlit_secrets(db_path, store, people,
                                                              clf_project, env, server,
                                                              monkeypatch):
    export = write_export(env / clf_project.name / "e1", clf_project)
    plan = jobs.launch(store, people["eve"], export, MODEL, provider=PROVIDER, confirm=True,
                       today=date(2026, 11, 1))
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY",
                "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"):
        monkeypatch.delenv(var)
    # no key anywhere: the page says so and still shows what is stored
    at = app_for(db_path, people["lee"], monkeypatch=monkeypatch)
    go(at, "jobs")
    assert not at.exception
    assert any("Could not ask the provider" in w.value for w in at.warning)
    assert {m.label: m.value for m in at.metric}["Status"] == "validating_files"
    assert "may follow jobs but not launch them" in texts(at)
    assert all(b.key not in ("jobs_estimate", "jobs_confirm", f"jobs_cancel_{plan.job.id}")
               for b in at.button)

    secrets = ({"OPENAI_API_KEY": server.api_key, "OPENAI_BASE_URL": server.base_url}
               if PROVIDER == "openai" else
               {"azure": {"api_key": server.api_key, "endpoint": server.azure_endpoint,
                          "api_version": "2025-04-01-preview"}})
    at = app_for(db_path, people["lee"], monkeypatch=monkeypatch, secrets=secrets)
    go(at, "jobs")
    assert not at.exception
    assert not any("Could not ask the provider" in w.value for w in at.warning)
    assert {m.label: m.value for m in at.metric}["Status"] == "queued"  # asked the provider
    assert server.api_key not in str(at.main)
