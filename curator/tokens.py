"""Exact, offline token counts for fine-tuning examples (tiktoken, chat format).

Offline tables
    tiktoken reads its BPE tables from ``$TIKTOKEN_CACHE_DIR/<sha1 of the download URL>`` and
    downloads them when missing. curator never lets it download: before an encoding is loaded,
    :func:`ensure_tiktoken_cache` makes sure a table with the sha256 tiktoken expects is in place:

    1. ``$TIKTOKEN_CACHE_DIR`` already holds it -> used as is (e.g. ``../shared/tiktoken-cache``);
    2. else the table is seeded from the PyPI package ``bpe-openai`` (``bpe_openai/data/*.tiktoken.gz``,
       gunzipped, sha256 checked) into ``$TIKTOKEN_CACHE_DIR`` if set and writable, otherwise into
       curator's own cache (``$CURATOR_CACHE_DIR`` or ``~/.cache/curator``)``/tiktoken`` and
       ``TIKTOKEN_CACHE_DIR`` is pointed there.

Counting formula (reference ``openai-finetuning.md`` §4.2, source [S15] amitness.com, which reports
it reproduces the dashboard's trained-token count; name rule from the cookbook [S7])
    Each message is rendered ``<|im_start|>{role}<|im_sep|>{content}<|im_end|>``::

        message = 3 + tokens(role) + tokens(content) [+ tokens(name) + 1 if "name"]

    An SFT example is the sum over its messages, with no reply primer (the assistant turn is in
    the example). Text is encoded with ``encode_ordinary``, identical to
    ``encode(text, disallowed_special=())``: reserved strings such as ``<|endoftext|>`` count as
    plain text here and are reported separately by the validator.

    Approximations (no published rule; labelled as such): ``tool_calls`` / ``function_call`` count
    as the tokens of their compact JSON, ``refusal`` as text, each ``image_url`` part as 85 tokens
    (the ``detail: "low"`` price; high-detail images cost more), an example's ``tools`` /
    ``functions`` list as the tokens of its compact JSON. ``tool_call_id`` is not counted.

DPO examples
    :func:`count_dpo_examples` returns (input, preferred, non-preferred) per example, where input =
    ``input.messages`` (+ ``input.tools``) and each output is one message by the formula above.
    :func:`count_examples` reports the *billed* tokens of a DPO example as the sum of all three,
    because SFT and DPO are billed on the tokens in the training file x epochs (§4.2, [S11]); the
    longest sequence the model sees (for the per-example limit) is
    ``input + max(preferred, non_preferred)``, see :func:`dpo_sequence_tokens`.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from curator.errors import CuratorError
from curator.models import encoding_name
from curator.paths import cache_dir

# name -> (download URL tiktoken uses, sha256 tiktoken checks). The cache file name is sha1(URL).
TIKTOKEN_TABLES: dict[str, tuple[str, str]] = {
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}

RESERVED_TOKEN_STRINGS: tuple[str, ...] = (
    "<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>",
    "<|im_start|>", "<|im_sep|>", "<|im_end|>",
)
"""Special-token text OpenAI rejects inside training content (§1.6): cl100k/o200k specials plus chat delimiters."""

MESSAGE_OVERHEAD = 3
"""``<|im_start|>``, ``<|im_sep|>``, ``<|im_end|>`` per message."""
NAME_OVERHEAD = 1
IMAGE_TOKENS = 85

_lock = threading.Lock()
_verified: set[tuple[str, str]] = set()
_PARALLEL_MIN_TEXTS = 2000


def cache_file_name(encoding: str) -> str:
    """File name tiktoken looks for in its cache dir: sha1 of the table's download URL."""
    url, _ = _table(encoding)
    return hashlib.sha1(url.encode()).hexdigest()


def _table(encoding: str) -> tuple[str, str]:
    try:
        return TIKTOKEN_TABLES[encoding]
    except KeyError:
        raise CuratorError(
            f"no offline table for encoding {encoding!r}; curator supports {', '.join(TIKTOKEN_TABLES)}"
        ) from None


def _has_table(directory: Path, encoding: str) -> bool:
    path = directory / cache_file_name(encoding)
    key = (str(path), encoding)
    if key in _verified:
        return path.is_file()
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if hashlib.sha256(data).hexdigest() != _table(encoding)[1]:
        return False
    _verified.add(key)
    return True


def _bpe_openai_table(encoding: str) -> bytes:
    try:
        from importlib.resources import files

        data = files("bpe_openai").joinpath("data", f"{encoding}.tiktoken.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError) as exc:
        raise CuratorError(
            f"the {encoding} tokenizer table is not available offline: set TIKTOKEN_CACHE_DIR to a folder "
            f"holding it (file {cache_file_name(encoding)}) or install the PyPI package bpe-openai ({exc})"
        ) from exc
    raw = gzip.decompress(data)
    if hashlib.sha256(raw).hexdigest() != _table(encoding)[1]:
        raise CuratorError(
            f"bpe-openai's {encoding} table does not match the sha256 tiktoken expects; "
            "reinstall bpe-openai or set TIKTOKEN_CACHE_DIR to a verified copy"
        )
    return raw


def _seed(directory: Path, encoding: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    raw = _bpe_openai_table(encoding)
    target = directory / cache_file_name(encoding)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_tiktoken_cache(encoding: str = "o200k_base") -> Path:
    """Make ``encoding``'s table available to tiktoken without network; returns the cache dir used.

    May set ``os.environ["TIKTOKEN_CACHE_DIR"]`` (see module docstring for the order).
    """
    _table(encoding)
    with _lock:
        env = os.environ.get("TIKTOKEN_CACHE_DIR") or ""
        if env:
            env_dir = Path(env).expanduser()
            if _has_table(env_dir, encoding):
                return env_dir
            try:
                _seed(env_dir, encoding)
                if _has_table(env_dir, encoding):
                    return env_dir
            except OSError:
                pass  # read-only or unusable: fall back to curator's own cache below
        own = cache_dir() / "tiktoken"
        if not _has_table(own, encoding):
            try:
                _seed(own, encoding)
            except OSError as exc:
                raise CuratorError(
                    f"cannot write the tokenizer cache {own}: {exc}; set CURATOR_CACHE_DIR or "
                    "TIKTOKEN_CACHE_DIR to a writable folder"
                ) from exc
        # Keep every table available after the switch, so other encodings still load offline.
        for other in TIKTOKEN_TABLES:
            if other != encoding and not _has_table(own, other):
                try:
                    _seed(own, other)
                except (OSError, CuratorError):
                    pass
        os.environ["TIKTOKEN_CACHE_DIR"] = str(own)
        return own


@lru_cache(maxsize=None)
def get_encoding(name: str) -> Any:
    """A tiktoken ``Encoding`` by name, loaded offline (``o200k_base`` or ``cl100k_base``)."""
    ensure_tiktoken_cache(name)
    import tiktoken

    return tiktoken.get_encoding(name)


def encoding_for_model(model: str) -> Any:
    """The tiktoken ``Encoding`` for a model name (``ft:`` names map by their base model)."""
    return get_encoding(encoding_name(model))


def count_text(text: str, model: str) -> int:
    """Tokens in plain text for ``model`` (special-token strings count as ordinary text)."""
    return len(encoding_for_model(model).encode_ordinary(text))


# ---------------------------------------------------------------------------------------------
# Decomposition: each example part -> fixed token count + texts to encode.

def _dump(value: Any) -> str:
    return orjson.dumps(value).decode()


def _message_pieces(msg: Mapping[str, Any], texts: list[str]) -> int:
    """Append the texts of one message to ``texts``; return its fixed (already known) tokens."""
    role = msg.get("role")
    content = msg.get("content")
    if len(msg) == 2 and type(content) is str and type(role) is str:  # the common shape, fast
        texts.append(role)
        if content:
            texts.append(content)
        return MESSAGE_OVERHEAD
    fixed = MESSAGE_OVERHEAD
    if isinstance(role, str):
        texts.append(role)
    if isinstance(content, str):
        if content:
            texts.append(content)
    elif isinstance(content, list):
        for part in content:
            if not isinstance(part, Mapping):
                continue
            if part.get("type") == "image_url" or "image_url" in part:
                fixed += IMAGE_TOKENS
            elif isinstance(part.get("text"), str):
                texts.append(part["text"])
    name = msg.get("name")
    if isinstance(name, str) and name:
        texts.append(name)
        fixed += NAME_OVERHEAD
    refusal = msg.get("refusal")
    if isinstance(refusal, str) and refusal:
        texts.append(refusal)
    for key in ("tool_calls", "function_call"):
        value = msg.get(key)
        if value:
            texts.append(_dump(value))
    return fixed


def _messages_pieces(messages: Any, texts: list[str]) -> int:
    fixed = 0
    if isinstance(messages, list):
        for msg in messages:
            if isinstance(msg, Mapping):
                fixed += _message_pieces(msg, texts)
    return fixed


def _tools_pieces(container: Mapping[str, Any], texts: list[str]) -> None:
    for key in ("tools", "functions"):
        value = container.get(key)
        if value:
            texts.append(_dump(value))


def _is_dpo(example: Mapping[str, Any]) -> bool:
    return "messages" not in example and ("input" in example or "preferred_output" in example)


def _example_parts(example: Any, texts: list[str]) -> list[int]:
    """Append an example's texts to ``texts`` in order; return each part's fixed tokens and end index.

    The result is ``[fixed_0, end_0, fixed_1, end_1, …]``: SFT has one part, DPO three
    (input, preferred, non_preferred).
    """
    if isinstance(example, Sequence) and not isinstance(example, (str, bytes, Mapping)):
        example = {"messages": list(example)}
    if not isinstance(example, Mapping):
        raise CuratorError(f"cannot count tokens of {type(example).__name__}; expected an example object")
    if _is_dpo(example):
        inp = example.get("input")
        fixed = 0
        if isinstance(inp, Mapping):
            fixed = _messages_pieces(inp.get("messages"), texts)
            _tools_pieces(inp, texts)
        out = [fixed, len(texts)]
        for key in ("preferred_output", "non_preferred_output"):
            out.append(_messages_pieces(example.get(key), texts))
            out.append(len(texts))
        return out
    fixed = _messages_pieces(example.get("messages"), texts)
    if len(example) > 1:
        _tools_pieces(example, texts)
    return [fixed, len(texts)]


def _encode_lengths(texts: list[str], encoding: Any) -> list[int]:
    encode = encoding.encode_ordinary
    if len(texts) < _PARALLEL_MIN_TEXTS:
        return [len(encode(t)) for t in texts]
    workers = max(1, min(4, os.cpu_count() or 1))
    if workers == 1:
        return [len(encode(t)) for t in texts]
    size = -(-len(texts) // workers)
    chunks = [texts[i:i + size] for i in range(0, len(texts), size)]
    # tiktoken releases the GIL while encoding, so threads use every core.
    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        results = list(pool.map(lambda chunk: [len(encode(t)) for t in chunk], chunks))
    return [n for chunk in results for n in chunk]


def _count_parts(examples: Iterable[Any], model: str) -> list[list[int]]:
    encoding = encoding_for_model(model)
    texts: list[str] = []
    layout = [_example_parts(ex, texts) for ex in examples]
    unique = dict.fromkeys(texts, 0)
    keys = list(unique)
    unique.update(zip(keys, _encode_lengths(keys, encoding)))
    lengths = list(map(unique.__getitem__, texts))
    result: list[list[int]] = []
    start = 0
    for parts in layout:
        counts = []
        for i in range(0, len(parts), 2):
            end = parts[i + 1]
            counts.append(parts[i] + sum(lengths[start:end]))
            start = end
        result.append(counts)
    return result


def text_lengths(texts: Iterable[str], model: str) -> dict[str, int]:
    """Tokens of each distinct text for ``model`` (plain text, as :func:`count_text`).

    Each distinct string is encoded once; large batches are split across threads.
    """
    keys = list(dict.fromkeys(texts))
    return dict(zip(keys, _encode_lengths(keys, encoding_for_model(model))))


def _message_tokens(role: str, lengths: Mapping[str, int]) -> int:
    return MESSAGE_OVERHEAD + lengths[role]


def count_sft_columns(system: str | None, users: Sequence[str], assistants: Sequence[str],
                      model: str) -> list[int]:
    """Tokens per SFT example ``[system?] + user + assistant`` given as columns of strings.

    The same numbers as :func:`count_examples` on the lines
    ``{"messages": [system?, {"role": "user", "content": users[i]}, {"role": "assistant",
    "content": assistants[i]}]}`` (the system message is left out when ``system`` is empty),
    but the chat overhead is added arithmetically: the system prompt and the roles are encoded
    once, the replies once per distinct text (a few labels), the user texts in threads.
    """
    if len(users) != len(assistants):
        raise CuratorError("count_sft_columns: users and assistants must have the same length")
    encoding = encoding_for_model(model)
    lengths = text_lengths([*assistants, "system", "user", "assistant", *([system] if system else [])],
                           model)
    fixed = _message_tokens("user", lengths) + _message_tokens("assistant", lengths)
    if system:
        fixed += _message_tokens("system", lengths) + lengths[system]
    user_tokens = _encode_lengths(users, encoding)  # texts are mostly distinct: no lookup table
    return [fixed + u + a for u, a in zip(user_tokens, map(lengths.__getitem__, assistants))]


def count_dpo_columns(system: str | None, users: Sequence[str], preferred: Sequence[str],
                      rejected: Sequence[str], model: str) -> list[tuple[int, int, int]]:
    """(input, preferred, non_preferred) tokens per DPO example given as columns of strings.

    The same numbers as :func:`count_dpo_examples` on lines with ``input.messages =
    [system?, user]`` and one assistant message per output; the system prompt and roles are
    encoded once, the texts in threads.
    """
    if not len(users) == len(preferred) == len(rejected):
        raise CuratorError("count_dpo_columns: users, preferred and rejected must have the same length")
    encoding = encoding_for_model(model)
    lengths = text_lengths(["system", "user", "assistant", *([system] if system else [])], model)
    fixed_in = _message_tokens("user", lengths)
    if system:
        fixed_in += _message_tokens("system", lengths) + lengths[system]
    out = _message_tokens("assistant", lengths)
    n = len(users)
    counts = _encode_lengths([*users, *preferred, *rejected], encoding)
    return [(fixed_in + u, out + p, out + r)
            for u, p, r in zip(counts[:n], counts[n:2 * n], counts[2 * n:])]


def count_messages(messages: Sequence[Mapping[str, Any]], model: str) -> int:
    """Chat-format tokens of a list of messages (formula in the module docstring)."""
    texts: list[str] = []
    fixed = _messages_pieces(list(messages), texts)
    encode = encoding_for_model(model).encode_ordinary
    return fixed + sum(len(encode(t)) for t in texts)


def count_examples(examples: Iterable[Any], model: str) -> list[int]:
    """Billed tokens per example, for SFT (``{"messages": …}``) and DPO (input + both outputs) lines.

    Fast for large batches: distinct texts are encoded once, split across threads.
    """
    return [sum(parts) for parts in _count_parts(examples, model)]


def count_dpo_examples(examples: Iterable[Mapping[str, Any]], model: str) -> list[tuple[int, int, int]]:
    """(input, preferred, non_preferred) tokens per DPO example."""
    out: list[tuple[int, int, int]] = []
    for parts in _count_parts(examples, model):
        if len(parts) != 3:
            raise CuratorError("count_dpo_examples expects DPO lines with input / preferred_output / non_preferred_output")
        out.append((parts[0], parts[1], parts[2]))
    return out


def dpo_sequence_tokens(parts: tuple[int, int, int]) -> int:
    """Longest sequence the model sees for a DPO example: input + the longer output."""
    return parts[0] + max(parts[1], parts[2])


def find_reserved(text: str) -> list[str]:
    """Reserved token strings present in ``text``, in :data:`RESERVED_TOKEN_STRINGS` order."""
    if "<|" not in text:
        return []
    return [tok for tok in RESERVED_TOKEN_STRINGS if tok in text]


__all__ = [
    "TIKTOKEN_TABLES",
    "RESERVED_TOKEN_STRINGS",
    "MESSAGE_OVERHEAD",
    "NAME_OVERHEAD",
    "IMAGE_TOKENS",
    "cache_file_name",
    "ensure_tiktoken_cache",
    "get_encoding",
    "encoding_for_model",
    "count_text",
    "text_lengths",
    "count_sft_columns",
    "count_dpo_columns",
    "count_messages",
    "count_examples",
    "count_dpo_examples",
    "dpo_sequence_tokens",
    "find_reserved",
]
