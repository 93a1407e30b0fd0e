"""`curator jobs launch|list|show|cancel` end to end: a real export written by the CLI, the
real openai SDK, a local fake OpenAI server on 127.0.0.1."""
from __future__ import annotations

import json
from datetime import date

import pytest

from conftest import add_items
from curator import queue
from curator.cli import main
from curator.models import OPENAI_FT_CUTOFF
from curator.store import Store

try:
    from tests.fake_openai import FakeOpenAI
except ImportError:  # pragma: no cover
    from fake_openai import FakeOpenAI

# OpenAI takes no new fine-tuning jobs from the cut-off on; Azure OpenAI does.
PROVIDER = "openai" if date.today() < OPENAI_FT_CUTOFF else "azure"


@pytest.fixture
def server():
    with FakeOpenAI() as s:
        yield s


def cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_launch_follow_cancel(store, people, clf_project, db_path, tmp_path, server, capsys,
                              monkeypatch):
    monkeypatch.setenv("CURATOR_EXPORTS_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", server.api_key)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.azure_endpoint)
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    ids = add_items(store, clf_project, [f"ticket {i}: I was charged twice ({i})" for i in range(14)])
    for who in ("ann", "bob"):
        for _ in ids:
            q = queue.next_item(store, people[who], clf_project)
            queue.submit(store, people[who], clf_project, q.id, "billing")
    db = ["--db", str(db_path)]
    code, out, err = cli(capsys, *db, "export", clf_project.name, "--kind", "sft", "--json")
    assert code == 0, err
    export_dir = json.loads(out)["export_dir"]

    # without --yes: the plan and its cost, nothing launched, no request to the server
    code, out, err = cli(capsys, *db, "jobs", "launch", export_dir, "--provider", PROVIDER,
                         "--suffix", "tickets-v1")
    assert code == 0, err
    assert "estimated cost $" in out and "--yes" in out
    assert server.job_requests == []

    code, out, err = cli(capsys, *db, "jobs", "launch", export_dir, "--provider", PROVIDER,
                         "--suffix", "tickets-v1", "--epochs", "3", "--yes", "--json")
    assert code == 0, err
    job = json.loads(out)["job"]
    assert job["status"] in ("validating_files", "queued")
    assert server.job_requests[-1]["method"]["supervised"]["hyperparameters"]["n_epochs"] == 3

    for _ in range(10):  # each retrieve advances the fake job one step
        code, out, err = cli(capsys, *db, "jobs", "show", str(job["id"]), "--json")
        assert code == 0, err
        detail = json.loads(out)
        if detail["job"]["finished"]:
            break
    assert detail["job"]["status"] == "succeeded"
    assert detail["fine_tuned_model"] and "tickets-v1" in detail["fine_tuned_model"]
    assert detail["events"] and detail["loss"]

    code, out, err = cli(capsys, *db, "jobs", "list", "--json")
    assert [j["status"] for j in json.loads(out)["jobs"]] == ["succeeded"]

    # cancelling a finished job is a clear one-line refusal
    code, out, err = cli(capsys, *db, "jobs", "cancel", str(job["id"]))
    assert code != 0 and len(err.strip().splitlines()) == 1 and "Traceback" not in err

    # a bad suffix is refused before anything is sent
    code, out, err = cli(capsys, *db, "jobs", "launch", export_dir, "--provider", PROVIDER,
                         "--suffix", "x" * 65, "--yes")
    assert code != 0 and "suffix" in err
    # the key never reaches the database
    rows = store.cursor().execute("SELECT settings::VARCHAR, last_seen::VARCHAR FROM jobs").fetchall()
    assert server.api_key not in json.dumps(rows)
