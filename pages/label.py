"""Label: one item at a time from this annotator's queue, keyboard first."""
from __future__ import annotations

import os
import re

import streamlit as st

import curator_ui as ui
from curator import queue
from curator.errors import CuratorError

actor = ui.guard("label")
store = ui.get_store()

_MD = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<$])")


def esc(text: str) -> str:
    """Show ticket text literally (no Markdown from customers), keeping line breaks."""
    return _MD.sub(r"\\\1", text or "").replace("\n", "  \n")


st.title("Label")
project = ui.pick_project(actor)
if project is None:
    st.info("No project is open to you yet. A lead creates one on the Projects page "
            "(or `curator projects create ...`) and assigns you.")
    st.stop()

main, side = st.columns([3, 1.3], gap="large")

# ---------------------------------------------------------------- which item
editing = st.session_state.get("edit_item")
if editing and st.session_state.get("edit_project") != project.id:
    editing = None  # the item being changed belongs to another project
    st.session_state.pop("edit_item", None)
try:
    if editing:
        item = queue.get_item(store, actor, project, editing)
    else:
        item = queue.next_item(store, actor, project)
except CuratorError as exc:
    st.error(str(exc))
    st.stop()

prog = queue.progress(store, actor, project)
with main:
    st.progress(prog.project_fraction,
                text=f"Project: {prog.project_slots_filled:,} of {prog.project_slots_total:,} answers "
                     f"· you: {prog.mine_answered:,} answered, {prog.mine_skipped:,} skipped, "
                     f"{prog.mine_remaining:,} left for you")

with side:
    if project.guidelines:
        with st.container(border=True):
            st.markdown("**Guidelines**")
            st.markdown(project.guidelines)
    if project.task_type == "classification":
        with st.expander("Labels", expanded=not project.guidelines):
            keys = project.label_keys()
            for l in project.labels:
                st.markdown(f"`{keys[l.name]}` **{l.name}** — {l.description}" if l.description
                            else f"`{keys[l.name]}` **{l.name}**")
    st.markdown("**Your recent answers**")
    recent = queue.recent_answers(store, actor, project, limit=10)
    if not recent:
        st.caption("Nothing yet. Answers you give appear here; click one to change it.")
    for r in recent:
        shown = "skipped" if r["skipped"] else (r["value"] or "")[:30]
        if project.show_own_result and not r["skipped"]:
            from curator.review import own_result

            res = own_result(store, actor, project, r["item_id"])
            if res is not None:  # settled: show how the answer compared with the gold answer
                shown += " ✓" if res["agrees"] else f" ✗ (settled: {res['gold'][:20]})"
        if st.button(f"{(r['external_id'] or r['item_id'])}: {shown}", key=f"back-{r['item_id']}",
                     use_container_width=True):
            st.session_state["edit_item"] = r["item_id"]
            st.session_state["edit_project"] = project.id
            st.rerun()

if item is None:
    with main:
        st.success("Your queue is empty: every item you can answer has its answers. Thank you!")
        st.caption("Items come back when a lead imports more or raises the overlap.")
    st.stop()


def saved(message: str = "Saved") -> None:
    st.session_state.pop("edit_item", None)
    st.session_state.pop("draft", None)
    st.toast(message)
    st.rerun()


def do_submit(value, **kw) -> None:
    try:
        queue.submit(store, actor, project, item.id, value, **kw)
    except CuratorError as exc:
        st.error(str(exc))
        return
    saved()


with main:
    mine = item.my_answer
    head = f"Item {item.external_id or item.id}"
    if editing:
        head += " — changing your earlier answer"
    st.subheader(head)
    if mine and not mine.skipped:
        st.caption(f"Your current answer: **{mine.value if project.task_type != 'preference' else queue.canonical_to_shown(mine.value, item.shown_order)}**"
                   + (" (unsure)" if mine.unsure else ""))
    with st.container(border=True):
        st.markdown(esc(item.text))

    note_default = (mine.note or "") if mine else ""

    # ------------------------------------------------------------ classification
    if project.task_type == "classification":
        c1, c2 = st.columns([1, 3])
        unsure = c1.checkbox("Unsure", value=bool(mine and mine.unsure), key=f"unsure-{item.id}")
        note = c2.text_input("Note (why unsure, what is ambiguous)", value=note_default,
                             key=f"note-{item.id}", label_visibility="collapsed",
                             placeholder="Note (optional): why unsure, what is ambiguous")
        keys = project.label_keys()
        if project.multi_label:
            chosen = st.pills("Labels", project.label_names, selection_mode="multi",
                              default=mine.labels if mine else None, key=f"multi-{item.id}")
            if st.button("Save labels", type="primary", shortcut="Enter", key="save-multi"):
                do_submit(chosen or [], unsure=unsure, note=note)
        else:
            cols = st.columns(min(len(project.labels), 4))
            for i, l in enumerate(project.labels):
                k = keys[l.name]
                if cols[i % len(cols)].button(
                        f"{l.name}", key=f"label-{l.name}", help=l.description or None,
                        shortcut=k or None, use_container_width=True,
                        type="primary" if mine and mine.value == l.name else "secondary"):
                    do_submit(l.name, unsure=unsure, note=note)

    # ------------------------------------------------------------ response
    elif project.task_type == "response":
        from curator.tokens import count_text

        model = os.environ.get("CURATOR_DRAFT_MODEL", "gpt-4.1-mini-2025-04-14")
        draft = st.session_state.get("draft", {}).get(item.id) or (mine.draft if mine else None)
        if st.button("Draft a reply with the model", key="draft-btn",
                     help=f"Asks {model} for a first draft (needs OPENAI_API_KEY on the server)."):
            from curator.pairs import draft_reply

            try:
                secrets = dict(st.secrets) if st.secrets else None
            except Exception:  # no secrets file
                secrets = None
            try:
                text = draft_reply(store, actor, project, item.id, model=model,
                                   provider_config={"secrets": secrets} if secrets else None)
                st.session_state["draft"] = {item.id: text}
                st.rerun()
            except CuratorError as exc:
                st.error(str(exc))
        initial = (mine.value if mine and mine.value else None) or draft or ""
        reply = st.text_area("Assistant reply", value=initial, height=260, key=f"reply-{item.id}")
        st.caption(f"{count_text(reply, model):,} tokens ({model})"
                   + (" · started from a model draft" if draft else ""))
        if st.button("Save reply", type="primary", shortcut="Ctrl+Enter", key="save-reply"):
            do_submit(reply, draft=draft, draft_model=model if draft else None)

    # ------------------------------------------------------------ preference
    else:
        first, second = item.candidates_shown or ("", "")
        ca, cb = st.columns(2)
        with ca:
            st.markdown("**A**")
            with st.container(border=True):
                st.markdown(esc(first))
        with cb:
            st.markdown("**B**")
            with st.container(border=True):
                st.markdown(esc(second))
        rationale = st.text_input("Why (optional)", value=note_default, key=f"why-{item.id}")
        b1, b2, b3, b4 = st.columns(4)
        for col, shown_choice, text, key in [(b1, "A", "A is better", "A"), (b2, "B", "B is better", "B"),
                                             (b3, "tie", "Tie", "T"), (b4, "both_bad", "Both bad", "X")]:
            if col.button(text, key=f"choice-{shown_choice}", shortcut=key, use_container_width=True):
                do_submit(queue.shown_to_canonical(shown_choice, item.shown_order), note=rationale,
                          shown_order=item.shown_order)

    st.divider()
    n1, n2, _ = st.columns([1, 1, 3])
    if editing:
        if n1.button("Back to my queue", key="leave-edit", shortcut="Esc"):
            st.session_state.pop("edit_item", None)
            st.rerun()
    elif n1.button("Skip", key="skip", shortcut="S", help="Not for you? Skip it; it goes to someone else."):
        try:
            queue.skip(store, actor, project, item.id)
        except CuratorError as exc:
            st.error(str(exc))
        else:
            saved("Skipped")
    if mine:
        with n2.popover("History"):
            for h in queue.item_history(store, actor, item.id):
                st.write(f"{h.created_at:%Y-%m-%d %H:%M} · {'skipped' if h.skipped else h.value}"
                         + (" · unsure" if h.unsure else "") + (f" · {h.note}" if h.note else ""))
