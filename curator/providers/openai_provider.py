"""OpenAI and Azure OpenAI providers, on the official ``openai`` SDK (3.x, httpx2).

Credentials come only from arguments the app passes in (e.g. ``secrets=st.secrets``) or the
environment — ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``; Azure: ``AZURE_OPENAI_API_KEY``,
``AZURE_OPENAI_ENDPOINT``, ``OPENAI_API_VERSION``. They are never written anywhere, and every
error message is scrubbed of them before it leaves this module.

Retries: the SDK retries 408/409/429/5xx and connection errors with exponential backoff (honouring
``retry-after``/``retry-after-ms``) up to ``max_retries`` times, and never retries other 4xx.
"""
from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import openai

from curator.providers.base import (
    Checkpoint,
    Event,
    JobError,
    JobInfo,
    ModelInfo,
    Provider,
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderPermissionError,
)

__all__ = [
    "OpenAIProvider",
    "AzureOpenAIProvider",
    "FILES_API_LIMIT",
    "PART_SIZE",
    "FINE_TUNING_WIND_DOWN",
]

FILES_API_LIMIT = 512 * 1024 * 1024   # bytes; larger files go through the Uploads API
PART_SIZE = 64 * 1024 * 1024          # Uploads API part size limit
JSONL_MIME = "text/jsonl"

FINE_TUNING_WIND_DOWN = (
    "OpenAI is winding down self-serve fine-tuning: organisations that never ran a "
    "fine-tuning job lost job creation on 2026-05-07, organisations without recent use of a "
    "fine-tuned model on 2026-07-02, and no organisation can create new jobs after 2027-01-06 "
    "(existing fine-tuned models keep answering until their base model's shutdown date). "
    "Your export directory stays usable: the same JSONL files train on Azure OpenAI "
    "(provider 'azure'), Together or Fireworks, and TRL reads them as messages / "
    "prompt-chosen-rejected datasets."
)

_SK_RE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{2})[A-Za-z0-9_\-*]{4,}")
T = TypeVar("T")


def _lookup(secrets: Mapping[str, Any] | None, flat: str, section: str, key: str) -> str | None:
    """``secrets[flat]`` or ``secrets[section][key]`` (Streamlit secrets or a plain dict)."""
    if not secrets:
        return None
    try:
        if flat in secrets and secrets[flat]:
            return str(secrets[flat])
        sub = secrets[section] if section in secrets else None
        if sub is not None and key in sub and sub[key]:
            return str(sub[key])
    except (KeyError, TypeError, AttributeError):
        return None
    return None


def _as_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return dict(obj)


class OpenAIProvider(Provider):
    """OpenAI (or any OpenAI-compatible endpoint via ``base_url``)."""

    name = "openai"
    label = "OpenAI"
    supports_pause = True
    key_env = "OPENAI_API_KEY"

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None,
                 secrets: Mapping[str, Any] | None = None, timeout: float = 60.0,
                 upload_timeout: float = 900.0, max_retries: int = 3,
                 files_api_limit: int = FILES_API_LIMIT, part_size: int = PART_SIZE,
                 organization: str | None = None, client: openai.OpenAI | None = None):
        key = self._setup(api_key, secrets, "openai", timeout, upload_timeout, max_retries,
                          files_api_limit, part_size, client)
        if client is not None:
            return
        self._base_url = (base_url or _lookup(secrets, "OPENAI_BASE_URL", "openai", "base_url")
                          or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1")
        if not key:
            raise ProviderAuthError(
                f"no {self.label} API key: set {self.key_env} in the environment or in "
                f".streamlit/secrets.toml (it is never stored in the curator database)"
            )
        self._client = openai.OpenAI(api_key=key, base_url=self._base_url,
                                     organization=organization, timeout=timeout,
                                     max_retries=max_retries)

    def _setup(self, api_key: str | None, secrets: Mapping[str, Any] | None, section: str,
               timeout: float, upload_timeout: float, max_retries: int, files_api_limit: int,
               part_size: int, client: Any) -> str | None:
        """Settings shared by every client of the SDK; returns the key (never stored
        anywhere but in the SDK client and the list used to scrub error messages)."""
        self.timeout = timeout
        self.upload_timeout = upload_timeout
        self.max_retries = max_retries
        self.files_api_limit = files_api_limit
        self.part_size = part_size
        key = (api_key or _lookup(secrets, self.key_env, section, "api_key")
               or os.environ.get(self.key_env))
        self._secret_values = [key] if key else []
        if client is not None:
            self._client = client
            self._base_url = str(client.base_url)
        return key

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def account_key(self) -> str:
        return f"{self.name}:{self._base_url.rstrip('/')}"

    # ------------------------------------------------------------------ errors
    def redact(self, text: str) -> str:
        """``text`` with every credential this provider knows (and anything like sk-...)
        replaced by ``***``."""
        for secret in self._secret_values:
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return _SK_RE.sub(r"\1***", text)

    def _call(self, what: str, fn: Callable[[], T], *, fine_tuning: bool = True) -> T:
        try:
            return fn()
        except openai.APIStatusError as exc:
            raise self._translate(exc, what, fine_tuning) from None
        except openai.APITimeoutError:
            raise ProviderError(
                f"{self.label} did not answer in time while trying to {what} "
                f"(timeout {self.timeout:g}s, {self.max_retries} retries); try again later"
            ) from None
        except openai.APIConnectionError as exc:
            raise ProviderError(
                f"could not reach {self.label} at {self.redact(self._base_url)} while trying "
                f"to {what}: {self.redact(str(exc.__cause__ or exc))}"
            ) from None

    def _translate(self, exc: openai.APIStatusError, what: str, fine_tuning: bool
                   ) -> ProviderError:
        body = exc.body if isinstance(exc.body, dict) else {}
        server = self.redact(str(body.get("message") or exc.message or "")).strip()
        status = exc.status_code
        kw = dict(status_code=status, code=exc.code, param=exc.param)
        said = f" {self.label} said: {server.rstrip('.')}." if server else ""
        if status == 401:
            return ProviderAuthError(
                f"{self.label} rejected the API key (401) while trying to {what}: check "
                f"{self.key_env} (environment or .streamlit/secrets.toml).{said}", **kw)
        if status == 403:
            extra = " " + FINE_TUNING_WIND_DOWN if fine_tuning and self.name == "openai" else ""
            return ProviderPermissionError(
                f"{self.label} refused permission (403) to {what}.{said}{extra}", **kw)
        if status == 404:
            return ProviderNotFound(f"{self.label} could not find it (404) while trying to "
                                    f"{what}.{said}", **kw)
        if status == 429:
            return ProviderError(
                f"{self.label} is rate-limiting requests (429) and still refused after "
                f"{self.max_retries} retries while trying to {what}; wait and try again, or "
                f"check your quota.{said}", **kw)
        if status >= 500:
            return ProviderError(
                f"{self.label} had a server error ({status}) after {self.max_retries} retries "
                f"while trying to {what}; try again later.{said}", **kw)
        where = f" (field {exc.param})" if exc.param else ""
        return ProviderError(f"{self.label} refused to {what} ({status}){where}.{said}", **kw)

    # ------------------------------------------------------------------ files
    def upload_file(self, path: str | Path, sha256: str) -> str:
        """Upload with purpose 'fine-tune': the Files API up to ``files_api_limit`` bytes, the
        Uploads API (parts of ``part_size``) above it."""
        path = Path(path)
        size = path.stat().st_size
        if size > self.files_api_limit:
            return self._upload_in_parts(path, size)

        def create() -> str:
            with path.open("rb") as fh:
                return self._client.files.create(file=(path.name, fh), purpose="fine-tune",
                                                 timeout=self.upload_timeout).id
        return self._call(f"upload {path.name}", create)

    def _upload_in_parts(self, path: Path, size: int) -> str:
        what = f"upload {path.name} in parts"
        uploads = self._client.uploads
        upload = self._call(what, lambda: uploads.create(
            bytes=size, filename=path.name, mime_type=JSONL_MIME, purpose="fine-tune"))
        part_ids: list[str] = []
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(self.part_size):
                    part = self._call(what, lambda: uploads.parts.create(
                        upload.id, data=chunk, timeout=self.upload_timeout))
                    part_ids.append(part.id)
            done = self._call(what, lambda: uploads.complete(upload.id, part_ids=part_ids))
        except BaseException:
            try:
                uploads.cancel(upload.id)
            except openai.OpenAIError:
                pass
            raise
        if done.file is None:
            raise ProviderError(f"{self.label} completed upload {upload.id} for {path.name} "
                                f"but returned no file (status {done.status})")
        return done.file.id

    def has_file(self, file_id: str) -> bool:
        try:
            self._call(f"look up file {file_id}", lambda: self._client.files.retrieve(file_id))
        except ProviderNotFound:
            return False
        return True

    # ------------------------------------------------------------------ jobs
    def create_job(self, *, model: str, training_file: str, validation_file: str | None = None,
                   suffix: str | None = None, seed: int | None = None,
                   method: str = "supervised", hyperparameters: Mapping[str, Any] | None = None,
                   metadata: Mapping[str, str] | None = None) -> JobInfo:
        hp = {k: v for k, v in (hyperparameters or {}).items() if v is not None}
        kwargs: dict[str, Any] = {
            "model": model,
            "training_file": training_file,
            "method": {"type": method, method: {"hyperparameters": hp}},
        }
        if validation_file:
            kwargs["validation_file"] = validation_file
        if suffix:
            kwargs["suffix"] = suffix
        if seed is not None:
            kwargs["seed"] = seed
        if metadata:
            kwargs["metadata"] = dict(metadata)
        job = self._call(f"create a fine-tuning job on {model}",
                         lambda: self._client.fine_tuning.jobs.create(**kwargs))
        return self._job(job)

    def retrieve_job(self, job_id: str) -> JobInfo:
        return self._job(self._call(f"read job {job_id}",
                                    lambda: self._client.fine_tuning.jobs.retrieve(job_id)))

    def list_events(self, job_id: str, limit: int = 100) -> list[Event]:
        def fetch() -> list[Any]:
            page = self._client.fine_tuning.jobs.list_events(job_id, limit=min(limit, 100))
            return list(itertools.islice(page, limit))
        events = [Event(id=e.id, created_at=e.created_at, level=e.level, message=e.message,
                        type=getattr(e, "type", None) or "message",
                        data=_as_dict(getattr(e, "data", None)))
                  for e in self._call(f"read events of job {job_id}", fetch)]
        # The API lists newest first; make sure of it (stable for equal timestamps).
        return sorted(events, key=lambda e: -e.created_at)

    def list_checkpoints(self, job_id: str, limit: int = 50) -> list[Checkpoint]:
        def fetch() -> list[Any]:
            page = self._client.fine_tuning.jobs.checkpoints.list(job_id, limit=min(limit, 100))
            return list(itertools.islice(page, limit))
        cps = [Checkpoint(id=c.id, created_at=c.created_at, step_number=c.step_number,
                          model=c.fine_tuned_model_checkpoint,
                          metrics={k: v for k, v in _as_dict(c.metrics).items() if v is not None})
               for c in self._call(f"read checkpoints of job {job_id}", fetch)]
        return sorted(cps, key=lambda c: -c.step_number)

    def cancel_job(self, job_id: str) -> JobInfo:
        return self._job(self._call(f"cancel job {job_id}",
                                    lambda: self._client.fine_tuning.jobs.cancel(job_id)))

    def pause_job(self, job_id: str) -> JobInfo:
        return self._job(self._call(f"pause job {job_id}",
                                    lambda: self._client.fine_tuning.jobs.pause(job_id)))

    def resume_job(self, job_id: str) -> JobInfo:
        return self._job(self._call(f"resume job {job_id}",
                                    lambda: self._client.fine_tuning.jobs.resume(job_id)))

    @staticmethod
    def _job(job: Any) -> JobInfo:
        raw = _as_dict(job)
        method_obj = raw.get("method") or {}
        method = method_obj.get("type") or "supervised"
        hp = ((method_obj.get(method) or {}).get("hyperparameters")
              or raw.get("hyperparameters") or {})
        err = raw.get("error") or None
        error = None
        if err and (err.get("message") or err.get("code")):
            error = JobError(code=err.get("code"), message=err.get("message") or "",
                             param=err.get("param"))
        return JobInfo(
            id=raw["id"], status=str(raw.get("status") or "unknown"), model=raw.get("model", ""),
            fine_tuned_model=raw.get("fine_tuned_model"),
            trained_tokens=raw.get("trained_tokens"), created_at=raw.get("created_at"),
            finished_at=raw.get("finished_at"), estimated_finish=raw.get("estimated_finish"),
            training_file=raw.get("training_file"), validation_file=raw.get("validation_file"),
            result_files=list(raw.get("result_files") or []), method=method,
            hyperparameters=dict(hp), seed=raw.get("seed"), suffix=raw.get("suffix"),
            metadata=dict(raw.get("metadata") or {}), error=error, raw=raw,
        )

    # ------------------------------------------------------------------ models
    def model_info(self, model: str) -> ModelInfo:
        m = self._call(f"look up model {model}", lambda: self._client.models.retrieve(model),
                       fine_tuning=False)
        return ModelInfo(id=m.id, owned_by=getattr(m, "owned_by", None),
                         created=getattr(m, "created", None),
                         shutdown_date=getattr(m, "shutdown_date", None))

    def chat(self, messages: Sequence[Mapping[str, Any]], model: str, n: int = 1,
             temperature: float | None = None, max_tokens: int | None = None) -> list[str]:
        kwargs: dict[str, Any] = {"model": model, "messages": [dict(m) for m in messages]}
        if n != 1:
            kwargs["n"] = n
        if temperature is not None:
            kwargs["temperature"] = temperature
        if max_tokens is not None:
            kwargs["max_completion_tokens"] = max_tokens
        resp = self._call(f"get a reply from {model}",
                          lambda: self._client.chat.completions.create(**kwargs),
                          fine_tuning=False)
        return [c.message.content or "" for c in sorted(resp.choices, key=lambda c: c.index)]


class AzureOpenAIProvider(OpenAIProvider):
    """Azure OpenAI through the SDK's ``AzureOpenAI`` client (``model`` = deployment name for
    chat; base model name for fine-tuning)."""

    name = "azure"
    label = "Azure OpenAI"
    key_env = "AZURE_OPENAI_API_KEY"

    def __init__(self, *, api_key: str | None = None, endpoint: str | None = None,
                 api_version: str | None = None, secrets: Mapping[str, Any] | None = None,
                 timeout: float = 60.0, upload_timeout: float = 900.0, max_retries: int = 3,
                 files_api_limit: int = FILES_API_LIMIT, part_size: int = PART_SIZE,
                 client: openai.AzureOpenAI | None = None):
        key = self._setup(api_key, secrets, "azure", timeout, upload_timeout, max_retries,
                          files_api_limit, part_size, client)
        if client is not None:
            return
        endpoint = (endpoint or _lookup(secrets, "AZURE_OPENAI_ENDPOINT", "azure", "endpoint")
                    or os.environ.get("AZURE_OPENAI_ENDPOINT"))
        api_version = (api_version
                       or _lookup(secrets, "OPENAI_API_VERSION", "azure", "api_version")
                       or os.environ.get("OPENAI_API_VERSION"))
        missing = [name for name, value in (("AZURE_OPENAI_ENDPOINT", endpoint),
                                            ("OPENAI_API_VERSION", api_version)) if not value]
        if missing:
            raise ProviderError(f"Azure OpenAI needs {' and '.join(missing)} (environment or "
                                f".streamlit/secrets.toml)")
        self._base_url = str(endpoint)
        if not key:
            raise ProviderAuthError(
                f"no Azure OpenAI API key: set {self.key_env} in the environment or in "
                f".streamlit/secrets.toml (it is never stored in the curator database)"
            )
        self._client = openai.AzureOpenAI(api_key=key, azure_endpoint=str(endpoint),
                                          api_version=api_version, timeout=timeout,
                                          max_retries=max_retries)
