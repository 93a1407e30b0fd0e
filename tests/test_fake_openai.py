"""The fake OpenAI server behaves like the service for the real SDK (lifecycle, lists, faults)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

try:
    from tests.fake_openai import FakeOpenAI
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from fake_openai import FakeOpenAI

MODEL = "gpt-4.1-mini-2025-04-14"


def sft_lines(n: int) -> str:
    return "".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                            {"role": "assistant", "content": f"a{i}"}]}) + "\n"
                   for i in range(n))


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(total_steps=2) as srv:
        yield srv


@pytest.fixture
def client(server):
    return openai.OpenAI(api_key=server.api_key, base_url=server.base_url, max_retries=2,
                         timeout=10)


def upload(client, tmp_path: Path, text: str) -> str:
    p = tmp_path / "train.jsonl"
    p.write_text(text)
    return client.files.create(file=p.open("rb"), purpose="fine-tune").id


def test_job_runs_through_statuses_one_step_per_retrieve(client, tmp_path):
    fid = upload(client, tmp_path, sft_lines(10))
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=fid, suffix="demo")
    seen = [job.status]
    for _ in range(6):
        job = client.fine_tuning.jobs.retrieve(job.id)
        seen.append(job.status)
    assert seen[:5] == ["validating_files", "queued", "running", "running", "succeeded"]
    assert job.fine_tuned_model.startswith(f"ft:{MODEL}:") and ":demo:" in job.fine_tuned_model
    assert job.trained_tokens and job.trained_tokens > 0
    events = list(client.fine_tuning.jobs.list_events(job.id))
    assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)
    metrics = [e for e in events if e.type == "metrics"]
    assert [e.data["step"] for e in metrics] == [2, 1]
    cps = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    assert [c.step_number for c in cps] == [2, 1]
    assert cps[0].metrics.train_loss < cps[1].metrics.train_loss
    # the tuned model is now a model the server knows, with the base's shutdown date
    assert client.models.retrieve(job.fine_tuned_model).shutdown_date == "2027-01-14"


def test_list_endpoints_are_cursor_pages(client, tmp_path, server):
    fid = upload(client, tmp_path, sft_lines(10))
    ids = [client.fine_tuning.jobs.create(model=MODEL, training_file=fid,
                                          metadata={"batch": "x1"}).id for _ in range(3)]
    page = client.fine_tuning.jobs.list(limit=2, metadata={"batch": "x1"})
    assert page.has_more is True and [j.id for j in page.data] == ids[::-1][:2]
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"batch": "x1"})] == ids[::-1]


@pytest.mark.parametrize("text, code, needle", [
    ("not json\n" * 10, "invalid_file_format", "Line 1 is not valid JSON"),
    (sft_lines(5), "invalid_n_examples", "at least 10"),
    (json.dumps({"prompt": "x", "completion": "y"}) + "\n" + sft_lines(10),
     "invalid_file_format", "Line 1"),
])
def test_invalid_training_file_fails_in_validation(client, tmp_path, text, code, needle):
    fid = upload(client, tmp_path, text)
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=fid)
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "failed"
    assert job.error.code == code and job.error.param == "training_file"
    assert needle in job.error.message


def test_uploads_api_parts_complete_and_cancel(client, server, tmp_path):
    p = tmp_path / "big.jsonl"
    p.write_text(sft_lines(12))
    up = client.uploads.create(bytes=p.stat().st_size, filename=p.name,
                               mime_type="text/jsonl", purpose="fine-tune")
    data = p.read_bytes()
    parts = [client.uploads.parts.create(up.id, data=data[i:i + 100]).id
             for i in range(0, len(data), 100)]
    done = client.uploads.complete(up.id, part_ids=parts)
    assert done.status == "completed" and done.file.bytes == len(data)
    assert server.file_content[done.file.id] == data
    other = client.uploads.create(bytes=10, filename="x.jsonl", mime_type="text/jsonl",
                                  purpose="fine-tune")
    assert client.uploads.cancel(other.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.uploads.parts.create(other.id, data=b"0123456789")


def test_pause_resume_cancel(client, server, tmp_path):
    fid = upload(client, tmp_path, sft_lines(10))
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=fid)
    server.advance(job.id, 2)
    assert client.fine_tuning.jobs.pause(job.id).status == "paused"
    assert client.fine_tuning.jobs.retrieve(job.id).status == "paused"  # paused jobs stay put
    assert client.fine_tuning.jobs.resume(job.id).status == "running"
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)


def test_wrong_key_is_401_and_faults_are_counted(server):
    bad = openai.OpenAI(api_key="sk-nope", base_url=server.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.retrieve(MODEL)
    good = openai.OpenAI(api_key=server.api_key, base_url=server.base_url, max_retries=2)
    before = server.count("/v1/models/")
    server.inject(500, times=1, path_prefix="/v1/models/")
    assert good.models.retrieve(MODEL).id == MODEL
    assert server.count("/v1/models/") - before == 2


def test_chat_is_deterministic_and_honours_n(client):
    msgs = [{"role": "user", "content": "Where is my order?"}]
    a = client.chat.completions.create(model=MODEL, messages=msgs, n=3)
    b = client.chat.completions.create(model=MODEL, messages=msgs, n=3)
    texts = [c.message.content for c in a.choices]
    assert len(set(texts)) == 3 and texts == [c.message.content for c in b.choices]
    assert all("Where is my order?" in t for t in texts)


def test_azure_client_reaches_the_same_routes(server):
    az = openai.AzureOpenAI(api_key=server.api_key, azure_endpoint=server.azure_endpoint,
                            api_version="2025-04-01-preview", max_retries=0)
    reply = az.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content.startswith("Reply 1")
    assert az.models.retrieve(MODEL).id == MODEL


def test_runs_as_a_module(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "tests.fake_openai", "--port", str(port),
                             "--key", "sk-mod"], cwd=root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        client = openai.OpenAI(api_key="sk-mod", base_url=f"http://127.0.0.1:{port}/v1",
                               max_retries=0, timeout=2)
        deadline = time.monotonic() + 15
        while True:
            try:
                assert client.models.retrieve(MODEL).shutdown_date == "2027-01-14"
                break
            except openai.APIConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
