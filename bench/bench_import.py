"""Import benchmark: generated tickets as CSV and JSONL, 100k and 1M rows.

For each file it measures, each in its own process (so peak memory is per run) and on a
fresh database file:

* baseline  DuckDB alone: CREATE TABLE AS SELECT * FROM read_csv/read_json(file), into a
            file in DuckDB's default storage format (the issue's yardstick)
* baseline_same  the same, into a file in curator's storage format (``STORAGE_VERSION``,
            cheaper to write): not run unless asked for (``--modes``); when it is, a line
            after the table gives each import's ratio to it too (like for like)
* dedup     import_file with exact dedup (no PII, no near-dup)
* pii       the same plus PII masking
* near_dup  the same as dedup plus near-duplicate flagging

Prints a Markdown table (rows/s, MB/s, peak RSS, stage timings, ratio to the baseline).

    python bench/bench_import.py                 # 100k and 1M, CSV and JSONL
    python bench/bench_import.py --sizes 100000  # quicker
    python bench/bench_import.py --repeat 3      # best of 3 interleaved runs per mode
Generated files go to bench/data/ (git-ignored) and are reused.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
sys.path.insert(0, str(ROOT))


def make_file(fmt: str, n: int) -> Path:
    from curator import demo_data

    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"tickets-{n}.{fmt}"
    if not path.exists():
        writer = demo_data.write_tickets_csv if fmt == "csv" else demo_data.write_tickets_jsonl
        writer(path, n, seed=7, dup_fraction=0.05, near_dup_fraction=0.05)
    return path


def _cpu() -> float:
    """CPU seconds of this process so far, all threads (user + system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_one(mode: str, path: Path) -> dict:
    """One measurement in this process (called in a child)."""
    import duckdb

    with tempfile.TemporaryDirectory(dir=DATA) as tmp:
        db = Path(tmp) / "bench.duckdb"
        if mode in ("baseline", "baseline_same"):
            # timed like the import: the statement only (not opening or closing the database)
            from curator.store import STORAGE_VERSION

            config = {"storage_compatibility_version": STORAGE_VERSION} if mode == "baseline_same" else {}
            con = duckdb.connect(str(db), config=config)
            reader = "read_csv" if path.suffix == ".csv" else "read_json"
            c0, t0 = _cpu(), time.perf_counter()
            con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}('{path}')")
            seconds, cpu = time.perf_counter() - t0, _cpu() - c0
            rows = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
            con.close()
            out = {"rows": rows, "timings": {}}
        else:
            from curator.importing import import_file
            from curator.permissions import SYSTEM
            from curator.projects import create_project
            from curator.store import Store

            store = Store.open(db)
            create_project(store, SYSTEM, "bench", "response")
            c0, t0 = _cpu(), time.perf_counter()
            r = import_file(store, SYSTEM, "bench", path, text_cols=["subject", "body"],
                            id_col="external_id", pii=mode == "pii",
                            near_dup=mode == "near_dup")
            seconds, cpu = time.perf_counter() - t0, _cpu() - c0
            store.close()
            out = {"rows": r.rows_read, "added": r.added, "exact_duplicates": r.exact_duplicates,
                   "near_duplicates": r.near_duplicates, "pii": sum(r.pii.values()),
                   "timings": r.timings}
        out["seconds"] = seconds
        out["cpu"] = cpu
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def measure(mode: str, path: Path) -> dict:
    res = subprocess.run([sys.executable, __file__, "--one", mode, str(path)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{mode} {path.name} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--formats", nargs="+", default=["csv", "jsonl"])
    ap.add_argument("--modes", nargs="+", default=["baseline", "dedup", "pii", "near_dup"])
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the modes this many times, interleaved; the table shows each "
                         "mode's fastest run and the median of the per-repeat ratios to the "
                         "baseline run beside it (the machine is shared: its speed varies)")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], Path(args.one[1]))))
        return
    print(f"load average at start: {os.getloadavg()[0]:.1f}; best of {args.repeat}", flush=True)
    print("| file | MB | run | rows | seconds | rows/s | MB/s | peak RSS MB | x baseline "
          "| x baseline, median | CPU-s | x baseline CPU, median | stage rows/s | timings (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        for fmt in args.formats:
            path = make_file(fmt, n)
            mb = os.path.getsize(path) / 1e6
            runs: dict[str, list[dict]] = {mode: [] for mode in args.modes}
            for _ in range(max(args.repeat, 1)):
                for mode in args.modes:
                    runs[mode].append(measure(mode, path))
                print("  repeat: " + ", ".join(f"{mode} {rs[-1]['seconds']:.2f} s ({rs[-1]['cpu']:.1f} CPU-s)"
                                               for mode, rs in runs.items()),
                      file=sys.stderr, flush=True)
            best = {mode: min(rs, key=lambda m: m["seconds"]) for mode, rs in runs.items()}
            base = best["baseline"]["seconds"] if "baseline" in best else None
            for mode in args.modes:
                m = best[mode]
                ratio = f"{m['seconds'] / base:.2f}" if base else ""
                # each repeat's import against the baseline run next to it (robust to drift)
                median = (f"{statistics.median(r['seconds'] / b['seconds'] for r, b in zip(runs[mode], runs['baseline'])):.2f}"
                          if base else "")
                cpu_median = (f"{statistics.median(r['cpu'] / b['cpu'] for r, b in zip(runs[mode], runs['baseline'])):.2f}"
                              if base else "")
                stage = ""
                t = m["timings"]
                if mode == "pii" and t.get("pii"):
                    stage = f"pii {m['rows'] / t['pii']:,.0f}"
                if mode == "near_dup" and t.get("near_dup"):
                    stage = f"near-dup {m['rows'] / t['near_dup']:,.0f}"
                timings = ", ".join(f"{k} {v:.2f}" for k, v in t.items())
                print(f"| {path.name} | {mb:.0f} | {mode} | {m['rows']:,} | {m['seconds']:.2f} | "
                      f"{m['rows'] / m['seconds']:,.0f} | {mb / m['seconds']:.0f} | "
                      f"{m['peak_rss_mb']:.0f} | {ratio} | {median} | {m['cpu']:.1f} | {cpu_median} | "
                      f"{stage} | {timings} |", flush=True)
            if "baseline_same" in runs:
                same = runs["baseline_same"]
                for mode in args.modes:
                    if mode.startswith("baseline"):
                        continue
                    pairs = [r["seconds"] / b["seconds"] for r, b in zip(runs[mode], same)]
                    fastest = best[mode]["seconds"] / min(b["seconds"] for b in same)
                    print(f"  {path.name} {mode} vs baseline_same (curator's storage format): "
                          f"median {statistics.median(pairs):.2f}, fastest vs fastest {fastest:.2f}",
                          flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
