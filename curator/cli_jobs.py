"""``curator jobs ...``: launch, follow and cancel fine-tuning jobs from an export."""
from __future__ import annotations

import json

import click

from curator.cli import Ctx, emit_json, json_option, pass_ctx


@click.group()
def jobs() -> None:
    """Fine-tuning jobs: launch from an export, list, show, cancel.

    Keys come from the environment (OPENAI_API_KEY, OPENAI_BASE_URL; for Azure
    AZURE_OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT, OPENAI_API_VERSION), never from the database."""


@jobs.command("launch")
@click.argument("export_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--model", help="Base model (default: the export's model).")
@click.option("--suffix", help="1-64 characters added to the fine-tuned model's name.")
@click.option("--seed", type=int, help="Training seed (0-2147483647).")
@click.option("--method", type=click.Choice(["supervised", "dpo"]), help="Default: from the export kind.")
@click.option("--epochs", "n_epochs", help="n_epochs: 'auto' or 1-50.")
@click.option("--batch-size", help="'auto' or 1-256.")
@click.option("--learning-rate-multiplier", help="'auto' or a number > 0.")
@click.option("--beta", help="DPO only: 'auto' or 0 < beta <= 2.")
@click.option("--provider", default="openai", show_default=True, help="openai or azure.")
@click.option("--yes", is_flag=True, help="Confirm the estimated cost and launch.")
@json_option
@pass_ctx
def launch_cmd(c: Ctx, export_dir, model, suffix, seed, method, n_epochs, batch_size,
               learning_rate_multiplier, beta, provider, yes, as_json) -> None:
    """Validate EXPORT_DIR again, show the estimated cost, and (with --yes) upload and launch."""
    from curator.jobs import launch

    hp = {}
    for k, v in [("n_epochs", n_epochs), ("batch_size", batch_size),
                 ("learning_rate_multiplier", learning_rate_multiplier), ("beta", beta)]:
        if v is not None:
            hp[k] = v if v == "auto" else (float(v) if "." in v else int(v))
    plan = launch(c.store(), c.actor(), export_dir, model, suffix=suffix, seed=seed, method=method,
                  hyperparameters=hp or None, provider=provider, confirm=yes)
    if as_json:
        emit_json(plan)
        return
    cost = f"${plan.estimated_cost_usd:,.2f}" if plan.estimated_cost_usd is not None else "unknown"
    click.echo(f"{plan.method} job on {plan.model} from {plan.export_dir}: estimated cost {cost}")
    for n in plan.notices:
        click.echo(f"  note: {n}")
    for w in plan.warnings:
        click.echo(f"  warning: {w}")
    if plan.job:
        click.echo(f"Launched job {plan.job.id} ({plan.job.provider_job_id}), status {plan.job.status}")
    else:
        click.echo("Not launched: run again with --yes to confirm the cost and start the job.")


@jobs.command("list")
@json_option
@pass_ctx
def list_cmd(c: Ctx, as_json: bool) -> None:
    """Jobs launched from this database (status as of the last refresh)."""
    from curator.jobs import list_jobs

    js = list_jobs(c.store(), c.actor())
    if as_json:
        emit_json({"jobs": js})
        return
    if not js:
        click.echo("No jobs yet: `curator jobs launch EXPORT_DIR --yes`.")
    for j in js:
        click.echo(f"{j.id:<5} {j.provider_job_id:<28} {j.model:<28} {j.status:<16} {j.fine_tuned_model or ''}")


@jobs.command("show")
@click.argument("job_id", type=int)
@click.option("--events", default=20, show_default=True, help="How many events to print.")
@json_option
@pass_ctx
def show_cmd(c: Ctx, job_id: int, events: int, as_json: bool) -> None:
    """Refresh and show job JOB_ID: status, events (newest first), checkpoints, error, model."""
    from curator.jobs import show_job

    d = show_job(c.store(), c.actor(), job_id)
    if as_json:
        emit_json(d)
        return
    j = d.job
    click.echo(f"job {j.id} {j.provider_job_id}: {j.status}{' (finished)' if j.finished else ''}")
    if d.fine_tuned_model:
        click.echo(f"  fine-tuned model: {d.fine_tuned_model}")
    if d.error:
        click.echo(f"  error: {d.error.get('code')}: {d.error.get('message')} (param {d.error.get('param')})")
    if d.provider_error:
        click.echo(f"  could not reach the provider: {d.provider_error}")
    for n in d.notices:
        click.echo(f"  note: {n}")
    for cp in d.checkpoints:
        click.echo(f"  checkpoint step {cp.get('step_number')}: {json.dumps(cp.get('metrics'))}")
    for e in d.events[:events]:
        click.echo(f"  [{e.get('level')}] {e.get('message')}")


@jobs.command("cancel")
@click.argument("job_id", type=int)
@json_option
@pass_ctx
def cancel_cmd(c: Ctx, job_id: int, as_json: bool) -> None:
    """Cancel job JOB_ID."""
    from curator.jobs import cancel_job

    j = cancel_job(c.store(), c.actor(), job_id)
    emit_json(j) if as_json else click.echo(f"job {j.id}: {j.status}")
