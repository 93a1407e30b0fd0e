"""Import: upload a file, map its columns, preview, then import all or nothing."""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import streamlit as st

import curator_ui as ui
from curator.errors import CuratorError, InvalidInput
from curator.importing import import_file, preview
from curator.importing.sniff import sniff

actor = ui.guard("import")
store = ui.get_store()

st.title("Import")
project = ui.pick_project(actor)
if project is None:
    st.info("Create a project first (Projects page, or `curator projects create`).")
    st.stop()

from curator.duplicates import list_near_duplicates, near_duplicate_counts, resolve_near_duplicate

dup_counts = near_duplicate_counts(store, actor, project)
import_tab, dup_tab = st.tabs(["Import a file", f"Near-duplicates ({dup_counts['open']:,} to review)"])

with dup_tab:
    st.caption("Pairs of tickets that are almost the same, flagged at import. Nothing is dropped: "
               "decide whether they are duplicates (exports keep them on the same side of the "
               "train/validation split) or not.")
    if not dup_counts["open"]:
        st.info("No near-duplicates to review." + (
            f" Decided so far: {dup_counts['kept']:,} kept as duplicates, "
            f"{dup_counts['dismissed']:,} dismissed." if dup_counts["kept"] or dup_counts["dismissed"] else ""))
    for d in list_near_duplicates(store, actor, project, status="open", limit=10):
        with st.container(border=True):
            st.caption(f"similarity {d.similarity:.2f} · items {d.external_id or d.item_id} and "
                       f"{d.similar_external_id or d.similar_item_id}")
            a, b = st.columns(2)
            a.text(d.text[:1500])
            b.text(d.similar_text[:1500])
            k1, k2, _ = st.columns([1, 1, 3])
            if k1.button("Duplicates", key=f"dup-keep-{d.item_id}-{d.similar_item_id}"):
                resolve_near_duplicate(store, actor, project, d.item_id, d.similar_item_id, "kept")
                st.rerun()
            if k2.button("Not duplicates", key=f"dup-dismiss-{d.item_id}-{d.similar_item_id}"):
                resolve_near_duplicate(store, actor, project, d.item_id, d.similar_item_id, "dismissed")
                st.rerun()

import_tab.caption("CSV/TSV (any common encoding), JSONL, JSON arrays, Parquet, Excel, OpenAI SFT or DPO "
           "JSONL, and Label Studio exports. A bad row rejects the whole file unless you choose to "
           "skip bad rows; exact duplicates are skipped, near-duplicates flagged for review.")

with import_tab:
    up = st.file_uploader("File", type=["csv", "tsv", "txt", "jsonl", "json", "parquet", "xlsx"],
                          key="import_file")
    if up is None:
        st.info("Upload a file to see how it would be imported.")
        st.stop()

    data = up.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    tmp_dir = Path(tempfile.gettempdir()) / f"curator-upload-{digest}"
    tmp_dir.mkdir(exist_ok=True)
    path = tmp_dir / Path(up.name).name
    if not path.exists() or path.stat().st_size != len(data):
        path.write_bytes(data)

    fmt_choice = st.selectbox("Format", ["detect", "csv", "tsv", "jsonl", "json", "parquet", "xlsx",
                                         "openai-sft", "openai-dpo", "label-studio"], key="import_format")
    fmt = None if fmt_choice == "detect" else fmt_choice

    # First look: the format and the column names.
    try:
        first = sniff(store, path, format=fmt)
    except CuratorError as exc:
        st.error(str(exc))
        st.stop()
    columns = first["columns"] if first["kind"] in ("tabular", "parquet", "json") else []

    tabular = bool(columns)
    text_cols = id_col = meta_cols = cand_cols = None
    if tabular:
        c1, c2 = st.columns(2)
        default_text = [c for c in columns if c.lower() in ("text", "subject", "body", "message", "instruction")] or columns[:1]
        text_cols = c1.multiselect("Text column(s), joined in this order", columns,
                                   default=default_text, key="import_text_cols")
        id_guess = next((c for c in columns if c.lower() in ("id", "external_id", "ticket_id")), None)
        id_col = c2.selectbox("ID column", ["(none)"] + columns,
                              index=(columns.index(id_guess) + 1) if id_guess else 0, key="import_id_col")
        id_col = None if id_col == "(none)" else id_col
        rest = [c for c in columns if c not in (text_cols or []) and c != id_col]
        meta_cols = st.multiselect("Keep as metadata", rest, default=rest, key="import_meta_cols")
        if project.task_type == "preference":
            cand_cols = st.multiselect("The two candidate columns (A, B)", rest, max_selections=2,
                                       key="import_cand_cols") or None

    o1, o2, o3 = st.columns(3)
    pii = o1.checkbox("Mask PII (e-mails, phones, cards, IBANs, IPs, URL secrets)", key="import_pii")
    near = o2.checkbox("Flag near-duplicates", value=True, key="import_near")
    threshold = o2.slider("Similarity threshold", 0.5, 0.95, 0.8, 0.05, key="import_threshold",
                          disabled=not near)
    skip_bad = o3.checkbox("Skip bad rows (write them to a rejects file)", key="import_skip_bad")

    kw = dict(format=fmt, text_cols=text_cols or None, id_col=id_col, meta_cols=meta_cols,
              candidate_cols=cand_cols, pii=pii)
    st.subheader("Preview")
    try:
        prev = preview(store, actor, project, path, rows=10, **kw)
    except CuratorError as exc:
        st.error(str(exc))
        st.stop()
    det = prev["detected"]
    st.caption(f"Detected: {det.get('format')} · encoding {det.get('encoding', '-')} · "
               f"delimiter {det.get('delimiter', '-')!r}")
    st.dataframe([{"row": r["row"], "id": r["external_id"], "text": (r["text"] or "")[:300],
                   "problem": r["error"] or (f"duplicate ({r['duplicate']})" if r["duplicate"] else "")}
                  for r in prev["rows"]], hide_index=True, use_container_width=True)
    if pii and prev["pii_examples"]:
        with st.expander(f"PII found in the preview: {sum(prev['pii'].values())} matches"):
            st.dataframe(prev["pii_examples"], hide_index=True, use_container_width=True)
    for n in prev.get("notes") or []:
        st.info(n)

    if st.button("Import", type="primary", key="import_go"):
        bar = st.progress(0.0, text="Importing…")

        def progress(done: int, total: int, stage: str = "") -> None:
            bar.progress(min(done / total, 1.0) if total else 0.0, text=f"{stage or 'importing'}: {done:,}/{total:,}")

        rejects = tmp_dir / f"{path.stem}.rejects.csv" if skip_bad else None
        try:
            rep = import_file(store, actor, project, path, near_dup=near, near_dup_threshold=threshold,
                              skip_bad_rows=skip_bad, rejects_path=rejects, progress=progress, **kw)
        except InvalidInput as exc:
            bar.empty()
            st.error(f"Nothing was imported. {exc.summary}")
            if exc.errors:
                st.dataframe([{"row": e.row, "column": e.column, "problem": e.message} for e in exc.errors],
                             hide_index=True, use_container_width=True)
        except CuratorError as exc:
            bar.empty()
            st.error(f"Nothing was imported. {exc}")
        else:
            bar.progress(1.0, text="Done")
            d = rep.to_dict()
            st.success(f"Imported {d['added']:,} of {d['rows_read']:,} rows into {project.name}.")
            m = st.columns(4)
            m[0].metric("Added", f"{d['added']:,}")
            m[1].metric("Exact duplicates skipped", f"{d['exact_duplicates']:,}")
            m[2].metric("Near-duplicates flagged", "-" if d["near_duplicates"] is None else f"{d['near_duplicates']:,}")
            m[3].metric("Rejected", f"{d['rejected']:,}")
            if d.get("pii") and any(d["pii"].values()):
                st.write("PII masked: " + ", ".join(f"{k} {v}" for k, v in d["pii"].items() if v))
            if rejects and Path(rejects).exists():
                st.download_button("Download rejected rows", Path(rejects).read_bytes(),
                                   file_name=Path(rejects).name, key="import_rejects_dl")
