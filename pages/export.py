"""Export: plan (counts, balance, split, tokens, cost), then write SFT or DPO files + manifest."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import streamlit as st

import curator_ui as ui
from curator.errors import CuratorError
from curator.export import export_project, plan_export
from curator.models import MODELS

actor = ui.guard("export")
store = ui.get_store()

st.title("Export")
project = ui.pick_project(actor)
if project is None:
    st.info("Nothing to export yet: create a project, import tickets and settle answers first.")
    st.stop()

kind = "dpo" if project.task_type == "preference" else "sft"
st.caption(f"{project.name} is a {project.task_type} project: it exports "
           f"{'DPO preference pairs' if kind == 'dpo' else 'SFT chat examples'} from settled items "
           "(unresolved disagreements are left out).")

c1, c2, c3 = st.columns(3)
model_names = [m for m in MODELS] if isinstance(MODELS, dict) else [m.name for m in MODELS]
default_model = "gpt-4.1-mini-2025-04-14" if "gpt-4.1-mini-2025-04-14" in model_names else model_names[0]
model = c1.selectbox("Model (tokenizer, limits, price)", model_names,
                     index=model_names.index(default_model), key="exp_model")
balance_kind = c2.selectbox("Balance", ["none", "cap", "equal", "oversample"], key="exp_balance",
                            help="cap: at most N per class; equal: down to the smallest class; "
                                 "oversample repeats examples of small classes (use with care).")
cap = c2.number_input("N per class", min_value=1, value=100, key="exp_cap") if balance_kind == "cap" else None
balance = f"cap:{int(cap)}" if balance_kind == "cap" else balance_kind
balance_by = c3.text_input("Balance by (metadata field; empty = label)", key="exp_balance_by") or None
val_fraction = c3.slider("Validation share", 0.0, 0.5, 0.1, 0.05, key="exp_val")
seed = c1.number_input("Seed", min_value=0, value=0, key="exp_seed")
sp_choice = c2.selectbox("System prompt", ["project's", "none", "custom"], key="exp_sp")
system_prompt = {"project's": "project", "none": "none"}.get(sp_choice)
if sp_choice == "custom":
    system_prompt = st.text_area("Custom (shorter) system prompt", key="exp_sp_text") or "none"
over_limit = c3.selectbox("Examples over the model's token limit", ["drop", "keep"], key="exp_over")
trl = c1.selectbox("Also write a TRL / Hugging Face copy", ["no", "jsonl", "parquet"], key="exp_trl")
trl = None if trl == "no" else trl
settings = dict(kind=kind, balance=balance, balance_by=balance_by, val_fraction=val_fraction,
                seed=int(seed), model=model, system_prompt=system_prompt, over_limit=over_limit, trl=trl)

bar = st.progress(0.0, text="Planning…")


def progress(done: int, total: int, stage: str = "") -> None:
    bar.progress(min(done / total, 1.0) if total else 0.0, text=f"{stage or 'working'}: {done:,}/{total:,}")


try:
    plan = plan_export(store, actor, project, progress=progress, **settings)
except CuratorError as exc:
    bar.empty()
    st.error(str(exc))
    st.stop()
bar.empty()

counts = plan.counts
if not counts.get("train") and not counts.get("validation"):
    st.info("No settled items to export yet. Items settle when enough annotators agree "
            "(see the project's settle rule) or a lead settles them on the Review page.")
m = st.columns(4)
m[0].metric("Train examples", f"{counts.get('train', 0):,}")
m[1].metric("Validation examples", f"{counts.get('validation', 0):,}")
cost = plan.cost_estimate or {}
m[2].metric("Estimated training cost", f"${cost['usd']:,.2f}" if cost.get("usd") is not None else "n/a",
            help=cost.get("note"))
m[3].metric("Epochs (OpenAI's default for this size)", plan.epochs or "-")

left, right = st.columns(2)
with left:
    st.markdown("**Distribution before and after balancing**")
    before, after = plan.distributions.get("before", {}), plan.distributions.get("after", {})
    if before:
        df = pd.DataFrame({"before": pd.Series(before), "after": pd.Series(after)}).fillna(0)
        st.bar_chart(df, stack=False)
    else:
        st.caption("No settled items yet.")
with right:
    st.markdown("**Tokens per training example**")
    hist = (plan.tokens.get("train") or {}).get("histogram") or []
    if hist:
        hdf = pd.DataFrame(hist)
        label_col = "lo" if "lo" in hdf.columns else hdf.columns[0]
        count_col = "count" if "count" in hdf.columns else hdf.columns[-1]
        st.bar_chart(hdf.set_index(label_col)[count_col])
    t = plan.tokens.get("train") or {}
    if t.get("n_examples"):
        st.caption(f"{t['n_examples']:,} examples · {t['total']:,} tokens · min {t['min']:,} · "
                   f"median {t['median']:,.0f} · max {t['max']:,} · limit "
                   f"{t['token_limit']:,} ({t.get('encoding', '')}) · {t['n_over_limit']:,} over the limit")

if plan.exclusions:
    st.caption("Left out: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in plan.exclusions.items() if v))
for w in plan.warnings:
    st.warning(w)
for p in plan.problems:
    st.error(p)

allow_small = False
if not plan.ok and any("10" in p for p in plan.problems):
    allow_small = st.checkbox("Write anyway (OpenAI rejects training files with fewer than 10 examples)",
                              key="exp_allow_small")

if st.button("Write export", type="primary", disabled=not plan.ok and not allow_small, key="exp_go"):
    bar2 = st.progress(0.0, text="Writing…")

    def progress2(done: int, total: int, stage: str = "") -> None:
        bar2.progress(min(done / total, 1.0) if total else 0.0, text=f"{stage or 'writing'}: {done:,}/{total:,}")

    try:
        res = export_project(store, actor, project, progress=progress2, allow_small=allow_small, **settings)
    except CuratorError as exc:
        bar2.empty()
        st.error(str(exc))
    else:
        bar2.progress(1.0, text="Done")
        st.session_state["last_export"] = str(res.export_dir)
        st.success(f"Export written to {res.export_dir}")

last = st.session_state.get("last_export")
if last and Path(last).is_dir():
    d = Path(last)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(d.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(d.parent))
    cols = st.columns(3)
    for i, name in enumerate(["train.jsonl", "validation.jsonl", "manifest.json"]):
        if (d / name).exists():
            cols[i].download_button(f"Download {name}", (d / name).read_bytes(), file_name=name,
                                    key=f"exp_dl_{name}")
    st.download_button("Download the whole export (.zip)", buf.getvalue(), file_name=f"{d.name}.zip",
                       key="exp_dl_zip")
