"""Write docs/cli.md from the CLI's own help texts: ``python -m curator.cli_docs``.

``tests/test_docs.py`` fails when a command is missing from docs/cli.md or has no help."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from curator.paths import ROOT


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name in sorted(group.commands):
        cmd = group.commands[name]
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))


def render() -> str:
    from curator.cli import cli
    from curator.cli_jobs import jobs

    if "jobs" not in cli.commands:
        cli.add_command(jobs)
    out = ["# curator command line", "",
           "Generated from the commands' own `--help` by `python -m curator.cli_docs`; every "
           "command also answers `--help`.", "",
           "Global options: `--db PATH` (default `$CURATOR_DB`, else `./curator.duckdb`), "
           "`--as USER` (act as this user; default: the operator, with admin rights on the file).",
           ""]
    for path, cmd in _commands(cli):
        name = " ".join(path)
        with click.Context(cmd, info_name=f"curator {name}") as ctx:
            text = cmd.get_help(ctx)
        out += [f"## curator {name}", "", "```", text.rstrip(), "```", ""]
    return "\n".join(out)


def main() -> int:
    target = ROOT / "docs" / "cli.md"
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
