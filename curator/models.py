"""The one table of fine-tunable models: encoding, per-example limit, methods, price, shutdown.

Facts come from ``../shared/openai-finetuning.md`` (§0 lifecycle, §4.1 limits, §4.3 epochs,
§5 models and prices). Prices marked "team figure" are the team's working numbers, not a
price list read from OpenAI; treat cost estimates as estimates.

``ft:`` model names (``ft:{base}:{org}:{suffix}:{id}``, also checkpoints ``…:ckpt-step-N``)
resolve to their base model, because that is what sets the encoding, limit and price.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from curator.errors import CuratorError, NotFoundError

Support = Literal["yes", "no", "unverified", "legacy"]
"""Whether a method works on a model: ``unverified`` = plausible but not confirmed by OpenAI docs;
``legacy`` = older models OpenAI still lists in its 2024 guide."""

OPENAI_FT_CUTOFF: date = date(2027, 1, 6)
"""From this day OpenAI accepts no new fine-tuning jobs from anyone (§0.1 of the reference)."""

GPT4_FAMILY_SHUTDOWN: date = date(2027, 1, 14)
"""API shutdown of the gpt-4o / gpt-4.1 snapshots and their fine-tuned derivatives (§0.2)."""


@dataclass(frozen=True)
class ModelInfo:
    """One fine-tunable base model."""

    name: str
    provider: str
    encoding: str
    token_limit: int | None
    """Maximum tokens per training example; longer examples are truncated from the end."""
    sft: Support
    dpo: Support
    rft: Support = "no"
    vision_sft: bool = False
    price_per_1m: float | None = None
    """Training price in USD per 1M trained tokens (tokens x epochs); None when not per token or unknown."""
    price_note: str = ""
    shutdown_date: date | None = None
    notes: str = ""

    def supports(self, kind: str) -> bool:
        """True unless the method (``"sft"``, ``"dpo"`` or ``"rft"``) is known to be unsupported."""
        level = {"sft": self.sft, "dpo": self.dpo, "rft": self.rft}.get(kind)
        if level is None:
            raise CuratorError(f"unknown fine-tuning method {kind!r}; expected 'sft', 'dpo' or 'rft'")
        return level != "no"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (dates as ISO strings)."""
        return {
            "name": self.name,
            "provider": self.provider,
            "encoding": self.encoding,
            "token_limit": self.token_limit,
            "sft": self.sft,
            "dpo": self.dpo,
            "rft": self.rft,
            "vision_sft": self.vision_sft,
            "price_per_1m": self.price_per_1m,
            "price_note": self.price_note,
            "shutdown_date": self.shutdown_date.isoformat() if self.shutdown_date else None,
            "notes": self.notes,
        }


_TEAM = "team figure"
MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo(
            "gpt-4.1-2025-04-14", "openai", "o200k_base", 65_536, sft="yes", dpo="yes",
            vision_sft=True, price_per_1m=25.0, price_note=_TEAM, shutdown_date=GPT4_FAMILY_SHUTDOWN,
            notes="Listed by the current SFT and DPO guides. Token limit as documented by Azure.",
        ),
        ModelInfo(
            "gpt-4.1-mini-2025-04-14", "openai", "o200k_base", 65_536, sft="yes", dpo="yes",
            price_per_1m=5.0, price_note=_TEAM, shutdown_date=GPT4_FAMILY_SHUTDOWN,
            notes="Listed by the current SFT and DPO guides. Token limit as documented by Azure.",
        ),
        ModelInfo(
            "gpt-4.1-nano-2025-04-14", "openai", "o200k_base", 32_768, sft="yes", dpo="yes",
            price_per_1m=1.5, price_note=_TEAM, shutdown_date=None,
            notes="Shutdown date reported inconsistently (2026-10-14, -20 or -23); check "
            "client.models.retrieve(id).shutdown_date. Token limit as documented by Azure.",
        ),
        ModelInfo(
            "gpt-4o-2024-08-06", "openai", "o200k_base", 65_536, sft="yes", dpo="yes",
            vision_sft=True, price_per_1m=25.0, price_note=_TEAM, shutdown_date=GPT4_FAMILY_SHUTDOWN,
            notes="DPO launched on this model (Dec 2024).",
        ),
        ModelInfo(
            "gpt-4o-mini-2024-07-18", "openai", "o200k_base", 65_536, sft="yes", dpo="unverified",
            price_per_1m=3.0, price_note=_TEAM + "; matches the 2024 guide's worked example",
            shutdown_date=GPT4_FAMILY_SHUTDOWN,
            notes="DPO on this model is not confirmed by OpenAI documentation.",
        ),
        ModelInfo(
            "o4-mini-2025-04-16", "openai", "o200k_base", 65_536, sft="no", dpo="no", rft="yes",
            price_per_1m=None, price_note="reinforcement fine-tuning: $100 per training hour",
            notes="Reinforcement fine-tuning only; curator exports SFT and DPO files.",
        ),
        ModelInfo(
            "gpt-3.5-turbo-0125", "openai", "cl100k_base", 16_385, sft="legacy", dpo="no",
            price_per_1m=8.0, price_note="third-party, old",
        ),
        ModelInfo(
            "gpt-3.5-turbo-1106", "openai", "cl100k_base", 16_385, sft="legacy", dpo="no",
            price_per_1m=8.0, price_note="third-party, old",
        ),
        ModelInfo(
            "gpt-3.5-turbo-0613", "openai", "cl100k_base", 4_096, sft="legacy", dpo="no",
            price_per_1m=8.0, price_note="third-party, old",
        ),
        ModelInfo(
            "gpt-4-0613", "openai", "cl100k_base", None, sft="legacy", dpo="no",
            notes="Per-example token limit and training price not documented in the reference.",
        ),
        ModelInfo(
            "babbage-002", "openai", "cl100k_base", None, sft="legacy", dpo="no",
            notes="Completions format (prompt/completion), not the chat lines curator exports.",
        ),
        ModelInfo(
            "davinci-002", "openai", "cl100k_base", None, sft="legacy", dpo="no",
            notes="Completions format (prompt/completion), not the chat lines curator exports.",
        ),
    )
}
"""Every model curator knows how to fine-tune, by snapshot name."""

ALIASES: dict[str, str] = {
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
}
"""Undated names resolved to the fine-tunable snapshot."""

# Encodings of model families that are not in MODELS (chat models used for drafts or
# evaluation). Checked in order; a pattern ending in "-" or "*" is a prefix.
_ENCODING_FAMILIES: tuple[tuple[str, str], ...] = (
    ("gpt-4o*", "o200k_base"),
    ("chatgpt-4o*", "o200k_base"),
    ("gpt-4.1*", "o200k_base"),
    ("gpt-4.5*", "o200k_base"),
    ("gpt-5*", "o200k_base"),
    ("o1", "o200k_base"),
    ("o1-*", "o200k_base"),
    ("o3", "o200k_base"),
    ("o3-*", "o200k_base"),
    ("o4-mini", "o200k_base"),
    ("o4-mini-*", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-4-*", "cl100k_base"),
    ("gpt-3.5-turbo*", "cl100k_base"),
    ("gpt-35-turbo*", "cl100k_base"),
    ("babbage-002", "cl100k_base"),
    ("davinci-002", "cl100k_base"),
)


def base_model_name(name: str) -> str:
    """The base model of a name: ``ft:gpt-4.1-mini-2025-04-14:org:x:id`` -> ``gpt-4.1-mini-2025-04-14``."""
    name = name.strip()
    if name.startswith("ft:"):
        parts = name.split(":")
        if len(parts) < 2 or not parts[1]:
            raise CuratorError(f"cannot read the base model from fine-tuned model name {name!r}; "
                               "expected ft:<base-model>:<org>:<suffix>:<id>")
        return parts[1]
    return name


def _known_list() -> str:
    return ", ".join(sorted(MODELS)) + " (aliases: " + ", ".join(sorted(ALIASES)) + ")"


def get_model(name: str) -> ModelInfo:
    """The table entry for a snapshot, alias or ``ft:`` name; ``NotFoundError`` listing known models."""
    base = base_model_name(name)
    base = ALIASES.get(base, base)
    info = MODELS.get(base)
    if info is None:
        raise NotFoundError(f"unknown fine-tuning model {name!r}; known models: {_known_list()}")
    return info


def encoding_name(model: str) -> str:
    """tiktoken encoding for any known model name, including ``ft:`` names and chat-only families.

    Unlike ``tiktoken.encoding_name_for_model``, ``ft:gpt-4.1-…`` maps to ``o200k_base``.
    """
    base = base_model_name(model)
    base = ALIASES.get(base, base)
    if base in MODELS:
        return MODELS[base].encoding
    for pattern, enc in _ENCODING_FAMILIES:
        if pattern.endswith("*"):
            if base.startswith(pattern[:-1]):
                return enc
        elif base == pattern:
            return enc
    families = ", ".join(p for p, _ in _ENCODING_FAMILIES)
    raise NotFoundError(
        f"no tokenizer known for model {model!r}; known models: {_known_list()}; "
        f"also model families: {families}"
    )


def fine_tunable(kind: str) -> list[ModelInfo]:
    """Models in the table that support ``kind`` ("sft" or "dpo"), newest families first."""
    return [m for m in MODELS.values() if m.supports(kind)]


def default_epochs(n_examples: int) -> int:
    """OpenAI's default epoch count for a dataset size (cookbook heuristic, reference §4.3).

    Start at 3; if ``n*3 < 100`` use ``min(25, 100 // n)``; if ``n*3 > 25000`` use
    ``max(1, 25000 // n)``. So 5 -> 20, 10 -> 10, 20 -> 5, 34..8333 -> 3, 8334 -> 2, 12501 -> 1.
    """
    if n_examples < 1:
        raise CuratorError(f"cannot choose epochs for {n_examples} examples; the file needs at least one")
    epochs = 3
    if n_examples * epochs < 100:
        epochs = min(25, 100 // n_examples)
    elif n_examples * epochs > 25_000:
        epochs = max(1, 25_000 // n_examples)
    return epochs


def billable_tokens(token_counts: Iterable[int], model: str, epochs: int) -> int:
    """Trained tokens: ``sum(min(limit, t)) * epochs`` (over-long examples are truncated)."""
    if epochs < 1:
        raise CuratorError(f"epochs must be at least 1, got {epochs}")
    limit = get_model(model).token_limit
    if limit is None:
        per_epoch = sum(int(t) for t in token_counts)
    else:
        per_epoch = sum(min(limit, int(t)) for t in token_counts)
    return per_epoch * epochs


def estimate_cost(token_counts: Iterable[int], model: str, epochs: int) -> float | None:
    """Estimated training cost in USD: ``sum(min(limit, t)) * epochs * price / 1e6``.

    Returns None when the model has no per-token training price (RFT is billed per hour;
    some legacy models have no known price).
    """
    info = get_model(model)
    tokens = billable_tokens(token_counts, model, epochs)
    if info.price_per_1m is None:
        return None
    return tokens * info.price_per_1m / 1e6


def lifecycle_notice(model: str, today: date | None = None) -> str | None:
    """A plain sentence about OpenAI's fine-tuning wind-down or the model's shutdown, or None.

    Says when new jobs stop (:data:`OPENAI_FT_CUTOFF`) and when the model (and models tuned
    from it) stops answering, if that date is known.
    """
    info = get_model(model)
    today = today or date.today()
    parts: list[str] = []
    if info.provider == "openai":
        if today >= OPENAI_FT_CUTOFF:
            parts.append(f"OpenAI no longer accepts new fine-tuning jobs (since {OPENAI_FT_CUTOFF.isoformat()})")
        else:
            parts.append(
                f"OpenAI stops accepting new fine-tuning jobs on {OPENAI_FT_CUTOFF.isoformat()} "
                "(accounts without recent fine-tuning activity may already be refused)"
            )
    if info.shutdown_date is not None:
        verb = "was shut down" if today >= info.shutdown_date else "shuts down"
        parts.append(f"{info.name} and models fine-tuned from it {verb} on {info.shutdown_date.isoformat()}")
    if not parts:
        return None
    return "; ".join(parts) + ". The exported JSONL stays usable with other providers."


__all__ = [
    "Support",
    "OPENAI_FT_CUTOFF",
    "GPT4_FAMILY_SHUTDOWN",
    "ModelInfo",
    "MODELS",
    "ALIASES",
    "base_model_name",
    "get_model",
    "encoding_name",
    "fine_tunable",
    "default_epochs",
    "billable_tokens",
    "estimate_cost",
    "lifecycle_notice",
]
