"""Benchmark of curator.pii.mask_batch and curator.neardup.find_near_duplicates.

Usage: ``python bench/bench_pii_neardup.py [--sizes 100000 1000000] [--write-docs]``

Two ticket sources (``--sources``): ``demo`` is ``curator.demo_data.generate_tickets`` (the
demo project's tickets, 5% lightly edited copies; about 40% of its rows carry an e-mail address,
phone number or IBAN, many in quoted replies and signatures), ``simple`` is the small generator
below (order numbers, dates, amounts, versions and times in every row, personal data in ~7% of
rows, 5% lightly edited copies). Each run is a fresh subprocess so that the peak memory
(``ru_maxrss``) printed is that run's own. Wall-clock rates depend on what else runs on the
machine, so the CPU seconds of this process and the load average are printed too. "near-dup
extra MiB" is how far the resident memory rose above its level at the start of the near-duplicate
call while it ran (sampled every 10 ms). ``--write-docs`` replaces the results table in
docs/pii-and-dedup.md between the ``<!-- bench:start -->`` and ``<!-- bench:end -->`` lines.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_OPEN = ["Hi,", "Hello team,", "Dear support,", "Hey,", "Good morning,", "To whom it may concern,", ""]
_CORE = [
    "my order #{order} placed on {date} still has not arrived. The tracking page says it left the "
    "warehouse on {date2} but nothing has moved since. I paid ${amount} for express shipping and "
    "expected it within {n} days. Could you check what is going on and tell me when it will arrive?",
    "I was charged ${amount} twice on {date} for invoice INV-{year}-{order5}. My statement shows both "
    "payments and I only bought one {device}. Please refund the duplicate charge as soon as possible, "
    "this is the second time it happened this year.",
    "the app keeps crashing when I open the camera view. I'm on version {ver} on my phone and the "
    "{device} firmware is {fw}. It started after the update on {date} around {time}. I already "
    "reinstalled the app and restarted the hub twice, nothing helps.",
    "I can't log in to my account since {date}. The two-factor code never arrives and the reset "
    "link says it expired after {n} minutes. I have {n2} devices at home that I can't control now, "
    "please help me get back into my account.",
    "please cancel my {plan} subscription at the end of this billing period. I was billed ${amount} "
    "on {date} and I don't want to be charged again. Also please confirm the cancellation by email.",
    "the {device} I received on {date} doesn't pair with the hub. The light blinks {n} times and then "
    "goes red. I followed the setup guide step by step and tried the 2.4 GHz network as well.",
    "I love the new {device}! Setup took {n} minutes and the automation with my lights works "
    "perfectly since {date}. Just wanted to say thanks to the team, great job on version {ver}.",
    "can you add support for scenes that run at sunset? Right now I have to change the time by hand "
    "every {n} weeks. Other apps have this and it would save me a lot of time. Ticket {order} was "
    "closed without an answer.",
]
_EXTRA = [
    "I'm on the {plan} plan, if that matters.", "Customer since {n} years.",
    "I tried on Firefox {n}.0 too.", "App version {ver}.", "We have {n2} cameras and a hub.",
    "Model number LM-{order5}.", "It happened again today at {time}.", "",
]
_PII = [
    "You can reach me at {email} or on {phone}.",
    "My account email is {email}.",
    "For a bank transfer: IBAN {iban}.",
    "My phone number is {phone}, call me any time after 5pm.",
    "The card ending was charged, full number {card} if you need it.",
    "The camera at {ip} stopped streaming.",
    "Here is the link I got: https://app.lumora.example/reset?token={token}&user=me",
]
_SUBJECTS = ["Order not arrived", "Double charge", "App crash", "Can't log in", "Cancel subscription",
             "Pairing problem", "Thank you!", "Feature request", "Question about my bill", "URGENT: help"]
_MORE = [
    "I contacted you on {date} already and was told someone would get back to me within {n} hours, "
    "but I never heard back. Your chat bot just sends me in circles and the FAQ does not cover this.",
    "To be honest I am quite disappointed. I have been recommending your products to friends for "
    "{n2} years and this is the first time I have had such a bad experience with support.",
    "Some more details: it happens on both the {plan} and the trial account, the hub was restarted at "
    "{time} and all other {device}s in the house work fine. The order total was ${amount}.",
    "I also noticed the status page said everything was fine on {date}, which is clearly not true. "
    "Please escalate this if needed, I need it solved before the weekend because we are travelling.",
]
_SIGN = ["\n\nThanks,\n{first}", "\n\nBest regards,\n{first} {last}", "\n\nCheers", "", "\n\nSent from my iPhone"]
_FIRST = ["Anna", "Ben", "Chloé", "David", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena"]
_LAST = ["Smith", "Müller", "Garcia", "Nguyen", "Okafor", "Rossi", "Kowalski", "Dubois", "Sato", "Jensen"]
_DEVICES = ["camera", "hub", "bulb", "smart plug", "doorbell", "thermostat"]
_PLANS = ["Free", "Plus", "Pro", "Business"]
_SWAPS = [("please", "pls"), ("still", "yet"), ("help", "assist"), ("again", "once more"), ("my", "our")]


def _luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        s = prefix + d
        total = 0
        for i, ch in enumerate(reversed(s)):
            v = int(ch) * (2 if i % 2 else 1)
            total += v - 9 if v > 9 else v
        if total % 10 == 0:
            return s
    raise AssertionError("unreachable")


def _iban(r: random.Random) -> str:
    bban = "".join(str(r.randint(0, 9)) for _ in range(18))
    check = 98 - int("".join(str(int(c, 36)) for c in bban + "DE00")) % 97
    raw = f"DE{check:02d}{bban}"
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))


_MAKERS = {
    "order": lambda r: str(r.randint(10_000_000, 99_999_999)),
    "order5": lambda r: str(r.randint(10_000, 99_999)),
    "date": lambda r: f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
    "date2": lambda r: f"{r.randint(1, 28):02d}.{r.randint(1, 12):02d}.2024",
    "year": lambda r: str(r.randint(2021, 2025)),
    "amount": lambda r: f"{r.randint(5, 1999)}.{r.randint(0, 99):02d}",
    "n": lambda r: str(r.randint(2, 30)),
    "n2": lambda r: str(r.randint(2, 9)),
    "device": lambda r: r.choice(_DEVICES),
    "plan": lambda r: r.choice(_PLANS),
    "time": lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
    "ver": lambda r: f"{r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 99)}",
    "fw": lambda r: f"{r.randint(1, 5)}.{r.randint(0, 9)}.{r.randint(100, 999)}",
    "first": lambda r: r.choice(_FIRST),
    "last": lambda r: r.choice(_LAST),
    "email": lambda r: f"{r.choice(_FIRST).lower()}.{r.choice(_LAST).lower()}{r.randint(1, 99)}@example.com",
    "phone": lambda r: r.choice([f"+1 (415) 555-01{r.randint(0, 99):02d}", f"+44 7700 900{r.randint(0, 999):03d}",
                                 f"07700 900{r.randint(0, 999):03d}", f"+49 30 {r.randint(100000, 999999)}"]),
    "iban": _iban,
    "card": lambda r: " ".join(c[i:i + 4] for c in [_luhn_complete("4" + "%014d" % r.randrange(10**14))]
                               for i in range(0, 16, 4)),
    "ip": lambda r: f"192.168.{r.randint(0, 255)}.{r.randint(1, 254)}",
    "token": lambda r: "%032x" % r.getrandbits(128),
}
_FIELD = re.compile(r"\{(\w+)\}")


def _fill(template: str, r: random.Random) -> str:
    return _FIELD.sub(lambda m: _MAKERS[m.group(1)](r), template).replace("$$", "$")


def simple_tickets(n: int, seed: int = 7, pii_rate: float = 0.07, near_dup_rate: float = 0.05) -> list[str]:
    """Deterministic support tickets (see module doc); ``near_dup_rate`` are edited copies."""
    r = random.Random(seed)
    out: list[str] = []
    for i in range(n):
        if i > 10 and r.random() < near_dup_rate:
            words = out[r.randrange(i)].split(" ")
            a, b = r.choice(_SWAPS)
            words = [b if w == a else w for w in words] if a in words else words + ["thx"]
            out.append(" ".join(words))
            continue
        subject = r.choice(_SUBJECTS)
        core = _fill(r.choice(_CORE), r)
        parts = [subject + "\n\n" + _fill(r.choice(_OPEN), r), core[:1].upper() + core[1:],
                 _fill(r.choice(_MORE), r), _fill(r.choice(_EXTRA), r), _fill(r.choice(_EXTRA), r)]
        if r.random() < 0.5:
            parts.insert(3, _fill(r.choice(_MORE), r))
        if r.random() < pii_rate:
            parts.insert(3, _fill(r.choice(_PII), r))
        out.append(" ".join(p for p in parts if p) + _fill(r.choice(_SIGN), r))
    return out


def load_tickets(n: int, seed: int, source: str) -> tuple[list[str], str]:
    """``source`` "demo": curator.demo_data (5% near-duplicates), "simple": this file's generator."""
    if source == "demo":
        from curator.demo_data import generate_tickets
        rows = generate_tickets(n, seed=seed, near_dup_fraction=0.05)
        texts = [t["text"] for t in rows]
        del rows
        return texts, "demo_data"
    return simple_tickets(n, seed), "simple"


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mib() -> float:
    """Current resident set size (Linux /proc; 0.0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


class _RssPeak:
    """Highest RSS seen while the block runs (sampled every 10 ms on a thread)."""

    def __enter__(self) -> "_RssPeak":
        import threading
        self.start = self.peak = _rss_mib()
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.wait(0.01):
                self.peak = max(self.peak, _rss_mib())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mib())


def run_one(n: int, seed: int, source: str) -> dict[str, object]:
    """Generate ``n`` tickets, mask them, find near-duplicates; timings and peak memory."""
    from curator.neardup import find_near_duplicates
    from curator.pii import mask_batch

    texts, source = load_tickets(n, seed, source)
    mask_batch(texts[:10])  # warm up imports and compiled patterns
    avg_len = sum(map(len, texts)) / max(1, len(texts))
    gen_peak = _peak_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    masked, counts, _ = mask_batch(texts)
    t_pii, c_pii = time.perf_counter() - t0, time.process_time() - c0
    rows_with = sum(1 for a, b in zip(texts, masked) if a is not b)
    del masked
    pii_peak = _peak_mib()
    ids = list(range(len(texts)))
    load_before = os.getloadavg()[0]
    with _RssPeak() as rss:
        t0, c0 = time.perf_counter(), time.process_time()
        pairs = find_near_duplicates(texts, ids)
        t_nd, c_nd = time.perf_counter() - t0, time.process_time() - c0
    return {
        "rows": n, "source": source, "avg_chars": round(avg_len),
        "pii_seconds": t_pii, "pii_cpu_seconds": c_pii, "pii_rows_per_s": n / t_pii,
        "pii_rows_with": rows_with, "pii_findings": sum(counts.values()), "pii_counts": counts,
        "neardup_seconds": t_nd, "neardup_cpu_seconds": c_nd, "neardup_rows_per_s": n / t_nd,
        "neardup_pairs": len(pairs), "load_avg": load_before, "load_avg_after": os.getloadavg()[0],
        "neardup_extra_mib": rss.peak - rss.start,
        "peak_mib_after_generate": gen_peak, "peak_mib_after_pii": pii_peak, "peak_mib": _peak_mib(),
    }


def _table(results: list[dict[str, object]]) -> str:
    lines = [
        "| tickets | rows | avg chars | rows with PII | PII rows/s | PII CPU s | near-dup rows/s "
        "| near-dup CPU s | rows linked | near-dup extra MiB | peak RSS MiB | load avg |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['source']} | {r['rows']:,} | {r['avg_chars']} | {r['pii_rows_with'] / r['rows']:.0%} "
            f"| {r['pii_rows_per_s']:,.0f} | {r['pii_cpu_seconds']:.1f} | {r['neardup_rows_per_s']:,.0f} "
            f"| {r['neardup_cpu_seconds']:.1f} | {r['neardup_pairs']:,} | {r['neardup_extra_mib']:,.0f} "
            f"| {r['peak_mib']:,.0f} | {r['load_avg']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--sources", nargs="+", choices=["demo", "simple"], default=["demo", "simple"])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child mode: one run, JSON out
    ap.add_argument("--source", default="simple", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.seed, args.source)))
        return 0
    results = []
    for source in args.sources:
        for n in args.sizes:
            proc = subprocess.run([sys.executable, __file__, "--one", str(n), "--seed", str(args.seed),
                                   "--source", source], capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{source} {n:,}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(r)
            print(f"{n:>9,} {r['source']} tickets (~{r['avg_chars']} chars, {r['pii_rows_with']:,} rows with PII): "
                  f"PII {r['pii_rows_per_s']:,.0f} rows/s ({r['pii_seconds']:.1f}s wall, {r['pii_cpu_seconds']:.1f}s CPU); "
                  f"near-dup {r['neardup_rows_per_s']:,.0f} rows/s ({r['neardup_seconds']:.1f}s wall, "
                  f"{r['neardup_cpu_seconds']:.1f}s CPU, {r['neardup_pairs']:,} rows linked, "
                  f"+{r['neardup_extra_mib']:,.0f} MiB while it ran); "
                  f"peak RSS {r['peak_mib']:,.0f} MiB (tickets alone: {r['peak_mib_after_generate']:,.0f}); "
                  f"load avg {r['load_avg']:.1f} -> {r['load_avg_after']:.1f}", flush=True)
    table = _table(results)
    print(table)
    if args.write_docs and results:
        doc = ROOT / "docs" / "pii-and-dedup.md"
        text = doc.read_text(encoding="utf-8")
        start, end = "<!-- bench:start -->", "<!-- bench:end -->"
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        meta = (f"Measured {time.strftime('%Y-%m-%d')} with `python bench/bench_pii_neardup.py --write-docs` on "
                f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.")
        doc.write_text(f"{head}{start}\n{meta}\n\n{table}\n{end}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
