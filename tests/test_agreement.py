"""Agreement metrics: published reference values, randomized cross-checks, project answers."""
from __future__ import annotations

import json
import math
from itertools import combinations
from pathlib import Path

import duckdb
import krippendorff
import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa, fleiss_kappa

from curator.agreement import compute_agreement, project_agreement
from curator.errors import CuratorError, NotFoundError
from curator.store import Store

# ---------------------------------------------------------------- published tables (fixtures)
# Fleiss (1971) psychiatric diagnoses: 30 patients x 6 raters, categories 1..5.
FLEISS_1971 = """
444444 222555 233335 555555 222444 113333 333355 113334 114444 555555
144444 124444 222333 144444 224445 333335 111455 111112 224444 133555
555555 244444 224555 114444 144445 222224 111155 224444 133333 555555
""".split()

# Wikipedia "Fleiss' kappa" worked example: 10 items, counts of 14 raters over 5 categories.
WIKIPEDIA_COUNTS = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]

# Artstein & Poesio (2008) example as shipped in NLTK: 2 coders x 100 items; (a, b) -> items.
ARTSTEIN_POESIO = {("stat", "stat"): 46, ("ireq", "ireq"): 32, ("chck", "chck"): 10,
                   ("ireq", "stat"): 6, ("ireq", "chck"): 6}

# Krippendorff (2011) reliability data: 4 coders x 12 units, values 1..5, None = missing.
KRIPP_2011 = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, None],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}

# Wikipedia "Krippendorff's alpha" example (also in the krippendorff package docstring).
KRIPP_WIKIPEDIA = [
    [None, None, None, None, None, 3, 4, 1, 2, 1, 1, 3, 3, None, 3],
    [1, None, 2, 1, 3, 3, 4, 3, None, None, None, None, None, None, None],
    [None, None, 2, 1, 3, 4, 4, None, 2, 1, 1, 3, 3, None, 4],
]

# irr "anxiety": 20 subjects x 3 raters (ratings 1..6); Cohen's kappa raters 2 vs 3.
ANXIETY_R2 = [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4]
ANXIETY_R3 = [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("CREATE TABLE ans (item_id BIGINT, annotator VARCHAR, value VARCHAR)")
    yield c
    c.close()


def load(c: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    c.executemany("INSERT INTO ans VALUES (?, ?, ?)", [(i, str(a), None if v is None else str(v))
                                                       for i, a, v in rows])


def matrix_rows(matrix: dict[str, list]) -> list[tuple]:
    return [(u, coder, v) for coder, vals in matrix.items() for u, v in enumerate(vals, 1)
            if v is not None]


# ---------------------------------------------------------------- published values
def test_fleiss_1971_diagnoses(con):
    load(con, [(i, r, int(ch)) for i, row in enumerate(FLEISS_1971, 1) for r, ch in enumerate(row)])
    rep = compute_agreement(con, "ans")
    assert rep.fleiss is not None
    assert rep.fleiss.kappa == pytest.approx(0.4302445, abs=1e-7)
    assert (rep.fleiss.raters_per_item, rep.fleiss.items, rep.fleiss.items_excluded) == (6, 30, 0)
    assert rep.items == 30 and rep.answers == 180 and rep.annotators == 6
    assert len(rep.cohen) == 15


def test_wikipedia_fleiss_counts_expanded_in_sql(con):
    con.execute("CREATE TABLE counts (item_id BIGINT, cat INTEGER, n INTEGER)")
    con.executemany("INSERT INTO counts VALUES (?, ?, ?)",
                    [(i, j, n) for i, row in enumerate(WIKIPEDIA_COUNTS, 1)
                     for j, n in enumerate(row, 1)])
    # one rater row per count; rater ids 1..14 within each item
    con.execute("""INSERT INTO ans
        SELECT item_id, CAST(row_number() OVER (PARTITION BY item_id ORDER BY cat) AS VARCHAR),
               CAST(cat AS VARCHAR)
        FROM counts, range(n)""")
    rep = compute_agreement(con, "ans")
    assert rep.fleiss.kappa == pytest.approx(0.210, abs=5e-4)
    assert rep.fleiss.kappa == pytest.approx(fleiss_kappa(np.array(WIKIPEDIA_COUNTS)), abs=1e-12)
    assert rep.fleiss.raters_per_item == 14 and rep.fleiss.items == 10


def test_artstein_poesio_cohen_alpha_observed(con):
    rows, item = [], 0
    for (a, b), n in ARTSTEIN_POESIO.items():
        for _ in range(n):
            item += 1
            rows += [(item, "a", a), (item, "b", b)]
    load(con, rows)
    rep = compute_agreement(con, "ans")
    (pair,) = rep.cohen
    assert pair.items == 100
    assert pair.observed == pytest.approx(0.88, abs=1e-12)
    assert pair.kappa == pytest.approx(0.8013, abs=5e-5)
    assert rep.alpha.alpha == pytest.approx(0.8005, abs=5e-5)
    assert rep.percent.pairwise == pytest.approx(0.88, abs=1e-12)
    assert rep.percent.items == 100
    # specific agreement for two raters is 2a / (2a + b + c)
    assert rep.label("chck").specific_agreement == pytest.approx(2 * 10 / (2 * 10 + 6))
    assert rep.label("stat").specific_agreement == pytest.approx(2 * 46 / (2 * 46 + 6))
    assert rep.confusion["ireq"]["chck"] == 6 and rep.confusion["chck"]["ireq"] == 6


def test_krippendorff_2011_reliability_example(con):
    load(con, matrix_rows(KRIPP_2011))
    rep = compute_agreement(con, "ans")
    assert rep.alpha.alpha == pytest.approx(0.743421052632, abs=1e-12)
    # unit 12 has one value and is not pairable
    assert rep.alpha.units == 11 and rep.alpha.values == 40


def test_krippendorff_wikipedia_example(con):
    load(con, matrix_rows({str(i): row for i, row in enumerate(KRIPP_WIKIPEDIA)}))
    rep = compute_agreement(con, "ans")
    assert round(rep.alpha.alpha, 6) == 0.691358


def test_cohen_irr_anxiety_raters_2_3(con):
    load(con, [(i, "r2", v) for i, v in enumerate(ANXIETY_R2)]
         + [(i, "r3", v) for i, v in enumerate(ANXIETY_R3)])
    rep = compute_agreement(con, "ans")
    assert rep.pair("r3", "r2").kappa == pytest.approx(-0.006289308, abs=1e-9)


REFS = Path(__file__).resolve().parents[2] / "shared" / "data" / "agreement-refs"


@pytest.mark.skipif(not REFS.is_dir(), reason="needs ../shared/data/agreement-refs")
def test_shared_reference_files_match_fixtures(con):
    con.execute(f"""INSERT INTO ans SELECT CAST(column1 AS BIGINT), column0, column2
        FROM read_csv('{REFS / 'artstein_poesio_example.txt'}', delim='\t', header=false,
                      columns={{'column0': 'VARCHAR', 'column1': 'VARCHAR', 'column2': 'VARCHAR'}})""")
    rep = compute_agreement(con, "ans")
    assert rep.cohen[0].kappa == pytest.approx(0.8013, abs=5e-5)
    assert rep.alpha.alpha == pytest.approx(0.8005, abs=5e-5)
    con.execute("CREATE TABLE d AS SELECT * FROM read_csv(?)", [str(REFS / "fleiss1971_diagnoses_30x6.csv")])
    con.execute("CREATE VIEW dl AS SELECT subject AS item_id, name AS annotator, CAST(value AS VARCHAR) AS value"
                " FROM (UNPIVOT d ON COLUMNS(* EXCLUDE subject) INTO NAME name VALUE value)")
    assert compute_agreement(con, "dl").fleiss.kappa == pytest.approx(0.4302445, abs=1e-7)


# ---------------------------------------------------------------- randomized cross-checks
def random_answers(seed: int, n_items: int = 60, n_raters: int = 5, n_cats: int = 4,
                   p_missing: float = 0.3):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_cats, n_items)
    skill = rng.uniform(0.3, 0.9, n_raters)
    mat = np.where(rng.random((n_raters, n_items)) < skill[:, None], truth[None, :],
                   rng.integers(0, n_cats, (n_raters, n_items))).astype(float)
    mat[rng.random(mat.shape) < p_missing] = np.nan
    return mat


def table_from(mat: np.ndarray) -> list[tuple]:
    return [(u, f"r{r}", f"c{int(mat[r, u])}") for r in range(mat.shape[0])
            for u in range(mat.shape[1]) if not np.isnan(mat[r, u])]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_random_matches_statsmodels_and_krippendorff(con, seed):
    mat = random_answers(seed, n_cats=3 + seed % 3)
    load(con, table_from(mat))
    rep = compute_agreement(con, "ans")
    cats = sorted({int(v) for v in mat[~np.isnan(mat)]})

    # Krippendorff's alpha (nominal), any number of raters, missing allowed
    assert rep.alpha.alpha == pytest.approx(
        krippendorff.alpha(reliability_data=mat, level_of_measurement="nominal"), abs=1e-9)

    # per label: alpha of the binary recoding label / not label
    for c in cats:
        binary = np.where(np.isnan(mat), np.nan, (mat == c).astype(float))
        expected = krippendorff.alpha(reliability_data=binary, level_of_measurement="nominal")
        assert rep.label(f"c{c}").alpha_one_vs_rest == pytest.approx(expected, abs=1e-9)

    # Cohen's kappa for every pair, on the items both answered
    for r1, r2 in combinations(range(mat.shape[0]), 2):
        both = ~np.isnan(mat[r1]) & ~np.isnan(mat[r2])
        table = np.zeros((max(cats) + 1,) * 2)
        for x, y in zip(mat[r1, both].astype(int), mat[r2, both].astype(int)):
            table[x, y] += 1
        pair = rep.pair(f"r{r1}", f"r{r2}")
        assert pair.items == both.sum()
        assert pair.kappa == pytest.approx(cohens_kappa(table, return_results=False), abs=1e-9)

    # Fleiss' kappa over the items with the modal number of raters
    counts = (~np.isnan(mat)).sum(axis=0)
    values, freq = np.unique(counts[counts >= 2], return_counts=True)
    mode = max(zip(freq, values))[1]
    sel = counts == mode
    table = np.array([[np.sum(mat[:, u] == c) for c in cats] for u in np.flatnonzero(sel)])
    assert rep.fleiss.raters_per_item == mode
    assert rep.fleiss.items == sel.sum()
    assert rep.fleiss.items_excluded == (counts >= 1).sum() - sel.sum()
    assert rep.fleiss.kappa == pytest.approx(fleiss_kappa(table), abs=1e-9)

    # pairwise percent agreement, pooled over items with >= 2 answers
    agree = pairs = 0
    for u in range(mat.shape[1]):
        vals = mat[~np.isnan(mat[:, u]), u]
        for a, b in combinations(vals, 2):
            pairs += 1
            agree += a == b
    assert rep.percent.pairs == pairs
    assert rep.percent.pairwise == pytest.approx(agree / pairs, abs=1e-12)


def test_per_label_fleiss_kappa_matches_direct_formula(con):
    load(con, [(i, r, int(ch)) for i, row in enumerate(FLEISS_1971, 1) for r, ch in enumerate(row)])
    rep = compute_agreement(con, "ans")
    table = np.array([[row.count(str(c)) for c in range(1, 6)] for row in FLEISS_1971])
    n, m = table.shape[0], 6
    for j, c in enumerate(range(1, 6)):
        pj = table[:, j].sum() / (n * m)
        kj = 1 - (table[:, j] * (m - table[:, j])).sum() / (n * m * (m - 1) * pj * (1 - pj))
        assert rep.label(str(c)).fleiss_kappa == pytest.approx(kj, abs=1e-12)
    # Fleiss' overall kappa is the p_j q_j weighted mean of the per-category kappas
    p = table.sum(axis=0) / (n * m)
    w = p * (1 - p)
    assert rep.fleiss.kappa == pytest.approx(
        sum(w[j] * rep.label(str(j + 1)).fleiss_kappa for j in range(5)) / w.sum(), abs=1e-12)


# ---------------------------------------------------------------- per annotator, gold, edges
def test_per_annotator_agreement_with_others_and_gold(con):
    load(con, [
        (1, "ann", "x"), (1, "bob", "x"), (1, "cy", "y"),
        (2, "ann", "y"), (2, "bob", "x"),
        (3, "ann", "x"),                      # alone: not shared with anyone
    ])
    con.execute("CREATE TABLE gold AS SELECT * FROM (VALUES (1, 'x'), (2, 'y')) t(item_id, value)")
    rep = compute_agreement(con, "ans", gold="gold")
    by = {a.annotator: a for a in rep.by_annotator}
    # ann: item 1 others (x, y) -> 1 match of 2; item 2 other (x) -> 0 of 1
    assert by["ann"].answers == 3 and by["ann"].items_with_others == 2
    assert by["ann"].agreement_with_others == pytest.approx(1 / 3)
    assert by["cy"].agreement_with_others == 0.0
    assert (by["ann"].items_with_gold, by["ann"].agreement_with_gold) == (2, 1.0)
    assert (by["bob"].items_with_gold, by["bob"].agreement_with_gold) == (2, 0.5)
    assert by["cy"].agreement_with_gold == 0.0
    assert rep.percent.items == 2 and rep.percent.pairs == 4
    assert rep.percent.pairwise == pytest.approx(1 / 4)
    assert rep.percent.unanimous == 0.0
    # Fleiss: modal raters-per-item is a tie (3 vs 2, one item each) -> the larger one wins
    assert rep.fleiss.raters_per_item == 3 and rep.fleiss.items == 1
    assert rep.fleiss.items_excluded == 2
    json.dumps(rep.to_dict())


def test_undefined_figures_are_none_and_json_has_no_nan(con):
    load(con, [(1, "a", "x"), (1, "b", "x"), (2, "a", "x"), (2, "b", "x"), (3, "a", "x")])
    rep = compute_agreement(con, "ans")
    assert rep.percent.pairwise == 1.0
    assert rep.cohen[0].kappa is None          # one category only: chance agreement is 1
    assert rep.alpha.alpha is None
    assert rep.fleiss.kappa is None
    text = json.dumps(rep.to_dict(), allow_nan=False)
    assert "NaN" not in text


def test_empty_relation(con):
    rep = compute_agreement(con, "ans")
    assert rep.answers == 0 and rep.fleiss is None and rep.alpha.alpha is None
    assert rep.percent.pairwise is None and rep.cohen == []
    json.dumps(rep.to_dict(), allow_nan=False)


def test_bigint_annotators_and_view(con):
    con.execute("CREATE TABLE raw (item BIGINT, who BIGINT, v VARCHAR)")
    con.executemany("INSERT INTO raw VALUES (?, ?, ?)",
                    [(1, 7, "a"), (1, 9, "a"), (2, 7, "b"), (2, 9, "a")])
    con.execute("CREATE VIEW v AS SELECT item AS item_id, who AS annotator, v AS value FROM raw")
    rep = compute_agreement(con, "v")
    assert rep.pair(7, 9).items == 2 and rep.pair(7, 9).observed == 0.5


def test_bad_relations_are_refused(con):
    with pytest.raises(CuratorError, match="not a table or view name"):
        compute_agreement(con, "ans; DROP TABLE ans")
    with pytest.raises(CuratorError, match="does not exist"):
        compute_agreement(con, "nope")
    con.execute("CREATE TABLE wrong (item_id BIGINT, label VARCHAR)")
    with pytest.raises(CuratorError, match="annotator, value"):
        compute_agreement(con, "wrong")
    load(con, [(1, "a", "x"), (1, "a", "y")])
    with pytest.raises(CuratorError, match="2 answers from annotator 'a' on item 1"):
        compute_agreement(con, "ans")


def test_preference_side_agreement_and_position_bias():
    c = duckdb.connect()
    c.execute("CREATE TABLE p (item_id BIGINT, annotator VARCHAR, value VARCHAR, shown_order VARCHAR)")
    c.executemany("INSERT INTO p VALUES (?, ?, ?, ?)", [
        (1, "a", "A", "AB"), (1, "b", "A", "BA"),      # agree; a chose first shown, b second
        (2, "a", "B", "BA"), (2, "b", "A", "AB"),      # disagree; both chose first shown
        (3, "a", "tie", "AB"), (3, "b", "B", "AB"),    # tie is not a side; b chose second shown
        (4, "a", "B", "BA"), (4, "b", "both_bad", None),
    ])
    rep = compute_agreement(c, "p", task="preference")
    pref = rep.preference
    assert pref.side.items == 2 and pref.side.pairwise == 0.5
    bias = pref.position_bias
    assert bias.answers == 6 and bias.first_shown_won == 4
    assert bias.rate == pytest.approx(4 / 6)
    assert bias.choices == {"A": 3, "B": 3, "tie": 1, "both_bad": 1}
    z = (4 - 3) / math.sqrt(6 / 4)
    assert bias.z == pytest.approx(z) and bias.p_value == pytest.approx(math.erfc(z / math.sqrt(2)))
    by = {b.annotator: b for b in pref.position_bias_by_annotator}
    assert (by["a"].answers, by["a"].first_shown_won) == (3, 3)
    assert (by["b"].answers, by["b"].first_shown_won) == (3, 1)
    # over all four values the ordinary metrics still apply
    assert rep.percent.items == 4 and rep.percent.pairwise == 0.25
    json.dumps(rep.to_dict(), allow_nan=False)


# ---------------------------------------------------------------- from the annotations table
@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "t.duckdb")
    yield s
    s.close()


def seed_project(cur, task="classification", rule='{"kind":"majority","min_answers":2,"margin":1}'):
    cur.execute("INSERT INTO users (id, name, role) VALUES (1, 'ann', 'annotator'), "
                "(2, 'bob', 'annotator'), (3, 'cy', 'annotator'), (9, 'lead', 'lead')")
    cur.execute("INSERT INTO projects (id, name, task_type, labels, settle_rule) VALUES "
                "(1, 'p', ?, '[{\"name\":\"x\"},{\"name\":\"y\"}]', ?)", [task, rule])
    cur.execute("INSERT INTO items (id, project_id, text, dedup_key) "
                "SELECT i, 1, 't' || i, i FROM range(1, 6) t(i)")


def annotate(cur, rows):
    """rows: (item, user, value, skipped, unsure, shown_order, minute)."""
    cur.executemany(
        "INSERT INTO annotations (project_id, item_id, user_id, value, skipped, unsure, shown_order,"
        " created_at) VALUES (1, ?, ?, ?, ?, ?, ?, TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_minutes(?))",
        rows)


def test_project_agreement_uses_current_answers(store):
    cur = store.cursor()
    seed_project(cur)
    annotate(cur, [
        (1, 1, "y", False, False, None, 0), (1, 1, "x", False, False, None, 5),  # changed -> x
        (1, 2, "x", False, False, None, 1),
        (2, 1, "x", False, False, None, 0), (2, 2, "y", False, False, None, 1),
        (3, 1, "x", False, False, None, 0), (3, 2, "x", False, False, None, 1),
        (3, 3, "y", False, False, None, 2), (3, 3, None, True, False, None, 9),  # now a skip
        (4, 3, "y", False, False, None, 0),
    ])
    rep = project_agreement(cur, 1)
    assert rep.project_id == 1 and rep.task == "classification"
    assert rep.answers == 7 and rep.items == 4 and rep.annotators == 3
    pair = rep.pair("ann", "bob")
    assert pair.items == 3 and pair.observed == pytest.approx(2 / 3)
    assert rep.pair("ann", "cy") is None          # cy's only shared answer was replaced by a skip
    # settled under the project's rule (majority, 2 answers, margin 1): items 1 and 3
    assert rep.gold_items == 2
    by = {a.annotator: a for a in rep.by_annotator}
    assert (by["ann"].items_with_gold, by["ann"].agreement_with_gold) == (2, 1.0)
    assert rep.settle_rule == {"kind": "majority", "min_answers": 2, "margin": 1}
    json.dumps(rep.to_dict(), allow_nan=False)


def test_project_agreement_preference_position_bias(store):
    cur = store.cursor()
    seed_project(cur, task="preference")
    annotate(cur, [
        (1, 1, "A", False, False, "AB", 0), (1, 2, "B", False, False, "BA", 0),
        (2, 1, "B", False, False, "AB", 0), (2, 2, "B", False, False, "AB", 0),
    ])
    rep = project_agreement(cur, 1)
    assert rep.task == "preference"
    assert rep.preference.position_bias.answers == 4
    assert rep.preference.position_bias.first_shown_won == 2
    assert rep.preference.side.pairwise == 0.5


def test_project_agreement_unknown_project(store):
    with pytest.raises(NotFoundError, match="project 42"):
        project_agreement(store.cursor(), 42)


def test_preference_without_shown_order_still_counts_choices(con):
    load(con, [(1, "a", "A"), (1, "b", "B"), (2, "a", "tie"), (2, "b", "tie")])
    pref = compute_agreement(con, "ans", task="preference").preference
    assert pref.position_bias.answers == 0 and pref.position_bias.rate is None
    assert pref.position_bias.choices == {"A": 1, "B": 1, "tie": 2, "both_bad": 0}
    assert pref.side.items == 1 and pref.side.pairwise == 0.0


def test_project_agreement_rule_override_and_response_note(store):
    cur = store.cursor()
    seed_project(cur, task="response")
    annotate(cur, [(1, 1, "Hello, we refunded you.", False, False, None, 0),
                   (1, 2, "Hello, we refunded you.", False, False, None, 1),
                   (2, 1, "Sorry!", False, False, None, 0)])
    rep = project_agreement(cur, 1)                     # stored rule: majority, 2 answers
    assert rep.gold_items == 1 and rep.percent.pairwise == 1.0
    assert any("free text" in n for n in rep.notes)
    rep1 = project_agreement(cur, 1, rule={"kind": "unanimous", "min_answers": 1})
    assert rep1.gold_items == 2 and rep1.settle_rule == {"kind": "unanimous", "min_answers": 1}
