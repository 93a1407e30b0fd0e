"""A stateful fake of the OpenAI files, uploads, fine-tuning, models and chat endpoints.

Tests run the real ``openai`` SDK against it over HTTP on 127.0.0.1 (the SDK uses httpx2, so
transport mocks for legacy httpx cannot intercept it). Use it as a context manager::

    with FakeOpenAI() as server:
        client = OpenAI(api_key=server.api_key, base_url=server.base_url)

or from a shell: ``python -m tests.fake_openai --port 8765 [--key sk-...]``.

Behaviour, kept close to the real service:

* Auth: ``Authorization: Bearer <key>`` (or Azure's ``api-key`` header) must equal ``api_key``;
  otherwise 401 ``invalid_api_key``. The 401 message echoes the key that was sent *unmasked*
  (the real service masks most of it) so tests can prove the client never shows it.
* Jobs advance one step per ``GET /v1/fine_tuning/jobs/{id}`` (``advance_on_retrieve``), or by
  ``advance(job_id)``: validating_files -> queued -> running (one metrics event per step,
  ``total_steps`` steps) -> succeeded, with one checkpoint per step at the end (last 3 kept),
  ``fine_tuned_model`` and ``trained_tokens``. A bad training/validation file (not JSON, wrong
  shape, fewer than ``min_examples`` lines) fails in validating_files with
  ``error = {code, message, param}``. Paused jobs do not advance.
* Faults: ``inject(status=429, times=2, path_prefix="/v1/fine_tuning/jobs")`` answers the next
  matching requests with that status (``retry-after-ms`` keeps SDK retries fast).
  ``requests`` records every request seen (method, path), ``count(...)`` counts them.
* The same routes are served under ``/openai/...`` (Azure OpenAI layout), plus
  ``/openai/deployments/{model}/chat/completions``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["FakeOpenAI", "Fault", "DEFAULT_MODELS", "serve_forever"]

DEFAULT_KEY = "sk-fake-test-key-0123456789"

# id -> shutdown_date (None = no date announced)
DEFAULT_MODELS: dict[str, str | None] = {
    "gpt-4.1-2025-04-14": "2027-01-14",
    "gpt-4.1-mini-2025-04-14": "2027-01-14",
    "gpt-4.1-nano-2025-04-14": "2026-10-23",
    "gpt-4o-2024-08-06": "2027-01-14",
    "gpt-4o-mini-2024-07-18": "2027-01-14",
    "gpt-3.5-turbo-0125": "2026-09-28",
}

STEPS = ("validating_files", "queued", "running")


@dataclass
class Fault:
    """An injected error answer for the next ``times`` matching requests."""

    status: int
    times: int = 1
    path_prefix: str = ""
    method: str | None = None
    body: dict[str, Any] | None = None
    retry_after_ms: int | None = 5
    hits: int = 0


def _error(status: int, message: str, *, type_: str = "invalid_request_error",
           code: str | None = None, param: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": type_, "param": param, "code": code}},
        status_code=status, headers=headers,
    )


def _page(items: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    """Cursor pagination over ``items`` (already in the order to return)."""
    start = 0
    if after:
        for i, it in enumerate(items):
            if it["id"] == after:
                start = i + 1
                break
    data = items[start:start + limit]
    return {"object": "list", "data": data, "has_more": start + limit < len(items)}


def check_training_file(content: bytes, method: str, min_examples: int) -> str | None:
    """The first problem with a fine-tuning file, or None. Mirrors the service's checks."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return "File is not valid UTF-8."
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for n, line in enumerate(lines, start=1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            return f"Invalid file format. Line {n} is not valid JSON."
        if not isinstance(obj, dict):
            return f"Invalid file format. Line {n} is not a JSON object."
        if method == "dpo":
            inp = obj.get("input")
            if not isinstance(inp, dict) or not isinstance(inp.get("messages"), list) \
                    or not inp["messages"]:
                return f"Invalid file format. Line {n}, key \"input.messages\": missing or empty."
            for key in ("preferred_output", "non_preferred_output"):
                out = obj.get(key)
                if not isinstance(out, list) or len(out) != 1 or not isinstance(out[0], dict) \
                        or out[0].get("role") != "assistant":
                    return (f"Invalid file format. Line {n}, key \"{key}\": expected a list "
                            f"with exactly one assistant message.")
        else:
            msgs = obj.get("messages")
            if not isinstance(msgs, list) or not msgs:
                return f"Invalid file format. Line {n}, key \"messages\": missing or empty."
            for i, m in enumerate(msgs):
                if not isinstance(m, dict) or m.get("role") not in (
                        "system", "user", "assistant", "tool", "function"):
                    return (f"Invalid file format. Line {n}, message {i}: "
                            f"unrecognized or missing role.")
            if not any(m.get("role") == "assistant" for m in msgs):
                return f"Invalid file format. Line {n}: example has no assistant message."
    if len(lines) < min_examples:
        return (f"Training file has {len(lines)} example(s), but must have at least "
                f"{min_examples} examples")
    return None


class FakeOpenAI:
    """The fake server and its state; see the module docstring."""

    def __init__(self, *, api_key: str = DEFAULT_KEY, total_steps: int = 3,
                 advance_on_retrieve: bool = True, min_examples: int = 10,
                 models: dict[str, str | None] | None = None, host: str = "127.0.0.1",
                 port: int = 0, organization: str = "org-fake"):
        self.api_key = api_key
        self.total_steps = total_steps
        self.advance_on_retrieve = advance_on_retrieve
        self.min_examples = min_examples
        # files containing this text fail validation as "unsafe" (a check no local validator
        # can make), e.g. server.reject_marker = "BLOCKED"
        self.reject_marker: str | None = None
        self.models: dict[str, str | None] = dict(DEFAULT_MODELS if models is None else models)
        self.host = host
        self.port = port
        self.organization = organization
        self.files: dict[str, dict[str, Any]] = {}
        self.file_content: dict[str, bytes] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.parts: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_steps: dict[str, int] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.checkpoints: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str]] = []
        self.job_requests: list[dict[str, Any]] = []   # bodies of POST /fine_tuning/jobs
        self.chat_requests: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self._lock = threading.RLock()
        self._clock = int(time.time())
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = self._build_app()

    # ------------------------------------------------------------------ control from tests
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def inject(self, status: int, times: int = 1, path_prefix: str = "", method: str | None = None,
               body: dict[str, Any] | None = None, retry_after_ms: int | None = 5) -> Fault:
        """Answer the next ``times`` requests whose path starts with ``path_prefix`` (and whose
        method matches, if given) with ``status``."""
        fault = Fault(status, times, path_prefix, method.upper() if method else None, body,
                      retry_after_ms)
        with self._lock:
            self.faults.append(fault)
        return fault

    def count(self, path_prefix: str = "", method: str | None = None) -> int:
        """How many requests the server saw (faulted ones included)."""
        with self._lock:
            return sum(1 for m, p in self.requests
                       if p.startswith(path_prefix) and (method is None or m == method.upper()))

    def advance(self, job_id: str, steps: int = 1) -> str:
        """Move a job forward ``steps`` steps; returns its status."""
        with self._lock:
            for _ in range(steps):
                self._advance(job_id)
            return self.jobs[job_id]["status"]

    def set_status(self, job_id: str, status: str) -> None:
        with self._lock:
            self.jobs[job_id]["status"] = status

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "FakeOpenAI":
        """Serve in a background thread; returns once the port accepts connections."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off",
                                access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"fake-openai-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers
    def _now(self) -> int:
        self._clock += 1
        return self._clock

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{uuid.uuid4().hex[:24]}"

    def _add_event(self, job_id: str, message: str, *, level: str = "info",
                   type_: str = "message", data: dict[str, Any] | None = None) -> None:
        self.events[job_id].insert(0, {
            "id": self._new_id("ftevent-"), "object": "fine_tuning.job.event",
            "created_at": self._now(), "level": level, "message": message,
            "type": type_, "data": data or {},
        })

    def _loss(self, step: int) -> tuple[float, float]:
        train = round(2.0 / (1 + step) + 0.05, 4)
        return train, round(train + 0.1, 4)

    def _advance(self, job_id: str) -> None:
        job = self.jobs[job_id]
        status = job["status"]
        if status == "validating_files":
            method = (job.get("method") or {}).get("type", "supervised")
            for param in ("training_file", "validation_file"):
                fid = job.get(param)
                if not fid:
                    continue
                content = self.file_content.get(fid, b"")
                problem = check_training_file(
                    content, method, self.min_examples if param == "training_file" else 1)
                code = "invalid_n_examples" if problem and "at least" in problem \
                    else "invalid_file_format"
                if problem is None and self.reject_marker \
                        and self.reject_marker.encode() in content:
                    code = "unsafe_file"
                    problem = ("This file was blocked by the moderation system because it "
                               "contains examples that violate usage policies.")
                if problem:
                    which = "Training" if param == "training_file" else "Validation"
                    job.update(status="failed", finished_at=self._now(), error={
                        "code": code, "param": param,
                        "message": f"{which} file {fid} is invalid: {problem}"})
                    self._add_event(job_id, f"{which} file validation failed: {problem}",
                                    level="error")
                    return
            job["status"] = "queued"
            self._add_event(job_id, "Files validated, moving job to queued state")
        elif status == "queued":
            job["status"] = "running"
            job["estimated_finish"] = self._now() + 600
            self._add_event(job_id, "Fine-tuning job started")
        elif status == "running":
            step = self.job_steps.get(job_id, 0) + 1
            self.job_steps[job_id] = step
            train, valid = self._loss(step)
            data: dict[str, Any] = {"step": step, "total_steps": self.total_steps,
                                    "train_loss": train, "train_mean_token_accuracy": 0.5}
            if job.get("validation_file"):
                data.update(valid_loss=valid, valid_mean_token_accuracy=0.45)
            self._add_event(job_id, f"Step {step}/{self.total_steps}: training loss={train}",
                            type_="metrics", data=data)
            if step >= self.total_steps:
                self._finish(job_id)

    def _finish(self, job_id: str) -> None:
        job = self.jobs[job_id]
        suffix = job.get("suffix") or ""
        name = f"ft:{job['model']}:{self.organization}:{suffix}:{job_id[-8:]}"
        ckpts = []
        for step in range(1, self.total_steps + 1):
            train, valid = self._loss(step)
            metrics: dict[str, Any] = {"step": float(step), "train_loss": train,
                                       "train_mean_token_accuracy": 0.5}
            if job.get("validation_file"):
                metrics.update(valid_loss=valid, valid_mean_token_accuracy=0.45)
            ckpts.insert(0, {
                "id": self._new_id("ftckpt_"), "object": "fine_tuning.job.checkpoint",
                "created_at": self._now(), "fine_tuning_job_id": job_id, "step_number": step,
                "fine_tuned_model_checkpoint": f"{name}:ckpt-step-{step}", "metrics": metrics})
        self.checkpoints[job_id] = ckpts[:3]
        content = self.file_content.get(job["training_file"], b"")
        epochs = ((job.get("method") or {}).get(job["method"]["type"], {})
                  .get("hyperparameters", {}).get("n_epochs", 3))
        epochs = epochs if isinstance(epochs, int) else 3
        results_id = self._new_id("file-")
        self.files[results_id] = {"id": results_id, "object": "file", "bytes": 0,
                                  "created_at": self._now(), "filename": "step_metrics.csv",
                                  "purpose": "fine-tune-results", "status": "processed"}
        job.update(status="succeeded", finished_at=self._now(), fine_tuned_model=name,
                   trained_tokens=max(1, len(content.split())) * epochs,
                   estimated_finish=None, result_files=[results_id])
        self.models[name] = self.models.get(job["model"])
        self._add_event(job_id, f"New fine-tuned model created: {name}")
        self._add_event(job_id, "The job has successfully completed")

    # ------------------------------------------------------------------ app
    def _build_app(self) -> Starlette:
        routes = [
            ("/files", self.files_create, ["POST"]),
            ("/files", self.files_list, ["GET"]),
            ("/files/{file_id}", self.files_retrieve, ["GET"]),
            ("/files/{file_id}", self.files_delete, ["DELETE"]),
            ("/files/{file_id}/content", self.files_content, ["GET"]),
            ("/uploads", self.uploads_create, ["POST"]),
            ("/uploads/{upload_id}/parts", self.uploads_part, ["POST"]),
            ("/uploads/{upload_id}/complete", self.uploads_complete, ["POST"]),
            ("/uploads/{upload_id}/cancel", self.uploads_cancel, ["POST"]),
            ("/fine_tuning/jobs", self.jobs_create, ["POST"]),
            ("/fine_tuning/jobs", self.jobs_list, ["GET"]),
            ("/fine_tuning/jobs/{job_id}", self.jobs_retrieve, ["GET"]),
            ("/fine_tuning/jobs/{job_id}/cancel", self.jobs_cancel, ["POST"]),
            ("/fine_tuning/jobs/{job_id}/pause", self.jobs_pause, ["POST"]),
            ("/fine_tuning/jobs/{job_id}/resume", self.jobs_resume, ["POST"]),
            ("/fine_tuning/jobs/{job_id}/events", self.jobs_events, ["GET"]),
            ("/fine_tuning/jobs/{job_id}/checkpoints", self.jobs_checkpoints, ["GET"]),
            ("/models", self.models_list, ["GET"]),
            ("/models/{model_id:path}", self.models_retrieve, ["GET"]),
            ("/chat/completions", self.chat, ["POST"]),
        ]
        table = []
        for prefix in ("/v1", "/openai"):
            for path, fn, methods in routes:
                table.append(Route(prefix + path, self._wrap(fn), methods=methods))
        table.append(Route("/openai/deployments/{deployment}/chat/completions",
                           self._wrap(self.chat), methods=["POST"]))
        return Starlette(routes=table)

    def _wrap(self, fn: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            path = request.url.path
            with self._lock:
                self.requests.append((request.method, path))
                fault = next((f for f in self.faults if f.hits < f.times
                              and path.startswith(f.path_prefix)
                              and (f.method is None or f.method == request.method)), None)
                if fault is not None:
                    fault.hits += 1
            if fault is not None:
                headers = ({"retry-after-ms": str(fault.retry_after_ms)}
                           if fault.retry_after_ms is not None else None)
                body = fault.body or {"error": {
                    "message": f"injected fault {fault.status}", "type": "server_error"
                    if fault.status >= 500 else "invalid_request_error",
                    "param": None, "code": None}}
                return JSONResponse(body, status_code=fault.status, headers=headers)
            auth = request.headers.get("authorization", "")
            key = auth[7:] if auth.lower().startswith("bearer ") else \
                request.headers.get("api-key", "")
            if key != self.api_key:
                return _error(401, f"Incorrect API key provided: {key}. You can find your API "
                                   f"key at https://platform.openai.com/account/api-keys.",
                              code="invalid_api_key")
            return await fn(request)
        return endpoint

    async def _json(self, request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, ValueError):
            return {}
        return body if isinstance(body, dict) else {}

    # files -----------------------------------------------------------------
    def _store_file(self, filename: str, content: bytes, purpose: str) -> dict[str, Any]:
        fid = self._new_id("file-")
        obj = {"id": fid, "object": "file", "bytes": len(content), "created_at": self._now(),
               "filename": filename, "purpose": purpose, "status": "processed",
               "expires_at": None}
        self.files[fid] = obj
        self.file_content[fid] = content
        return obj

    async def files_create(self, request: Request) -> Response:
        form = await request.form(max_part_size=1 << 30)
        upload = form.get("file")
        purpose = form.get("purpose")
        if upload is None or isinstance(upload, str):
            return _error(400, "'file' is a required property", param="file")
        if purpose not in ("fine-tune", "assistants", "batch", "vision", "user_data", "evals"):
            return _error(400, f"Invalid purpose {purpose!r}", param="purpose")
        content = await upload.read()
        filename = upload.filename or "upload"
        if purpose == "fine-tune" and not filename.endswith(".jsonl"):
            return _error(400, f"Invalid file format for Fine-Tuning API. Must be .jsonl",
                          param="file")
        with self._lock:
            obj = self._store_file(filename, content, str(purpose))
        return JSONResponse(obj)

    async def files_list(self, request: Request) -> Response:
        with self._lock:
            items = sorted(self.files.values(), key=lambda f: -f["created_at"])
        purpose = request.query_params.get("purpose")
        if purpose:
            items = [f for f in items if f["purpose"] == purpose]
        limit = int(request.query_params.get("limit", 10000))
        return JSONResponse(_page(items, request.query_params.get("after"), limit))

    async def files_retrieve(self, request: Request) -> Response:
        fid = request.path_params["file_id"]
        with self._lock:
            obj = self.files.get(fid)
        if obj is None:
            return _error(404, f"No such File object: {fid}", param="id")
        return JSONResponse(obj)

    async def files_delete(self, request: Request) -> Response:
        fid = request.path_params["file_id"]
        with self._lock:
            obj = self.files.pop(fid, None)
            self.file_content.pop(fid, None)
        if obj is None:
            return _error(404, f"No such File object: {fid}", param="id")
        return JSONResponse({"id": fid, "object": "file", "deleted": True})

    async def files_content(self, request: Request) -> Response:
        fid = request.path_params["file_id"]
        with self._lock:
            content = self.file_content.get(fid)
        if content is None:
            return _error(404, f"No such File object: {fid}", param="id")
        return Response(content, media_type="application/octet-stream")

    # uploads ---------------------------------------------------------------
    async def uploads_create(self, request: Request) -> Response:
        body = await self._json(request)
        missing = [k for k in ("bytes", "filename", "mime_type", "purpose") if k not in body]
        if missing:
            return _error(400, f"Missing required parameter: {missing[0]!r}", param=missing[0])
        uid = self._new_id("upload_")
        now = self._now()
        obj = {"id": uid, "object": "upload", "bytes": int(body["bytes"]), "created_at": now,
               "expires_at": now + 3600, "filename": body["filename"],
               "purpose": body["purpose"], "status": "pending", "file": None}
        with self._lock:
            self.uploads[uid] = obj
        return JSONResponse(obj)

    def _get_upload(self, request: Request) -> dict[str, Any] | None:
        return self.uploads.get(request.path_params["upload_id"])

    async def uploads_part(self, request: Request) -> Response:
        form = await request.form(max_part_size=1 << 30)
        data = form.get("data")
        if data is None:
            return _error(400, "'data' is a required property", param="data")
        content = data.encode() if isinstance(data, str) else await data.read()
        with self._lock:
            up = self._get_upload(request)
            if up is None:
                return _error(404, "No such Upload", param="upload_id")
            if up["status"] != "pending":
                return _error(400, f"Upload {up['id']} is {up['status']}; cannot add parts")
            pid = self._new_id("part_")
            self.parts[pid] = content
            up.setdefault("_parts", []).append(pid)
        return JSONResponse({"id": pid, "object": "upload.part", "created_at": self._now(),
                             "upload_id": up["id"]})

    async def uploads_complete(self, request: Request) -> Response:
        body = await self._json(request)
        with self._lock:
            up = self._get_upload(request)
            if up is None:
                return _error(404, "No such Upload", param="upload_id")
            if up["status"] != "pending":
                return _error(400, f"Upload {up['id']} is {up['status']}; cannot complete")
            part_ids = body.get("part_ids") or []
            unknown = [p for p in part_ids if p not in up.get("_parts", [])]
            if unknown:
                return _error(400, f"Unknown part id {unknown[0]}", param="part_ids")
            content = b"".join(self.parts[p] for p in part_ids)
            if len(content) != up["bytes"]:
                return _error(400, f"Upload {up['id']} expected {up['bytes']} bytes but parts "
                                   f"hold {len(content)}", param="bytes")
            fobj = self._store_file(up["filename"], content, up["purpose"])
            up.update(status="completed", file=fobj)
            out = {k: v for k, v in up.items() if not k.startswith("_")}
        return JSONResponse(out)

    async def uploads_cancel(self, request: Request) -> Response:
        with self._lock:
            up = self._get_upload(request)
            if up is None:
                return _error(404, "No such Upload", param="upload_id")
            up["status"] = "cancelled"
            out = {k: v for k, v in up.items() if not k.startswith("_")}
        return JSONResponse(out)

    # fine-tuning jobs ------------------------------------------------------
    async def jobs_create(self, request: Request) -> Response:
        body = await self._json(request)
        with self._lock:
            self.job_requests.append(body)
        model = body.get("model")
        if not model:
            return _error(400, "Missing required parameter: 'model'", param="model")
        with self._lock:
            known = model in self.models
        if not known:
            return _error(400, f"Model {model} is not available for fine-tuning or does not "
                               f"exist.", param="model", code="model_not_available")
        for param in ("training_file", "validation_file"):
            fid = body.get(param)
            if param == "training_file" and not fid:
                return _error(400, "Missing required parameter: 'training_file'", param=param)
            if fid:
                f = self.files.get(fid)
                if f is None:
                    return _error(400, f"invalid {param}: {fid}", param=param,
                                  code="invalid_file")
                if f["purpose"] != "fine-tune":
                    return _error(400, f"File {fid} has purpose {f['purpose']!r}, expected "
                                       f"'fine-tune'", param=param)
        suffix = body.get("suffix")
        if suffix is not None and not (1 <= len(suffix) <= 64):
            return _error(400, "suffix must be between 1 and 64 characters", param="suffix")
        method = body.get("method") or {"type": "supervised", "supervised": {
            "hyperparameters": body.get("hyperparameters") or {}}}
        mtype = method.get("type")
        if mtype not in ("supervised", "dpo", "reinforcement"):
            return _error(400, f"Invalid method type {mtype!r}", param="method.type")
        hp = dict((method.get(mtype) or {}).get("hyperparameters") or {})
        ranges = {"n_epochs": (1, 50), "batch_size": (1, 256),
                  "learning_rate_multiplier": (1e-12, float("inf")), "beta": (1e-12, 2)}
        for k, v in hp.items():
            if v == "auto":
                continue
            lo, hi = ranges.get(k, (float("-inf"), float("inf")))
            if not isinstance(v, (int, float)) or not lo <= v <= hi:
                return _error(400, f"Invalid value for {k}: {v!r}",
                              param=f"method.{mtype}.hyperparameters.{k}")
        resolved = {k: hp.get(k, "auto") for k in ("n_epochs", "batch_size",
                                                     "learning_rate_multiplier")}
        resolved = {k: (3 if k == "n_epochs" else 1 if k == "batch_size" else 1.8)
                    if v == "auto" else v for k, v in resolved.items()}
        if mtype == "dpo":
            resolved["beta"] = hp.get("beta", 0.1) if hp.get("beta", "auto") != "auto" else 0.1
        job_id = self._new_id("ftjob-")
        job = {
            "id": job_id, "object": "fine_tuning.job", "created_at": self._now(),
            "finished_at": None, "model": model, "fine_tuned_model": None,
            "organization_id": self.organization, "status": "validating_files",
            "training_file": body["training_file"],
            "validation_file": body.get("validation_file"), "result_files": [],
            "trained_tokens": None, "estimated_finish": None,
            "seed": body.get("seed") if body.get("seed") is not None else 42,
            "suffix": suffix, "error": None, "integrations": None,
            "hyperparameters": resolved if mtype == "supervised" else None,
            "method": {"type": mtype, mtype: {"hyperparameters": resolved}},
            "metadata": body.get("metadata"),
        }
        with self._lock:
            self.jobs[job_id] = job
            self.events[job_id] = []
            self.checkpoints[job_id] = []
            self._add_event(job_id, f"Created fine-tuning job: {job_id}")
            self._add_event(job_id, f"Validating training file: {job['training_file']}")
        return JSONResponse(job)

    def _job_or_404(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        jid = request.path_params["job_id"]
        job = self.jobs.get(jid)
        if job is None:
            return None, _error(404, f"Could not find fine-tune: {jid}", param="fine_tune_id",
                                code="fine_tune_not_found")
        return job, None

    async def jobs_list(self, request: Request) -> Response:
        q = request.query_params
        with self._lock:
            items = sorted(self.jobs.values(), key=lambda j: -j["created_at"])
        for key, value in q.multi_items():
            if key.startswith("metadata[") and key.endswith("]"):
                mk = key[len("metadata["):-1]
                items = [j for j in items if (j.get("metadata") or {}).get(mk) == value]
        return JSONResponse(_page(items, q.get("after"), int(q.get("limit", 20))))

    async def jobs_retrieve(self, request: Request) -> Response:
        with self._lock:
            job, err = self._job_or_404(request)
            if err:
                return err
            if self.advance_on_retrieve:
                self._advance(job["id"])
            return JSONResponse(dict(job))

    async def jobs_cancel(self, request: Request) -> Response:
        with self._lock:
            job, err = self._job_or_404(request)
            if err:
                return err
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return _error(400, f"Job {job['id']} has already {job['status']}; "
                                   f"it cannot be cancelled.", param="fine_tune_id")
            job.update(status="cancelled", finished_at=self._now())
            self._add_event(job["id"], "Fine-tuning job cancelled")
            return JSONResponse(dict(job))

    async def jobs_pause(self, request: Request) -> Response:
        with self._lock:
            job, err = self._job_or_404(request)
            if err:
                return err
            if job["status"] != "running":
                return _error(400, f"Job {job['id']} is {job['status']}; only running jobs "
                                   f"can be paused.", param="fine_tune_id")
            job["status"] = "paused"
            self._add_event(job["id"], "Fine-tuning job paused")
            return JSONResponse(dict(job))

    async def jobs_resume(self, request: Request) -> Response:
        with self._lock:
            job, err = self._job_or_404(request)
            if err:
                return err
            if job["status"] != "paused":
                return _error(400, f"Job {job['id']} is {job['status']}; only paused jobs "
                                   f"can be resumed.", param="fine_tune_id")
            job["status"] = "running"
            self._add_event(job["id"], "Fine-tuning job resumed")
            return JSONResponse(dict(job))

    async def jobs_events(self, request: Request) -> Response:
        q = request.query_params
        with self._lock:
            job, err = self._job_or_404(request)
            if err:
                return err
            items = list(self.events[job["id"]])
        return JSONResponse(_page(items, q.get("after"), int(q.get("limit", 20))))

    async def jobs_checkpoints(self, request: Request) -> Response:
        q = request.query_params
        with self._lock:
            job, err = self._job_or_404(request)
            if err:
                return err
            items = list(self.checkpoints[job["id"]])
        page = _page(items, q.get("after"), int(q.get("limit", 10)))
        page["first_id"] = page["data"][0]["id"] if page["data"] else None
        page["last_id"] = page["data"][-1]["id"] if page["data"] else None
        return JSONResponse(page)

    # models and chat -------------------------------------------------------
    def _model_obj(self, mid: str) -> dict[str, Any]:
        obj: dict[str, Any] = {"id": mid, "object": "model", "created": 1700000000,
                               "owned_by": self.organization if mid.startswith("ft:")
                               else "system"}
        if self.models.get(mid):
            obj["shutdown_date"] = self.models[mid]
        return obj

    async def models_list(self, request: Request) -> Response:
        with self._lock:
            data = [self._model_obj(m) for m in self.models]
        return JSONResponse({"object": "list", "data": data, "has_more": False})

    async def models_retrieve(self, request: Request) -> Response:
        mid = request.path_params["model_id"]
        with self._lock:
            if mid not in self.models:
                return _error(404, f"The model '{mid}' does not exist", code="model_not_found",
                              param="model")
            return JSONResponse(self._model_obj(mid))

    async def chat(self, request: Request) -> Response:
        body = await self._json(request)
        model = request.path_params.get("deployment") or body.get("model")
        with self._lock:
            self.chat_requests.append(body)
            known = model in self.models
        if not known:
            return _error(404, f"The model '{model}' does not exist", code="model_not_found",
                          param="model")
        messages = body.get("messages") or []
        if not messages:
            return _error(400, "'messages' must not be empty", param="messages")
        last_user = next((m.get("content") for m in reversed(messages)
                          if m.get("role") == "user"), "")
        if not isinstance(last_user, str):
            last_user = json.dumps(last_user)
        n = int(body.get("n") or 1)
        choices = []
        for i in range(n):
            digest = hashlib.sha256(f"{model}|{i}|{json.dumps(messages, sort_keys=True)}"
                                    .encode()).hexdigest()[:8]
            text = f"Reply {i + 1} from {model} [{digest}] to: {last_user[:80]}"
            choices.append({"index": i, "finish_reason": "stop", "logprobs": None,
                            "message": {"role": "assistant", "content": text,
                                        "refusal": None}})
        prompt_tokens = sum(len(str(m.get("content", "")).split()) + 3 for m in messages)
        completion_tokens = sum(len(c["message"]["content"].split()) for c in choices)
        return JSONResponse({
            "id": self._new_id("chatcmpl-"), "object": "chat.completion",
            "created": self._now(), "model": model, "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}})


def serve_forever(port: int, api_key: str = DEFAULT_KEY, total_steps: int = 3) -> None:
    """Run the fake in the foreground (``python -m tests.fake_openai``)."""
    server = FakeOpenAI(api_key=api_key, port=port, total_steps=total_steps)
    uvicorn.run(server.app, host=server.host, port=port, log_level="info")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI fine-tuning server for tests.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--key", default=DEFAULT_KEY, help="the API key clients must send")
    parser.add_argument("--steps", type=int, default=3, help="training steps per job")
    args = parser.parse_args(argv)
    serve_forever(args.port, args.key, args.steps)


if __name__ == "__main__":
    main()
