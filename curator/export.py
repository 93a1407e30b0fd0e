"""Export settled items as OpenAI fine-tuning files (SFT or DPO JSONL) with a manifest.

``plan_export`` computes everything an export would contain — counts, class distributions
before and after balancing, the grouped stratified split, exact token counts, default epochs,
estimated cost, validation against the JSON Schemas and OpenAI's rules — without writing.
``export_project`` does the same and then writes::

    exports/<project>/<YYYYmmddTHHMMSSZ>-<kind>/
        train.jsonl  validation.jsonl  manifest.json  [trl/train.(jsonl|parquet) ...]

into a temporary directory next to the target, renamed into place when complete, and records
the export in the ``exports`` table. See ``docs/export.md`` for options and manifest fields.

Line shapes
    classification -> SFT ``system? + user(ticket) + assistant(label)``; a multi-label gold
    (stored ``billing|refund``) is written ``"billing, refund"``.
    response -> SFT ``system? + user(ticket) + assistant(gold reply)``.
    preference -> DPO ``input.messages = [system?, user]``, ``preferred_output`` /
    ``non_preferred_output`` one assistant message each from ``candidate_a`` / ``candidate_b``
    (gold ``A``/``B`` name candidates in imported order); ties, both-bad and unusable pairs are
    excluded and counted. Only settled items are exported (disagreements are not).
"""
from __future__ import annotations

import gc
import hashlib
import importlib.metadata
import math
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from curator import settle
from curator.balance import BalanceSpec, group_items, parse_balance, split_groups
from curator.errors import ConflictError, InvalidInput, RowError
from curator.models import (billable_tokens, default_epochs, encoding_name, get_model,
                            lifecycle_notice)
from curator.paths import exports_dir
from curator.permissions import Actor, require
from curator.projects import Project, get_project
from curator.store import Store
from curator.store import exports as sql
from curator.tokens import count_dpo_columns, count_sft_columns
from curator.validate import MIN_EXAMPLES, ValidationReport, validate_lines, validate_manifest

__all__ = [
    "KINDS",
    "TASK_KIND",
    "DEFAULT_MODEL",
    "MANIFEST_SCHEMA_VERSION",
    "STAGES",
    "ExportPlan",
    "ExportResult",
    "plan_export",
    "export_project",
    "list_exports",
    "token_histogram",
]

KINDS = ("sft", "dpo")
TASK_KIND = {"classification": "sft", "response": "sft", "preference": "dpo"}
DEFAULT_MODEL = "gpt-4.1-mini-2025-04-14"
MANIFEST_SCHEMA_VERSION = 1
STAGES = ("read", "tokens", "balance", "split", "validate", "write")
"""Stages reported to ``progress(done, total, stage)``; ``done`` counts finished stages."""

Progress = Callable[[int, int, str], None]


def _version() -> str:
    try:
        return importlib.metadata.version("curator")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while an export runs.

    100k lines are ~500k new dicts and lists; the collector would traverse them again and
    again while they are built (measured: building 100k lines took 0.30 s of CPU with it and
    0.09 s without). Reference counting still frees everything; the collector is re-enabled
    (if it was enabled) when the last concurrent export ends.
    """
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                gc.enable()


# ---------------------------------------------------------------------------------------------
# Options

@dataclass(frozen=True)
class _Options:
    kind: str
    balance: BalanceSpec
    balance_by: str | None
    val_fraction: float | None
    val_count: int | None
    seed: int
    model: str
    system_prompt: str
    over_limit: str
    trl: str | None
    allow_small: bool

    def settings(self, system_text: str | None, epochs: int | None) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "balance": str(self.balance),
            "balance_by": self.balance_by,
            "val_fraction": self.val_fraction,
            "val_count": self.val_count,
            "seed": self.seed,
            "model": self.model,
            "system_prompt": self.system_prompt,
            "system_prompt_sha256": _sha(system_text.encode()) if system_text else None,
            "over_limit": self.over_limit,
            "allow_small": self.allow_small,
            "trl": self.trl,
            "epochs": epochs,
        }


def _options(project: Project, kind: str, balance: Any, balance_by: str | None,
             val_fraction: float | None, val_count: int | None, seed: int, model: str,
             system_prompt: str, over_limit: str, trl: str | None, allow_small: bool) -> _Options:
    if kind not in KINDS:
        raise InvalidInput(f"unknown export kind {kind!r}; expected 'sft' or 'dpo'")
    want = TASK_KIND[project.task_type]
    if kind != want:
        raise InvalidInput(
            f"project {project.name!r} is a {project.task_type} project, which exports "
            f"{want.upper()} files (kind={want!r}); "
            + ("DPO needs a preference project (two candidate replies per prompt)" if kind == "dpo"
               else "SFT needs a classification or response project"))
    spec = parse_balance(balance)
    if balance_by is not None:
        balance_by = str(balance_by).strip()
        if not balance_by:
            raise InvalidInput("balance_by is empty; give 'label' or a metadata field name")
        if balance_by == "label":
            if project.task_type != "classification":
                raise InvalidInput(f"balance_by='label' needs a classification project; "
                                   f"{project.name!r} is a {project.task_type} project: give a "
                                   "metadata field name")
            balance_by = None
    if spec.mode != "none" and balance_by is None and project.task_type != "classification":
        raise InvalidInput(
            f"balance={str(spec)!r} on a {project.task_type} project needs balance_by=<metadata "
            "field> (there are no labels to balance)")
    if val_count is not None:
        if isinstance(val_count, bool) or not isinstance(val_count, int) or val_count < 0:
            raise InvalidInput(f"val_count must be a whole number >= 0, got {val_count!r}")
        val_fraction = None
    else:
        if val_fraction is None:
            val_fraction = 0.0
        try:
            val_fraction = float(val_fraction)
        except (TypeError, ValueError):
            raise InvalidInput(f"val_fraction must be a number from 0 to below 1, got {val_fraction!r}") from None
        if not 0.0 <= val_fraction < 1.0 or math.isnan(val_fraction):
            raise InvalidInput(f"val_fraction must be from 0 to below 1 (e.g. 0.1), got {val_fraction}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput(f"seed must be a whole number >= 0, got {seed!r}")
    info = get_model(model)
    if not info.supports(kind):
        able = "SFT" if kind == "sft" else "DPO"
        raise InvalidInput(f"model {model!r} cannot be fine-tuned with {able}; choose another "
                           "model (see `curator models`)")
    if system_prompt is None or not isinstance(system_prompt, str) or not system_prompt.strip():
        raise InvalidInput("system_prompt must be 'project', 'none' or the text of a custom prompt")
    if over_limit not in ("drop", "keep"):
        raise InvalidInput(f"over_limit must be 'drop' or 'keep', got {over_limit!r}")
    if trl not in (None, "jsonl", "parquet"):
        raise InvalidInput(f"trl must be None, 'jsonl' or 'parquet', got {trl!r}")
    return _Options(kind, spec, balance_by, val_fraction, val_count, seed, model, system_prompt,
                    over_limit, trl, bool(allow_small))


def _system_text(project: Project, option: str) -> str | None:
    if option == "project":
        return project.system_prompt.strip() or None
    if option == "none":
        return None
    return option.strip()


# ---------------------------------------------------------------------------------------------
# Results

@dataclass
class ExportPlan:
    """Everything an export will contain, computed without writing (``to_dict`` is JSON-ready).

    ``problems`` are reasons the export would be refused (validation errors, too few training
    examples); ``warnings`` are recorded in the manifest but do not stop it.
    """

    kind: str
    project: dict[str, Any]
    settings: dict[str, Any]
    seed: int
    counts: dict[str, int]
    exclusions: dict[str, int]
    distributions: dict[str, dict[str, int]]
    tokens: dict[str, dict[str, Any]]
    cost_estimate: dict[str, Any] | None
    epochs: int | None
    groups: dict[str, int]
    item_ids: dict[str, list[int]]
    over_limit_item_ids: list[int]
    validation: dict[str, dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "kind": self.kind, "project": self.project, "settings": self.settings,
            "seed": self.seed, "counts": self.counts, "exclusions": self.exclusions,
            "distributions": self.distributions, "tokens": self.tokens,
            "cost_estimate": self.cost_estimate, "epochs": self.epochs, "groups": self.groups,
            "item_ids": self.item_ids, "over_limit_item_ids": self.over_limit_item_ids,
            "validation": self.validation, "warnings": self.warnings, "problems": self.problems,
        }


@dataclass
class ExportResult:
    """A written export. ``to_dict()`` is the manifest plus ``export_dir`` and ``paths``."""

    export_id: int
    export_dir: Path
    manifest: dict[str, Any]
    manifest_sha256: str
    paths: dict[str, Path]
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage (``STAGES``)."""
    cpu_timings: dict[str, float] = field(default_factory=dict)
    """CPU seconds of the process per stage (all threads: tokenizer workers, DuckDB)."""

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.manifest)
        d["export_dir"] = str(self.export_dir)
        d["manifest_sha256"] = self.manifest_sha256
        d["paths"] = {k: str(v) for k, v in self.paths.items()}
        return d


@dataclass
class _Built:
    plan: ExportPlan
    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]
    train_file: Chunks | None
    """train.jsonl as written (lines serialised once); None if a line could not be serialised."""
    validation_file: Chunks | None
    reports: dict[str, ValidationReport]
    timings: dict[str, float]
    cpu_timings: dict[str, float]


# ---------------------------------------------------------------------------------------------
# Lines

def _dpo_line(system: str | None, user: str, preferred: str, rejected: str) -> dict[str, Any]:
    msgs = [{"role": "system", "content": system}] if system else []
    msgs.append({"role": "user", "content": user})
    return {"input": {"messages": msgs},
            "preferred_output": [{"role": "assistant", "content": preferred}],
            "non_preferred_output": [{"role": "assistant", "content": rejected}]}


def _contents(task: str, cols: dict[str, list[Any]]) -> tuple[list[str], list[str], list[str] | None]:
    """(user texts, assistant / preferred replies, rejected replies or None) per eligible item."""
    texts, golds = cols["text"], cols["gold"]
    if task == "classification":
        shown = {g: g.replace("|", ", ") for g in set(golds)}  # multi-label gold: "a|b" -> "a, b"
        return texts, list(map(shown.__getitem__, golds)), None
    if task == "response":
        return texts, golds, None
    a, b = cols["candidate_a"], cols["candidate_b"]
    preferred = [x if g == "A" else y for g, x, y in zip(golds, a, b)]
    rejected = [y if g == "A" else x for g, x, y in zip(golds, a, b)]
    return texts, preferred, rejected


def _lines(system: str | None, users: list[str], outs: list[str], rejected: list[str] | None,
           at: list[int]) -> list[dict[str, Any]]:
    """The lines of the examples at positions ``at`` (file order) of the content columns."""
    if rejected is None:
        # SFT: [system?] + user + assistant, built inline (a call per line is a third of the time)
        if system:
            return [{"messages": [{"role": "system", "content": system},
                                  {"role": "user", "content": users[k]},
                                  {"role": "assistant", "content": outs[k]}]} for k in at]
        return [{"messages": [{"role": "user", "content": users[k]},
                              {"role": "assistant", "content": outs[k]}]} for k in at]
    return [_dpo_line(system, users[k], outs[k], rejected[k]) for k in at]


Chunks = list[bytes | memoryview]
"""A file's content as consecutive pieces (50 MB are not copied once more to join them)."""


def _serialise(lines: list[dict[str, Any]]) -> tuple[Chunks, list[bytes]] | None:
    """(JSON Lines file as chunks, each line's bytes) of ``lines`` as orjson writes them
    (compact, keys in build order), or None when some line cannot be serialised (the validator
    then says which).

    One orjson call for the whole list, whose top-level separators ``},{"<first key>":`` become
    newlines: a call per line costs 3-5x more (allocator traffic of 100k output buffers). That
    separator cannot occur inside a JSON string (its quotes would be escaped); every line must
    start with the same key and the number of separators must be exactly one per boundary,
    so no nested object can be mistaken for one. Other shapes get one call per line.
    """
    if not lines:
        return [], []
    try:
        blob = orjson.dumps(lines)
    except TypeError:
        return None
    first = next(iter(lines[0]), None) if type(lines[0]) is dict else None
    if type(first) is str and all(type(x) is dict and next(iter(x), None) == first for x in lines):
        key = orjson.dumps(first) + b":"
        sep = b"},{" + key
        if blob.count(sep) == len(lines) - 1:
            body = blob.replace(sep, b"}\n{" + key)  # "[line1\nline2\n...lineN]"
            del blob
            raw = body.split(b"\n")
            raw[0] = raw[0][1:]  # without "[" (one line: first and last are the same)
            raw[-1] = raw[-1][:-1]  # without "]"
            return [memoryview(body)[1:-1], b"\n"], raw
    raw = list(map(orjson.dumps, lines))
    return [b"\n".join([*raw, b""])], raw


def _trl_line(kind: str, line: dict[str, Any]) -> dict[str, Any]:
    if kind == "sft":
        return {"messages": line["messages"]}
    return {"prompt": line["input"]["messages"], "chosen": line["preferred_output"],
            "rejected": line["non_preferred_output"]}


# ---------------------------------------------------------------------------------------------
# Token statistics

def _nice_width(span: float, max_bins: int) -> int:
    raw = max(1.0, span / max_bins)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return max(1, int(m * mag))
    return int(10 * mag)


def token_histogram(values: Sequence[int], max_bins: int = 20) -> list[dict[str, int]]:
    """Bins ``{"lo", "hi", "count"}`` (``lo <= tokens < hi``) of equal, round width (1/2/5 x 10^k)."""
    if not values:
        return []
    lo_v, hi_v = min(values), max(values)
    width = _nice_width(hi_v - lo_v + 1, max_bins)
    start = (lo_v // width) * width
    n_bins = (hi_v - start) // width + 1
    counts = Counter((v - start) // width for v in values)
    return [{"lo": start + k * width, "hi": start + (k + 1) * width, "count": counts.get(k, 0)}
            for k in range(n_bins)]


def _token_stats(billed: list[int], longest: list[int], model: str,
                 limit: int | None) -> dict[str, Any]:
    n = len(billed)
    base: dict[str, Any] = {"model": model, "encoding": encoding_name(model), "token_limit": limit,
                            "n_examples": n, "total": sum(billed)}
    if not n:
        base.update(min=None, max=None, mean=None, median=None, p10=None, p90=None,
                    n_over_limit=0, billable_tokens_per_epoch=0, histogram=[])
        return base
    ordered = sorted(billed)
    q = (statistics.quantiles(ordered, n=10, method="inclusive") if n > 1
         else [float(ordered[0])] * 9)
    base.update(
        min=ordered[0], max=ordered[-1], mean=round(sum(ordered) / n, 3),
        median=float(statistics.median(ordered)), p10=q[0], p90=q[-1],
        n_over_limit=sum(1 for t in longest if t > limit) if limit is not None else 0,
        billable_tokens_per_epoch=(base["total"] if limit is None or ordered[-1] <= limit
                                   else billable_tokens(billed, model, 1)),
        histogram=token_histogram(billed),
    )
    return base


def _count_tokens(system: str | None, users: list[str], outs: list[str],
                  rejected: list[str] | None, model: str) -> tuple[list[int], list[int]]:
    """(billed tokens, longest sequence) per line, from the strings the lines are built of
    (``curator.tokens.count_sft_columns`` / ``count_dpo_columns``: the chat formula of
    ``count_examples``, the constant parts encoded once, the texts in threads)."""
    if rejected is None:
        billed = count_sft_columns(system, users, outs, model)
        return billed, billed
    parts = count_dpo_columns(system, users, outs, rejected, model)
    return [a + b + c for a, b, c in parts], [a + max(b, c) for a, b, c in parts]


# ---------------------------------------------------------------------------------------------
# Plan

def _resolve_project(store: Store, project: Project | str | int) -> Project:
    if isinstance(project, Project):
        return get_project(store, project.id)
    return get_project(store, project)


def _report_summary(rep: ValidationReport) -> dict[str, Any]:
    return {"ok": rep.ok, "n_examples": rep.n_examples, "n_errors": rep.n_errors,
            "n_warnings": rep.n_warnings, "codes": dict(sorted(rep.codes.items()))}


def _build(store: Store, project: Project, o: _Options, progress: Progress | None,
           today: Any) -> _Built:
    timings: dict[str, float] = {}
    cpu_timings: dict[str, float] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    step = [0]

    def stage(name: str) -> None:
        nonlocal t0, c0
        now_t, now_c = time.perf_counter(), time.process_time()
        if step[0]:
            timings[STAGES[step[0] - 1]] = round(now_t - t0, 4)
            cpu_timings[STAGES[step[0] - 1]] = round(now_c - c0, 4)
        t0, c0 = now_t, now_c
        if progress is not None:
            progress(step[0], len(STAGES), name)
        step[0] += 1

    task = project.task_type
    info = get_model(o.model)
    limit = info.token_limit
    system = _system_text(project, o.system_prompt)
    warnings: list[str] = []
    problems: list[str] = []

    stage("read")
    cur = store.cursor()
    ex, bal, over_t = sql.new_name("examples"), sql.new_name("balanced"), sql.new_name("oversampled")
    try:
        rule = settle.project_rule(cur, project.id).as_tuple()
        sql.create_examples(cur, ex, project.id, rule, task, o.balance_by)
        settled, exclusions, unsettled = sql.exclusion_counts(cur, ex)
        cols = sql.eligible_columns(cur, ex, candidates=task == "preference")
        ids: list[int] = cols["item_id"]
        if not ids:
            waiting = ", ".join(f"{v} {k}" for k, v in sorted(unsettled.items()))
            why = (f"{settled} settled item(s), all excluded ({', '.join(f'{k}: {v}' for k, v in exclusions.items())})"
                   if settled else "no settled items (items need answers that meet the settle rule, "
                                   "or a lead's adjudication)" + (f"; not settled: {waiting}" if waiting else ""))
            raise InvalidInput(f"nothing to export from project {project.name!r}: {why}")
        users, outs, rejected = _contents(task, cols)
        del cols

        stage("tokens")
        # From the strings the lines are made of; the lines themselves are built after the
        # split, in file order, only for the items exported.
        billed, longest = _count_tokens(system, users, outs, rejected, o.model)
        pos = {item_id: k for k, item_id in enumerate(ids)}
        over = [i for i, t in zip(ids, longest) if t > limit] if limit is not None else []
        if over:
            if o.over_limit == "drop":
                sql.exclude_items(cur, ex, over, "over_token_limit")
                exclusions["over_token_limit"] = len(over)
                warnings.append(f"{len(over)} example(s) over {o.model}'s limit of {limit} tokens "
                                "were dropped (item ids in over_limit_item_ids)")
            else:
                warnings.append(f"{len(over)} example(s) are over {o.model}'s limit of {limit} tokens; "
                                "kept as asked: OpenAI truncates them from the end")
        if o.balance_by is not None:
            missing = sql.class_counts(cur, ex).get(sql.MISSING_CLASS, 0)
            if missing:
                warnings.append(f"{missing} item(s) have no metadata field {o.balance_by!r}; they "
                                f"form the class {sql.MISSING_CLASS!r}")

        stage("balance")
        before = sql.class_counts(cur, ex)
        if not before:
            raise InvalidInput(f"nothing to export from project {project.name!r}: every eligible "
                               "example is over the token limit (use over_limit='keep' or another model)")
        mode = "none" if o.balance.mode == "oversample" else o.balance.mode
        sql.balance_rows(cur, ex, bal, mode, o.seed, o.balance.cap)
        picked = sql.balanced_rows(cur, bal, o.seed)  # seeded order: split visits and file order

        stage("split")
        cls_of = {i: c for i, c, _ in picked}
        groups = group_items(cls_of, sql.duplicate_pairs(cur, project.id))
        split = split_groups(list(cls_of.items()), groups, val_fraction=o.val_fraction,
                             val_count=o.val_count)
        val_set = split.validation
        train_items = [i for i in cls_of if i not in val_set]
        if o.balance.mode == "oversample":
            sql.balance_rows(cur, ex, over_t, "oversample", o.seed, item_ids=train_items)
            train_rows = sql.balanced_rows(cur, over_t, o.seed)
            extra = sum(1 for _, _, k in train_rows if k > 0)
            warnings.append(
                f"oversampling (asked for): {extra} training line(s) repeat examples of smaller "
                "classes up to the largest training class; repeated examples tend to over-fit — "
                "more real examples of the small classes are better. Validation is never oversampled")
        else:
            train_rows = [r for r in picked if r[0] not in val_set]
        val_rows = [r for r in picked if r[0] in val_set]
    finally:
        sql.drop(cur, ex, bal, over_t)
        cur.close()
    for c, n in sorted(split.shortfall.items()):
        warnings.append(f"validation has {n} fewer {c!r} example(s) than its target of "
                        f"{split.targets[c]}: duplicate groups did not fit without straddling the split")

    train_ids = [i for i, _, _ in train_rows]
    val_ids = [i for i, _, _ in val_rows]
    train_at = [pos[i] for i in train_ids]
    val_at = [pos[i] for i in val_ids]
    n_train = len(train_at)
    if n_train == 0:
        problems.append("the training split is empty; lower val_fraction / val_count or settle more items")
    elif n_train < MIN_EXAMPLES:
        msg = (f"only {n_train} training example(s); OpenAI rejects training files with fewer than "
               f"{MIN_EXAMPLES}")
        if o.allow_small:
            warnings.append(msg + " (written anyway: allow_small=True)")
        else:
            problems.append(msg + "; settle more items, lower the validation share, or pass "
                                  "allow_small=True to write it anyway")

    stage("validate")
    # Every line is built in file order and serialised once; the validator checks the objects
    # and finds duplicates on the bytes, which are what is written.
    train = _lines(system, users, outs, rejected, train_at)
    validation = _lines(system, users, outs, rejected, val_at)
    train_ser, val_ser = _serialise(train), _serialise(validation)
    train_raw = train_ser[1] if train_ser is not None else None
    val_raw = val_ser[1] if val_ser is not None else None
    reports = {"train.jsonl": validate_lines(train, o.kind, None, raw=train_raw,
                                             min_examples=1 if o.allow_small else MIN_EXAMPLES)}
    if validation:
        reports["validation.jsonl"] = validate_lines(validation, o.kind, None, raw=val_raw,
                                                     min_examples=1)
    for fname, rep in reports.items():
        split_ids = train_ids if fname == "train.jsonl" else val_ids
        for e in rep.errors:
            if e.code == "too_few_examples":
                continue  # reported above in plainer words
            item = f"item {split_ids[e.line - 1]}: " if e.line else ""
            problems.append(f"{fname} line {e.line}{', ' + e.field if e.field else ''}: {item}{e.message}")
        if rep.n_errors > len(rep.errors):
            problems.append(f"{fname}: {rep.n_errors - len(rep.errors)} more error(s)")
        warn_codes = Counter(w.code for w in rep.warnings)
        if rep.n_warnings:
            if o.balance.mode == "oversample" and fname == "train.jsonl":
                warn_codes.pop("duplicate_line", None)
            if warn_codes:
                listed = ", ".join(f"{c} x{n}" for c, n in sorted(warn_codes.items()))
                warnings.append(f"{fname}: validator warnings: {listed}")
    if info.dpo == "unverified" and o.kind == "dpo":
        warnings.append(f"DPO on {o.model} is not confirmed by OpenAI documentation")
    notice = lifecycle_notice(o.model, today)
    if notice:
        warnings.append(notice)

    train_billed = [billed[k] for k in train_at]
    tokens = {
        "train": _token_stats(train_billed, [longest[k] for k in train_at], o.model, limit),
        "validation": _token_stats([billed[k] for k in val_at], [longest[k] for k in val_at],
                                   o.model, limit),
    }
    epochs = default_epochs(n_train) if n_train else None
    cost: dict[str, Any] | None = None
    if epochs:
        total = tokens["train"]["billable_tokens_per_epoch"] * epochs  # = billable_tokens(..., epochs)
        usd = None if info.price_per_1m is None else round(total * info.price_per_1m / 1e6, 6)
        cost = {"model": o.model, "epochs": epochs, "billable_tokens": total, "usd": usd,
                "price_per_1m": info.price_per_1m,
                "note": ("training tokens in train.jsonl (over-long examples counted up to the limit) "
                         "x default epochs x price; validation tokens are not billed"
                         + (f"; price: {info.price_note}" if info.price_note else ""))}

    def dist(rows: list[tuple[int, str, int]]) -> dict[str, int]:
        return dict(sorted(Counter(c for _, c, _ in rows).items()))

    after = dist(train_rows + val_rows)
    counts = {
        "items": settled + sum(unsettled.values()),
        "settled": settled,
        "disagreement": unsettled.get("disagreement", 0),
        "pending": unsettled.get("pending", 0),
        "excluded": sum(exclusions.values()),
        "eligible": sum(before.values()),
        "after_balance": len(train_rows) + len(val_rows),
        "train": len(train_rows),
        "validation": len(val_rows),
        "dropped_over_limit": exclusions.get("over_token_limit", 0),
        "over_limit": len(over),
        "oversampled_copies": sum(1 for _, _, k in train_rows if k > 0),
    }
    timings[STAGES[step[0] - 1]] = round(time.perf_counter() - t0, 4)
    cpu_timings[STAGES[step[0] - 1]] = round(time.process_time() - c0, 4)
    plan = ExportPlan(
        kind=o.kind,
        project={"id": project.id, "name": project.name, "task_type": project.task_type,
                 "labels": project.label_names, "multi_label": project.multi_label,
                 "settle_rule": project.settle_rule,
                 "system_prompt_sha256": _sha(project.system_prompt.encode())},
        settings=o.settings(system, epochs), seed=o.seed, counts=counts,
        exclusions=dict(sorted(exclusions.items())),
        distributions={"before": before, "after": after, "train": dist(train_rows),
                       "validation": dist(val_rows)},
        tokens=tokens, cost_estimate=cost, epochs=epochs,
        groups={"n_groups": split.n_groups, "n_multi_item_groups": split.n_multi_item_groups,
                "largest_group": split.largest_group},
        item_ids={"train": train_ids, "validation": val_ids},
        over_limit_item_ids=sorted(over),
        validation={k: _report_summary(v) for k, v in reports.items()},
        warnings=warnings, problems=problems,
    )
    return _Built(plan, train, validation, train_ser[0] if train_ser is not None else None,
                  val_ser[0] if val_ser is not None else None, reports, timings, cpu_timings)


def _utc(now: datetime | None) -> datetime:
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(timezone.utc)


def plan_export(store: Store, actor: Actor, project: Project | str | int, *, kind: str = "sft",
                balance: str = "none", balance_by: str | None = None,
                val_fraction: float | None = 0.1, val_count: int | None = None, seed: int = 0,
                model: str = DEFAULT_MODEL, system_prompt: str = "project",
                over_limit: str = "drop", trl: str | None = None, allow_small: bool = False,
                progress: Progress | None = None, now: datetime | None = None) -> ExportPlan:
    """Counts, distributions, split, tokens, epochs, cost and validation of an export, without
    writing anything. Same options as :func:`export_project`; check ``plan.problems``."""
    require(actor, "export")
    proj = _resolve_project(store, project)
    o = _options(proj, kind, balance, balance_by, val_fraction, val_count, seed, model,
                 system_prompt, over_limit, trl, allow_small)
    with _gc_paused():
        return _build(store, proj, o, progress, _utc(now).date()).plan


# ---------------------------------------------------------------------------------------------
# Writing

def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    ser = _serialise(lines)
    if ser is not None:
        return b"".join(ser[0])
    dumps = orjson.dumps
    return b"".join(dumps(x) + b"\n" for x in lines)


def _parquet(rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path, compression="zstd")


def _check_manifest(manifest: dict[str, Any]) -> None:
    """The manifest against ``schemas/manifest.schema.json``. The long item-id lists are checked
    here (whole numbers) and passed to the JSON Schema validator as one-element samples:
    jsonschema takes seconds over 100k ids and would check nothing more."""
    id_lists = [*manifest["item_ids"].values(), manifest["over_limit_item_ids"]]
    if not all(type(i) is int for ids in id_lists for i in ids):
        raise InvalidInput("internal: manifest item ids must be whole numbers")
    probe = dict(manifest)
    probe["item_ids"] = {k: v[:1] for k, v in manifest["item_ids"].items()}
    probe["over_limit_item_ids"] = manifest["over_limit_item_ids"][:1]
    validate_manifest(probe)


def _target_dir(project: Project, kind: str, out_dir: str | os.PathLike[str] | None,
                now: datetime) -> Path:
    if out_dir is not None:
        target = Path(out_dir).expanduser()
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ConflictError(f"{target} already exists; choose a new export folder")
        if target.exists():
            target.rmdir()  # an empty folder made for us: replaced by the complete export
        return target
    base = exports_dir() / project.name
    stem = f"{now:%Y%m%dT%H%M%SZ}-{kind}"
    target = base / stem
    n = 2
    while target.exists():
        target = base / f"{stem}-{n}"
        n += 1
    return target


def export_project(store: Store, actor: Actor, project: Project | str | int, *, kind: str = "sft",
                   balance: str = "none", balance_by: str | None = None,
                   val_fraction: float | None = 0.1, val_count: int | None = None, seed: int = 0,
                   model: str = DEFAULT_MODEL, system_prompt: str = "project",
                   over_limit: str = "drop", out_dir: str | os.PathLike[str] | None = None,
                   trl: str | None = None, allow_small: bool = False,
                   progress: Progress | None = None, now: datetime | None = None) -> ExportResult:
    """Export a project's settled items; see the module docstring and ``docs/export.md``.

    ``balance``: none | equal | cap:N | oversample (oversampling only when asked; it repeats
    training examples and is flagged in the manifest). ``balance_by``: None or 'label' for the
    gold label (classification), else a top-level metadata field. ``val_count`` (items) wins
    over ``val_fraction``. ``system_prompt``: 'project', 'none' or a custom text.
    ``over_limit``: drop or keep examples over the model's per-example token limit. ``trl``:
    also write a TRL/Hugging Face copy under ``trl/`` as 'jsonl' or 'parquet'. ``now`` fixes
    the timestamp. Raises ``InvalidInput`` listing the problems when the files would not pass
    validation (nothing is written then); ``PermissionDenied`` for roles without 'export'.
    """
    require(actor, "export")
    proj = _resolve_project(store, project)
    o = _options(proj, kind, balance, balance_by, val_fraction, val_count, seed, model,
                 system_prompt, over_limit, trl, allow_small)
    when = _utc(now)
    with _gc_paused():
        return _export(store, actor, proj, o, when, out_dir, progress)


def _export(store: Store, actor: Actor, proj: Project, o: _Options, when: datetime,
            out_dir: str | os.PathLike[str] | None, progress: Progress | None) -> ExportResult:
    built = _build(store, proj, o, progress, when.date())
    plan = built.plan
    if plan.problems:
        raise InvalidInput(
            f"export of project {proj.name!r} refused ({len(plan.problems)} problem(s)); nothing "
            "was written", [RowError(None, None, p) for p in plan.problems])
    if progress is not None:
        progress(len(STAGES) - 1, len(STAGES), "write")
    t_write, c_write = time.perf_counter(), time.process_time()

    target = _target_dir(proj, o.kind, out_dir, when)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; an export is an ordinary folder
    renamed = False
    try:
        export_id = sql.next_export_id(store.cursor())
        files: list[dict[str, Any]] = []
        paths: dict[str, Path] = {}

        def put(rel: str, data: Chunks | None, split: str, fmt: str, n_lines: int,
                writer: Callable[[Path], None] | None = None) -> None:
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if data is not None:
                with open(path, "wb") as fh:
                    for chunk in data:
                        fh.write(chunk)
            else:
                assert writer is not None
                writer(path)
                data = [path.read_bytes()]
            digest = hashlib.sha256()
            for chunk in data:
                digest.update(chunk)
            files.append({"name": rel, "split": split, "format": fmt, "sha256": digest.hexdigest(),
                          "bytes": sum(len(c) for c in data), "lines": n_lines})
            paths[split] = target / rel

        parts = [("train", built.train)] + ([("validation", built.validation)] if built.validation else [])
        written = {"train": built.train_file, "validation": built.validation_file}
        for split, lines in parts:
            data = written[split]
            put(f"{split}.jsonl", data if data is not None else [_jsonl(lines)], split,
                f"openai-{o.kind}", len(lines))
        if o.trl:
            for split, lines in parts:
                rows = [_trl_line(o.kind, x) for x in lines]
                if o.trl == "jsonl":
                    put(f"trl/{split}.jsonl", [_jsonl(rows)], f"trl_{split}", f"trl-{o.kind}-jsonl", len(rows))
                else:
                    put(f"trl/{split}.parquet", None, f"trl_{split}", f"trl-{o.kind}-parquet",
                        len(rows), lambda p, rows=rows: _parquet(rows, p))

        migrations = store.applied_migrations()
        manifest: dict[str, Any] = {
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "export_id": export_id,
            "kind": o.kind,
            "created_at": when.isoformat(),
            "created_by": actor.name,
            "curator_version": _version(),
            "project": plan.project,
            "database": {"identity": store.database_id() or "unknown",
                         "schema_version": migrations[-1] if migrations else "none"},
            "settings": plan.settings,
            "seed": o.seed,
            "counts": plan.counts,
            "exclusions": plan.exclusions,
            "distributions": plan.distributions,
            "tokens": plan.tokens,
            "cost_estimate": plan.cost_estimate,
            "groups": plan.groups,
            "files": files,
            "item_ids": plan.item_ids,
            "over_limit_item_ids": plan.over_limit_item_ids,
            "validation": plan.validation,
            "warnings": plan.warnings,
        }
        _check_manifest(manifest)
        mbytes = orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n"
        (tmp / "manifest.json").write_bytes(mbytes)
        msha = _sha(mbytes)
        paths["manifest"] = target / "manifest.json"
        with store.transaction() as cur:
            sql.insert_export(cur, export_id, proj.id, o.kind, str(target),
                              orjson.dumps(plan.settings).decode(),
                              orjson.dumps(plan.counts).decode(), msha, actor.id or None)
            if target.exists():
                raise ConflictError(f"{target} appeared while exporting; export again")
            os.rename(tmp, target)
            renamed = True
    except BaseException:
        shutil.rmtree(target if renamed else tmp, ignore_errors=True)
        raise
    timings = dict(built.timings)
    timings["write"] = round(time.perf_counter() - t_write, 4)
    cpu_timings = dict(built.cpu_timings)
    cpu_timings["write"] = round(time.process_time() - c_write, 4)
    if progress is not None:
        progress(len(STAGES), len(STAGES), "done")
    return ExportResult(export_id, target, manifest, msha, paths, timings, cpu_timings)


def list_exports(store: Store, actor: Actor, project: Project | str | int | None = None) -> list[dict[str, Any]]:
    """Recorded exports (newest first), optionally of one project."""
    require(actor, "export")
    pid = _resolve_project(store, project).id if project is not None else None
    out = []
    for (eid, proj_id, pname, kind, path, settings_j, counts_j, msha, who,
         created) in sql.list_exports(store.cursor(), pid):
        out.append({"export_id": int(eid), "project_id": int(proj_id), "project": pname,
                    "kind": kind, "path": path, "settings": orjson.loads(settings_j),
                    "counts": orjson.loads(counts_j), "manifest_sha256": msha,
                    "created_by": who, "created_at": created.isoformat()})
    return out
