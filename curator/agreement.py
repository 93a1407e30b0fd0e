"""Inter-annotator agreement: percent agreement, Cohen's / Fleiss' kappa, Krippendorff's alpha,
per label, per annotator, per annotator pair, and for preference projects side agreement and
position bias.

All figures come from set-based SQL over an *answers* relation — one row per (item, annotator)
with columns ``item_id``, ``annotator``, ``value`` (``shown_order`` too for preference). Every
figure carries the number of items (and answers) it rests on; undefined figures are ``None``.
See docs/agreement.md for definitions.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from curator.errors import CuratorError, NotFoundError
from curator.settle import SettleRule, parse_rule, project_rule
from curator.store import agreement as sql

__all__ = [
    "PercentAgreement",
    "PairKappa",
    "FleissKappa",
    "KrippendorffAlpha",
    "LabelAgreement",
    "AnnotatorAgreement",
    "PositionBias",
    "PreferenceAgreement",
    "AgreementReport",
    "compute_agreement",
    "project_agreement",
]

Cursor = duckdb.DuckDBPyConnection


@dataclass
class PercentAgreement:
    """Pairwise percent agreement over items with >= 2 answers.

    ``pairwise``: agreeing answer pairs / all answer pairs on the same item (pooled).
    ``mean_item``: mean over items of that item's pairwise agreement (Fleiss' P-bar).
    ``unanimous``: share of those items whose answers are all equal.
    """

    pairwise: float | None
    mean_item: float | None
    unanimous: float | None
    items: int
    pairs: int


@dataclass
class PairKappa:
    """Cohen's kappa for two annotators over the ``items`` both answered."""

    annotator_a: Any
    annotator_b: Any
    items: int
    agreements: int
    observed: float
    expected: float
    kappa: float | None


@dataclass
class FleissKappa:
    """Fleiss' kappa over the items with the modal number of answers (``raters_per_item``)."""

    kappa: float | None
    raters_per_item: int
    items: int
    items_excluded: int
    observed: float
    expected: float


@dataclass
class KrippendorffAlpha:
    """Krippendorff's alpha (nominal) over units with >= 2 answers (``units``, ``values``)."""

    alpha: float | None
    units: int
    values: int
    observed_disagreement: float | None
    expected_disagreement: float | None


@dataclass
class LabelAgreement:
    """Agreement on one label.

    ``specific_agreement``: of the pairs in which one answer is this label, the share where
    the other is too (positive agreement; 2a/(2a+b+c) for two raters).
    ``alpha_one_vs_rest``: Krippendorff's alpha with answers recoded label / not label.
    ``fleiss_kappa``: Fleiss' per-category kappa on the Fleiss item set.
    """

    label: str
    answers: int
    items: int
    items_multi: int
    specific_agreement: float | None
    alpha_one_vs_rest: float | None
    fleiss_kappa: float | None


@dataclass
class AnnotatorAgreement:
    """One annotator against the others and against the settled answer.

    ``agreement_with_others``: share of the other answers on their items that equal theirs.
    ``mean_pair_kappa``: unweighted mean of their defined pairwise Cohen's kappas.
    ``agreement_with_gold``: share of their answers on settled items equal to the gold value
    (their own answer contributed to a rule-settled gold, so this leans high).
    """

    annotator: Any
    answers: int
    items_with_others: int
    agreement_with_others: float | None
    mean_pair_kappa: float | None
    pairs: int
    items_with_gold: int
    agreement_with_gold: float | None


@dataclass
class PositionBias:
    """How often the candidate shown first won, over A/B answers whose shown order is known.

    ``z`` and ``p_value``: two-sided normal approximation of a binomial test against 0.5.
    """

    annotator: Any
    answers: int
    first_shown_won: int
    rate: float | None
    z: float | None
    p_value: float | None
    choices: dict[str, int]


@dataclass
class PreferenceAgreement:
    """Agreement on the chosen side (only A/B answers; ties and both_bad left out)."""

    side: PercentAgreement
    side_alpha: KrippendorffAlpha
    position_bias: PositionBias
    position_bias_by_annotator: list[PositionBias]


@dataclass
class AgreementReport:
    """Every agreement figure for one answers relation or project."""

    task: str
    answers: int
    items: int
    annotators: int
    values: int
    percent: PercentAgreement
    cohen: list[PairKappa]
    mean_pair_kappa: float | None
    fleiss: FleissKappa | None
    alpha: KrippendorffAlpha
    labels: list[LabelAgreement]
    by_annotator: list[AnnotatorAgreement]
    confusion: dict[str, dict[str, int]]
    preference: PreferenceAgreement | None = None
    project_id: int | None = None
    settle_rule: dict[str, Any] | None = None
    gold_items: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (no NaN: undefined figures are None)."""
        return asdict(self)

    def pair(self, a: Any, b: Any) -> PairKappa | None:
        """The Cohen's kappa entry for annotators ``a`` and ``b`` (either order)."""
        for p in self.cohen:
            if {p.annotator_a, p.annotator_b} == {a, b}:
                return p
        return None

    def label(self, name: str) -> LabelAgreement | None:
        return next((l for l in self.labels if l.label == name), None)


# ---------------------------------------------------------------------- helpers
def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or not den:
        return None
    return float(num) / float(den)


def _kappa(po: float, pe: float) -> float | None:
    if pe >= 1.0 - 1e-15:
        return None
    return (po - pe) / (1.0 - pe)


def _percent(o: dict[str, Any]) -> PercentAgreement:
    multi = int(o["items_multi"] or 0)
    return PercentAgreement(
        pairwise=_ratio(o["agreeing_pairs"], o["pairs"]),
        mean_item=None if o["mean_item_agreement"] is None else float(o["mean_item_agreement"]),
        unanimous=_ratio(o["items_unanimous"], multi),
        items=multi,
        pairs=int(o["pairs"] or 0),
    )


def _alpha(o: dict[str, Any]) -> KrippendorffAlpha:
    n = int(o["pairable_values"] or 0)
    units = int(o["items_multi"] or 0)
    if n < 2:
        return KrippendorffAlpha(None, units, n, None, None)
    d_o = float(o["disagreement_sum"]) / n
    d_e = (n * n - float(o["sum_nc2"])) / (n * (n - 1))
    alpha = None if d_e <= 0 else 1.0 - d_o / d_e
    return KrippendorffAlpha(alpha, units, n, d_o, d_e)


def _fleiss(f: dict[str, Any] | None) -> FleissKappa | None:
    if f is None:
        return None
    pe = sum(pj * pj for _, pj, _ in f["categories"])
    return FleissKappa(
        kappa=_kappa(f["p_bar"], pe), raters_per_item=f["raters"], items=f["items"],
        items_excluded=f["items_answered"] - f["items"], observed=f["p_bar"], expected=pe,
    )


def _labels(rows: list[tuple[Any, ...]], n: int, f: dict[str, Any] | None) -> list[LabelAgreement]:
    per_cat: dict[str, float | None] = {}
    if f is not None:
        m, big_n = f["raters"], f["items"]
        for v, pj, dis in f["categories"]:
            den = big_n * m * (m - 1) * pj * (1 - pj)
            per_cat[v] = None if den <= 0 else 1.0 - dis / den
    out = []
    for value, answers, items, nc, items_multi, sa_num, sa_den, dis in rows:
        den = nc * (n - nc)
        alpha = None if n < 2 or den <= 0 else 1.0 - (n - 1) * float(dis) / den
        out.append(LabelAgreement(
            label=value, answers=int(answers), items=int(items), items_multi=int(items_multi),
            specific_agreement=_ratio(sa_num, sa_den), alpha_one_vs_rest=alpha,
            fleiss_kappa=per_cat.get(value),
        ))
    return out


def _pairs(rows: list[tuple[Any, ...]]) -> list[PairKappa]:
    out = []
    for a, b, n, agree, pe in rows:
        po = agree / n
        out.append(PairKappa(a, b, int(n), int(agree), po, float(pe), _kappa(po, float(pe))))
    return out


def _z_test(won: int, n: int) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    z = (won - n / 2) / math.sqrt(n / 4)
    return z, math.erfc(abs(z) / math.sqrt(2))


def _position_bias(rows: list[tuple[Any, ...]]) -> tuple[PositionBias, list[PositionBias]]:
    out = []
    for ann, a, b, tie, bad, n, won in rows:
        z, p = _z_test(int(won), int(n))
        out.append(PositionBias(ann, int(n), int(won), _ratio(won, n), z, p,
                                {"A": int(a), "B": int(b), "tie": int(tie), "both_bad": int(bad)}))
    overall = out[0] if out and out[0].annotator is None else PositionBias(
        None, 0, 0, None, None, None, {"A": 0, "B": 0, "tie": 0, "both_bad": 0})
    return overall, [x for x in out if x.annotator is not None]


def _annotators(rows: list[tuple[Any, ...]], pairs: list[PairKappa],
                has_gold: bool) -> list[AnnotatorAgreement]:
    kappas: dict[Any, list[float]] = {}
    npairs: dict[Any, int] = {}
    agree: dict[Any, int] = {}
    compared: dict[Any, int] = {}
    for p in pairs:
        matches = p.agreements
        for who in (p.annotator_a, p.annotator_b):
            npairs[who] = npairs.get(who, 0) + 1
            agree[who] = agree.get(who, 0) + matches
            compared[who] = compared.get(who, 0) + p.items
            if p.kappa is not None:
                kappas.setdefault(who, []).append(p.kappa)
    out = []
    for ann, answers, items_o, items_g, match_g in rows:
        ks = kappas.get(ann, [])
        out.append(AnnotatorAgreement(
            annotator=ann, answers=int(answers), items_with_others=int(items_o),
            agreement_with_others=_ratio(agree.get(ann), compared.get(ann)),
            mean_pair_kappa=sum(ks) / len(ks) if ks else None, pairs=npairs.get(ann, 0),
            items_with_gold=int(items_g),
            agreement_with_gold=_ratio(match_g, items_g) if has_gold else None,
        ))
    return out


def _metrics(cur: Cursor, p: str, task: str, gold: str | None) -> AgreementReport:
    """Every metric from the tables ``sql.prepare`` made under prefix ``p``."""
    o = sql.overall(cur, p)
    f = sql.fleiss(cur, p)
    sql.pair_confusion(cur, p)
    pairs = _pairs(sql.pairs(cur, p))
    conf: dict[str, dict[str, int]] = {}
    for v1, v2, c in sql.confusion(cur, p):
        conf.setdefault(v1, {})[v2] = int(c)
    alpha = _alpha(o)
    labels = _labels(sql.labels(cur, p), alpha.values, f)
    by_ann = _annotators(sql.annotators(cur, p, gold), pairs, gold is not None)
    pref = None
    if task == "preference":
        # without a shown order every answer counts in ``choices`` but none in ``answers``
        bias, bias_by = _position_bias(sql.position_bias(cur, p))
        sql.prepare_side(cur, p)
        side = sql.overall(cur, p, side=True)
        pref = PreferenceAgreement(_percent(side), _alpha(side), bias, bias_by)
    defined = [x.kappa for x in pairs if x.kappa is not None]
    return AgreementReport(
        task=task, answers=int(o["answers"] or 0), items=int(o["items"] or 0),
        annotators=int(o["annotators"] or 0), values=len(labels), percent=_percent(o),
        cohen=pairs, mean_pair_kappa=sum(defined) / len(defined) if defined else None,
        fleiss=_fleiss(f), alpha=alpha, labels=labels, by_annotator=by_ann, confusion=conf,
        preference=pref,
    )


def _rename(report: AgreementReport, names: dict[Any, str]) -> None:
    """Replace annotator ids by names in the small per-annotator parts of a report."""
    for pk in report.cohen:
        pk.annotator_a = names.get(pk.annotator_a, pk.annotator_a)
        pk.annotator_b = names.get(pk.annotator_b, pk.annotator_b)
    for a in report.by_annotator:
        a.annotator = names.get(a.annotator, a.annotator)
    if report.preference is not None:
        for b in report.preference.position_bias_by_annotator:
            b.annotator = names.get(b.annotator, b.annotator)


# ---------------------------------------------------------------------- public
def compute_agreement(cur: Cursor, relation: str, *, task: str = "classification",
                      gold: str | None = None, check_duplicates: bool = True) -> AgreementReport:
    """Every metric over ``relation`` (a table or view: item_id, annotator, value).

    ``task='preference'`` adds side agreement, choice counts and, when the relation has a
    ``shown_order`` column ('AB' / 'BA'), position bias. ``gold`` names a relation (item_id, value) of settled answers for
    per-annotator agreement with gold. Rows with a NULL value are ignored. Each (item_id,
    annotator) must occur at most once (checked unless ``check_duplicates=False``).
    """
    if task not in ("classification", "preference"):
        raise CuratorError(f"agreement is computed for classification and preference answers, "
                           f"not {task!r}")
    cols = sql.relation_columns(cur, relation)
    missing = [c for c in ("item_id", "annotator", "value") if c not in cols]
    if missing:
        raise CuratorError(f"answers relation {relation!r} lacks column(s) {', '.join(missing)}; "
                           "expected item_id, annotator, value")
    if check_duplicates:
        dup = sql.duplicate_answers(cur, relation)
        if dup is not None:
            raise CuratorError(f"answers relation {relation!r} has {dup[2]} answers from "
                               f"annotator {dup[1]!r} on item {dup[0]}; keep one (the newest)")
    with_order = "shown_order" in cols and task == "preference"
    p = sql.new_prefix()
    try:
        sql.prepare(cur, relation, p, with_shown_order=with_order)
        return _metrics(cur, p, task, gold)
    finally:
        sql.drop(cur, p)


def project_agreement(cur: Cursor, project_id: int,
                      rule: "SettleRule | dict[str, Any] | str | None" = None) -> AgreementReport:
    """Agreement over a project's current answers (newest per item and user, skips left out).

    Annotators are user names. Agreement with gold uses the settled items under ``rule``
    (default: the project's rule). Response projects (free text) get counts only.
    """
    task = sql.project_task(cur, project_id)
    if task is None:
        raise NotFoundError(f"project {project_id} does not exist")
    r = project_rule(cur, project_id) if rule is None else parse_rule(rule)
    p = sql.new_prefix()
    gold = f"{p}_gold"
    metric_task = task if task in ("classification", "preference") else "classification"
    try:
        sql.create_project_answers(cur, project_id, f"{p}_a")
        sql.prepare(cur, f"{p}_a", p, copy=False)
        sql.create_gold_from_counts(cur, project_id, r.as_tuple(), p, gold)
        report = _metrics(cur, p, metric_task, gold)
        gold_items = sql.count_rows(cur, gold)
        ids = [a.annotator for a in report.by_annotator]
        _rename(report, sql.user_names(cur, ids))
    finally:
        sql.drop(cur, p)
    report.task = task
    report.project_id = project_id
    report.settle_rule = r.to_dict()
    report.gold_items = gold_items
    if task == "response":
        report.notes.append(
            "response answers are free text: the figures compare replies for exact equality, "
            "which says little about agreement; review replies instead")
    if report.fleiss is not None and report.fleiss.items_excluded:
        report.notes.append(
            f"Fleiss' kappa uses the {report.fleiss.items} items with "
            f"{report.fleiss.raters_per_item} answers; {report.fleiss.items_excluded} answered "
            "items with another number of answers are left out")
    return report
