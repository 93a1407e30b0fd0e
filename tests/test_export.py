"""Export service on real DuckDB files: shapes, exclusions, balancing, grouped split, tokens,
validation, atomic files, manifest, reproducibility, permissions."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator

from curator import users
from curator.errors import ConflictError, InvalidInput, PermissionDenied
from curator.export import export_project, plan_export, token_histogram
from curator.paths import schema_path
from curator.projects import create_project
from curator.queue import submit
from curator.tokens import count_examples

from conftest import add_items

NOW = datetime(2026, 11, 21, 12, 30, 0, tzinfo=timezone.utc)
LABELS = ("billing", "refund", "bug", "other")


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_path(name).read_text()))


def _read_checked(path: Path, kind: str) -> list[dict]:
    """Every line parsed and checked against the line schema, in the test itself."""
    v = _validator(f"{kind}_line")
    out = []
    for no, raw in enumerate(path.read_bytes().splitlines(), start=1):
        obj = json.loads(raw)
        errors = list(v.iter_errors(obj))
        assert not errors, f"{path.name} line {no}: {errors[0].message}"
        out.append(obj)
    return out


def _check_export(res, kind: str) -> dict[str, list[dict]]:
    d = res.export_dir
    manifest = json.loads((d / "manifest.json").read_text())
    assert not list(_validator("manifest").iter_errors(manifest))
    assert manifest == res.manifest
    lines = {}
    for f in manifest["files"]:
        data = (d / f["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
        if f["split"] in ("train", "validation"):
            lines[f["split"]] = _read_checked(d / f["name"], kind)
            assert len(lines[f["split"]]) == f["lines"] == len(manifest["item_ids"][f["split"]])
    # nothing half-written is left next to the export
    assert [p.name for p in d.parent.iterdir() if p.name.startswith(".")] == []
    return lines


@pytest.fixture(autouse=True)
def _exports_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATOR_EXPORTS_DIR", str(tmp_path / "exports"))


@pytest.fixture
def people(store):
    """One user per role, without passwords (argon2 hashing would dominate these tests)."""
    return {name: users.ensure_user(store, name, role).actor
            for name, role in [("lee", "lead"), ("eve", "engineer"), ("ann", "annotator"),
                               ("bob", "annotator")]}


def _answer_sql(store, project, user, item_ids, values):
    store.cursor().executemany(
        "INSERT INTO annotations (project_id, item_id, user_id, value) VALUES (?, ?, ?, ?)",
        [[project.id, i, user.id, v] for i, v in zip(item_ids, values)])
    store.notify_changed(project.id)


def _clf(store, people, per_class: dict[str, int], *, name="tix", **kw):
    p = create_project(store, people["lee"], name, "classification", labels=",".join(LABELS),
                       system_prompt="Classify the support ticket.", **kw)
    texts, golds = [], []
    for label, n in per_class.items():
        for k in range(n):
            texts.append(f"ticket {len(texts)}: my {label} problem number {k}")
            golds.append(label)
    ids = add_items(store, p, texts)
    _answer_sql(store, p, people["ann"], ids, golds)
    return p, dict(zip(ids, zip(texts, golds)))


# --------------------------------------------------------------------------------------------
# Shapes

def test_sft_classification_files_manifest_and_exports_row(store, people):
    p, items = _clf(store, people, {"billing": 20, "refund": 12, "bug": 8})
    res = export_project(store, people["eve"], p.name, now=NOW, seed=3)
    assert res.export_dir.name == "20261121T123000Z-sft"
    assert res.export_dir.parent.name == p.name
    lines = _check_export(res, "sft")
    m = res.manifest
    for split in ("train", "validation"):
        for item_id, line in zip(m["item_ids"][split], lines[split]):
            text, gold = items[item_id]
            assert line == {"messages": [
                {"role": "system", "content": "Classify the support ticket."},
                {"role": "user", "content": text},
                {"role": "assistant", "content": gold}]}
    for split in ("train", "validation"):  # compact orjson, one line each, key order as built
        data = (res.export_dir / f"{split}.jsonl").read_bytes()
        assert data == b"".join(orjson.dumps(x) + b"\n" for x in lines[split])
    assert set(m["item_ids"]["train"]).isdisjoint(m["item_ids"]["validation"])
    assert sorted(m["item_ids"]["train"] + m["item_ids"]["validation"]) == sorted(items)
    assert m["counts"]["train"] == 36 and m["counts"]["validation"] == 4
    assert m["distributions"]["before"] == {"billing": 20, "bug": 8, "refund": 12}
    assert m["distributions"]["validation"] == {"billing": 2, "bug": 1, "refund": 1}
    assert m["project"] == {**m["project"], "id": p.id, "name": "tix", "task_type": "classification"}
    assert m["database"]["identity"] == store.database_id()
    assert m["created_by"] == "eve" and m["created_at"] == NOW.isoformat()
    assert m["settings"]["balance"] == "none" and m["seed"] == 3
    # exact tokens: the manifest total is curator.tokens on the written lines
    assert m["tokens"]["train"]["total"] == sum(count_examples(lines["train"], m["settings"]["model"]))
    assert sum(b["count"] for b in m["tokens"]["train"]["histogram"]) == 36
    assert m["cost_estimate"]["epochs"] == 3  # 36 examples -> OpenAI's default of 3
    assert m["cost_estimate"]["billable_tokens"] == 3 * m["tokens"]["train"]["total"]
    assert m["cost_estimate"]["usd"] == pytest.approx(m["cost_estimate"]["billable_tokens"] * 5 / 1e6)
    row = store.cursor().execute(
        "SELECT id, project_id, kind, path, manifest_sha256, created_by, counts FROM exports").fetchall()
    assert len(row) == 1
    eid, pid, kind, path, msha, who, counts = row[0]
    assert (eid, pid, kind, path) == (m["export_id"], p.id, "sft", str(res.export_dir))
    assert msha == hashlib.sha256((res.export_dir / "manifest.json").read_bytes()).hexdigest()
    assert who == people["eve"].id and json.loads(counts)["train"] == 36
    d = res.to_dict()
    assert d["export_dir"] == str(res.export_dir) and Path(d["paths"]["train"]).is_file()
    assert d["kind"] == "sft" and d["files"] == m["files"]


def test_multi_label_gold_is_joined(store, people):
    p = create_project(store, people["lee"], "ml", "classification", labels="billing,refund",
                       multi_label=True, system_prompt="")
    ids = add_items(store, p, [f"t{i}" for i in range(12)])
    _answer_sql(store, p, people["ann"], ids, ["billing|refund"] * 6 + ["refund"] * 6)
    res = export_project(store, people["eve"], p, val_fraction=0, now=NOW)
    lines = _check_export(res, "sft")
    replies = Counter(x["messages"][-1]["content"] for x in lines["train"])
    assert replies == {"billing, refund": 6, "refund": 6}
    assert all(x["messages"][0]["role"] == "user" for x in lines["train"])  # empty prompt: no system
    assert "validation.jsonl" not in {f["name"] for f in res.manifest["files"]}
    assert res.manifest["item_ids"]["validation"] == []


def test_response_project_and_system_prompt_options(store, people):
    p = create_project(store, people["lee"], "resp", "response", system_prompt="You are a kind agent.")
    ids = add_items(store, p, [f"question {i}?" for i in range(15)] + ["empty reply"])
    _answer_sql(store, p, people["ann"], ids, [f"answer {i}." for i in range(15)] + ["   "])
    res = export_project(store, people["eve"], p, system_prompt="Be brief.", now=NOW)
    lines = _check_export(res, "sft")
    assert res.manifest["exclusions"] == {"empty_reply": 1}
    for item_id, line in zip(res.manifest["item_ids"]["train"], lines["train"]):
        k = ids.index(item_id)
        assert line["messages"] == [{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": f"question {k}?"},
                                    {"role": "assistant", "content": f"answer {k}."}]
    assert res.manifest["settings"]["system_prompt"] == "Be brief."
    plan = plan_export(store, people["eve"], p, system_prompt="none")
    assert plan.settings["system_prompt_sha256"] is None
    with pytest.raises(InvalidInput, match="balance_by"):
        plan_export(store, people["eve"], p, balance="equal")


def test_dpo_shapes_exclusions_and_trl(store, people):
    p = create_project(store, people["lee"], "pref", "preference", overlap=2,
                       system_prompt="Answer support questions.")
    n = 16
    cands = [(f"reply A{i}", f"reply B{i}") for i in range(n)] + [("x", "y")] * 4 + [
        ("same reply", "same reply "), ("only one", "")]
    ids = add_items(store, p, [f"prompt {i}" for i in range(n + 6)], candidates=cands)
    choices = ["A" if i % 3 else "B" for i in range(n)]
    for i, c in zip(ids[:n], choices):
        submit(store, people["ann"], p, i, c)
    submit(store, people["ann"], p, ids[n], "tie")
    submit(store, people["ann"], p, ids[n + 1], "both_bad")
    submit(store, people["ann"], p, ids[n + 2], "A")   # disagreement: never settled
    submit(store, people["bob"], p, ids[n + 2], "B")
    # ids[n + 3]: no answer (pending)
    submit(store, people["ann"], p, ids[n + 4], "A")   # identical candidates: no preference
    submit(store, people["ann"], p, ids[n + 5], "B")   # a candidate is missing
    res = export_project(store, people["eve"], p, kind="dpo", trl="jsonl", now=NOW)
    lines = _check_export(res, "dpo")
    m = res.manifest
    assert m["counts"]["settled"] == n + 4
    assert (m["counts"]["disagreement"], m["counts"]["pending"], m["counts"]["items"]) == (1, 1, n + 6)
    assert m["exclusions"] == {"both_bad": 1, "identical_candidates": 1, "missing_candidate": 1,
                               "tie": 1}
    every = m["item_ids"]["train"] + m["item_ids"]["validation"]
    assert sorted(every) == sorted(ids[:n])
    for split in ("train", "validation"):
        for item_id, line in zip(m["item_ids"][split], lines[split]):
            k = ids.index(item_id)
            good, bad = (cands[k] if choices[k] == "A" else cands[k][::-1])
            assert line == {"input": {"messages": [
                                {"role": "system", "content": "Answer support questions."},
                                {"role": "user", "content": f"prompt {k}"}]},
                            "preferred_output": [{"role": "assistant", "content": good}],
                            "non_preferred_output": [{"role": "assistant", "content": bad}]}
    trl = [json.loads(x) for x in (res.export_dir / "trl" / "train.jsonl").read_text().splitlines()]
    assert trl == [{"prompt": x["input"]["messages"], "chosen": x["preferred_output"],
                    "rejected": x["non_preferred_output"]} for x in lines["train"]]
    assert {f["split"] for f in m["files"]} == {"train", "validation", "trl_train", "trl_validation"}
    assert m["tokens"]["train"]["total"] == sum(count_examples(lines["train"], m["settings"]["model"]))


def test_kind_must_match_task_and_model_must_support_it(store, people):
    p, _ = _clf(store, people, {"billing": 12})
    with pytest.raises(InvalidInput, match="exports SFT"):
        plan_export(store, people["eve"], p, kind="dpo")
    with pytest.raises(InvalidInput, match="cannot be fine-tuned"):
        plan_export(store, people["eve"], p, model="o4-mini-2025-04-16")


def test_annotator_may_not_export(store, people):
    p, _ = _clf(store, people, {"billing": 12})
    for fn in (plan_export, export_project):
        with pytest.raises(PermissionDenied):
            fn(store, people["ann"], p)
    assert store.cursor().execute("SELECT count(*) FROM exports").fetchone()[0] == 0


# --------------------------------------------------------------------------------------------
# Balancing and split

@pytest.mark.parametrize("spec,after", [
    ("cap:10", {"billing": 10, "bug": 6, "refund": 10}),
    ("equal", {"billing": 6, "bug": 6, "refund": 6}),
])
def test_balance_cap_and_equal(store, people, spec, after):
    p, _ = _clf(store, people, {"billing": 30, "refund": 14, "bug": 6})
    res = export_project(store, people["eve"], p, balance=spec, val_fraction=0.2, now=NOW)
    _check_export(res, "sft")
    m = res.manifest
    assert m["distributions"]["before"] == {"billing": 30, "bug": 6, "refund": 14}
    assert m["distributions"]["after"] == after
    assert m["counts"]["after_balance"] == sum(after.values())
    assert m["settings"]["balance"] == spec


def test_oversample_only_training_and_warned(store, people):
    p, _ = _clf(store, people, {"billing": 30, "refund": 10})
    res = export_project(store, people["eve"], p, balance="oversample", val_fraction=0.1, now=NOW)
    lines = _check_export(res, "sft")
    m = res.manifest
    assert m["distributions"]["train"] == {"billing": 27, "refund": 27}
    assert m["distributions"]["validation"] == {"billing": 3, "refund": 1}
    assert len(set(m["item_ids"]["validation"])) == len(m["item_ids"]["validation"])
    assert m["counts"]["oversampled_copies"] == 18
    assert any("oversampling" in w for w in m["warnings"])
    assert len(lines["train"]) == 54


def test_balance_by_metadata_field(store, people):
    p, items = _clf(store, people, {"billing": 12, "refund": 12})
    cur = store.cursor()
    for k, item_id in enumerate(sorted(items)):
        meta = {"plan.tier": "pro" if k % 4 == 0 else "free"} if k < 20 else {}
        cur.execute("UPDATE items SET metadata = ? WHERE id = ?", [json.dumps(meta), item_id])
    plan = plan_export(store, people["eve"], p, balance="equal", balance_by="plan.tier",
                       val_fraction=0)
    assert plan.distributions["before"] == {"(missing)": 4, "free": 15, "pro": 5}
    assert plan.distributions["after"] == {"(missing)": 4, "free": 4, "pro": 4}
    assert any("no metadata field" in w for w in plan.warnings)


def test_duplicates_never_straddle_the_split(store, people):
    p = create_project(store, people["lee"], "dups", "classification", labels="a,b")
    texts = [f"text {i}" for i in range(60)]
    texts[10] = texts[11] = texts[12]  # exact duplicates (same dedup_key)
    ids = add_items(store, p, texts)
    _answer_sql(store, p, people["ann"], ids, ["a" if i % 2 else "b" for i in range(60)])
    cur = store.cursor()
    near = [(ids[0], ids[1], "open"), (ids[1], ids[2], "kept"), (ids[20], ids[30], "open"),
            (ids[40], ids[41], "kept")]
    cur.executemany("INSERT INTO near_duplicates (project_id, item_id, similar_item_id, similarity,"
                    " status) VALUES (?, ?, ?, 0.9, ?)", [[p.id, a, b, s] for a, b, s in near])
    together = [(ids[0], ids[1]), (ids[1], ids[2]), (ids[20], ids[30]), (ids[40], ids[41]),
                (ids[10], ids[11]), (ids[11], ids[12])]
    for seed in range(8):
        plan = plan_export(store, people["eve"], p, seed=seed, val_fraction=0.3)
        val = set(plan.item_ids["validation"])
        for a, b in together:
            assert (a in val) == (b in val), (seed, a, b)
        assert plan.groups["n_multi_item_groups"] == 4
        assert plan.counts["validation"] == 18 - sum(int(w.split()[2]) for w in plan.warnings
                                                      if w.startswith("validation has"))


def test_stratified_validation_per_class(store, people):
    p, _ = _clf(store, people, {"billing": 50, "refund": 30, "bug": 20})
    plan = plan_export(store, people["eve"], p, val_count=10)
    assert plan.distributions["validation"] == {"billing": 5, "bug": 2, "refund": 3}
    assert plan.settings["val_fraction"] is None and plan.settings["val_count"] == 10


# --------------------------------------------------------------------------------------------
# Tokens, validation, files

def test_over_limit_dropped_or_kept(store, people):
    p, items = _clf(store, people, {"billing": 11, "refund": 11})
    long_id = sorted(items)[0]
    store.cursor().execute("UPDATE items SET text = ? WHERE id = ?", ["refund " * 4200, long_id])
    model = "gpt-3.5-turbo-0613"  # 4,096 tokens per example
    plan = plan_export(store, people["eve"], p, model=model)
    assert plan.over_limit_item_ids == [long_id]
    assert long_id not in plan.item_ids["train"] + plan.item_ids["validation"]
    assert plan.exclusions == {"over_token_limit": 1} and plan.counts["dropped_over_limit"] == 1
    kept = plan_export(store, people["eve"], p, model=model, over_limit="keep", val_fraction=0)
    assert long_id in kept.item_ids["train"]
    assert kept.tokens["train"]["n_over_limit"] == 1
    assert kept.tokens["train"]["max"] > 4096 and kept.tokens["train"]["encoding"] == "cl100k_base"
    assert any("truncates" in w for w in kept.warnings)
    # billable tokens count the over-long example only up to the limit
    t = kept.tokens["train"]
    assert t["billable_tokens_per_epoch"] == t["total"] - (t["max"] - 4096)


def test_invalid_lines_are_not_published(store, people, tmp_path):
    p, items = _clf(store, people, {"billing": 15})
    bad = sorted(items)[3]
    store.cursor().execute("UPDATE items SET text = 'reset <|endoftext|> please' WHERE id = ?", [bad])
    plan = plan_export(store, people["eve"], p, val_fraction=0)
    assert not plan.ok and any(f"item {bad}" in x and "reserved token" in x for x in plan.problems)
    with pytest.raises(InvalidInput, match="reserved token") as exc:
        export_project(store, people["eve"], p, val_fraction=0, now=NOW)
    assert "nothing was written" in str(exc.value)
    assert not (tmp_path / "exports").exists() or not any((tmp_path / "exports").rglob("*.jsonl"))
    assert store.cursor().execute("SELECT count(*) FROM exports").fetchone()[0] == 0


def test_small_exports_refused_unless_allowed(store, people):
    p, _ = _clf(store, people, {"billing": 4, "refund": 4})
    with pytest.raises(InvalidInput, match="fewer than 10"):
        export_project(store, people["eve"], p, now=NOW)
    res = export_project(store, people["eve"], p, allow_small=True, val_fraction=0, now=NOW)
    assert res.manifest["counts"]["train"] == 8
    assert any("allow_small" in w for w in res.manifest["warnings"])
    assert res.manifest["cost_estimate"]["epochs"] == 12  # 100 // 8


def test_plan_writes_nothing_and_reports_progress(store, people, tmp_path):
    p, _ = _clf(store, people, {"billing": 12, "refund": 12})
    seen = []
    plan = plan_export(store, people["eve"], p, progress=lambda d, t, s: seen.append((d, t, s)))
    assert plan.ok and plan.counts["train"] + plan.counts["validation"] == 24
    assert not (tmp_path / "exports").exists()
    assert [s for _, _, s in seen] == ["read", "tokens", "balance", "split", "validate"]
    seen.clear()
    export_project(store, people["eve"], p, now=NOW, progress=lambda d, t, s: seen.append((d, t, s)))
    assert seen[-1] == (6, 6, "done") and ("write" in [s for _, _, s in seen])


def test_reproducible_byte_identical(store, people, tmp_path):
    p, _ = _clf(store, people, {"billing": 40, "refund": 25, "bug": 9})
    opts = dict(balance="cap:30", val_fraction=0.15, seed=11, trl="parquet")
    a = export_project(store, people["eve"], p, now=NOW, **opts)
    b = export_project(store, people["eve"], p, out_dir=tmp_path / "again",
                       now=datetime(2027, 1, 2, tzinfo=timezone.utc), **opts)
    for name in ("train.jsonl", "validation.jsonl", "trl/train.parquet", "trl/validation.parquet"):
        assert (a.export_dir / name).read_bytes() == (b.export_dir / name).read_bytes()
    ma, mb = (dict(r.manifest) for r in (a, b))
    for m in (ma, mb):
        for k in ("created_at", "export_id", "warnings"):
            m.pop(k)
    assert ma == mb
    c = export_project(store, people["eve"], p, now=NOW, **{**opts, "seed": 12})
    assert (c.export_dir / "train.jsonl").read_bytes() != (a.export_dir / "train.jsonl").read_bytes()
    assert c.export_dir.name == "20261121T123000Z-sft-2"  # same second: a new folder, never overwritten


def test_out_dir_must_be_new(store, people, tmp_path):
    p, _ = _clf(store, people, {"billing": 12})
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("keep me")
    with pytest.raises(ConflictError):
        export_project(store, people["eve"], p, out_dir=taken)
    assert (taken / "x").read_text() == "keep me"
    with pytest.raises(InvalidInput, match="nothing to export"):
        empty = create_project(store, people["lee"], "empty", "classification", labels="a")
        export_project(store, people["eve"], empty)


def test_token_histogram_bins():
    h = token_histogram([5, 7, 12, 44, 44, 100])
    assert sum(b["count"] for b in h) == 6
    assert all(b["hi"] - b["lo"] == h[0]["hi"] - h[0]["lo"] for b in h)
    assert h[0]["lo"] <= 5 < h[0]["hi"] and h[-1]["lo"] <= 100 < h[-1]["hi"]
    assert len(h) <= 20 and token_histogram([]) == [] and token_histogram([3]) == [{"lo": 3, "hi": 4, "count": 1}]
    assert orjson.loads(orjson.dumps(h)) == h


def test_export_feeds_the_job_launcher(store, people):
    """curator.jobs reads the manifest: it must find the OpenAI files (not the TRL copies)."""
    from datetime import date

    from curator import jobs

    p, _ = _clf(store, people, {"billing": 15, "refund": 15})
    res = export_project(store, people["eve"], p, trl="jsonl", now=NOW)
    plan = jobs.launch(store, people["eve"], res.export_dir, confirm=False,
                       today=date(2026, 11, 21))
    assert {f["role"]: Path(f["path"]).name for f in plan.files} == {
        "train": "train.jsonl", "validation": "validation.jsonl"}
    assert plan.model == res.manifest["settings"]["model"] and plan.export_id == res.export_id
    assert plan.estimated_cost_usd == pytest.approx(res.manifest["cost_estimate"]["usd"])


def test_timings_and_garbage_collector_restored(store, people):
    import gc

    from curator.export import STAGES

    p, items = _clf(store, people, {"billing": 12, "refund": 12})
    assert gc.isenabled()
    res = export_project(store, people["eve"], p, now=NOW)
    assert list(res.timings) == list(res.cpu_timings) == list(STAGES)
    assert all(v >= 0 for v in [*res.timings.values(), *res.cpu_timings.values()])
    assert gc.isenabled()  # paused during the export only
    store.cursor().execute("UPDATE items SET text = 'x <|endoftext|>' WHERE id = ?", [min(items)])
    with pytest.raises(InvalidInput):
        export_project(store, people["eve"], p, now=NOW)
    assert gc.isenabled()
    gc.disable()
    try:
        plan_export(store, people["eve"], p)
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()


def test_one_call_serialisation_equals_line_by_line():
    from curator.export import _serialise

    tricky = ['},{"messages":[', 'a"}\n{"messages":', "back\\slash \"quoted\" },{", "Привет 🤖 \u2028 \x00 \x7f",
              '{"messages": 1}', ""]
    sft = [{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": t},
                         {"role": "assistant", "content": "billing"}]} for t in tricky]
    dpo = [{"input": {"messages": [{"role": "user", "content": t}]},
            "preferred_output": [{"role": "assistant", "content": t + "!"}],
            "non_preferred_output": [{"role": "assistant", "content": "no"}]} for t in tricky]
    mixed = sft[:2] + [{"other": 1, "messages": []}] + sft[2:]  # first keys differ: line by line
    for lines in (sft, dpo, mixed, sft[:1], [{}], [{"messages": {"messages": {"messages": 1}}}] * 3):
        chunks, raw = _serialise(lines)
        assert raw == [orjson.dumps(x) for x in lines]
        assert b"".join(chunks) == b"".join(orjson.dumps(x) + b"\n" for x in lines)
    assert _serialise([]) == ([], [])
    assert _serialise([{"messages": {1, 2}}]) is None  # not serialisable: the validator reports it
