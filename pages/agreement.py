"""Agreement: how far annotators agree, per label and per pair, and what got settled.

Draws the ``AgreementReport`` from ``curator.review.agreement``; computes nothing itself
except reshaping for charts.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

import curator_ui as ui
from curator import review

actor = ui.guard("agreement")
store = ui.get_store()

st.title("Agreement")
project = ui.pick_project(actor, key="agreement_project")
if project is None:
    st.info("No projects yet. A lead creates one on the Projects page.")
    st.stop()


def _num(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _heatmap(df: pd.DataFrame, x: str, y: str, value: str, title: str, *, fmt: str,
             domain: list[float] | None = None) -> alt.LayerChart:
    scale = alt.Scale(scheme="blues") if domain is None else alt.Scale(scheme="redblue",
                                                                        domain=domain)
    base = alt.Chart(df, title=title).encode(
        x=alt.X(f"{x}:N", title=x), y=alt.Y(f"{y}:N", title=y))
    rect = base.mark_rect().encode(color=alt.Color(f"{value}:Q", scale=scale, title=value),
                                   tooltip=[x, y, alt.Tooltip(f"{value}:Q", format=fmt)])
    text = base.mark_text(baseline="middle").encode(text=alt.Text(f"{value}:Q", format=fmt))
    return (rect + text).properties(height=max(160, 36 * df[y].nunique()))


with ui.user_errors():
    rep = review.agreement(store, actor, project)
    status = review.project_status(store, actor, project)

    top = st.columns(4)
    top[0].metric("Answers", rep.answers)
    top[1].metric("Items answered", rep.items)
    top[2].metric("Annotators", rep.annotators)
    top[3].metric("Items with ≥2 answers", rep.percent.items)
    for note in rep.notes:
        st.caption(note)

    if rep.percent.items == 0 or not rep.cohen:
        st.info("Agreement needs at least two annotators' answers on the same items. "
                f"So far {rep.annotators} annotator(s) answered {rep.items} item(s) and no item "
                "has two answers. Set the project's overlap to 2 or more (Projects page) so "
                "items go to several annotators.")
        if status["per_annotator"]:
            st.subheader("Answers per annotator")
            st.bar_chart(pd.DataFrame({"annotator": list(status["per_annotator"]),
                                       "answers": list(status["per_annotator"].values())}),
                         x="annotator", y="answers")
        st.stop()

    # ------------------------------------------------------------------------ summary
    st.subheader("Summary")
    fl = rep.fleiss
    rows: list[dict[str, Any]] = [
        {"measure": "Percent agreement (pairwise)", "value": _pct(rep.percent.pairwise),
         "based on": f"{rep.percent.pairs} answer pairs on {rep.percent.items} items"},
        {"measure": "Mean per-item agreement", "value": _pct(rep.percent.mean_item),
         "based on": f"{rep.percent.items} items"},
        {"measure": "Unanimous items", "value": _pct(rep.percent.unanimous),
         "based on": f"{rep.percent.items} items"},
        {"measure": "Fleiss' kappa", "value": _num(fl.kappa) if fl else "—",
         "based on": (f"{fl.items} items with {fl.raters_per_item} answers; "
                      f"{fl.items_excluded} items excluded") if fl else "not computed"},
        {"measure": "Krippendorff's alpha (nominal)", "value": _num(rep.alpha.alpha),
         "based on": f"{rep.alpha.units} units, {rep.alpha.values} answers"},
        {"measure": "Mean pairwise Cohen's kappa", "value": _num(rep.mean_pair_kappa),
         "based on": f"{len(rep.cohen)} annotator pairs"},
    ]
    st.dataframe(rows, hide_index=True, width="stretch", key="agreement_summary")

    st.subheader("Cohen's kappa per annotator pair")
    pairs = pd.DataFrame([{"annotator A": p.annotator_a, "annotator B": p.annotator_b,
                           "n (shared items)": p.items, "observed": round(p.observed, 4),
                           "expected": round(p.expected, 4),
                           "kappa": None if p.kappa is None else round(p.kappa, 4)}
                          for p in rep.cohen])
    st.dataframe(pairs, hide_index=True, width="stretch", key="agreement_pairs")
    names = sorted({str(p.annotator_a) for p in rep.cohen} | {str(p.annotator_b) for p in rep.cohen})
    cells = []
    for p in rep.cohen:
        for a, b in ((p.annotator_a, p.annotator_b), (p.annotator_b, p.annotator_a)):
            cells.append({"annotator": str(a), "other": str(b), "kappa": p.kappa, "n": p.items})
    if cells:
        st.altair_chart(_heatmap(pd.DataFrame(cells), "annotator", "other", "kappa",
                                 "Cohen's kappa (annotator × annotator)", fmt=".2f",
                                 domain=[-1.0, 1.0]), width="stretch")

    # ------------------------------------------------------------------------ labels
    st.subheader("Per label")
    st.dataframe(pd.DataFrame([{
        "label": l.label, "answers": l.answers, "items": l.items,
        "items with ≥2 answers": l.items_multi,
        "specific agreement": l.specific_agreement, "alpha (label vs rest)": l.alpha_one_vs_rest,
        "Fleiss kappa (label)": l.fleiss_kappa} for l in rep.labels]),
        hide_index=True, width="stretch", key="agreement_labels")
    if rep.confusion:
        conf = pd.DataFrame([{"answer": v1, "other answer": v2, "pairs": c}
                             for v1, row in rep.confusion.items() for v2, c in row.items()])
        st.altair_chart(_heatmap(conf, "answer", "other answer", "pairs",
                                 "Confusion between annotators (answer pairs on the same item)",
                                 fmt="d"), width="stretch")

    st.subheader("Per annotator")
    st.dataframe(pd.DataFrame([{
        "annotator": a.annotator, "answers": a.answers, "items shared": a.items_with_others,
        "agreement with others": a.agreement_with_others, "mean pair kappa": a.mean_pair_kappa,
        "items with gold": a.items_with_gold, "agreement with gold": a.agreement_with_gold}
        for a in rep.by_annotator]), hide_index=True, width="stretch", key="agreement_annotators")

    # ------------------------------------------------------------------------ preference
    if rep.preference is not None:
        pref = rep.preference
        st.subheader("Preference: side agreement and position bias")
        c = st.columns(3)
        c[0].metric("Side agreement (A/B answers only)", _pct(pref.side.pairwise),
                    help=f"{pref.side.pairs} pairs on {pref.side.items} items")
        c[1].metric("Side alpha", _num(pref.side_alpha.alpha))
        b = pref.position_bias
        c[2].metric("First-shown chosen", _pct(b.rate),
                    help=f"{b.first_shown_won} of {b.answers} A/B answers; z={_num(b.z, 2)}, "
                         f"p={_num(b.p_value, 4)}")
        if b.p_value is not None and b.p_value < 0.05:
            st.warning(f"Position bias: the first-shown candidate wins {_pct(b.rate)} of the time "
                       f"(p = {_num(b.p_value, 4)}).")
        if pref.position_bias_by_annotator:
            st.dataframe(pd.DataFrame([{
                "annotator": x.annotator, "A/B answers": x.answers,
                "first shown chosen": x.first_shown_won, "rate": x.rate, "z": x.z,
                "p": x.p_value, **{f"chose {k}": v for k, v in x.choices.items()}}
                for x in pref.position_bias_by_annotator]), hide_index=True, width="stretch",
                key="agreement_bias")

    # ------------------------------------------------------------------------ settled
    st.subheader("Settled items")
    gold = review.settled(store, actor, project)
    if not gold:
        st.caption("No item is settled yet.")
    else:
        dist = Counter(v for g in gold for v in (g.gold.split("|") if project.task_type ==
                                                 "classification" else [g.gold]))
        if project.task_type == "response":
            st.caption(f"{len(gold)} settled replies.")
        else:
            st.bar_chart(pd.DataFrame({"label": list(dist), "settled items": list(dist.values())}),
                         x="label", y="settled items")
            by_how = Counter(g.how for g in gold)
            st.caption(f"{len(gold)} settled items: {by_how.get('rule', 0)} by the rule, "
                       f"{by_how.get('adjudicated', 0)} by a lead.")

    st.subheader("Annotator throughput")
    tp = review.throughput(store, actor, project)
    if tp:
        tdf = pd.DataFrame(tp)
        if tdf["day"].nunique() > 1:
            st.line_chart(tdf, x="day", y="answers", color="annotator")
        else:
            st.bar_chart(tdf, x="annotator", y="answers")
        st.caption("Answers given per annotator per day (changed answers count again).")
    else:
        st.caption("No answers yet.")

    ui.json_download("Download the full report (JSON)", rep.to_dict(),
                     f"{project.name}-agreement.json", key="agreement_download")
