"""Review: leads settle disagreements and "unsure" flags one item at a time.

Draws what ``curator.review`` returns and records decisions with ``curator.review.adjudicate``.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

import curator_ui as ui
from curator import review
from curator.settle import PREFERENCE_VALUES

actor = ui.guard("review")
store = ui.get_store()

st.title("Review")
project = ui.pick_project(actor, key="review_project")
if project is None:
    st.info("No projects yet. A lead creates one on the Projects page.")
    st.stop()

CHOICE_HELP = {"A": "A is better", "B": "B is better", "tie": "Both equally good",
               "both_bad": "Both are bad"}


def _fmt_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else str(value or "")


def _show_item(detail: dict[str, Any]) -> None:
    """The item itself: ticket text, or prompt and both candidates."""
    item = detail["item"]
    ext = f" · external id `{item['external_id']}`" if item.get("external_id") else ""
    st.caption(f"Item {item['id']}{ext}")
    with st.container(border=True):
        st.markdown("**Prompt**" if project.task_type == "preference" else "**Text**")
        st.text(item["text"])
    if project.task_type == "preference":
        a, b = st.columns(2)
        with a.container(border=True):
            st.markdown("**Candidate A**")
            st.text(item.get("candidate_a") or "")
        with b.container(border=True):
            st.markdown("**Candidate B**")
            st.text(item.get("candidate_b") or "")
    if item.get("metadata"):
        with st.expander("Metadata"):
            st.write(item["metadata"])


def _show_answers(detail: dict[str, Any]) -> None:
    answers = detail["answers"]
    st.markdown(f"**Current answers** ({len(answers)})")
    if answers:
        st.dataframe(
            [{"annotator": a.user, "answer": a.value, "unsure": a.unsure, "note": a.note or "",
              "answered at": _fmt_time(a.created_at)} for a in answers],
            hide_index=True, width="stretch")
    else:
        st.caption("No answers yet (only skips or flags).")
    with st.expander(f"History ({len(detail['history'])} rows, oldest first)"):
        st.dataframe(
            [{"annotator": a.user, "answer": "(skipped)" if a.skipped else a.value,
              "unsure": a.unsure, "note": a.note or "", "source": a.source,
              "at": _fmt_time(a.created_at)} for a in detail["history"]],
            hide_index=True, width="stretch")


def _show_adjudications(detail: dict[str, Any]) -> None:
    adj = detail["adjudications"]
    if not adj:
        return
    last = adj[-1]
    st.success(f"Settled by **{last['user']}** on {_fmt_time(last['created_at'])} as "
               f"**{last['value']}**" + (f" — {last['reason']}" if last["reason"] else ""))
    if len(adj) > 1:
        st.caption("Earlier decisions on this item (kept as history):")
        st.dataframe([{"by": a["user"], "value": a["value"], "reason": a["reason"],
                       "at": _fmt_time(a["created_at"])} for a in adj],
                     hide_index=True, width="stretch")


def _shortcut(key: str | None) -> str | None:
    """``key`` if Streamlit accepts it as a shortcut (one letter or digit, not C or R)."""
    if key and len(key) == 1 and key.isalnum() and key.lower() not in ("c", "r"):
        return key
    return None


def _decision(item_id: int, status: Any, scope: str) -> None:
    """Pick a gold answer (buttons with shortcuts, a multiselect, or typed) and settle."""
    pick_key = f"review_pick_{scope}_{item_id}"
    st.markdown("**Gold answer**")
    shortcuts = scope == "queue"  # one set of shortcuts per page
    if project.task_type == "preference":
        cols = st.columns(len(PREFERENCE_VALUES))
        for i, (col, v) in enumerate(zip(cols, PREFERENCE_VALUES)):
            if col.button(v, key=f"review_btn_{scope}_{item_id}_{v}", help=CHOICE_HELP[v],
                          shortcut=str(i + 1) if shortcuts else None, width="stretch"):
                st.session_state[pick_key] = v
    elif project.task_type == "classification" and project.multi_label:
        current = st.session_state.get(pick_key)
        chosen = st.multiselect("Labels", project.label_names,
                                default=[l for l in (current or "").split("|") if l],
                                key=f"review_multi_{scope}_{item_id}")
        st.session_state[pick_key] = "|".join(chosen) if chosen else None
    elif project.task_type == "classification":
        keys = project.label_keys()
        cols = st.columns(min(len(project.labels), 6) or 1)
        for i, label in enumerate(project.labels):
            key = _shortcut(keys.get(label.name))
            if cols[i % len(cols)].button(label.name, key=f"review_btn_{scope}_{item_id}_{i}",
                                          help=label.description or None,
                                          shortcut=key if shortcuts else None, width="stretch"):
                st.session_state[pick_key] = label.name
    picked = st.session_state.get(pick_key)
    typed_label = ("Gold reply" if project.task_type == "response"
                   else "…or type the gold value" + (" (labels joined by |)"
                                                      if project.multi_label else ""))
    if project.task_type == "response":
        typed = st.text_area(typed_label, value=(status.top_value if status else "") or "",
                             key=f"review_typed_{scope}_{item_id}")
    else:
        typed = st.text_input(typed_label, key=f"review_typed_{scope}_{item_id}")
    value = (typed or "").strip() or picked
    if project.task_type != "response":
        st.markdown(f"Chosen: **{value}**" if value else "Chosen: —")
    reason = st.text_input("Reason (shown with the decision)",
                           key=f"review_reason_{scope}_{item_id}")
    if st.button("Settle", type="primary", key=f"review_settle_{scope}_{item_id}",
                 disabled=not value):
        with ui.user_errors():
            review.adjudicate(store, actor, project, item_id, value, reason)
            st.session_state.pop(pick_key, None)
            st.session_state["review_flash"] = f"Item {item_id} settled as {value!r}."
            st.rerun()


# ---------------------------------------------------------------------------- counts
with ui.user_errors():
    counts = review.settle_counts(store, actor, project)
    flash = st.session_state.pop("review_flash", None)
    if flash:
        st.success(flash)
    c = st.columns(5)
    c[0].metric("Settled", counts.settled,
                help=f"{counts.settled_by_rule} by the rule, {counts.adjudicated} by a lead")
    c[1].metric("Disagreement", counts.disagreement)
    c[2].metric("Pending", counts.pending, help="answered, but not enough answers to settle yet")
    c[3].metric("Unsure flags", counts.unsure)
    c[4].metric("To review", counts.review_queue)
    rule = counts.rule
    st.caption(f"Settle rule: {rule['kind']}, at least {rule['min_answers']} answer(s)"
               + (f", lead of {rule['margin']}" if rule["kind"] == "majority" else "")
               + f" · {counts.unanswered} of {counts.items} items have no answer yet")

    queue_tab, done_tab = st.tabs(["Review queue", "Settled by a lead"])

    # ------------------------------------------------------------------------ queue
    with queue_tab:
        pos_key = f"review_pos_{project.id}"
        total = counts.review_queue
        pos = min(st.session_state.get(pos_key, 0), max(total - 1, 0))
        entries = review.review_queue(store, actor, project, limit=1, offset=pos) if total else []
        if not entries:
            st.info("Nothing to review: no disagreements and no unsure flags right now. "
                    f"{counts.pending} item(s) are pending more answers; "
                    "new disagreements appear here as annotators work.")
        else:
            entry = entries[0]
            nav = st.columns([1, 1, 4])
            if nav[0].button("◀ Previous", key="review_prev", disabled=pos == 0):
                st.session_state[pos_key] = pos - 1
                st.rerun()
            if nav[1].button("Next ▶", key="review_next", disabled=pos >= total - 1):
                st.session_state[pos_key] = pos + 1
                st.rerun()
            nav[2].markdown(f"Item **{pos + 1}** of **{total}** to review · reason: "
                            f"**{entry.reason}** · status: **{entry.status}**")
            detail = review.item_detail(store, actor, project, entry.item_id)
            _show_item(detail)
            votes = ", ".join(f"{v}: {n}" for v, n in entry.counts.items()) or "none"
            st.caption(f"Votes — {votes}" + (" · someone flagged it unsure"
                                              if entry.any_unsure else ""))
            _show_answers(detail)
            _show_adjudications(detail)
            _decision(entry.item_id, entry, "queue")

    # ------------------------------------------------------------------------ settled
    with done_tab:
        adjudicated = [s for s in review.settled(store, actor, project)
                       if s.how == "adjudicated"]
        if not adjudicated:
            st.info("No item has been settled by a lead yet.")
        else:
            adjudicated.sort(key=lambda s: s.item_id, reverse=True)
            st.dataframe([{"item": s.item_id, "gold": s.gold} for s in adjudicated[:500]],
                         hide_index=True, width="stretch")
            chosen = st.selectbox("Open a settled item (to see who decided, or change it)",
                                  [s.item_id for s in adjudicated[:500]],
                                  format_func=lambda i: f"item {i}", key="review_done_item")
            if chosen is not None:
                detail = review.item_detail(store, actor, project, int(chosen))
                _show_item(detail)
                _show_answers(detail)
                _show_adjudications(detail)
                with st.expander("Change this decision"):
                    _decision(int(chosen), detail["status"], "done")
