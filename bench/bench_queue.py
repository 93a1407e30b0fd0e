"""Benchmark: the annotation round trip (next item + save) on a large project.

1M items, 200k existing answers (overlap 2), then N round trips single-threaded and from 8
threads (each a different annotator). Reports p50/p99 per round trip, the index build time,
and checks there are zero overlap violations and no duplicate claims.

    python bench/bench_queue.py [--items 1000000] [--answers 200000] [--rounds 2000]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curator import queue, users  # noqa: E402
from curator.permissions import SYSTEM  # noqa: E402
from curator.projects import create_project  # noqa: E402
from curator.store import Store  # noqa: E402
from curator.store import answers as answers_sql  # noqa: E402


def seed(store: Store, n_items: int, n_answers: int, overlap: int) -> object:
    p = create_project(store, SYSTEM, "bench", "classification", labels="a,b,c,d", overlap=overlap)
    workers = [users.create_user(store, SYSTEM, f"seed{i}", "annotator").actor for i in range(4)]
    cur = store.cursor()
    # set work in DuckDB: items and answers generated in SQL, not Python loops
    cur.execute(
        "INSERT INTO items (id, project_id, external_id, text, dedup_key) "
        "SELECT nextval('seq_items'), ?, 'T' || i, 'ticket text number ' || i, hash('tickettextnumber' || i) "
        "FROM range(?) t(i)", [p.id, n_items])
    first = cur.execute("SELECT min(id) FROM items WHERE project_id = ?", [p.id]).fetchone()[0]
    # answers: the first n_answers/2 items answered by two seed users each
    per = n_answers // 2
    cur.execute(
        "INSERT INTO annotations (project_id, item_id, user_id, value, source) "
        "SELECT ?, ? + (i // 2), CASE WHEN i % 2 = 0 THEN ? ELSE ? END, 'a', 'bench' "
        "FROM range(?) t(i)", [p.id, first, workers[0].id, workers[1].id, 2 * per])
    store.notify_changed(p.id)
    return p


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as d:
        store = Store.open(Path(d) / "bench.duckdb")
        t0 = time.perf_counter()
        p = seed(store, args.items, args.answers, 2)
        store.cursor().execute("CHECKPOINT")  # a served database is not fresh from a bulk load
        t_seed = time.perf_counter() - t0
        actors = [users.create_user(store, SYSTEM, f"w{i}", "annotator").actor for i in range(8)]
        t0 = time.perf_counter()
        queue.next_item(store, actors[0], p)  # builds the in-memory index
        t_index = time.perf_counter() - t0
        queue.release_claim(store, actors[0], p)

        def rounds(actor, n, out):
            for i in range(n):
                t = time.perf_counter()
                item = queue.next_item(store, actor, p)
                queue.submit(store, actor, p, item.id, "a" if i % 2 else "b")
                out.append((time.perf_counter() - t) * 1000)

        single: list[float] = []
        rounds(actors[0], args.rounds, single)

        multi: list[float] = []
        per_thread = max(1, args.rounds // 8)
        outs = [[] for _ in range(8)]
        ts = [threading.Thread(target=rounds, args=(actors[i], per_thread, outs[i])) for i in range(8)]
        t0 = time.perf_counter()
        [t.start() for t in ts]
        [t.join() for t in ts]
        wall = time.perf_counter() - t0
        for o in outs:
            multi.extend(o)
        cur = store.cursor()
        violations = answers_sql.answers_per_item_max_excess(cur, p.id, 2)
        dups = cur.execute("SELECT count(*) FROM (SELECT item_id, user_id FROM annotations "
                           "WHERE project_id = ? AND source = 'app' GROUP BY ALL HAVING count(*) > 1)",
                           [p.id]).fetchone()[0]
        res = {
            "items": args.items, "answers_seeded": args.answers, "seed_s": round(t_seed, 2),
            "index_build_s": round(t_index, 2),
            "single_p50_ms": round(statistics.median(single), 2),
            "single_p99_ms": round(pct(single, 0.99), 2),
            "threads8_p50_ms": round(statistics.median(multi), 2),
            "threads8_p99_ms": round(pct(multi, 0.99), 2),
            "threads8_rounds_per_s": round(len(multi) / wall, 1),
            "overlap_violations": violations, "duplicate_claims": dups,
        }
        queue.forget_indexes(store)
        store.close()
        return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--answers", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=2000)
    r = run(ap.parse_args())
    for k, v in r.items():
        print(f"{k:>24}: {v}")
