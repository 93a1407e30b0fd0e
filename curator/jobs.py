"""Fine-tuning jobs: launch from an export directory, follow, cancel.

Every function takes the ``Store`` and the acting ``Actor``; launching, cancelling, pausing and
resuming need ``launch_jobs``, reading and refreshing need ``view_jobs``.

Nothing here sleeps or loops except :func:`wait` (for the CLI): the app calls :func:`refresh`
or :func:`show_job` on a timer. A provider is given either as an instance or as a registry
name plus ``provider_config`` (e.g. ``{"secrets": st.secrets}``); keys never reach the database.

The export directory must hold ``manifest.json`` (``schemas/manifest.schema.json``); this
module reads only::

    {"export_id": 3, "kind": "sft" | "dpo",
     "files": [{"name": "train.jsonl", "split": "train", "sha256": "..."},
               {"name": "validation.jsonl", "split": "validation", "sha256": "..."}],
     "cost_estimate": {"usd": 1.23, "epochs": 3, ...},        # optional
     "settings": {"model": "..."},                            # optional default model
     "manifest_sha256": "..."}                                # optional

``files`` may also be a mapping ``{"train": {"path": ..., "sha256": ...}, "validation": ...}``.
File names/paths are relative to the export directory (absolute paths are accepted too).
Without ``manifest_sha256`` the sha256 of manifest.json's bytes identifies the manifest.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Mapping

from curator.errors import ConflictError, CuratorError, InvalidInput, NotFoundError, RowError
from curator.permissions import Actor, require
from curator.providers import Provider, ProviderError, ProviderNotFound, get_provider, is_finished
from curator.store import Store
from curator.store import jobs as sql

__all__ = [
    "OPENAI_FT_CUTOFF",
    "MIN_EXAMPLES",
    "LaunchPlan",
    "JobRecord",
    "JobDetail",
    "launch",
    "refresh",
    "list_jobs",
    "show_job",
    "cancel_job",
    "pause_job",
    "resume_job",
    "wait",
    "read_manifest",
    "check_hyperparameters",
    "check_suffix",
    "loss_series",
]

OPENAI_FT_CUTOFF = date(2027, 1, 6)
"""Fallback when ``curator.models`` is not importable; ``curator.models.OPENAI_FT_CUTOFF`` wins."""
MIN_EXAMPLES = 10
SUFFIX_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
METHOD_FOR_KIND = {"sft": "supervised", "dpo": "dpo"}

# name -> (type, minimum, maximum, minimum is exclusive)
_HYPER: dict[str, tuple[type, float, float, bool]] = {
    "n_epochs": (int, 1, 50, False),
    "batch_size": (int, 1, 256, False),
    "learning_rate_multiplier": (float, 0, float("inf"), True),
    "beta": (float, 0, 2, True),
}


# ---------------------------------------------------------------------- result types
@dataclass
class JobRecord:
    """A job as curator stored it (status as of the last refresh)."""

    id: int
    export_id: int | None
    provider: str
    provider_job_id: str
    model: str
    method: str
    status: str
    finished: bool
    fine_tuned_model: str | None
    trained_tokens: int | None
    error: dict[str, Any] | None
    settings: dict[str, Any]
    created_by: int | None
    created_at: str | None
    updated_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "JobRecord":
        seen = row.get("last_seen") or {}
        err = seen.get("error") or None
        if err and not (err.get("message") or err.get("code")):
            err = None

        def iso(v: Any) -> str | None:
            return v.isoformat() if isinstance(v, (datetime, date)) else v

        return cls(id=row["id"], export_id=row["export_id"], provider=row["provider"],
                   provider_job_id=row["provider_job_id"], model=row["model"],
                   method=row["method"], status=row["status"],
                   finished=is_finished(row["status"]),
                   fine_tuned_model=row["fine_tuned_model"],
                   trained_tokens=seen.get("trained_tokens"), error=err,
                   settings=row["settings"], created_by=row["created_by"],
                   created_at=iso(row["created_at"]), updated_at=iso(row["updated_at"]))


@dataclass
class LaunchPlan:
    """What ``launch`` will do (``launched`` False) or did (``job`` set)."""

    export_dir: str
    export_id: Any
    kind: str
    method: str
    provider: str
    model: str
    suffix: str | None
    seed: int | None
    hyperparameters: dict[str, Any]
    files: list[dict[str, Any]]
    estimated_cost_usd: float | None
    cost_estimate: Any
    manifest_sha256: str
    notices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    launched: bool = False
    job: JobRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["job"] = self.job.to_dict() if self.job else None
        return d


@dataclass
class JobDetail:
    """Everything the Jobs page shows for one job. ``provider_error`` is set (and events and
    checkpoints are empty) when the provider could not be asked."""

    job: JobRecord
    events: list[dict[str, Any]]
    checkpoints: list[dict[str, Any]]
    loss: list[dict[str, Any]]
    error: dict[str, Any] | None
    fine_tuned_model: str | None
    provider_error: str | None = None
    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["job"] = self.job.to_dict()
        return d


# ---------------------------------------------------------------------- checks
def _cutoff() -> date:
    try:
        from curator.models import OPENAI_FT_CUTOFF as cutoff
    except ImportError:
        return OPENAI_FT_CUTOFF
    return cutoff if isinstance(cutoff, date) else date.fromisoformat(str(cutoff))


def check_suffix(suffix: str | None) -> str | None:
    """``None`` or 1-64 characters of letters, digits, '.', '_' and '-' (the suffix becomes
    part of the model name ``ft:base:org:suffix:id``, so ':' and spaces are refused)."""
    if suffix is None:
        return None
    if not SUFFIX_RE.match(suffix):
        raise InvalidInput(
            f"suffix {suffix!r} is not allowed: use 1 to 64 characters of letters, digits, "
            f"'.', '_' or '-' (it has {len(suffix)})")
    return suffix


def check_hyperparameters(values: Mapping[str, Any] | None, method: str) -> dict[str, Any]:
    """Validate against the documented ranges: n_epochs 1-50, batch_size 1-256,
    learning_rate_multiplier > 0, beta 0 < b <= 2 (dpo only); 'auto' or None = provider
    default. Returns only the explicit values."""
    out: dict[str, Any] = {}
    errors: list[RowError] = []
    for name, value in (values or {}).items():
        if value is None or value == "auto":
            continue
        if name not in _HYPER or (name == "beta" and method != "dpo"):
            allowed = [k for k in _HYPER if k != "beta" or method == "dpo"]
            errors.append(RowError(None, name, f"unknown hyperparameter for {method}; "
                                               f"expected one of {', '.join(allowed)}"))
            continue
        kind, lo, hi, lo_open = _HYPER[name]
        ok_type = (isinstance(value, int) if kind is int else isinstance(value, (int, float)))
        if isinstance(value, bool) or not ok_type:
            errors.append(RowError(None, name, f"expected {'an integer' if kind is int else 'a number'}"
                                               f" or 'auto', got {value!r}"))
            continue
        if (value <= lo if lo_open else value < lo) or value > hi:
            lo_txt = f"> {lo:g}" if lo_open else f">= {lo:g}"
            hi_txt = f" and <= {hi:g}" if hi != float("inf") else ""
            errors.append(RowError(None, name, f"{value!r} is out of range (must be "
                                               f"{lo_txt}{hi_txt})"))
            continue
        out[name] = value
    if errors:
        raise InvalidInput("invalid hyperparameters", errors)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(export_dir: str | Path) -> tuple[dict[str, Any], str]:
    """The manifest of an export directory and its sha256 (the manifest's own
    ``manifest_sha256`` when it records one, else the hash of the file's bytes)."""
    path = Path(export_dir) / "manifest.json"
    if not path.is_file():
        raise NotFoundError(f"{export_dir}: no manifest.json here; give the directory that "
                            f"`curator export` wrote")
    raw = path.read_bytes()
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"manifest is not valid JSON (line {exc.lineno}: {exc.msg})",
                           file=str(path)) from None
    if not isinstance(manifest, dict):
        raise InvalidInput("manifest must be a JSON object", file=str(path))
    digest = manifest.get("manifest_sha256") or hashlib.sha256(raw).hexdigest()
    return manifest, str(digest)


def _basic_check(path: Path, kind: str, min_examples: int) -> list[RowError]:
    """Structural checks the provider would fail the job for (JSON, shape, enough lines)."""
    errors: list[RowError] = []
    n = 0
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            n += 1
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                errors.append(RowError(lineno, None, f"not valid JSON ({exc})"))
                continue
            if not isinstance(obj, dict):
                errors.append(RowError(lineno, None, "expected a JSON object"))
            elif kind == "sft" and not (isinstance(obj.get("messages"), list) and obj["messages"]):
                errors.append(RowError(lineno, "messages", "missing or empty list"))
            elif kind == "dpo":
                inp = obj.get("input")
                if not (isinstance(inp, dict) and isinstance(inp.get("messages"), list)
                        and inp["messages"]):
                    errors.append(RowError(lineno, "input.messages", "missing or empty list"))
                for key in ("preferred_output", "non_preferred_output"):
                    if not (isinstance(obj.get(key), list) and len(obj[key]) == 1):
                        errors.append(RowError(lineno, key,
                                               "expected a list with one assistant message"))
    if n < min_examples:
        errors.append(RowError(None, None, f"{n} example(s); fine-tuning needs at least "
                                           f"{min_examples}"))
    return errors


def _file_specs(files: Any) -> dict[str, dict[str, Any]]:
    """``{"train": spec, "validation": spec}`` from the manifest's list or mapping of files."""
    if isinstance(files, dict):
        return {role: spec for role, spec in files.items() if isinstance(spec, dict)}
    out: dict[str, dict[str, Any]] = {}
    for spec in files or []:
        if not isinstance(spec, dict):
            continue
        split = str(spec.get("split") or "")
        name = str(spec.get("name") or spec.get("path") or "")
        if not split:
            split = ("validation" if "valid" in Path(name).name else
                     "train" if "train" in Path(name).name else "")
        if split in ("train", "training"):
            out["train"] = spec
        elif split in ("validation", "valid", "val"):
            out["validation"] = spec
    return out


def _validate(path: Path, kind: str, model: str, role: str) -> list[str]:
    """Re-validate an export file with ``curator.validate`` (structural checks only when that
    module is not available); raises InvalidInput, returns warnings."""
    try:
        from curator.validate import validate_file
    except ImportError:
        validate_file = None
    warnings: list[str] = []
    if validate_file is None:
        errors = _basic_check(path, kind, MIN_EXAMPLES if role == "train" else 1)
    else:
        try:
            from curator.models import get_model
            get_model(model)
            known: str | None = model
        except (ImportError, CuratorError):
            known = None  # a model curator has no table entry for: the provider decides
        report = validate_file(path, kind, known, min_examples=MIN_EXAMPLES if role == "train"
                               else 1)
        errors = [RowError(e.line, e.field or None, e.message) for e in report.errors]
        warnings = [f"{role}: {w}" for w in report.warnings]
        if report.n_errors > len(errors):
            errors.append(RowError(None, None, f"{report.n_errors - len(errors)} more errors"))
    if errors:
        raise InvalidInput(f"{role} file fails validation; fix the data and export again",
                           errors, file=str(path))
    return warnings


def _cost_usd(cost: Any, n_epochs: Any) -> float | None:
    """USD from the manifest's cost estimate, rescaled when an explicit n_epochs differs
    from the epochs it was computed for."""
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        return float(cost)
    if not isinstance(cost, dict):
        return None
    usd = next((cost[k] for k in ("usd", "total_usd", "estimated_usd", "cost_usd")
                if isinstance(cost.get(k), (int, float))), None)
    if usd is None:
        return None
    epochs = cost.get("epochs") or cost.get("n_epochs")
    if isinstance(n_epochs, int) and isinstance(epochs, (int, float)) and epochs > 0:
        return float(usd) * n_epochs / epochs
    return float(usd)


def _lifecycle(model: str, today: date) -> list[str]:
    try:
        from curator.models import lifecycle_notice
    except ImportError:
        return []
    try:
        notice = lifecycle_notice(model, today)
    except CuratorError:
        return []
    return [notice] if notice else []


def _resolve(provider: str | Provider, provider_config: Mapping[str, Any] | None) -> Provider:
    if isinstance(provider, Provider):
        return provider
    return get_provider(provider, **dict(provider_config or {}))


# ---------------------------------------------------------------------- launch
def launch(store: Store, actor: Actor, export_dir: str | Path, model: str | None = None, *,
           suffix: str | None = None, seed: int | None = None, method: str | None = None,
           hyperparameters: Mapping[str, Any] | None = None,
           provider: str | Provider = "openai",
           provider_config: Mapping[str, Any] | None = None, confirm: bool = False,
           today: date | None = None) -> LaunchPlan:
    """Check an export and return the plan (with its cost estimate); with ``confirm=True``
    also upload the files (reusing any with the same sha256), create the job and store it.

    Refuses, with the reason: a changed or invalid file, a bad suffix/seed/hyperparameter,
    a method the export kind cannot train, and OpenAI launches on or after the cut-off date.
    """
    require(actor, "launch_jobs")
    today = today or date.today()
    export_dir = Path(export_dir)
    manifest, manifest_sha = read_manifest(export_dir)
    kind = manifest.get("kind")
    if kind not in METHOD_FOR_KIND:
        raise InvalidInput(f"manifest kind is {kind!r}; expected 'sft' or 'dpo'",
                           file=str(export_dir / "manifest.json"))
    method = method or METHOD_FOR_KIND[kind]
    if method != METHOD_FOR_KIND[kind]:
        raise InvalidInput(f"a {kind} export trains with method {METHOD_FOR_KIND[kind]!r}, "
                           f"not {method!r}")
    model = model or manifest.get("model") or (manifest.get("settings") or {}).get("model")
    if not model:
        raise InvalidInput("no model given and the manifest names none; pass --model")
    suffix = check_suffix(suffix)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                             or not 0 <= seed <= 2_147_483_647):
        raise InvalidInput(f"seed must be an integer from 0 to 2147483647, got {seed!r}")
    hp = check_hyperparameters(hyperparameters, method)
    provider_name = provider.name if isinstance(provider, Provider) else provider

    if provider_name == "openai" and today >= _cutoff():
        raise CuratorError(
            f"OpenAI no longer accepts new fine-tuning jobs (self-serve fine-tuning ended on "
            f"{_cutoff().isoformat()}). Your export in {export_dir} is still usable: train on "
            f"Azure OpenAI (--provider azure), Together or Fireworks with the same JSONL, or "
            f"with TRL.")
    try:
        from curator.models import get_model
        info = get_model(model)
    except (ImportError, CuratorError):
        info = None
    if info is not None and not info.supports(kind):
        raise InvalidInput(f"{model} cannot be fine-tuned with {kind}")

    files_spec = _file_specs(manifest.get("files"))
    if "train" not in files_spec:
        raise InvalidInput("manifest lists no 'train' file", file=str(export_dir / "manifest.json"))
    files: list[dict[str, Any]] = []
    warnings: list[str] = []
    for role in ("train", "validation"):
        spec = files_spec.get(role)
        if not spec:
            continue
        path = Path(spec.get("path") or spec.get("name") or "")
        path = path if path.is_absolute() else export_dir / path
        if not path.is_file():
            raise NotFoundError(f"{role} file {path} listed in the manifest is missing")
        digest = _sha256(path)
        if spec.get("sha256") and spec["sha256"] != digest:
            raise InvalidInput(f"{role} file {path} changed since the export (sha256 "
                               f"{digest[:12]}... but the manifest says "
                               f"{str(spec['sha256'])[:12]}...); export again")
        warnings += _validate(path, kind, model, role)
        files.append({"role": role, "path": str(path), "sha256": digest,
                      "bytes": path.stat().st_size, "file_id": None, "reused": False})

    notices = _lifecycle(model, today) if provider_name == "openai" else []
    cost = manifest.get("cost_estimate")
    plan = LaunchPlan(
        export_dir=str(export_dir), export_id=manifest.get("export_id"), kind=kind,
        method=method, provider=provider_name, model=model, suffix=suffix, seed=seed,
        hyperparameters={k: hp.get(k, "auto") for k in _HYPER if k != "beta" or method == "dpo"},
        files=files, estimated_cost_usd=_cost_usd(cost, hp.get("n_epochs")), cost_estimate=cost,
        manifest_sha256=manifest_sha, notices=notices, warnings=warnings)
    if not confirm:
        return plan

    prov = _resolve(provider, provider_config)
    try:
        m = prov.model_info(model)
    except ProviderNotFound:
        raise InvalidInput(f"{prov.label or prov.name} does not know model {model!r} (or this "
                           f"key may not use it)") from None
    if m.shutdown_date and date.fromisoformat(m.shutdown_date[:10]) <= today:
        raise CuratorError(f"{model} was shut down on {m.shutdown_date}; pick a current model")

    ids: dict[str, str] = {}
    for f in files:
        f["file_id"], f["reused"] = _upload(store, prov, Path(f["path"]), f["sha256"])
        ids[f["role"]] = f["file_id"]
    metadata = {"export_id": str(plan.export_id), "manifest_sha256": manifest_sha}
    info_job = prov.create_job(model=model, training_file=ids["train"],
                               validation_file=ids.get("validation"), suffix=suffix, seed=seed,
                               method=method, hyperparameters=hp, metadata=metadata)
    export_id = plan.export_id if isinstance(plan.export_id, int) else None
    settings = {
        "export_dir": str(export_dir), "export_id": plan.export_id,
        "manifest_sha256": manifest_sha, "suffix": suffix, "seed": seed,
        "hyperparameters": hp, "training_file": ids["train"],
        "validation_file": ids.get("validation"),
        "files": {f["role"]: {"sha256": f["sha256"], "file_id": f["file_id"],
                              "reused": f["reused"]} for f in files},
        "estimated_cost_usd": plan.estimated_cost_usd, "account": _account(prov),
    }
    with store.transaction() as cur:
        job_id = sql.insert_job(cur, export_id=export_id, provider=prov.name,
                                provider_job_id=info_job.id, model=model, method=method,
                                status=info_job.status, fine_tuned_model=info_job.fine_tuned_model,
                                settings=settings, last_seen=info_job.raw,
                                created_by=actor.id or None)
        row = sql.get_job(cur, job_id)
    plan.launched = True
    plan.job = JobRecord.from_row(row)  # type: ignore[arg-type]
    return plan


def _account(prov: Provider) -> str:
    """Where files were uploaded, without credentials (base URL / endpoint)."""
    return prov.account_key


def _upload(store: Store, prov: Provider, path: Path, digest: str) -> tuple[str, bool]:
    """The provider file id for ``path``: a recorded upload with the same sha256 when the
    provider still has it, else a new upload (recorded at once so a retry reuses it)."""
    cur = store.cursor()
    known = sql.get_provider_file(cur, prov.account_key, digest)
    if known and prov.has_file(known["file_id"]):
        return known["file_id"], True
    file_id = prov.upload_file(path, digest)
    sql.put_provider_file(cur, provider=prov.account_key, sha256=digest, file_id=file_id,
                          filename=path.name, size=path.stat().st_size)
    return file_id, False


# ---------------------------------------------------------------------- follow
def _row(store: Store, job_id: int) -> dict[str, Any]:
    row = sql.get_job(store.cursor(), job_id)
    if row is None:
        raise NotFoundError(f"no fine-tuning job with id {job_id}")
    return row


def _provider_for(row: Mapping[str, Any], provider: str | Provider | None,
                  provider_config: Mapping[str, Any] | None) -> Provider:
    prov = _resolve(provider or row["provider"], provider_config)
    if prov.name != row["provider"]:
        raise CuratorError(f"job {row['id']} runs on {row['provider']!r}, not {prov.name!r}")
    return prov


def _record(store: Store, job_id: int, info: Any) -> JobRecord:
    with store.transaction() as cur:
        sql.update_job(cur, job_id, status=info.status, fine_tuned_model=info.fine_tuned_model,
                       last_seen=info.raw)
        row = sql.get_job(cur, job_id)
    return JobRecord.from_row(row)  # type: ignore[arg-type]


def refresh(store: Store, actor: Actor, job_id: int, *, provider: str | Provider | None = None,
            provider_config: Mapping[str, Any] | None = None, force: bool = False) -> JobRecord:
    """Ask the provider once for the job's state and store it. A finished job is not asked
    again unless ``force``."""
    require(actor, "view_jobs")
    row = _row(store, job_id)
    if is_finished(row["status"]) and not force:
        return JobRecord.from_row(row)
    prov = _provider_for(row, provider, provider_config)
    return _record(store, job_id, prov.retrieve_job(row["provider_job_id"]))


def list_jobs(store: Store, actor: Actor, *, export_id: int | None = None,
              status: str | None = None, limit: int = 100) -> list[JobRecord]:
    """Stored jobs, newest first (no provider call; use :func:`refresh` for fresh status)."""
    require(actor, "view_jobs")
    return [JobRecord.from_row(r) for r in
            sql.list_jobs(store.cursor(), export_id=export_id, status=status, limit=limit)]


def loss_series(events: list[Any], checkpoints: list[Any] | None = None) -> list[dict[str, Any]]:
    """Rows {step, train_loss, valid_loss} by ascending step, from metrics events (or, when
    there are none, from checkpoint metrics)."""
    by_step: dict[int, dict[str, Any]] = {}
    for e in events:
        d = e if isinstance(e, dict) else asdict(e)
        data = d.get("data") or {}
        if d.get("type") == "metrics" and data.get("step") is not None:
            by_step.setdefault(int(data["step"]), {
                "step": int(data["step"]), "train_loss": data.get("train_loss"),
                "valid_loss": data.get("valid_loss")})
    if not by_step:
        for c in checkpoints or []:
            d = c if isinstance(c, dict) else asdict(c)
            m = d.get("metrics") or {}
            by_step.setdefault(int(d["step_number"]), {
                "step": int(d["step_number"]), "train_loss": m.get("train_loss"),
                "valid_loss": m.get("valid_loss")})
    return [by_step[s] for s in sorted(by_step)]


def show_job(store: Store, actor: Actor, job_id: int, *,
             provider: str | Provider | None = None,
             provider_config: Mapping[str, Any] | None = None, refresh_status: bool = True,
             events_limit: int = 1000, today: date | None = None) -> JobDetail:
    """Status, events (newest first), checkpoints with metrics, a loss series for a chart,
    the error and the fine-tuned model. Provider trouble is reported in ``provider_error``
    rather than raised, so the page still shows what is stored."""
    require(actor, "view_jobs")
    row = _row(store, job_id)
    record = JobRecord.from_row(row)
    events: list[dict[str, Any]] = []
    checkpoints: list[dict[str, Any]] = []
    provider_error = None
    try:
        prov = _provider_for(row, provider, provider_config)
        if refresh_status and not record.finished:
            record = _record(store, job_id, prov.retrieve_job(row["provider_job_id"]))
        events = [e.to_dict() for e in prov.list_events(row["provider_job_id"], events_limit)]
        checkpoints = [c.to_dict() for c in prov.list_checkpoints(row["provider_job_id"])]
    except ProviderError as exc:
        provider_error = str(exc)
    notices = _lifecycle(record.model, today or date.today()) if record.provider == "openai" \
        else []
    return JobDetail(job=record, events=events, checkpoints=checkpoints,
                     loss=loss_series(events, checkpoints), error=record.error,
                     fine_tuned_model=record.fine_tuned_model, provider_error=provider_error,
                     notices=notices)


def _act(store: Store, actor: Actor, job_id: int, action: str,
         provider: str | Provider | None, provider_config: Mapping[str, Any] | None
         ) -> JobRecord:
    require(actor, "launch_jobs")
    row = _row(store, job_id)
    if is_finished(row["status"]):
        done = {"cancel": "cancelled", "pause": "paused", "resume": "resumed"}[action]
        raise ConflictError(f"job {job_id} has already {row['status']}; it cannot be {done}")
    prov = _provider_for(row, provider, provider_config)
    if action in ("pause", "resume") and not prov.supports_pause:
        raise CuratorError(f"{prov.label or prov.name} cannot {action} fine-tuning jobs")
    fn = {"cancel": prov.cancel_job, "pause": prov.pause_job, "resume": prov.resume_job}[action]
    return _record(store, job_id, fn(row["provider_job_id"]))


def cancel_job(store: Store, actor: Actor, job_id: int, *,
               provider: str | Provider | None = None,
               provider_config: Mapping[str, Any] | None = None) -> JobRecord:
    """Cancel a job that has not finished."""
    return _act(store, actor, job_id, "cancel", provider, provider_config)


def pause_job(store: Store, actor: Actor, job_id: int, *,
              provider: str | Provider | None = None,
              provider_config: Mapping[str, Any] | None = None) -> JobRecord:
    """Pause a running job (its status becomes 'paused', which is not finished)."""
    return _act(store, actor, job_id, "pause", provider, provider_config)


def resume_job(store: Store, actor: Actor, job_id: int, *,
               provider: str | Provider | None = None,
               provider_config: Mapping[str, Any] | None = None) -> JobRecord:
    """Resume a paused job."""
    return _act(store, actor, job_id, "resume", provider, provider_config)


def wait(store: Store, actor: Actor, job_id: int, *, provider: str | Provider | None = None,
         provider_config: Mapping[str, Any] | None = None, interval: float = 30.0,
         timeout: float | None = None, on_update: Callable[[JobRecord], None] | None = None,
         sleep: Callable[[float], None] = time.sleep) -> JobRecord:
    """Refresh every ``interval`` seconds until the job finishes (CLI only). Calls
    ``on_update`` after each refresh; raises CuratorError after ``timeout`` seconds."""
    start = time.monotonic()
    while True:
        record = refresh(store, actor, job_id, provider=provider,
                         provider_config=provider_config)
        if on_update is not None:
            on_update(record)
        if record.finished:
            return record
        if timeout is not None and time.monotonic() - start + interval > timeout:
            raise CuratorError(f"job {job_id} is still {record.status} after {timeout:g}s; "
                               f"check again later with `curator jobs show {job_id}`")
        sleep(interval)
