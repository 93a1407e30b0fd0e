"""Projects: the list with counts, create a project, edit one.

Every rule (names, labels, overlap, settle rule, members) is checked by ``curator.projects``;
this page only gathers the fields.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import curator_ui as ui
from curator.projects import (TASK_TYPES, Project, create_project, list_projects,
                              project_counts, update_project)
from curator.users import list_users

actor = ui.guard("projects")
store = ui.get_store()

st.title("Projects")

LABEL_COLUMNS = {
    "name": st.column_config.TextColumn("name", help="the label's name (no '|')", required=True),
    "description": st.column_config.TextColumn("description", help="what it means; shown to "
                                                                   "annotators"),
    "key": st.column_config.TextColumn("key", help="keyboard shortcut (default 1..9, 0)",
                                       max_chars=1),
}


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return str(v).strip()


def _labels_from(df: pd.DataFrame) -> list[dict[str, str]]:
    """Rows of the label editor as dicts; rows without a name are left out."""
    out = []
    for row in df.to_dict("records"):
        name = _cell(row.get("name"))
        if name:
            out.append({"name": name, "description": _cell(row.get("description")),
                        "key": _cell(row.get("key"))})
    return out


def _form(prefix: str, p: Project | None) -> dict[str, Any]:
    """The project fields (pre-filled from ``p``); returns the values as keyword arguments."""
    v: dict[str, Any] = {}
    task = p.task_type if p else st.selectbox(
        "Task type", TASK_TYPES, key=f"{prefix}_task",
        help="classification: pick labels · response: write the assistant's reply · "
             "preference: choose between two replies (DPO)")
    if p:
        st.caption(f"Task type: **{p.task_type}** (fixed once created)")
    if task == "classification":
        st.markdown("**Labels**")
        initial = pd.DataFrame(
            [{"name": l.name, "description": l.description, "key": l.key} for l in p.labels]
            if p and p.labels else [{"name": "", "description": "", "key": ""}],
            columns=["name", "description", "key"])
        edited = st.data_editor(initial, num_rows="dynamic", column_config=LABEL_COLUMNS,
                                hide_index=True, key=f"{prefix}_labels", width="stretch")
        v["labels"] = _labels_from(edited)
        v["multi_label"] = st.checkbox("Several labels per item (multi-label)",
                                       value=bool(p and p.multi_label), key=f"{prefix}_multi")
    st.markdown("**Guidelines** (Markdown)")
    write, preview = st.tabs(["Write", "Preview"])
    with write:
        v["guidelines"] = st.text_area("Guidelines", value=p.guidelines if p else "", height=200,
                                       key=f"{prefix}_guidelines", label_visibility="collapsed")
    with preview:
        if v["guidelines"].strip():
            st.markdown(v["guidelines"])
        else:
            st.caption("Nothing written yet.")
    v["system_prompt"] = st.text_area(
        "System prompt (the first message of every exported example)",
        value=p.system_prompt if p else "", key=f"{prefix}_system")
    c = st.columns(4)
    v["overlap"] = int(c[0].number_input("Overlap (annotators per item)", min_value=1,
                                         max_value=50, value=p.overlap if p else 1,
                                         key=f"{prefix}_overlap"))
    rule = (p.settle_rule if p else {}) or {}
    kinds = ["majority", "unanimous"]
    kind = c[1].selectbox("Settle rule", kinds, index=kinds.index(rule.get("kind", "majority")),
                          key=f"{prefix}_rule_kind",
                          help="unanimous: all answers equal · majority: the top answer leads "
                               "the runner-up by the margin")
    min_answers = int(c[2].number_input("Minimum answers", min_value=1, max_value=50,
                                        value=int(rule.get("min_answers", 1)),
                                        key=f"{prefix}_rule_min"))
    new_rule: dict[str, Any] = {"kind": kind, "min_answers": min_answers}
    if kind == "majority":
        new_rule["margin"] = int(c[3].number_input("Margin", min_value=1, max_value=50,
                                                   value=int(rule.get("margin", 1)),
                                                   key=f"{prefix}_rule_margin"))
    v["settle_rule"] = new_rule
    annotators = sorted(u.name for u in list_users(store) if u.role == "annotator" and not u.disabled)
    current = list(p.members) if p else []
    options = sorted(set(annotators) | set(current))
    v["members"] = st.multiselect("Members (annotators who may work on it; none = everyone)",
                                  options, default=current, key=f"{prefix}_members")
    v["show_own_result"] = st.toggle(
        "Show annotators how their answer compared once an item is settled",
        value=bool(p and p.show_own_result), key=f"{prefix}_show_own")
    if not p:
        v["task_type"] = task
    return v


with ui.user_errors():
    projects = list_projects(store, actor)
flash = st.session_state.pop("projects_flash", None)
if flash:
    st.success(flash)

list_tab, new_tab, edit_tab = st.tabs(["All projects", "New project", "Edit"])

with list_tab:
    if not projects:
        st.info("No projects yet: create the first one in the New project tab.")
    else:
        rows = []
        for p in projects:
            n = project_counts(store, p)
            rows.append({"name": p.name, "task": p.task_type,
                         "labels": ", ".join(p.label_names), "overlap": p.overlap,
                         "settle rule": p.settle_rule.get("kind"), "items": n["items"],
                         "answers": n["annotation_rows"], "annotators": n["annotators"],
                         "imports": n["imports"], "exports": n["exports"],
                         "members": ", ".join(p.members) or "everyone"})
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

with new_tab:
    name = st.text_input("Name", key="new_name",
                         help="letters, digits, '_', '.', '-' (also the export folder name)")
    fields = _form("new", None)
    if st.button("Create project", type="primary", key="new_create"):
        with ui.user_errors():
            p = create_project(store, actor, name, **fields)
            st.session_state["current_project"] = p.name
            st.session_state["projects_flash"] = f"Project {p.name!r} created."
            for k in [k for k in st.session_state if str(k).startswith("new_")]:
                del st.session_state[k]
            st.rerun()

with edit_tab:
    if not projects:
        st.info("No project to edit yet.")
    else:
        names = [p.name for p in projects]
        cur = st.session_state.get("current_project")
        chosen = st.selectbox("Project to edit", names,
                              index=names.index(cur) if cur in names else 0, key="edit_pick")
        p = projects[names.index(chosen)]
        fields = _form(f"edit_{p.id}", p)
        if st.button("Save changes", type="primary", key=f"edit_{p.id}_save"):
            with ui.user_errors():
                update_project(store, actor, p.id, **fields)
                st.session_state["projects_flash"] = f"Project {p.name!r} saved."
                st.rerun()
