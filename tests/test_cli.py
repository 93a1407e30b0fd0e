"""CLI: every command has help; --json prints one JSON document; mistakes are one line on stderr
with a non-zero exit; a locked database names the holding process; init migrates."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import click
import jsonschema
import pytest

from curator.cli import cli, main
from curator.paths import SCHEMAS_DIR
from curator.store import Store


def run(capsys, *args, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        import io

        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _all_commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, prefix + (name,))


def test_every_command_has_help(capsys):
    main(["--help"])  # registers the jobs group
    capsys.readouterr()
    names = []
    for path, cmd in _all_commands(cli):
        assert cmd.help and cmd.help.strip(), f"{' '.join(path)} has no help text"
        code, out, err = run(capsys, *path, "--help")
        assert code == 0 and "Usage:" in out, path
        names.append(" ".join(path))
    for needed in ["init", "demo", "serve", "status", "users add", "projects create", "import",
                   "annotations import", "export", "validate", "agreement", "jobs list"]:
        assert needed in names


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "cli.duckdb"
    monkeypatch.setenv("CURATOR_DB", str(path))
    monkeypatch.setenv("CURATOR_EXPORTS_DIR", str(tmp_path / "exports"))
    yield path
    from curator import queue

    queue.forget_indexes()
    Store.close_all()


def test_init_then_end_to_end(db, tmp_path, capsys, monkeypatch):
    code, out, err = run(capsys, "init", "--admin", "root", "--password-stdin", "--json",
                         stdin="a-long-password\n", monkeypatch=monkeypatch)
    assert code == 0, err
    info = json.loads(out)
    assert info["applied"] == ["001_core", "002_dedup_key", "003_web_sessions"] and info["admins"] == ["root"]
    # init again: nothing pending
    code, out, _ = run(capsys, "init", "--json")
    assert json.loads(out)["applied"] == []

    for name in ("ann", "bob"):
        code, _, err = run(capsys, "users", "add", name, "--role", "annotator", "--password-stdin",
                           stdin="password-123\n", monkeypatch=monkeypatch)
        assert code == 0, err
    code, out, err = run(capsys, "projects", "create", "tickets", "--task", "classification",
                         "--labels", "billing,refund,other", "--overlap", "2",
                         "--system-prompt", "Classify.", "--settle", "unanimous:2", "--json")
    assert code == 0, err
    assert json.loads(out)["overlap"] == 2

    csv = tmp_path / "t.csv"
    rows = ["id,subject,body"] + [f"T{i},Subject {i},\"Body of ticket {i}, unique words {i * 7919}\""
                                  for i in range(12)]
    csv.write_text("\n".join(rows) + "\n")
    code, out, err = run(capsys, "import", "tickets", str(csv), "--text-col", "subject",
                         "--text-col", "body", "--id-col", "id", "--json")
    assert code == 0, err
    assert json.loads(out)["added"] == 12

    ans = tmp_path / "answers.csv"
    ans.write_text("external_id,annotator,label\n" + "".join(
        f"T{i},{who},billing\n" for i in range(12) for who in ("ann", "bob")))
    code, out, err = run(capsys, "annotations", "import", "tickets", str(ans), "--json")
    assert code == 0, err

    code, out, err = run(capsys, "status", "tickets", "--json")
    assert code == 0, err
    st = json.loads(out)
    assert st["items"] == 12 and st["settled"] == 12 and st["per_annotator"] == {"ann": 12, "bob": 12}

    code, out, err = run(capsys, "agreement", "tickets", "--json")
    assert code == 0, err
    assert json.loads(out)["percent"]["pairwise"] == 1.0

    code, out, err = run(capsys, "export", "tickets", "--kind", "sft", "--val-fraction", "0.2",
                         "--seed", "3", "--json")
    assert code == 0, err
    manifest = json.loads(out)
    train = manifest["paths"]["train"]
    schema = json.loads((SCHEMAS_DIR / "sft_line.schema.json").read_text())
    with open(train) as f:
        for line in f:
            jsonschema.validate(json.loads(line), schema)

    code, out, err = run(capsys, "validate", train, "--kind", "sft", "--json")
    assert code == 0, err
    assert json.loads(out)["ok"] is True


def test_user_mistakes_are_one_line(db, tmp_path, capsys):
    run(capsys, "init")
    cases = [
        ("status", "nope"),
        ("projects", "create", "x", "--task", "classification"),  # no labels
        ("import", "nope", str(tmp_path / "missing.csv")),
        ("validate", str(tmp_path / "missing.jsonl"), "--kind", "sft"),
        ("users", "set-role", "ghost", "lead"),
    ]
    for args in cases:
        code, out, err = run(capsys, *args)
        assert code != 0, args
        assert err.strip() and "Traceback" not in err, (args, err)
        assert len(err.strip().splitlines()) == 1, (args, err)


def test_missing_database_says_init(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CURATOR_DB", str(tmp_path / "none.duckdb"))
    code, out, err = run(capsys, "status")
    assert code != 0 and "curator init" in err


def test_validate_reports_line_and_field(tmp_path, capsys):
    f = tmp_path / "bad.jsonl"
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    bad = {"messages": [{"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "yo", "weight": 2}]}
    f.write_text("\n".join(json.dumps(x) for x in [good] * 10 + [bad]) + "\n")
    code, out, err = run(capsys, "validate", str(f), "--kind", "sft", "--json")
    assert code != 0
    rep = json.loads(out)
    assert any(e["line"] == 11 and "weight" in (e.get("field") or "") for e in rep["errors"])


def test_locked_database_names_the_process(db, capsys):
    run(capsys, "init")
    Store.close_all()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb,time; c=duckdb.connect({str(db)!r}); print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        env = {**os.environ, "CURATOR_DB": str(db)}
        env.pop("CURATOR_API_TOKEN", None)
        r = subprocess.run([sys.executable, "-m", "curator.cli", "status"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 4
        assert f"PID {holder.pid}" in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()


def test_newer_database_is_refused(db, capsys):
    run(capsys, "init")
    s = Store.open(db)
    s.cursor().execute("INSERT INTO _migrations (name) VALUES ('999_from_the_future')")
    Store.close_all()
    code, out, err = run(capsys, "status")
    assert code == 4 and "newer version of curator" in err
