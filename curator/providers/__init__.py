"""Provider registry: name -> provider class.

A new provider is one module that subclasses ``curator.providers.base.Provider`` plus one line
in ``_BUILTIN`` (or a call to ``register_provider`` at runtime). Classes are imported lazily, so
importing this package does not import any SDK.
"""
from __future__ import annotations

import importlib
from typing import Any

from curator.errors import CuratorError
from curator.providers.base import (
    TERMINAL_STATUSES,
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
    is_finished,
)

__all__ = [
    "get_provider",
    "provider_class",
    "provider_names",
    "register_provider",
    "Provider",
    "ProviderError",
    "ProviderAuthError",
    "ProviderPermissionError",
    "ProviderNotFound",
    "JobInfo",
    "JobError",
    "Event",
    "Checkpoint",
    "ModelInfo",
    "TERMINAL_STATUSES",
    "is_finished",
]

# name -> "module:Class"
_BUILTIN: dict[str, str] = {
    "openai": "curator.providers.openai_provider:OpenAIProvider",
    "azure": "curator.providers.openai_provider:AzureOpenAIProvider",
}
_registered: dict[str, type[Provider]] = {}


def register_provider(name: str, cls: type[Provider]) -> None:
    """Add (or replace) a provider class under ``name``."""
    _registered[name] = cls


def provider_names() -> list[str]:
    return sorted(set(_BUILTIN) | set(_registered))


def provider_class(name: str) -> type[Provider]:
    if name in _registered:
        return _registered[name]
    target = _BUILTIN.get(name)
    if target is None:
        raise CuratorError(
            f"unknown provider {name!r}; known providers: {', '.join(provider_names())}"
        )
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def get_provider(name: str = "openai", **config: Any) -> Provider:
    """A configured provider instance, e.g. ``get_provider('openai', secrets=st.secrets)``."""
    return provider_class(name)(**config)
