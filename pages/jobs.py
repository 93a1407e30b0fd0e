"""Fine-tuning jobs: list, launch from an export (estimate first, then confirm), follow one job.

All work is done by ``curator.jobs``; keys come from the environment or Streamlit secrets and
are handed to the provider, never shown. A running job refreshes in a fragment on a timer, so
no script run ever sleeps.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

import curator_ui as ui
from curator import jobs, models
from curator.paths import exports_dir
from curator.permissions import can
from curator.providers import ProviderNotFound, get_provider, provider_names
from streamlit.errors import StreamlitSecretNotFoundError

actor = ui.guard("jobs")
store = ui.get_store()
may_launch = can(actor, "launch_jobs")
POLL_SECONDS = 10
HYPER = ("n_epochs", "batch_size", "learning_rate_multiplier", "beta")
INT_HYPER = {"n_epochs", "batch_size"}

st.title("Fine-tuning jobs")


def _secrets() -> dict[str, Any]:
    """Streamlit secrets as a plain dict, or {} when there is no secrets file."""
    try:
        return {k: (dict(v) if hasattr(v, "keys") else v) for k, v in st.secrets.items()}
    except (FileNotFoundError, StreamlitSecretNotFoundError):  # no secrets.toml
        return {}


def provider_config(**extra: Any) -> dict[str, Any] | None:
    secrets = _secrets()
    cfg: dict[str, Any] = {"secrets": secrets} if secrets else {}
    cfg.update(extra)
    return cfg or None


def _when(ts: Any) -> str:
    if isinstance(ts, (int, float)):
        return pd.Timestamp(int(ts), unit="s").strftime("%Y-%m-%d %H:%M:%S")
    return str(ts or "")


def _hyper_value(name: str, raw: str) -> Any:
    """'auto'/'' -> 'auto'; numbers parsed; anything else passed on for the core to refuse."""
    raw = (raw or "").strip()
    if raw in ("", "auto"):
        return "auto"
    try:
        return int(raw) if name in INT_HYPER else float(raw)
    except ValueError:
        return raw


# ---------------------------------------------------------------------------- job list
with ui.user_errors():
    records = jobs.list_jobs(store, actor)
flash = st.session_state.pop("jobs_flash", None)
if flash:
    st.success(flash)

list_tab, launch_tab = st.tabs(["Jobs", "Launch"])

with list_tab:
    if not records:
        st.info("No fine-tuning jobs yet. "
                + ("Launch one from an export in the Launch tab." if may_launch else
                   "Engineers launch them from an export."))
    else:
        st.dataframe(pd.DataFrame([{
            "id": r.id, "status": r.status, "finished": r.finished, "provider": r.provider,
            "model": r.model, "method": r.method, "fine-tuned model": r.fine_tuned_model or "",
            "export": r.export_id, "created": r.created_at, "updated": r.updated_at}
            for r in records]), hide_index=True, width="stretch")


def job_detail(job_id: int) -> None:
    """One job's status, error or result, loss chart, checkpoints and events."""
    with ui.user_errors():
        # short timeouts: a slow provider must not hold the page for minutes
        d = jobs.show_job(store, actor, job_id,
                          provider_config=provider_config(timeout=15, max_retries=1))
        job = d.job
        st.subheader(f"Job {job.id} · {job.provider_job_id}")
        c = st.columns(4)
        c[0].metric("Status", job.status)
        c[1].metric("Model", job.model)
        c[2].metric("Method", job.method)
        c[3].metric("Trained tokens", job.trained_tokens if job.trained_tokens else "—")
        if job.finished:
            st.caption("Finished.")
        else:
            st.caption(f"Not finished — refreshing every {POLL_SECONDS} s while this page is open.")
        if d.provider_error:
            st.warning(f"Could not ask the provider: {d.provider_error} (showing what is stored)")
        if d.error:
            st.error("The job failed — "
                     f"code: {d.error.get('code') or '—'}; message: {d.error.get('message') or '—'}"
                     + (f"; file at fault: {d.error.get('param')}" if d.error.get("param") else ""))
        if d.fine_tuned_model:
            st.success(f"Fine-tuned model: `{d.fine_tuned_model}`")
        for n in d.notices:
            st.info(n)
        b = st.columns([1, 1, 4])
        b[0].button("Refresh", key=f"jobs_refresh_{job_id}",
                    help="ask the provider now (a click reruns just this panel)")
        if may_launch and not job.finished and b[1].button("Cancel job", key=f"jobs_cancel_{job_id}"):
            rec = jobs.cancel_job(store, actor, job_id, provider_config=provider_config())
            st.session_state["jobs_flash"] = f"Cancel requested for job {job_id}: now {rec.status}."
            st.rerun()
        if d.loss:
            st.markdown("**Loss**")
            loss = pd.DataFrame(d.loss).set_index("step")
            st.line_chart(loss[[c for c in ("train_loss", "valid_loss") if loss[c].notna().any()]])
        if d.checkpoints:
            st.markdown("**Checkpoints**")
            st.dataframe(pd.DataFrame([{
                "step": cp["step_number"], "model": cp["model"], "created": _when(cp["created_at"]),
                **{k: v for k, v in (cp.get("metrics") or {}).items() if k != "step"}}
                for cp in d.checkpoints]), hide_index=True, width="stretch")
        st.markdown("**Events** (newest first)")
        if d.events:
            st.dataframe(pd.DataFrame([{"time": _when(e["created_at"]), "level": e["level"],
                                        "message": e["message"]} for e in d.events]),
                         hide_index=True, width="stretch")
        else:
            st.caption("No events yet.")
        with st.expander("Settings"):
            s = dict(job.settings or {})
            st.json({k: s.get(k) for k in ("export_dir", "export_id", "suffix", "seed",
                                           "hyperparameters", "training_file", "validation_file",
                                           "estimated_cost_usd") if k in s})
        if job.finished and st.session_state.get("jobs_polling_id") == job_id:
            # polling was on; the job just finished: redraw the whole page (list, timer off)
            st.session_state["jobs_polling_id"] = None
            st.rerun()


with list_tab:
    if records:
        ids = [r.id for r in records]
        by_id = {r.id: r for r in records}
        sel = st.session_state.get("jobs_selected")
        chosen = st.selectbox("Job", ids, index=ids.index(sel) if sel in ids else 0,
                              format_func=lambda i: f"#{i} · {by_id[i].model} · {by_id[i].created_at or ''}"[:80],
                              key="jobs_pick")
        st.session_state["jobs_selected"] = chosen
        polling = not by_id[chosen].finished
        st.session_state["jobs_polling_id"] = chosen if polling else None
        st.fragment(job_detail, run_every=POLL_SECONDS if polling else None)(chosen)


# ---------------------------------------------------------------------------- launch
def _model_label(name: str, provider_dates: dict[str, str]) -> str:
    info = models.MODELS[name]
    when = info.shutdown_date.isoformat() if info.shutdown_date else "no date announced"
    said = provider_dates.get(name)
    extra = f"; provider says {said}" if said else ""
    return f"{name} — shuts down: {when}{extra}"


def _export_dirs(project_name: str) -> list[Path]:
    base = exports_dir() / project_name
    if not base.is_dir():
        return []
    dirs = [d for d in base.iterdir() if d.is_dir() and (d / "manifest.json").is_file()]
    return sorted(dirs, key=lambda d: d.stat().st_mtime, reverse=True)


with launch_tab:
    if not may_launch:
        st.info(f"Your role ({actor.role}) may follow jobs but not launch them; "
                "engineers and admins launch.")
    else:
        st.caption(f"OpenAI stops accepting new fine-tuning jobs on "
                   f"{models.OPENAI_FT_CUTOFF.isoformat()}; the gpt-4o / gpt-4.1 snapshots and "
                   f"models tuned from them shut down on "
                   f"{models.GPT4_FAMILY_SHUTDOWN.isoformat()}. Exports stay usable elsewhere.")
        project = ui.pick_project(actor, key="jobs_project")
        dirs = _export_dirs(project.name) if project else []
        if project is None:
            st.info("No projects yet.")
        elif not dirs:
            st.info(f"No export of {project.name} yet: export it on the Export page "
                    f"(exports live in {exports_dir() / project.name}).")
        if dirs:
            export_dir = st.selectbox("Export", dirs, format_func=lambda d: d.name,
                                      key="jobs_export")
            manifest: dict[str, Any] = {}
            with ui.user_errors():
                manifest, _sha = jobs.read_manifest(export_dir)
            kind = manifest.get("kind", "sft")
            st.caption(f"{kind} export · files: "
                       + ", ".join(str(f.get("name") or f.get("path")) for f in
                                   (manifest.get("files") or []) if isinstance(f, dict)))
            provider = st.selectbox("Provider", provider_names(), key="jobs_provider")
            choices = [m.name for m in models.fine_tunable(kind if kind in ("sft", "dpo") else "sft")
                       if m.provider == "openai"]
            default = (manifest.get("settings") or {}).get("model")
            labels = {n: _model_label(n, st.session_state.get("jobs_provider_dates", {}))
                      for n in choices}
            model = st.selectbox("Base model", choices,
                                 index=choices.index(default) if default in choices else 0,
                                 format_func=labels.__getitem__, key="jobs_model")
            if st.button("Check shutdown dates with the provider", key="jobs_check_models"):
                with ui.user_errors():
                    prov = get_provider(provider, **(provider_config(timeout=10, max_retries=1)
                                                     or {}))
                    dates: dict[str, str] = {}
                    for name in choices:
                        try:
                            dates[name] = prov.model_info(name).shutdown_date or "no date"
                        except ProviderNotFound:
                            dates[name] = "not offered"
                    st.session_state["jobs_provider_dates"] = dates
                    st.rerun()
            c = st.columns(3)
            suffix = c[0].text_input("Suffix (optional)", key="jobs_suffix",
                                     help="1-64 letters, digits, '.', '_' or '-'; part of the "
                                          "fine-tuned model's name")
            seed_raw = c[1].text_input("Seed (optional)", key="jobs_seed")
            method = c[2].selectbox("Method", ["from the export", "supervised", "dpo"],
                                    key="jobs_method")
            st.markdown("**Hyperparameters** ('auto' = provider default)")
            hc = st.columns(4)
            hyper: dict[str, Any] = {}
            for col, name in zip(hc, HYPER):
                if name == "beta" and kind != "dpo":
                    continue
                hyper[name] = _hyper_value(name, col.text_input(name, value="auto",
                                                                key=f"jobs_hp_{name}"))
            try:
                seed: Any = int(seed_raw) if seed_raw.strip() else None
            except ValueError:
                seed = seed_raw
            params = {"export_dir": str(export_dir), "model": model, "suffix": suffix.strip() or None,
                      "seed": seed, "method": None if method == "from the export" else method,
                      "hyperparameters": hyper, "provider": provider}
            if st.button("Estimate", key="jobs_estimate"):
                st.session_state.pop("jobs_plan", None)
                with ui.user_errors():
                    plan = jobs.launch(store, actor, **params, confirm=False)
                    st.session_state["jobs_plan"] = (params, plan)
            saved = st.session_state.get("jobs_plan")
            if saved and saved[0] != params:
                st.caption("Settings changed since the estimate: estimate again.")
                saved = None
            if saved:
                plan = saved[1]
                st.markdown("**Plan**")
                pc = st.columns(3)
                pc[0].metric("Estimated cost",
                             "—" if plan.estimated_cost_usd is None
                             else f"${plan.estimated_cost_usd:,.2f}")
                pc[1].metric("Method", plan.method)
                pc[2].metric("Model", plan.model)
                st.dataframe(pd.DataFrame([{"role": f["role"], "file": Path(f["path"]).name,
                                            "bytes": f["bytes"], "sha256": f["sha256"][:16] + "…"}
                                           for f in plan.files]), hide_index=True)
                st.caption("Hyperparameters: " + ", ".join(f"{k}={v}" for k, v in
                                                           plan.hyperparameters.items()))
                for n in plan.notices:
                    st.warning(n)
                for w in plan.warnings:
                    st.warning(w)
                if st.button("Confirm and launch", type="primary", key="jobs_confirm"):
                    with ui.user_errors():
                        done = jobs.launch(store, actor, **params, confirm=True,
                                           provider_config=provider_config())
                        st.session_state.pop("jobs_plan", None)
                        st.session_state["jobs_selected"] = done.job.id
                        st.session_state.pop("jobs_pick", None)
                        st.session_state["jobs_flash"] = (
                            f"Launched job {done.job.id} ({done.job.provider_job_id}), status "
                            f"{done.job.status}. Follow it in the Jobs tab.")
                        st.rerun()
