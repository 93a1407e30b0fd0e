"""The provider interface: what launching, following and sampling a fine-tuning provider needs.

A provider turns its SDK's objects into the plain dataclasses below, and its SDK's exceptions
into ``ProviderError`` subclasses whose messages never contain a credential.

Statuses: ``succeeded``, ``failed`` and ``cancelled`` are terminal. Every other value —
``validating_files``, ``queued``, ``running``, ``paused`` and anything a provider invents later
— means "not finished": keep polling.
"""
from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

from curator.errors import CuratorError

__all__ = [
    "TERMINAL_STATUSES",
    "is_finished",
    "ProviderError",
    "ProviderAuthError",
    "ProviderPermissionError",
    "ProviderNotFound",
    "JobError",
    "JobInfo",
    "Event",
    "Checkpoint",
    "ModelInfo",
    "Provider",
]

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


def is_finished(status: str | None) -> bool:
    """True only for succeeded/failed/cancelled; unknown statuses (e.g. 'paused') are not."""
    return status in TERMINAL_STATUSES


class ProviderError(CuratorError):
    """A provider call failed. ``status_code`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status_code: int | None = None,
                 code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.param = param


class ProviderAuthError(ProviderError):
    """The API key is missing or was rejected (401)."""

    exit_code = 3


class ProviderPermissionError(ProviderError):
    """The key is valid but may not do this (403), e.g. create fine-tuning jobs."""

    exit_code = 3


class ProviderNotFound(ProviderError):
    """The provider does not know the job, file or model (404)."""


@dataclass(frozen=True)
class JobError:
    """Why a job failed: ``param`` names the file at fault (training_file/validation_file)."""

    code: str | None
    message: str
    param: str | None = None


@dataclass
class JobInfo:
    """A provider's fine-tuning job, normalised. ``raw`` is the provider's object as plain JSON
    (it holds no credentials)."""

    id: str
    status: str
    model: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    created_at: int | None = None
    finished_at: int | None = None
    estimated_finish: int | None = None
    training_file: str | None = None
    validation_file: str | None = None
    result_files: list[str] = field(default_factory=list)
    method: str = "supervised"
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    suffix: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    error: JobError | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return is_finished(self.status)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["finished"] = self.finished
        return d


@dataclass
class Event:
    """One job event. ``type`` is 'message' or 'metrics'; metrics events carry ``data``
    like {step, total_steps, train_loss, valid_loss, ...}."""

    id: str
    created_at: int
    level: str
    message: str
    type: str = "message"
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Checkpoint:
    """A usable intermediate model with its metrics (step, train_loss, valid_loss, ...)."""

    id: str
    created_at: int
    step_number: int
    model: str
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelInfo:
    """A model as the provider describes it; ``shutdown_date`` is 'YYYY-MM-DD' or None."""

    id: str
    owned_by: str | None = None
    created: int | None = None
    shutdown_date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Provider(abc.ABC):
    """A fine-tuning provider. Subclasses set ``name`` and implement the abstract methods.

    ``account_key`` identifies the account/endpoint files were uploaded to (never the key
    itself), so an uploaded file is reused only where it exists.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    supports_pause: ClassVar[bool] = False

    @property
    def account_key(self) -> str:
        return self.name

    # files
    @abc.abstractmethod
    def upload_file(self, path: str | Path, sha256: str) -> str:
        """Upload a training/validation file; returns the provider's file id."""

    @abc.abstractmethod
    def has_file(self, file_id: str) -> bool:
        """Whether a previously uploaded file still exists at the provider."""

    # jobs
    @abc.abstractmethod
    def create_job(self, *, model: str, training_file: str, validation_file: str | None = None,
                   suffix: str | None = None, seed: int | None = None,
                   method: str = "supervised", hyperparameters: Mapping[str, Any] | None = None,
                   metadata: Mapping[str, str] | None = None) -> JobInfo:
        """Create a fine-tuning job. ``hyperparameters`` omitted or 'auto' = provider default."""

    @abc.abstractmethod
    def retrieve_job(self, job_id: str) -> JobInfo:
        """The job's current state (one request)."""

    @abc.abstractmethod
    def list_events(self, job_id: str, limit: int = 100) -> list[Event]:
        """Up to ``limit`` events, newest first."""

    @abc.abstractmethod
    def list_checkpoints(self, job_id: str, limit: int = 50) -> list[Checkpoint]:
        """Checkpoints, newest (highest step) first."""

    @abc.abstractmethod
    def cancel_job(self, job_id: str) -> JobInfo:
        """Ask the provider to cancel the job."""

    def pause_job(self, job_id: str) -> JobInfo:
        """Pause a running job (only when ``supports_pause``)."""
        raise ProviderError(f"{self.label or self.name} cannot pause fine-tuning jobs")

    def resume_job(self, job_id: str) -> JobInfo:
        """Resume a paused job (only when ``supports_pause``)."""
        raise ProviderError(f"{self.label or self.name} cannot resume fine-tuning jobs")

    # models
    @abc.abstractmethod
    def model_info(self, model: str) -> ModelInfo:
        """What the provider says about ``model`` (including its shutdown date)."""

    @abc.abstractmethod
    def chat(self, messages: Sequence[Mapping[str, Any]], model: str, n: int = 1,
             temperature: float | None = None, max_tokens: int | None = None) -> list[str]:
        """``n`` assistant replies to ``messages`` (drafts, model samples, evaluation)."""
