"""Where curator finds its contracts and writes its files.

``ROOT`` is the repository root (the folder that holds ``curator/`` and ``schemas/``). Directories
that users may move are read from the environment at call time, so tests and deployments can
redirect them without reloading modules.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT: Path = Path(__file__).resolve().parents[1]
"""Repository root."""

SCHEMAS_DIR: Path = ROOT / "schemas"
"""JSON Schemas for exported lines, manifests and project configuration."""

EXPORTS_DIR: Path = ROOT / "exports"
"""Default export directory; ``CURATOR_EXPORTS_DIR`` overrides it (see :func:`exports_dir`)."""

SHARED_DIR: Path = ROOT.parent / "shared"
"""The team's shared folder next to the repository; absent on a fresh machine."""


def exports_dir() -> Path:
    """The export directory: ``$CURATOR_EXPORTS_DIR`` if set, else :data:`EXPORTS_DIR`."""
    env = os.environ.get("CURATOR_EXPORTS_DIR")
    return Path(env).expanduser() if env else EXPORTS_DIR


def cache_dir() -> Path:
    """curator's own cache: ``$CURATOR_CACHE_DIR``, else ``$XDG_CACHE_HOME/curator``, else ``~/.cache/curator``."""
    env = os.environ.get("CURATOR_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "curator"


def schema_path(name: str) -> Path:
    """Path of ``schemas/<name>.schema.json`` (``name`` like ``"sft_line"``)."""
    return SCHEMAS_DIR / f"{name}.schema.json"


__all__ = ["ROOT", "SCHEMAS_DIR", "EXPORTS_DIR", "SHARED_DIR", "exports_dir", "cache_dir", "schema_path"]
