"""Benchmark: every agreement metric and the settle queries on ~1M answers over 300k items.

Data is generated in DuckDB SQL (no Python loops): item i gets 3 answers, every third item 4
(300k items -> 1,000,000 answers), from 30 annotators, 5 labels; an annotator gives the item's
"true" label with probability 0.75, otherwise a random one. Preference runs use A/B/tie/both_bad
and a random shown order. A share (--history, default 5%) of the annotation rows is written
again a minute later, so "newest row per (item, user)" has real work to do.

    python bench/bench_agreement.py [--items 300000] [--annotators 30] [--repeat 3] [--threads 2]

Prints one line per measurement (best and median wall time of --repeat runs, and the CPU
time of the best run summed over DuckDB's threads) and a JSON summary on the last line. The
load average at start is recorded: on a busy machine wall times are inflated.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curator.agreement import compute_agreement, project_agreement  # noqa: E402
from curator.settle import review_queue, settled_items, status_counts  # noqa: E402
from curator.store import Store  # noqa: E402

LABELS = "['billing', 'bug', 'account', 'feature', 'other']"


def answers_sql(items: int, annotators: int, preference: bool) -> str:
    """SELECT producing (item_id, user_id, value, shown_order) rows."""
    values = "['A', 'B', 'tie', 'both_bad']" if preference else LABELS
    nval = 4 if preference else 5
    return f"""
    WITH it AS (
        SELECT i AS item_id, 3 + (i % 3 = 0)::INTEGER AS m, (hash(i, 'truth') % {nval})::BIGINT AS truth,
               (hash(i, 'base') % {annotators})::BIGINT AS base,
               [1, 7, 11, 13][(hash(i, 'step') % 4)::BIGINT + 1] AS step
        FROM range(1, {items} + 1) t(i)),
    a AS (
        -- 4 distinct annotators per item: base + j * step (mod 30), step in {{1, 7, 11, 13}}
        SELECT item_id, ((base + j * step) % {annotators}) + 1 AS user_id, truth,
               (hash(item_id, j) % 100)::BIGINT AS dice, (hash(item_id, j, 'v') % {nval})::BIGINT AS noise,
               hash(item_id, j, 'o') % 2 AS flip
        FROM it, range(4) r(j) WHERE j < m)
    SELECT item_id, user_id,
           {values}[(CASE WHEN dice < 75 THEN truth ELSE noise END) + 1] AS value,
           CASE WHEN flip = 0 THEN 'AB' ELSE 'BA' END AS shown_order
    FROM a"""


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, float, float, Any]:
    """Best and median wall time, and the CPU time (all threads) of the best run."""
    times, out, cpu = [], None, []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    k = times.index(min(times))
    return min(times), statistics.median(times), cpu[k], out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=300_000)
    ap.add_argument("--annotators", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--history", type=float, default=0.05,
                    help="share of answers re-written later (append-only history rows)")
    args = ap.parse_args()
    if args.annotators != 30 and args.annotators < 40:
        ap.error("--annotators must be 30 or at least 40 (so each item's 4 annotators differ)")

    results: dict[str, Any] = {"items": args.items, "annotators": args.annotators,
                               "threads": args.threads, "cpus": os.cpu_count(),
                               "load_avg_1m_at_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "bench.duckdb")
        cur = store.cursor()
        cur.execute(f"SET threads = {args.threads}")
        t0 = time.perf_counter()
        cur.execute("INSERT INTO users (id, name, role) SELECT i, 'annotator' || lpad(i::VARCHAR, 2, '0'),"
                    f" 'annotator' FROM range(1, {args.annotators} + 1) t(i)")
        for pid, task in ((1, "classification"), (2, "preference")):
            cur.execute(
                "INSERT INTO projects (id, name, task_type, labels, settle_rule) VALUES (?, ?, ?, "
                "'[]', '{\"kind\":\"majority\",\"min_answers\":3,\"margin\":1}')",
                [pid, f"bench{pid}", task])
            cur.execute(f"""INSERT INTO items (id, project_id, text, dedup_key)
                SELECT {pid} * 10000000 + i, {pid}, 'ticket ' || i, hash('ticket' || i)
                FROM range(1, {args.items} + 1) t(i)""")
            cur.execute(f"""INSERT INTO annotations (project_id, item_id, user_id, value, shown_order)
                SELECT {pid}, {pid} * 10000000 + item_id, user_id, value, shown_order
                FROM ({answers_sql(args.items, args.annotators, task == 'preference')})""")
            # history: a share of answers were changed later (the newest row must win)
            cur.execute(f"""INSERT INTO annotations (project_id, item_id, user_id, value,
                    shown_order, created_at)
                SELECT project_id, item_id, user_id, value, shown_order,
                       created_at + INTERVAL 1 MINUTE
                FROM annotations WHERE project_id = {pid}
                  AND hash(id, 'changed') % 1000 < {int(args.history * 1000)}""")
        results["annotation_rows"] = cur.execute("SELECT count(*) FROM annotations").fetchone()[0]
        # a plain answers table (what compute_agreement reads directly)
        cur.execute(f"""CREATE TABLE answers AS SELECT item_id, user_id AS annotator, value
            FROM ({answers_sql(args.items, args.annotators, False)})""")
        cur.execute(f"""CREATE TABLE pref_answers AS SELECT item_id, user_id AS annotator, value,
            shown_order FROM ({answers_sql(args.items, args.annotators, True)})""")
        n = cur.execute("SELECT count(*) FROM answers").fetchone()[0]
        results["answers"] = n
        results["generate_s"] = round(time.perf_counter() - t0, 3)
        print(f"generated {n:,} answers on {args.items:,} items per project in "
              f"{results['generate_s']:.2f} s")

        runs: list[tuple[str, Callable[[], Any]]] = [
            ("compute_agreement(answers table)", lambda: compute_agreement(cur, "answers")),
            ("compute_agreement(preference table)",
             lambda: compute_agreement(cur, "pref_answers", task="preference")),
            ("project_agreement(classification)", lambda: project_agreement(cur, 1)),
            ("project_agreement(preference)", lambda: project_agreement(cur, 2)),
            ("status_counts", lambda: status_counts(cur, 1)),
            ("review_queue(limit=50)", lambda: review_queue(cur, 1, limit=50)),
            ("settled_items", lambda: settled_items(cur, 1)),
        ]
        timings = {}
        for name, fn in runs:
            lo, med, cpu, out = best(fn, args.repeat)
            timings[name] = {"best_s": round(lo, 3), "median_s": round(med, 3),
                             "cpu_s": round(cpu, 3)}
            print(f"{name:40s} best {lo:6.3f} s   median {med:6.3f} s   cpu {cpu:6.3f} s")
            if name.startswith("compute_agreement(answers"):
                rep = out
                results["figures"] = {
                    "percent_pairwise": rep.percent.pairwise, "fleiss_kappa": rep.fleiss.kappa,
                    "fleiss_items": rep.fleiss.items, "alpha": rep.alpha.alpha,
                    "mean_pair_kappa": rep.mean_pair_kappa, "pairs": len(rep.cohen),
                }
            if name == "status_counts":
                results["status_counts"] = out.by_status
        results["timings"] = timings
        store.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
