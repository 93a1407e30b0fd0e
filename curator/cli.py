"""The ``curator`` command line. Every command is a thin wrapper over one core call.

Errors a person can fix print one line on stderr and exit non-zero; ``--json`` prints one
JSON document on stdout and nothing else.
"""
from __future__ import annotations

import json
import os
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import click

from curator import __version__
from curator.errors import CuratorError, DatabaseLocked, InvalidInput
from curator.permissions import ROLES, SYSTEM, Actor

TASKS = ("classification", "response", "preference")


# ----------------------------------------------------------------------------- helpers
def _default(o: Any) -> Any:
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if isinstance(o, (datetime, date)):
        return o.isoformat()
    if isinstance(o, Decimal):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if hasattr(o, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=_default, indent=2, ensure_ascii=False)


def emit_json(obj: Any) -> None:
    click.echo(dumps(obj))


class Ctx:
    """Per-invocation state: the database path, the acting user, and a lazily opened store."""

    def __init__(self, db: str | None, user: str | None):
        from curator.store import default_db_path

        self.db = Path(db) if db else default_db_path()
        self.user_name = user
        self._store = None

    def store(self, *, migrate: bool = False):
        if self._store is None:
            from curator.store import Store

            if not self.db.exists() and not migrate:
                raise CuratorError(
                    f"no database at {self.db}; run `curator init` (or pass --db / set CURATOR_DB)"
                )
            self._store = Store.open(self.db, migrate=migrate)
        return self._store

    def actor(self) -> Actor:
        """Who acts: ``--as USER``, else the operator of the database file (admin rights)."""
        if not self.user_name:
            return SYSTEM
        from curator.users import get_user

        u = get_user(self.store(), self.user_name)
        if u.disabled:
            raise CuratorError(f"user {u.name!r} is disabled")
        return u.actor

    def remote(self):
        """A client for a running ``curator serve`` on this database, or None."""
        from curator.client import client_for

        return client_for(self.db)


pass_ctx = click.make_pass_decorator(Ctx)


def json_option(f: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document and nothing else.")(f)


def _read_password(password_stdin: bool, *, confirm: bool = True) -> str:
    if password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise InvalidInput("--password-stdin given but standard input is empty")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InvalidInput("no terminal to prompt for a password: pipe it in with --password-stdin")
    return click.prompt("Password", hide_input=True, confirmation_prompt=confirm)


def _progress_printer(enabled: bool):
    """A progress callback printing to stderr (never to stdout, which --json owns)."""
    if not enabled or not sys.stderr.isatty():
        return None
    last = {"stage": None}

    def progress(done: int, total: int, stage: str = "") -> None:
        pct = f"{100 * done / total:5.1f}%" if total else ""
        click.echo(f"\r{stage or 'working'}: {done:,}/{total:,} {pct}   ", nl=False, err=True)
        if total and done >= total:
            click.echo("", err=True)
        last["stage"] = stage

    return progress


# ----------------------------------------------------------------------------- root
@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", envvar="CURATOR_DB", metavar="PATH",
              help="Database file (default: $CURATOR_DB, else ./curator.duckdb).")
@click.option("--as", "user", envvar="CURATOR_USER", metavar="USER",
              help="Act as this user (default: the operator, with admin rights on the file).")
@click.version_option(__version__, prog_name="curator")
@click.pass_context
def cli(ctx: click.Context, db: str | None, user: str | None) -> None:
    """curator: curate and label datasets for LLM fine-tuning.

    \b
    Typical flow:
      curator init --admin alice
      curator projects create tickets --task classification --labels billing,refund,other
      curator import tickets tickets.csv --text-col subject --text-col body
      curator serve                      # annotators label in the browser
      curator agreement tickets
      curator export tickets --kind sft --balance cap:500
    """
    ctx.obj = Ctx(db, user)


# ----------------------------------------------------------------------------- init/demo/serve
@cli.command()
@click.option("--admin", metavar="NAME", help="Create this first admin user (asks for a password).")
@click.option("--password-stdin", is_flag=True, help="Read the admin's password from standard input.")
@json_option
@pass_ctx
def init(c: Ctx, admin: str | None, password_stdin: bool, as_json: bool) -> None:
    """Create the database, or apply pending migrations to it."""
    from curator.store import Store
    from curator.users import create_user, list_users

    existed = c.db.exists()
    store = Store(c.db)  # open without migrating, to report what is applied
    try:
        store._check_version(migrate=False) if store.applied_migrations() else None
        pending = store.pending_migrations()
        applied = store.migrate()
    finally:
        store.close()
    s = c.store(migrate=True)
    created = None
    if admin:
        created = create_user(s, SYSTEM, admin, "admin", _read_password(password_stdin)).name
    admins = [u.name for u in list_users(s) if u.role == "admin"]
    out = {"database": str(c.db), "created": not existed, "applied": applied,
           "pending_before": pending, "database_id": s.database_id(), "admins": admins,
           "admin_created": created}
    if as_json:
        emit_json(out)
        return
    click.echo(f"{'Created' if not existed else 'Opened'} {c.db}")
    click.echo(f"Applied migrations: {', '.join(applied) if applied else 'none (up to date)'}")
    if created:
        click.echo(f"Created admin {created!r}")
    elif not admins:
        click.echo("No admin yet: `curator users add NAME --role admin` creates one.")


@cli.command()
@click.option("--port", default=8501, show_default=True, help="Port for the app.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--no-serve", is_flag=True, help="Only create the demo database; do not start the app.")
@click.option("--tickets", default=400, show_default=True, help="How many demo tickets to generate.")
@click.pass_context
def demo(ctx: click.Context, port: int, host: str, no_serve: bool, tickets: int) -> None:
    """Create (or reuse) a demo database with generated tickets and demo users, then serve it.

    Uses --db if given, else ./curator-demo.duckdb. Demo accounts are printed."""
    from curator.demo import DEMO_ACCOUNTS, build_demo

    c: Ctx = ctx.obj
    if not (ctx.find_root().params.get("db")):
        c.db = Path("curator-demo.duckdb")
    report = build_demo(c.store(migrate=True), tickets=tickets)
    click.echo(f"Demo database: {c.db} ({'created' if report['created'] else 'reused'}; "
               f"{report['items']} tickets in project {report['project']!r})")
    click.echo("Demo accounts (user / password):")
    for name, role, password in DEMO_ACCOUNTS:
        click.echo(f"  {name:<8} {password:<16} {role}")
    if not no_serve:
        c.store().close()
        _serve(c.db, host, port, demo=True)


def _serve(db: Path, host: str, port: int, *, demo: bool = False) -> None:
    from curator.server import run_server

    run_server(db, host=host, port=port, demo=demo)


@cli.command()
@click.option("--port", default=8501, show_default=True, help="Port for the app and its JSON API.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@pass_ctx
def serve(c: Ctx, port: int, host: str) -> None:
    """Start the app (Streamlit UI + JSON API under /api) on this database."""
    c.store(migrate=False).close()  # fail early: missing, locked or needs init
    _serve(c.db, host, port)


# ----------------------------------------------------------------------------- status
@cli.command()
@click.argument("project", required=False)
@json_option
@pass_ctx
def status(c: Ctx, project: str | None, as_json: bool) -> None:
    """Counts for PROJECT: items, annotations, settled, per label, per annotator.

    Without PROJECT, lists the projects. Works while `curator serve` runs (through its API)."""
    try:
        s = c.store()
    except DatabaseLocked:
        remote = c.remote()
        if remote is None:
            raise
        out = remote.get(f"/api/v1/status/{project}" if project else "/api/v1/projects")
        _print_status(out, project, as_json)
        return
    from curator.projects import list_projects
    from curator.review import project_status

    if project:
        out = project_status(s, c.actor(), project)
    else:
        out = {"database": str(c.db), "projects": [
            {"name": p.name, "task_type": p.task_type, "overlap": p.overlap,
             "labels": p.label_names} for p in list_projects(s, c.actor())]}
    _print_status(out, project, as_json)


def _print_status(out: dict, project: str | None, as_json: bool) -> None:
    if as_json:
        emit_json(out)
        return
    if not project:
        if not out["projects"]:
            click.echo("No projects yet: `curator projects create NAME --task classification --labels a,b`")
        for p in out["projects"]:
            click.echo(f"{p['name']:<24} {p['task_type']:<15} overlap {p['overlap']}")
        return
    click.echo(f"{out['project']} ({out['task_type']}, overlap {out['overlap']})")
    for k in ("items", "annotation_rows", "annotators", "settled", "disagreement", "pending",
              "unanswered", "review_queue", "imports", "exports"):
        click.echo(f"  {k.replace('_', ' '):<16} {out[k]:>8,}")
    if out.get("per_label"):
        click.echo("  answers per label:")
        for k, v in out["per_label"].items():
            click.echo(f"    {k:<22} {v:>8,}")
    if out.get("per_annotator"):
        click.echo("  answers per annotator:")
        for k, v in out["per_annotator"].items():
            click.echo(f"    {k:<22} {v:>8,}")


# ----------------------------------------------------------------------------- users
@cli.group()
def users() -> None:
    """Manage users and roles (admins only)."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="annotator", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--no-password", is_flag=True, help="Create without a password (cannot log in yet).")
@json_option
@pass_ctx
def users_add(c: Ctx, name: str, role: str, password_stdin: bool, no_password: bool, as_json: bool) -> None:
    """Add user NAME with a role; the password is prompted for (or --password-stdin)."""
    from curator.users import create_user

    pw = None if no_password else _read_password(password_stdin)
    u = create_user(c.store(), c.actor(), name, role, pw)
    emit_json(u) if as_json else click.echo(f"Added {u.name} ({u.role})")


@users.command("list")
@json_option
@pass_ctx
def users_list(c: Ctx, as_json: bool) -> None:
    """List users with their roles."""
    from curator.users import list_users

    us = list_users(c.store(), c.actor())
    if as_json:
        emit_json({"users": us})
        return
    if not us:
        click.echo("No users yet: `curator users add NAME --role admin`")
    for u in us:
        flags = " (disabled)" if u.disabled else ("" if u.has_password else " (no password)")
        click.echo(f"{u.name:<24} {u.role:<10}{flags}")


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@pass_ctx
def users_set_role(c: Ctx, name: str, role: str) -> None:
    """Change NAME's role."""
    from curator.users import set_role

    u = set_role(c.store(), c.actor(), name, role)
    click.echo(f"{u.name} is now {u.role}")


@users.command("disable")
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable the account again.")
@pass_ctx
def users_disable(c: Ctx, name: str, enable: bool) -> None:
    """Disable (or --enable) NAME's account; their answers stay."""
    from curator.users import set_disabled

    u = set_disabled(c.store(), c.actor(), name, not enable)
    click.echo(f"{u.name} is {'disabled' if u.disabled else 'enabled'}")


@users.command("reset-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@pass_ctx
def users_reset_password(c: Ctx, name: str, password_stdin: bool) -> None:
    """Set a new password for NAME."""
    from curator.users import reset_password

    reset_password(c.store(), c.actor(), name, _read_password(password_stdin))
    click.echo(f"Password for {name} changed")


@users.command("token")
@click.argument("name")
@click.option("--label", default="cli", show_default=True, help="A name for the token.")
@pass_ctx
def users_token(c: Ctx, name: str, label: str) -> None:
    """Create an API token for NAME (printed once; set it as CURATOR_API_TOKEN)."""
    from curator.users import create_token

    click.echo(create_token(c.store(), c.actor(), name, label))


# ----------------------------------------------------------------------------- projects
@cli.group()
def projects() -> None:
    """Create, edit and list projects."""


def _project_options(f: Callable) -> Callable:
    for opt in reversed([
        click.option("--labels", help="Comma-separated labels; 'name:description' adds a description, "
                     "'name:description:k' also a shortcut key (one letter or digit)."),
        click.option("--multi-label/--single-label", default=None, help="Allow several labels per item."),
        click.option("--system-prompt", help="System prompt used in exported training lines."),
        click.option("--guidelines-file", type=click.Path(exists=True, dir_okay=False),
                     help="Markdown guidelines shown beside every item."),
        click.option("--overlap", type=int, help="How many annotators answer each item."),
        click.option("--settle", "settle_rule", metavar="RULE",
                     help="unanimous[:MIN] or majority[:MIN[:MARGIN]], e.g. majority:2:1."),
        click.option("--members", help="Comma-separated annotators assigned (default: everyone)."),
        json_option,
    ]):
        f = opt(f)
    return f


def _parse_settle(spec: str | None) -> dict | None:
    if not spec:
        return None
    parts = spec.split(":")
    try:
        if parts[0] == "unanimous" and len(parts) <= 2:
            return {"kind": "unanimous", "min_answers": int(parts[1]) if len(parts) > 1 else 1}
        if parts[0] == "majority" and len(parts) <= 3:
            return {"kind": "majority", "min_answers": int(parts[1]) if len(parts) > 1 else 1,
                    "margin": int(parts[2]) if len(parts) > 2 else 1}
    except ValueError:
        pass
    raise InvalidInput(f"cannot read settle rule {spec!r}: use unanimous[:MIN] or majority[:MIN[:MARGIN]]")


def _print_project(p, as_json: bool) -> None:
    if as_json:
        emit_json(p)
        return
    click.echo(f"{p.name} ({p.task_type}), overlap {p.overlap}, settle {p.settle_rule}")
    if p.labels:
        keys = p.label_keys()
        click.echo("  labels: " + ", ".join(f"{l.name} [{keys[l.name]}]" for l in p.labels))
    if p.members:
        click.echo("  members: " + ", ".join(p.members))


@projects.command("create")
@click.argument("name")
@click.option("--task", type=click.Choice(TASKS), required=True, help="What annotators do.")
@_project_options
@pass_ctx
def projects_create(c: Ctx, name, task, labels, multi_label, system_prompt, guidelines_file,
                    overlap, settle_rule, members, as_json) -> None:
    """Create project NAME."""
    from curator.projects import create_project

    p = create_project(
        c.store(), c.actor(), name, task, labels=labels, multi_label=bool(multi_label),
        system_prompt=system_prompt or "",
        guidelines=Path(guidelines_file).read_text(encoding="utf-8") if guidelines_file else "",
        overlap=overlap or 1, settle_rule=_parse_settle(settle_rule),
        members=[m.strip() for m in members.split(",") if m.strip()] if members else None)
    _print_project(p, as_json)


@projects.command("edit")
@click.argument("name")
@_project_options
@pass_ctx
def projects_edit(c: Ctx, name, labels, multi_label, system_prompt, guidelines_file, overlap,
                  settle_rule, members, as_json) -> None:
    """Change project NAME's settings (the task type is fixed)."""
    from curator.projects import update_project

    p = update_project(
        c.store(), c.actor(), name, labels=labels, multi_label=multi_label,
        system_prompt=system_prompt,
        guidelines=Path(guidelines_file).read_text(encoding="utf-8") if guidelines_file else None,
        overlap=overlap, settle_rule=_parse_settle(settle_rule),
        members=[m.strip() for m in members.split(",") if m.strip()] if members is not None else None)
    _print_project(p, as_json)


@projects.command("list")
@json_option
@pass_ctx
def projects_list(c: Ctx, as_json: bool) -> None:
    """List projects."""
    from curator.projects import list_projects

    ps = list_projects(c.store(), c.actor())
    if as_json:
        emit_json({"projects": ps})
        return
    if not ps:
        click.echo("No projects yet: `curator projects create NAME --task classification --labels a,b`")
    for p in ps:
        _print_project(p, False)


# ----------------------------------------------------------------------------- import
@cli.command("import")
@click.argument("project")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", help="csv, tsv, jsonl, json, parquet, xlsx, openai-sft, openai-dpo, "
              "label-studio (default: detected).")
@click.option("--text-col", "text_cols", multiple=True, help="Text column; repeat to join several (e.g. subject, body).")
@click.option("--id-col", help="Column with the ticket's own id (external id).")
@click.option("--meta-cols", help="Comma-separated columns kept as metadata.")
@click.option("--candidate-cols", help="Preference files: the two candidate columns, 'a,b'.")
@click.option("--encoding", help="Text encoding (default: detected).")
@click.option("--delimiter", help="CSV delimiter (default: detected).")
@click.option("--pii", is_flag=True, help="Mask e-mails, phones, cards, IBANs, IPs and URL secrets.")
@click.option("--no-near-dup", is_flag=True, help="Do not flag near-duplicates.")
@click.option("--near-dup-threshold", type=float, default=0.8, show_default=True,
              help="Estimated Jaccard similarity from which two tickets are flagged.")
@click.option("--skip-bad-rows", is_flag=True, help="Import the good rows; write bad ones to a rejects file.")
@click.option("--rejects", type=click.Path(dir_okay=False), help="Where to write rejected rows.")
@click.option("--answer-source", default="openai-import", show_default=True,
              help="User name recorded for answers found in OpenAI/DPO files.")
@click.option("--dry-run", is_flag=True, help="Check and preview; change nothing.")
@json_option
@pass_ctx
def import_cmd(c: Ctx, project, file, fmt, text_cols, id_col, meta_cols, candidate_cols, encoding,
               delimiter, pii, no_near_dup, near_dup_threshold, skip_bad_rows, rejects,
               answer_source, dry_run, as_json) -> None:
    """Import FILE into PROJECT, all or nothing (a bad row rejects the file unless --skip-bad-rows)."""
    from curator.importing import import_file, preview

    s, actor = c.store(), c.actor()
    kw = dict(format=fmt, text_cols=list(text_cols) or None, id_col=id_col,
              meta_cols=meta_cols.split(",") if meta_cols else None,
              candidate_cols=candidate_cols.split(",") if candidate_cols else None,
              encoding=encoding, delimiter=delimiter, pii=pii, answer_source=answer_source)
    if dry_run:
        prev = preview(s, actor, project, file, rows=5, **kw)
    report = import_file(s, actor, project, file, dry_run=dry_run, near_dup=not no_near_dup,
                         near_dup_threshold=near_dup_threshold, skip_bad_rows=skip_bad_rows,
                         rejects_path=rejects, progress=None if as_json else _progress_printer(True),
                         **kw)
    if as_json:
        out = report.to_dict()
        if dry_run:
            out["preview"] = prev["rows"]
        emit_json(out)
        return
    d = report.to_dict()
    click.echo(f"{'Checked (dry run)' if dry_run else 'Imported'} {Path(file).name} into {project}: "
               f"{d['rows_read']:,} rows read, {d['added']:,} {'would be added' if dry_run else 'added'}, "
               f"{d['exact_duplicates']:,} exact duplicates skipped, "
               f"{d['near_duplicates'] if d['near_duplicates'] is not None else '-'} near-duplicates flagged, "
               f"{d['rejected']:,} rejected")
    if d.get("pii"):
        click.echo("PII masked: " + ", ".join(f"{k} {v}" for k, v in d["pii"].items() if v))
    if d.get("rejects_path"):
        click.echo(f"Rejected rows written to {d['rejects_path']}")
    for n in d.get("notes") or []:
        click.echo(f"note: {n}")
    if dry_run:
        for r in prev["rows"][:5]:
            click.echo("  " + json.dumps(r, default=_default, ensure_ascii=False)[:200])


@cli.group()
def duplicates() -> None:
    """Near-duplicates flagged at import: list them and record decisions."""


@duplicates.command("list")
@click.argument("project")
@click.option("--status", type=click.Choice(["open", "kept", "dismissed", "all"]), default="open",
              show_default=True)
@click.option("--limit", default=50, show_default=True)
@json_option
@pass_ctx
def duplicates_list(c: Ctx, project: str, status: str, limit: int, as_json: bool) -> None:
    """List PROJECT's flagged near-duplicate pairs, most similar first."""
    from curator.duplicates import list_near_duplicates

    pairs = list_near_duplicates(c.store(), c.actor(), project,
                                 status=None if status == "all" else status, limit=limit)
    if as_json:
        emit_json({"pairs": pairs})
        return
    if not pairs:
        click.echo(f"No {'' if status == 'all' else status + ' '}near-duplicate pairs.")
    for d in pairs:
        click.echo(f"{d.item_id:>8} ~ {d.similar_item_id:<8} {d.similarity:.2f} {d.status:<9} "
                   f"{d.text[:50]!r} ~ {d.similar_text[:50]!r}")


@duplicates.command("resolve")
@click.argument("project")
@click.argument("item_id", type=int)
@click.argument("similar_item_id", type=int)
@click.argument("decision", type=click.Choice(["kept", "dismissed", "open"]))
@pass_ctx
def duplicates_resolve(c: Ctx, project: str, item_id: int, similar_item_id: int, decision: str) -> None:
    """Decide on a flagged pair: kept (near-duplicates; exports keep them together), dismissed
    (not duplicates), or open again."""
    from curator.duplicates import resolve_near_duplicate

    resolve_near_duplicate(c.store(), c.actor(), project, item_id, similar_item_id, decision)
    click.echo(f"pair ({item_id}, {similar_item_id}): {decision}")


@cli.group()
def annotations() -> None:
    """Bulk answers: bring labels from elsewhere."""


@annotations.command("import")
@click.argument("project")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--create-users", is_flag=True, help="Create annotators that do not exist yet.")
@json_option
@pass_ctx
def annotations_import(c: Ctx, project: str, file: str, create_users: bool, as_json: bool) -> None:
    """Append answers from FILE (CSV/JSONL: external_id, annotator, label|response|choice[, note, created_at])."""
    from curator.annotations_import import import_annotations

    r = import_annotations(c.store(), c.actor(), project, file, create_users=create_users)
    if as_json:
        emit_json(r)
        return
    d = r.to_dict()
    created = d.get("users_created") or []
    click.echo(f"Imported {d['added']:,} answers on {d['items']:,} items by {d['annotators']} "
               f"annotators into {project}"
               + (f"; created users: {', '.join(created)}" if created else ""))


# ----------------------------------------------------------------------------- agreement / review
@cli.command()
@click.argument("project")
@json_option
@pass_ctx
def agreement(c: Ctx, project: str, as_json: bool) -> None:
    """Agreement for PROJECT: percent agreement, Cohen's and Fleiss' kappa, Krippendorff's alpha,
    per label and per annotator, with the number of items behind each figure."""
    try:
        s = c.store()
    except DatabaseLocked:
        remote = c.remote()
        if remote is None:
            raise
        out = remote.get(f"/api/v1/agreement/{project}")
        emit_json(out) if as_json else _print_agreement(out)
        return
    from curator.review import agreement as compute

    rep = compute(s, c.actor(), project)
    emit_json(rep) if as_json else _print_agreement(rep.to_dict())


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _print_agreement(rep: dict) -> None:
    click.echo(f"{rep['answers']:,} answers on {rep['items']:,} items by {rep['annotators']} annotators")
    pa = rep["percent"]
    click.echo(f"  percent agreement   {_f(pa['pairwise'])}   ({pa['items']:,} items with 2+ answers, "
               f"{pa['pairs']:,} pairs)")
    fk = rep.get("fleiss")
    if fk:
        click.echo(f"  Fleiss' kappa       {_f(fk['kappa'])}   ({fk['items']:,} items with "
                   f"{fk['raters_per_item']} answers; {fk['items_excluded']:,} with another number left out)")
    a = rep["alpha"]
    click.echo(f"  Krippendorff alpha  {_f(a['alpha'])}   ({a['units']:,} units, {a['values']:,} values)")
    click.echo(f"  mean Cohen's kappa  {_f(rep.get('mean_pair_kappa'))}")
    if rep.get("cohen"):
        click.echo("  Cohen's kappa per pair:")
        for p in rep["cohen"]:
            click.echo(f"    {str(p['annotator_a']):<14} {str(p['annotator_b']):<14} {_f(p['kappa'])}  "
                       f"({p['items']:,} items)")
    if rep.get("labels"):
        click.echo("  per label (specific agreement, alpha one-vs-rest, answers):")
        for l in rep["labels"]:
            click.echo(f"    {l['label']:<22} {_f(l['specific_agreement'])}  {_f(l['alpha_one_vs_rest'])}  "
                       f"{l['answers']:,}")
    if rep.get("by_annotator"):
        click.echo("  per annotator (with others, with settled answer, answers):")
        for b in rep["by_annotator"]:
            click.echo(f"    {str(b['annotator']):<22} {_f(b['agreement_with_others'])}  "
                       f"{_f(b['agreement_with_gold'])}  {b['answers']:,}")
    pref = rep.get("preference")
    if pref:
        pb = pref["position_bias"]
        click.echo(f"  side agreement      {_f(pref['side']['pairwise'])}")
        click.echo(f"  first shown won     {_f(pb['rate'])} of {pb['answers']:,} (p={_f(pb['p_value'])})")
    for n in rep.get("notes") or []:
        click.echo(f"  note: {n}")


@cli.command()
@click.argument("project")
@click.option("--limit", default=20, show_default=True)
@json_option
@pass_ctx
def review(c: Ctx, project: str, limit: int, as_json: bool) -> None:
    """List PROJECT's review queue: disagreements first, then "unsure" flags."""
    from curator.review import review_queue

    q = review_queue(c.store(), c.actor(), project, limit=limit)
    if as_json:
        emit_json({"review_queue": q})
        return
    if not q:
        click.echo("Nothing to review.")
    for e in q:
        counts = ", ".join(f"{k} {v}" for k, v in e.counts.items())
        click.echo(f"item {e.item_id:<8} {e.reason:<13} {counts}")


@cli.command()
@click.argument("project")
@click.argument("item_id", type=int)
@click.argument("value")
@click.option("--reason", default="", help="Why (kept with the decision).")
@pass_ctx
def settle(c: Ctx, project: str, item_id: int, value: str, reason: str) -> None:
    """Settle ITEM_ID in PROJECT with gold VALUE (a label; A/B/tie/both_bad for preference)."""
    from curator.review import adjudicate

    adjudicate(c.store(), c.actor(), project, item_id, value, reason)
    click.echo(f"Item {item_id} settled as {value!r}")


# ----------------------------------------------------------------------------- preference pairs
@cli.group()
def pairs() -> None:
    """Make preference pairs for a preference project (DPO data)."""


@pairs.command("from-drafts")
@click.argument("response_project")
@click.argument("preference_project")
@click.option("--no-preference", is_flag=True,
              help="Only add the pairs; do not record the expert edit as preferred.")
@json_option
@pass_ctx
def pairs_from_drafts_cmd(c: Ctx, response_project: str, preference_project: str,
                          no_preference: bool, as_json: bool) -> None:
    """Pair every model draft with its expert edit (the edit preferred)."""
    from curator.pairs import pairs_from_drafts

    r = pairs_from_drafts(c.store(), c.actor(), response_project, preference_project,
                          record_preference=not no_preference)
    emit_json(r) if as_json else click.echo(
        f"{r.pairs_added} pairs added ({r.skipped_identical} unedited drafts and "
        f"{r.skipped_existing} existing pairs skipped)")


@pairs.command("sample")
@click.argument("preference_project")
@click.argument("prompts_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", required=True, help="Model that writes the two candidates.")
@click.option("--temperature", type=float, default=1.0, show_default=True)
@click.option("--provider", default="openai", show_default=True)
@json_option
@pass_ctx
def pairs_sample_cmd(c: Ctx, preference_project: str, prompts_file: str, model: str,
                     temperature: float, provider: str, as_json: bool) -> None:
    """Ask MODEL for two replies to each prompt in PROMPTS_FILE (JSONL with "text" and an
    optional "id") and add them as items to judge."""
    from curator.pairs import pairs_from_model_samples

    prompts = []
    with open(prompts_file, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                prompts.append((obj.get("id"), str(obj["text"])))
            except (ValueError, KeyError, TypeError, AttributeError):
                raise InvalidInput(f"{prompts_file}: line {n}: expected a JSON object with a 'text' field") from None
    r = pairs_from_model_samples(c.store(), c.actor(), preference_project, prompts, model=model,
                                 temperature=temperature, provider=provider)
    emit_json(r) if as_json else click.echo(f"{r.pairs_added} pairs added")


# ----------------------------------------------------------------------------- export / validate
@cli.command()
@click.argument("project")
@click.option("--kind", type=click.Choice(["sft", "dpo"]), required=True)
@click.option("--balance", default="none", show_default=True,
              help="none, equal, cap:N, or oversample (explicit; warns).")
@click.option("--balance-by", help="Balance by this metadata field instead of the label.")
@click.option("--val-fraction", type=float, default=0.1, show_default=True, help="Validation share.")
@click.option("--val-count", type=int, help="Validation size as a count (overrides --val-fraction).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--model", default="gpt-4.1-mini-2025-04-14", show_default=True,
              help="Model whose tokenizer, limits and price apply.")
@click.option("--system-prompt", "system_prompt", default="project", show_default=True,
              help="'project', 'none', or the text of a shorter prompt.")
@click.option("--over-limit", type=click.Choice(["drop", "keep"]), default="drop", show_default=True,
              help="Examples longer than the model's limit.")
@click.option("--trl", type=click.Choice(["jsonl", "parquet"]), help="Also write a TRL / Hugging Face copy.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Export directory (default exports/<project>/<timestamp>-<kind>).")
@click.option("--allow-small", is_flag=True, help="Write even with fewer than 10 training examples.")
@json_option
@pass_ctx
def export(c: Ctx, project, kind, balance, balance_by, val_fraction, val_count, seed, model,
           system_prompt, over_limit, trl, out_dir, allow_small, as_json) -> None:
    """Export PROJECT's settled items as OpenAI SFT or DPO JSONL with a manifest.

    Works while `curator serve` runs (through its API, with CURATOR_API_TOKEN)."""
    settings = dict(kind=kind, balance=balance, balance_by=balance_by, val_fraction=val_fraction,
                    val_count=val_count, seed=seed, model=model, system_prompt=system_prompt,
                    over_limit=over_limit, trl=trl, out_dir=out_dir, allow_small=allow_small)
    try:
        s = c.store()
    except DatabaseLocked:
        remote = c.remote()
        if remote is None:
            raise
        out = remote.post(f"/api/v1/export/{project}", settings)
        _print_export(out, as_json)
        return
    from curator.export import export_project

    res = export_project(s, c.actor(), project, progress=None if as_json else _progress_printer(True),
                         **settings)
    _print_export(res.to_dict(), as_json)


def _print_export(m: dict, as_json: bool) -> None:
    if as_json:
        emit_json(m)
        return
    click.echo(f"Export written to {m.get('export_dir')}")
    counts = m.get("counts", {})
    click.echo("  " + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                                for k, v in counts.items() if not isinstance(v, dict)))
    cost = m.get("cost_estimate") or {}
    if cost:
        click.echo(f"  estimated training cost: ${cost.get('usd', 0):,.2f} "
                   f"({cost.get('epochs')} epochs on {cost.get('model')})")
    for w in m.get("warnings") or []:
        click.echo(f"  warning: {w}")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--kind", type=click.Choice(["sft", "dpo"]), required=True)
@click.option("--model", help="Check per-example token limits and count tokens for this model.")
@json_option
def validate(file: str, kind: str, model: str | None, as_json: bool) -> None:
    """Check FILE against the JSON Schemas and OpenAI's rules; report line numbers and fields.

    Works on any file, including ones curator did not write; needs no database."""
    from curator.validate import validate_file

    rep = validate_file(file, kind, model)
    d = rep.to_dict()
    if as_json:
        emit_json(d)
    else:
        for e in d.get("errors", [])[:50]:
            click.echo(f"{file}:{e.get('line')}: {e.get('field') or '-'}: {e.get('message')}")
        for w in d.get("warnings", [])[:20]:
            click.echo(f"{file}:{w.get('line') or '-'}: warning: {w.get('message')}")
        n_err = len(d.get("errors", []))
        click.echo(f"{'OK' if rep.ok else 'INVALID'}: {d.get('n_lines', 0):,} lines, "
                   f"{n_err} error(s), {len(d.get('warnings', []))} warning(s)")
    if not rep.ok:
        raise click.exceptions.Exit(2)


# ----------------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> int:
    from curator.cli_jobs import jobs

    if "jobs" not in cli.commands:
        cli.add_command(jobs)
    from curator.store import Store

    before = {s.uid for s in Store._instances.values()}
    try:
        rv = cli.main(args=argv, prog_name="curator", standalone_mode=False)
        if isinstance(rv, int):
            return rv
    except CuratorError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted; nothing half-written was kept", err=True)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        # close what this command opened: checkpoint, stop the group-commit thread, release the file
        for store in list(Store._instances.values()):
            if store.uid not in before:
                store.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
