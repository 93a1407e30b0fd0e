"""SQL for inter-annotator agreement and settling.

Metrics work on an *answers* relation: one row per (item, annotator) with columns
``item_id``, ``annotator``, ``value`` (and, for preference projects, ``shown_order``).
``prepare`` copies such a relation into per-cursor temp tables under a unique prefix:

* ``{p}_a``  the answers (item_id, annotator, value[, shown_order])
* ``{p}_iv`` counts per (item, value): ``n``
* ``{p}_i``  per item: ``m`` answers, ``s2`` = sum of n², ``k`` distinct values

Every metric is then one set-based query over those tables; ``drop`` removes them.
Settling builds its per-item status with ``status_sql`` (one statement, usable as a
sub-query by other store modules, parameter ``$project_id``).
"""
from __future__ import annotations

import re
import uuid
from typing import Any

import duckdb

from curator.errors import CuratorError

__all__ = [
    "check_relation",
    "relation_columns",
    "new_prefix",
    "prepare",
    "prepare_side",
    "create_gold_from_counts",
    "drop",
    "drop_table",
    "count_rows",
    "duplicate_answers",
    "overall",
    "fleiss",
    "labels",
    "pair_confusion",
    "pairs",
    "confusion",
    "annotators",
    "position_bias",
    "project_task",
    "project_rule_json",
    "create_current",
    "create_project_answers",
    "user_names",
    "status_sql",
    "create_status_table",
    "create_gold_table",
    "item_status_rows",
    "status_counts",
    "review_rows",
    "settled_rows",
    "insert_adjudication",
    "item_project",
    "project_labels",
]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
Cursor = duckdb.DuckDBPyConnection


def check_relation(name: str) -> str:
    """``name`` if it is a plain (optionally schema-qualified) table or view name."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise CuratorError(
            f"answers relation {name!r} is not a table or view name "
            "(expected letters, digits and underscores, optionally schema.table)"
        )
    return name


def relation_columns(cur: Cursor, relation: str) -> list[str]:
    """Lower-cased column names of a table or view; CuratorError when it does not exist."""
    check_relation(relation)
    try:
        rows = cur.execute(f"DESCRIBE {relation}").fetchall()
    except duckdb.CatalogException:
        raise CuratorError(f"answers relation {relation!r} does not exist") from None
    return [r[0].lower() for r in rows]


def new_prefix() -> str:
    return "_ag_" + uuid.uuid4().hex[:10]


def prepare(cur: Cursor, relation: str, prefix: str, *, where: str = "",
            with_shown_order: bool = False, copy: bool = True) -> None:
    """Materialise answers, item×value counts and per-item sums as temp tables.

    With ``copy=False`` the relation must already be a temp table named ``{prefix}_a``
    holding (item_id, annotator, value[, shown_order]) with no NULL values.
    """
    check_relation(relation)
    if copy:
        extra = (", CAST(shown_order AS VARCHAR) AS shown_order" if with_shown_order
                 else ", NULL::VARCHAR AS shown_order")
        cond = f"AND ({where})" if where else ""
        cur.execute(
            f"""CREATE TEMP TABLE {prefix}_a AS
            SELECT CAST(item_id AS BIGINT) AS item_id, annotator,
                   CAST(value AS VARCHAR) AS value{extra}
            FROM {relation} WHERE value IS NOT NULL AND item_id IS NOT NULL
              AND annotator IS NOT NULL {cond}"""
        )
    elif relation != f"{prefix}_a":
        raise ValueError(f"copy=False needs the answers in {prefix}_a, got {relation}")
    cur.execute(
        f"""CREATE TEMP TABLE {prefix}_iv AS
        SELECT item_id, value, count(*) AS n FROM {prefix}_a GROUP BY item_id, value"""
    )
    _item_sums(cur, f"{prefix}_iv", f"{prefix}_i")


def _item_sums(cur: Cursor, iv: str, out: str) -> None:
    # per item: m answers, s2 = sum n², k values, modal value and the top two counts
    cur.execute(
        f"""CREATE TEMP TABLE {out} AS
        SELECT item_id, sum(n)::BIGINT AS m, sum(n * n)::BIGINT AS s2, count(*)::BIGINT AS k,
               arg_max(value, n) AS top_value, max(n)::BIGINT AS top_n,
               coalesce(max(n, 2)[2], 0)::BIGINT AS second_n
        FROM {iv} GROUP BY item_id"""
    )


def prepare_side(cur: Cursor, p: str) -> None:
    """``{p}_siv`` / ``{p}_si``: the counts restricted to preference sides A and B."""
    cur.execute(f"CREATE TEMP TABLE {p}_siv AS SELECT * FROM {p}_iv WHERE value IN ('A', 'B')")
    _item_sums(cur, f"{p}_siv", f"{p}_si")


def drop(cur: Cursor, prefix: str) -> None:
    for suffix in ("a", "iv", "i", "siv", "si", "conf", "gold", "cur"):
        cur.execute(f"DROP TABLE IF EXISTS {prefix}_{suffix}")


def drop_table(cur: Cursor, name: str) -> None:
    cur.execute(f"DROP TABLE IF EXISTS {check_relation(name)}")


def count_rows(cur: Cursor, name: str) -> int:
    return int(cur.execute(f"SELECT count(*) FROM {check_relation(name)}").fetchone()[0])


def duplicate_answers(cur: Cursor, relation: str) -> tuple[Any, Any, int] | None:
    """One (item_id, annotator, rows) that occurs more than once, or None."""
    check_relation(relation)
    return cur.execute(
        f"""SELECT item_id, annotator, count(*) FROM {relation}
        WHERE value IS NOT NULL GROUP BY item_id, annotator HAVING count(*) > 1 LIMIT 1"""
    ).fetchone()


def overall(cur: Cursor, p: str, *, side: bool = False) -> dict[str, Any]:
    """Counts, pairwise percent agreement and Krippendorff's alpha (nominal) terms.

    ``side`` reads the A/B-only tables of ``prepare_side``.
    """
    iv, it = (f"{p}_siv", f"{p}_si") if side else (f"{p}_iv", f"{p}_i")
    row = cur.execute(
        f"""WITH lab AS (
            SELECT iv.value, sum(iv.n) AS nc FROM {iv} iv JOIN {it} i USING (item_id)
            WHERE i.m >= 2 GROUP BY iv.value)
        SELECT
          (SELECT coalesce(sum(m), 0) FROM {it}),
          (SELECT count(DISTINCT annotator) FROM {p}_a),
          count(*),
          count(*) FILTER (WHERE m >= 2),
          count(*) FILTER (WHERE m >= 2 AND k = 1),
          sum((s2 - m) / 2) FILTER (WHERE m >= 2),
          sum(m * (m - 1) / 2) FILTER (WHERE m >= 2),
          avg((s2 - m) / (m * (m - 1))::DOUBLE) FILTER (WHERE m >= 2),
          sum(m) FILTER (WHERE m >= 2),
          sum((m * m - s2) / (m - 1)::DOUBLE) FILTER (WHERE m >= 2),
          (SELECT sum(nc * nc) FROM lab),
          (SELECT count(*) FROM lab)
        FROM {it}"""
    ).fetchone()
    keys = ["answers", "annotators", "items", "items_multi", "items_unanimous", "agreeing_pairs",
            "pairs", "mean_item_agreement", "pairable_values", "disagreement_sum", "sum_nc2",
            "values"]
    return dict(zip(keys, row))


def fleiss(cur: Cursor, p: str) -> dict[str, Any] | None:
    """Fleiss' kappa over the items that have the modal number of answers (m >= 2)."""
    mode = cur.execute(
        f"""SELECT m, count(*) AS c FROM {p}_i WHERE m >= 2
        GROUP BY m ORDER BY c DESC, m DESC LIMIT 1"""
    ).fetchone()
    if mode is None:
        return None
    m, n_items = int(mode[0]), int(mode[1])
    row = cur.execute(
        f"""SELECT avg((s2 - m) / (m * (m - 1))::DOUBLE) FILTER (WHERE m = $m), count(*)
        FROM {p}_i""",
        {"m": m},
    ).fetchone()
    cats = cur.execute(
        f"""SELECT iv.value, sum(iv.n)::DOUBLE / ($m * $N) AS pj,
                   sum(iv.n * ($m - iv.n))::DOUBLE AS dis
        FROM {p}_iv iv JOIN {p}_i i USING (item_id) WHERE i.m = $m
        GROUP BY iv.value ORDER BY iv.value""",
        {"m": m, "N": n_items},
    ).fetchall()
    return {"raters": m, "items": n_items, "items_answered": int(row[1]),
            "p_bar": float(row[0]), "categories": [(v, float(pj), float(d)) for v, pj, d in cats]}


def labels(cur: Cursor, p: str) -> list[tuple[Any, ...]]:
    """Per value: answers, items with it, pairable answers, items with >= 2 answers,
    specific-agreement numerator and denominator, one-vs-rest disagreement sum."""
    return cur.execute(
        f"""SELECT iv.value,
              sum(iv.n)::BIGINT AS answers,
              count(*) AS items,
              coalesce(sum(iv.n) FILTER (WHERE i.m >= 2), 0)::BIGINT AS nc,
              count(*) FILTER (WHERE i.m >= 2) AS items_multi,
              coalesce(sum(iv.n * (iv.n - 1)) FILTER (WHERE i.m >= 2), 0)::BIGINT AS sa_num,
              coalesce(sum(iv.n * (i.m - 1)) FILTER (WHERE i.m >= 2), 0)::BIGINT AS sa_den,
              coalesce(sum(iv.n * (i.m - iv.n) / (i.m - 1)::DOUBLE) FILTER (WHERE i.m >= 2), 0)
                AS dis
        FROM {p}_iv iv JOIN {p}_i i USING (item_id)
        GROUP BY iv.value ORDER BY iv.value"""
    ).fetchall()


def pair_confusion(cur: Cursor, p: str) -> None:
    """Temp table ``{p}_conf``: (a1, a2, v1, v2, c) for every annotator pair a1 < a2.

    """
    cur.execute(
        f"""CREATE TEMP TABLE {p}_conf AS
        SELECT x.annotator AS a1, y.annotator AS a2, x.value AS v1, y.value AS v2, count(*) AS c
        FROM {p}_a x JOIN {p}_a y ON x.item_id = y.item_id AND x.annotator < y.annotator
        GROUP BY ALL"""
    )


def pairs(cur: Cursor, p: str) -> list[tuple[Any, ...]]:
    """Cohen's kappa terms per pair: (a1, a2, n, agree, expected agreement)."""
    return cur.execute(
        f"""WITH tot AS (
              SELECT a1, a2, sum(c) AS n, coalesce(sum(c) FILTER (WHERE v1 = v2), 0) AS agree
              FROM {p}_conf GROUP BY a1, a2),
            r AS (SELECT a1, a2, v1 AS v, sum(c) AS rc FROM {p}_conf GROUP BY ALL),
            k AS (SELECT a1, a2, v2 AS v, sum(c) AS kc FROM {p}_conf GROUP BY ALL),
            pe AS (SELECT a1, a2, sum(rc * kc)::DOUBLE AS rk FROM r JOIN k USING (a1, a2, v)
                   GROUP BY a1, a2)
        SELECT tot.a1, tot.a2, tot.n::BIGINT, tot.agree::BIGINT,
               coalesce(pe.rk, 0) / (tot.n * tot.n)::DOUBLE
        FROM tot LEFT JOIN pe USING (a1, a2) ORDER BY tot.a1, tot.a2"""
    ).fetchall()


def confusion(cur: Cursor, p: str) -> list[tuple[Any, Any, int]]:
    """Label × label counts over all answer pairs on the same item, both orders counted."""
    return cur.execute(
        f"""SELECT v1, v2, sum(c)::BIGINT FROM (
              SELECT v1, v2, c FROM {p}_conf UNION ALL SELECT v2, v1, c FROM {p}_conf)
        GROUP BY ALL ORDER BY v1, v2"""
    ).fetchall()


def annotators(cur: Cursor, p: str, gold: str | None) -> list[tuple[Any, ...]]:
    """Per annotator: answers, items shared with others and (with a gold relation
    (item_id, value)) answers on items with gold and how many equal it.

    Agreement with the others comes from the pair table (sum over their pairs).
    """
    gold_cols = "0::BIGINT, 0::BIGINT"
    gold_join = ""
    if gold:
        check_relation(gold)
        gold_cols = ("count(g.item_id)::BIGINT, "
                     "coalesce(sum(CASE WHEN g.value = a.value THEN 1 ELSE 0 END), 0)::BIGINT")
        gold_join = f"LEFT JOIN {gold} g ON g.item_id = a.item_id"
    return cur.execute(
        f"""SELECT a.annotator, count(*)::BIGINT, count(*) FILTER (WHERE i.m >= 2)::BIGINT,
              {gold_cols}
        FROM {p}_a a JOIN {p}_i i ON i.item_id = a.item_id
        {gold_join}
        GROUP BY a.annotator ORDER BY a.annotator"""
    ).fetchall()


def position_bias(cur: Cursor, p: str) -> list[tuple[Any, ...]]:
    """Per annotator (and NULL = everyone): A/B/tie/both_bad counts, A/B answers with a known
    shown order, and how many of those chose the candidate shown first."""
    return cur.execute(
        f"""SELECT annotator,
              count(*) FILTER (WHERE value = 'A'),
              count(*) FILTER (WHERE value = 'B'),
              count(*) FILTER (WHERE value = 'tie'),
              count(*) FILTER (WHERE value = 'both_bad'),
              count(*) FILTER (WHERE value IN ('A', 'B') AND shown_order IN ('AB', 'BA')),
              count(*) FILTER (WHERE (value = 'A' AND shown_order = 'AB')
                                  OR (value = 'B' AND shown_order = 'BA'))
        FROM {p}_a GROUP BY GROUPING SETS ((annotator), ())
        ORDER BY annotator NULLS FIRST"""
    ).fetchall()


def create_gold_from_counts(cur: Cursor, project_id: int, rule: tuple[str, int, int], p: str,
                            name: str) -> None:
    """Temp table ``name`` (item_id, value): settled items, from the per-item sums ``{p}_i``
    that ``prepare`` built over the project's current answers, plus adjudications."""
    settled, _ = _settle_conditions(*rule)
    cur.execute(
        f"""CREATE TEMP TABLE {check_relation(name)} AS
        WITH adj AS (
            SELECT item_id, arg_max(value, (created_at, id)) AS value FROM adjudications
            WHERE project_id = $project_id GROUP BY item_id),
        s AS (SELECT item_id, m AS n_answers, k AS n_values, top_value, top_n, second_n
              FROM {p}_i)
        SELECT coalesce(adj.item_id, s.item_id) AS item_id,
               coalesce(adj.value, CASE WHEN {settled} THEN s.top_value END) AS value
        FROM s FULL JOIN adj ON adj.item_id = s.item_id
        WHERE adj.item_id IS NOT NULL OR ({settled})""",
        {"project_id": project_id},
    )


# ---------------------------------------------------------------------- projects and settling
def project_task(cur: Cursor, project_id: int) -> str | None:
    row = cur.execute("SELECT task_type FROM projects WHERE id = ?", [project_id]).fetchone()
    return row[0] if row else None


def project_rule_json(cur: Cursor, project_id: int) -> str | None:
    row = cur.execute("SELECT settle_rule FROM projects WHERE id = ?", [project_id]).fetchone()
    return None if row is None else str(row[0])


def project_labels(cur: Cursor, project_id: int) -> list[str]:
    row = cur.execute(
        "SELECT list_transform(CAST(labels AS JSON[]), lambda x: x->>'name') FROM projects WHERE id = ?",
        [project_id],
    ).fetchone()
    return [x for x in (row[0] if row and row[0] else []) if x is not None]


def item_project(cur: Cursor, item_id: int) -> int | None:
    row = cur.execute("SELECT project_id FROM items WHERE id = ?", [item_id]).fetchone()
    return None if row is None else int(row[0])


# Newest row per (item, user). Most pairs have a single row, so only pairs with history go
# through arg_max (3-5x faster than arg_max or a window over every row).
_CURRENT = """
    WITH hist AS (
        SELECT item_id, user_id FROM annotations WHERE project_id = $project_id
        GROUP BY item_id, user_id HAVING count(*) > 1),
    latest AS (
        SELECT item_id, user_id,
               arg_max(struct_pack(value := value, skipped := skipped, unsure := unsure,
                                   shown_order := shown_order), (created_at, id)) AS r
        FROM annotations a SEMI JOIN hist USING (item_id, user_id)
        WHERE a.project_id = $project_id GROUP BY item_id, user_id)
    SELECT a.item_id, a.user_id, a.value, a.skipped, a.unsure, a.shown_order
    FROM annotations a ANTI JOIN hist USING (item_id, user_id) WHERE a.project_id = $project_id
    UNION ALL
    SELECT item_id, user_id, r.value, r.skipped, r.unsure, r.shown_order FROM latest
"""


def create_current(cur: Cursor, project_id: int, name: str) -> None:
    """Temp table ``name``: the newest row per (item, user) of a project
    (item_id, user_id, value, skipped, unsure, shown_order), skips included."""
    cur.execute(f"CREATE TEMP TABLE {check_relation(name)} AS {_CURRENT}",
                {"project_id": project_id})


def create_project_answers(cur: Cursor, project_id: int, name: str) -> None:
    """Temp table ``name`` (item_id, annotator = user_id, value, shown_order): the project's
    current answers that are not skips."""
    cur.execute(
        f"""CREATE TEMP TABLE {check_relation(name)} AS
        SELECT item_id, user_id AS annotator, value, shown_order FROM ({_CURRENT})
        WHERE NOT skipped AND value IS NOT NULL""",
        {"project_id": project_id},
    )


def user_names(cur: Cursor, ids: list[int]) -> dict[int, str]:
    rows = cur.execute("SELECT id, name FROM users WHERE id IN (SELECT unnest($ids::BIGINT[]))",
                       {"ids": list(ids)}).fetchall()
    return {int(i): n for i, n in rows}


def _settle_conditions(kind: str, min_answers: int, margin: int) -> tuple[str, str]:
    k = int(min_answers)
    if kind == "unanimous":
        return (f"s.n_answers >= {k} AND s.n_values = 1", "s.n_values > 1")
    m = int(margin)
    return (f"s.n_answers >= {k} AND s.top_n - s.second_n >= {m}", f"s.n_answers >= {k}")


def _status_ctes(kind: str, min_answers: int, margin: int, current: str | None) -> str:
    """``WITH`` chain ending in CTE ``st`` (one row per project item, no counts list) and
    keeping ``vc`` (item × value answer counts) for callers that want counts."""
    settled, disagree = _settle_conditions(kind, min_answers, margin)
    src = check_relation(current) if current else f"({_CURRENT})"
    return f"""
    WITH cur AS (SELECT item_id, user_id, value, skipped, unsure FROM {src}),
    vc AS (
        SELECT item_id, value, count(*) AS n FROM cur
        WHERE NOT skipped AND value IS NOT NULL GROUP BY ALL),
    agg AS (
        SELECT item_id, sum(n)::BIGINT AS n_answers, count(*)::BIGINT AS n_values,
               arg_max(value, n) AS top_value, max(n)::BIGINT AS top_n,
               coalesce(max(n, 2)[2], 0)::BIGINT AS second_n
        FROM vc GROUP BY item_id),
    flags AS (
        SELECT item_id, bool_or(unsure) AS any_unsure,
               count(*) FILTER (WHERE skipped)::BIGINT AS n_skipped
        FROM cur WHERE unsure OR skipped GROUP BY item_id),
    adj AS (
        SELECT item_id, arg_max(value, (created_at, id)) AS value FROM adjudications
        WHERE project_id = $project_id GROUP BY item_id),
    s AS (
        SELECT i.id AS item_id, coalesce(agg.n_answers, 0) AS n_answers,
               coalesce(agg.n_values, 0) AS n_values, agg.top_value,
               coalesce(agg.top_n, 0) AS top_n, coalesce(agg.second_n, 0) AS second_n,
               coalesce(flags.any_unsure, false) AS any_unsure,
               coalesce(flags.n_skipped, 0) AS n_skipped, adj.value AS adjudicated_value
        FROM items i LEFT JOIN agg ON agg.item_id = i.id
        LEFT JOIN flags ON flags.item_id = i.id LEFT JOIN adj ON adj.item_id = i.id
        WHERE i.project_id = $project_id),
    st AS (
        SELECT s.item_id,
           CASE WHEN s.adjudicated_value IS NOT NULL OR ({settled}) THEN 'settled'
                WHEN {disagree} THEN 'disagreement' ELSE 'pending' END AS status,
           CASE WHEN s.adjudicated_value IS NOT NULL THEN s.adjudicated_value
                WHEN {settled} THEN s.top_value END AS gold,
           CASE WHEN s.adjudicated_value IS NOT NULL THEN 'adjudicated'
                WHEN {settled} THEN 'rule' END AS how,
           s.n_answers, s.n_values, s.top_value, s.top_n, s.second_n,
           s.any_unsure, s.n_skipped, s.adjudicated_value
        FROM s)"""


def status_sql(kind: str, min_answers: int, margin: int = 1, current: str | None = None) -> str:
    """One SELECT giving every item of project ``$project_id`` its settle status.

    Columns: item_id, status ('settled' | 'disagreement' | 'pending'), gold, how
    ('adjudicated' | 'rule' | NULL), n_answers, n_values, top_value, top_n, second_n,
    any_unsure, n_skipped, adjudicated_value. Rule numbers are validated integers, inlined.
    ``current`` names a relation made by ``create_current`` for the same project.
    Other store modules can embed it as a sub-query (e.g. export joins on settled gold).
    """
    return _status_ctes(kind, min_answers, margin, current) + "\n    SELECT * FROM st"


_COLS = ("item_id, status, gold, how, n_answers, n_values, top_value, top_n, second_n, "
         "any_unsure, n_skipped")
_Q_COLS = ", ".join("q." + c.strip() for c in _COLS.split(","))


def _with_counts(ctes: str, selection: str, order: str, params: dict[str, Any],
                 cur: Cursor, extra: str = "") -> list[tuple[Any, ...]]:
    """Run ``selection`` (a SELECT over ``st``) and attach each row's answer counts
    (list of {value, n}, most frequent first) as the column after ``second_n``."""
    return cur.execute(
        f"""{ctes},
        q AS ({selection}),
        qc AS (
            SELECT vc.item_id,
                   list(struct_pack(value := vc.value, n := vc.n::BIGINT)
                        ORDER BY vc.n DESC, vc.value) AS counts
            FROM vc SEMI JOIN q USING (item_id) GROUP BY vc.item_id)
        SELECT {extra}{_Q_COLS.replace('q.second_n,', 'q.second_n, coalesce(qc.counts, []),')}
        FROM q LEFT JOIN qc USING (item_id) ORDER BY {order}""",
        params,
    ).fetchall()


def create_status_table(cur: Cursor, project_id: int, rule: tuple[str, int, int], name: str) -> None:
    """Temp table ``name`` with ``status_sql`` rows for the project."""
    cur.execute(f"CREATE TEMP TABLE {check_relation(name)} AS {status_sql(*rule)}",
                {"project_id": project_id})


def create_gold_table(cur: Cursor, project_id: int, rule: tuple[str, int, int], name: str,
                      current: str | None = None) -> None:
    """Temp table ``name`` (item_id, value) of the project's settled items and their gold."""
    cur.execute(
        f"""CREATE TEMP TABLE {check_relation(name)} AS
        SELECT item_id, gold AS value FROM ({status_sql(*rule, current=current)})
        WHERE status = 'settled'""",
        {"project_id": project_id},
    )


def item_status_rows(cur: Cursor, project_id: int, rule: tuple[str, int, int],
                     item_ids: list[int] | None = None,
                     status: str | None = None) -> list[tuple[Any, ...]]:
    """Status rows (with counts after ``second_n``) ordered by item id."""
    params: dict[str, Any] = {"project_id": project_id}
    cond = []
    if item_ids is not None:
        cond.append("item_id IN (SELECT unnest($ids::BIGINT[]))")
        params["ids"] = list(item_ids)
    if status is not None:
        cond.append("status = $status")
        params["status"] = status
    where = ("WHERE " + " AND ".join(cond)) if cond else ""
    return _with_counts(_status_ctes(*rule, None), f"SELECT * FROM st {where}", "q.item_id",
                        params, cur)


def status_counts(cur: Cursor, project_id: int, rule: tuple[str, int, int]) -> tuple[int, ...]:
    return cur.execute(
        f"""{_status_ctes(*rule, None)}
        SELECT count(*),
              count(*) FILTER (WHERE status = 'settled'),
              count(*) FILTER (WHERE how = 'rule'),
              count(*) FILTER (WHERE how = 'adjudicated'),
              count(*) FILTER (WHERE status = 'disagreement'),
              count(*) FILTER (WHERE status = 'pending'),
              count(*) FILTER (WHERE any_unsure),
              count(*) FILTER (WHERE how IS DISTINCT FROM 'adjudicated'
                                  AND (status = 'disagreement' OR any_unsure)),
              count(*) FILTER (WHERE n_answers = 0)
        FROM st""",
        {"project_id": project_id},
    ).fetchone()


_REVIEW_ORDER = ("(status = 'disagreement') DESC, "
                 "CASE WHEN status = 'disagreement' THEN n_answers END DESC NULLS LAST, item_id")


def review_rows(cur: Cursor, project_id: int, rule: tuple[str, int, int],
                limit: int | None, offset: int) -> list[tuple[Any, ...]]:
    """Disagreements first (most answers first, then item id), then unsure flags (item id);
    adjudicated items are out. First column: reason."""
    lim = f"LIMIT {int(limit)}" if limit is not None else ""
    selection = f"""SELECT * FROM st
        WHERE how IS DISTINCT FROM 'adjudicated' AND (status = 'disagreement' OR any_unsure)
        ORDER BY {_REVIEW_ORDER} {lim} OFFSET {int(offset)}"""
    order = _REVIEW_ORDER.replace("status", "q.status").replace("n_answers", "q.n_answers") \
        .replace("item_id", "q.item_id")
    return _with_counts(_status_ctes(*rule, None), selection, order, {"project_id": project_id},
                        cur, extra="CASE WHEN q.status = 'disagreement' THEN 'disagreement' "
                                   "ELSE 'unsure' END AS reason, ")


def settled_rows(cur: Cursor, project_id: int, rule: tuple[str, int, int]) -> list[tuple[Any, ...]]:
    return cur.execute(
        f"""{_status_ctes(*rule, None)}
        SELECT item_id, gold, how FROM st WHERE status = 'settled' ORDER BY item_id""",
        {"project_id": project_id},
    ).fetchall()


def insert_adjudication(cur: Cursor, project_id: int, item_id: int, user_id: int, value: str,
                        reason: str) -> int:
    return int(cur.execute(
        """INSERT INTO adjudications (project_id, item_id, user_id, value, reason)
        VALUES (?, ?, ?, ?, ?) RETURNING id""",
        [project_id, item_id, user_id, value, reason],
    ).fetchone()[0])
