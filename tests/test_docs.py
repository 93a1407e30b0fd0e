"""Docs stay true: every CLI command has help text and is in docs/cli.md; the README keeps
its two set-up commands first."""
from __future__ import annotations

from curator.cli_docs import _commands
from curator.paths import ROOT


def test_every_command_is_documented():
    from curator.cli import cli
    from curator.cli_jobs import jobs

    if "jobs" not in cli.commands:
        cli.add_command(jobs)
    doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = [" ".join(p) for p, cmd in _commands(cli) if f"## curator {' '.join(p)}\n" not in doc]
    assert not missing, f"not in docs/cli.md (run `python -m curator.cli_docs`): {missing}"
    helpless = [" ".join(p) for p, cmd in _commands(cli) if not (cmd.help or "").strip()]
    assert not helpless


def test_readme_opens_with_the_two_setup_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    lines = [l.split("#")[0].strip() for l in block.strip().splitlines()]
    assert lines == ['pip install -e . && curator demo', 'pip install -e ".[dev]" && pytest']
