"""While `curator serve` holds the database, the CLI's status, agreement, export and validate
work through the server's token-authenticated JSON API, and the export is byte-identical to
the one made offline."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import add_items, serving


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "curator.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def served(tmp_path):
    from curator import queue, users
    from curator.permissions import SYSTEM
    from curator.projects import create_project
    from curator.store import Store

    db = tmp_path / "api.duckdb"
    s = Store.open(db)
    eng = users.create_user(s, SYSTEM, "eve", "engineer", "eve-password")
    ann = users.create_user(s, SYSTEM, "ann", "annotator", "ann-password")
    bob = users.create_user(s, SYSTEM, "bob", "annotator", "bob-password")
    p = create_project(s, SYSTEM, "tickets", "classification", labels="billing,refund,bug",
                       overlap=2, system_prompt="Classify.")
    add_items(s, p, [f"ticket {i}: {'refund me' if i % 3 else 'charged twice'} #{i}" for i in range(30)])
    for u in (ann, bob):
        for i in range(30):
            q = queue.next_item(s, u.actor, p)
            queue.submit(s, u.actor, p, q.id, "refund" if "refund" in q.text else "billing")
    token = users.create_token(s, SYSTEM, "eve")
    ann_token = users.create_token(s, SYSTEM, "ann")
    queue.forget_indexes(s)
    s.close()

    with serving(db, tmp_path / "server.log",
                 {"CURATOR_EXPORTS_DIR": str(tmp_path / "exports")}) as srv:
        yield {"db": db, "url": srv["url"], "env": srv["env"], "token": token,
               "ann_token": ann_token, "tmp": tmp_path, "proc": srv["proc"]}


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_cli_through_the_api_while_serving(served):
    env = served["env"]
    # without a token: a clear one-line message naming the server
    r = _cli("status", "tickets", env=env)
    assert r.returncode == 4 and "curator serve" in r.stderr and "CURATOR_API_TOKEN" in r.stderr
    env = {**env, "CURATOR_API_TOKEN": served["token"]}

    r = _cli("status", "tickets", "--json", env=env)
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["items"] == 30 and st["settled"] == 30

    r = _cli("agreement", "tickets", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["percent"]["pairwise"] == 1.0

    out_online = served["tmp"] / "online"
    r = _cli("export", "tickets", "--kind", "sft", "--seed", "5", "--val-fraction", "0.2",
             "--out", str(out_online), "--json", env=env)
    assert r.returncode == 0, r.stderr
    m_online = json.loads(r.stdout)

    r = _cli("validate", str(out_online / "train.jsonl"), "--kind", "sft", "--json", env=env)
    assert r.returncode == 0, r.stderr

    # an annotator's token may not export
    r = _cli("export", "tickets", "--kind", "sft", "--json",
             env={**env, "CURATOR_API_TOKEN": served["ann_token"]})
    assert r.returncode == 3 and "may not export" in r.stderr

    # a wrong token is refused
    req = urllib.request.Request(served["url"] + "/api/v1/status/tickets",
                                 headers={"Authorization": "Bearer nope"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req)
    assert exc.value.code == 401

    # stop the server; the same export offline gives byte-identical files
    served["proc"].terminate()
    served["proc"].wait(timeout=20)
    offline_env = {k: v for k, v in env.items() if k != "CURATOR_API_TOKEN"}
    out_offline = served["tmp"] / "offline"
    r = _cli("export", "tickets", "--kind", "sft", "--seed", "5", "--val-fraction", "0.2",
             "--out", str(out_offline), "--json", env=offline_env)
    assert r.returncode == 0, r.stderr
    for name in ("train.jsonl", "validation.jsonl"):
        assert _sha(out_online / name) == _sha(out_offline / name)
    assert m_online["item_ids"] == json.loads(r.stdout)["item_ids"]
