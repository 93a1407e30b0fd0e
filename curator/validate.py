"""Validate OpenAI fine-tuning JSONL (SFT or DPO), including files curator did not write.

Each line is checked against ``schemas/sft_line.schema.json`` or ``schemas/dpo_line.schema.json``
and against OpenAI's rules that a schema cannot express (reference ``openai-finetuning.md``
§1.6 and §4.5). Every problem names the line (1-based) and the field (``messages[2].weight``).

Speed: lines of the common shape (string contents, known keys) are recognised by plain Python
checks that imply schema validity, so the (slower) jsonschema validator only runs on lines that
may not conform, and then reports exactly where.

Severity. Errors make OpenAI reject the file or fail the job (or make the example useless);
warnings are legal but probably not what you want (truncation, deprecated roles, duplicates).
"""
from __future__ import annotations

import os
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import orjson

from curator.errors import CuratorError, InvalidInput, RowError
from curator.paths import schema_path
from curator.tokens import RESERVED_TOKEN_STRINGS, find_reserved

Kind = Literal["sft", "dpo"]

MIN_EXAMPLES = 10
FILES_API_LIMIT = 512 * 1024 * 1024
UPLOADS_API_LIMIT = 8 * 1024 * 1024 * 1024
MAX_REPORTED = 1000
"""Errors (and, separately, warnings) kept with details; the totals count every one."""


_ROLES = ("system", "user", "assistant", "tool")
_SIMPLE_KEYS = frozenset(("role", "content", "name"))
_PLAIN_ROLES = ("user", "assistant", "system")
_SFT_TOP = frozenset(("messages", "tools", "parallel_tool_calls", "functions"))
_DPO_TOP = frozenset(("input", "preferred_output", "non_preferred_output"))
_BATCH = 10_000


@dataclass
class Issue:
    """One problem: where (line, field path) and what."""

    line: int | None
    field: str
    message: str
    code: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message, "code": self.code}

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        if self.field:
            where += f", {self.field}"
        return f"{where}: {self.message}"


@dataclass
class TokenStats:
    """Token counts of the valid examples for one model (see :mod:`curator.tokens` for the formula)."""

    model: str
    encoding: str
    token_limit: int | None
    n_examples: int
    total: int
    min: int | None
    max: int | None
    mean: float | None
    median: float | None
    p10: float | None
    p90: float | None
    n_over_limit: int
    billable_tokens_per_epoch: int
    default_epochs: int | None
    estimated_cost_usd: float | None
    counts: list[int] = field(default_factory=list, repr=False)
    """Per valid example, in file order (billed tokens; DPO = input + both outputs). Not in to_dict()."""

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in (
            "model", "encoding", "token_limit", "n_examples", "total", "min", "max", "mean", "median",
            "p10", "p90", "n_over_limit", "billable_tokens_per_epoch", "default_epochs", "estimated_cost_usd")}
        return d


@dataclass
class ValidationReport:
    """Result of validating one file or one in-memory list of lines."""

    kind: Kind
    path: str | None = None
    model: str | None = None
    n_lines: int = 0
    n_examples: int = 0
    n_valid: int = 0
    file_bytes: int | None = None
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    n_errors: int = 0
    n_warnings: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    tokens: TokenStats | None = None

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return self.n_errors == 0

    def add_error(self, line: int | None, fld: str, message: str, code: str) -> None:
        self.n_errors += 1
        self.codes[code] += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append(Issue(line, fld, message, code))

    def add_warning(self, line: int | None, fld: str, message: str, code: str) -> None:
        self.n_warnings += 1
        self.codes[code] += 1
        if len(self.warnings) < MAX_REPORTED:
            self.warnings.append(Issue(line, fld, message, code))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (what ``curator validate --json`` prints)."""
        return {
            "ok": self.ok,
            "kind": self.kind,
            "path": self.path,
            "model": self.model,
            "n_lines": self.n_lines,
            "n_examples": self.n_examples,
            "n_valid": self.n_valid,
            "file_bytes": self.file_bytes,
            "n_errors": self.n_errors,
            "n_warnings": self.n_warnings,
            "codes": dict(sorted(self.codes.items())),
            "errors": [e.to_dict() for e in self.errors],
            "warnings": [w.to_dict() for w in self.warnings],
            "errors_truncated": self.n_errors > len(self.errors),
            "warnings_truncated": self.n_warnings > len(self.warnings),
            "tokens": self.tokens.to_dict() if self.tokens else None,
        }

    def raise_for_errors(self) -> None:
        """Raise :class:`InvalidInput` (rows = lines, columns = field paths) if there is any error."""
        if self.ok:
            return
        rows = [RowError(e.line, e.field or None, e.message) for e in self.errors]
        noun = "error" if self.n_errors == 1 else "errors"
        raise InvalidInput(f"not a valid OpenAI {self.kind.upper()} file ({self.n_errors} {noun})",
                           rows, file=self.path)


# ---------------------------------------------------------------------------------------------
# JSON Schema (cached, compiled once per process)

@lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    """A schema from ``schemas/`` by name (``sft_line``, ``dpo_line``, ``manifest``, ``project``)."""
    path = schema_path(name)
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise CuratorError(f"JSON Schema {path} is missing; reinstall curator from its source tree") from None


@lru_cache(maxsize=None)
def schema_validator(name: str) -> Any:
    """A compiled draft 2020-12 validator for a schema in ``schemas/``."""
    from jsonschema import Draft202012Validator

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def field_path(parts: Iterable[Any]) -> str:
    """``["messages", 2, "weight"]`` -> ``messages[2].weight``."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out


def schema_issues(obj: Any, name: str) -> list[tuple[str, str]]:
    """(field path, message) for every schema violation, most specific first, one per path."""
    validator = schema_validator(name)
    found: dict[str, str] = {}
    for err in sorted(validator.iter_errors(obj), key=lambda e: -len(e.absolute_path)):
        _collect_schema_error(err, found)
    return list(found.items())


def _collect_schema_error(err: Any, found: dict[str, str]) -> None:
    if err.validator in ("anyOf", "oneOf") and err.context:
        # Report the branch that got furthest (deepest path) instead of "not valid under any".
        best = max(err.context, key=lambda e: (len(e.absolute_path), -len(list(e.schema_path))))
        if len(best.absolute_path) > len(err.absolute_path):
            _collect_schema_error(best, found)
            return
    path = field_path(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
        allowed = set(err.schema.get("properties", {}))
        for key in err.instance:
            if key not in allowed:
                p = field_path([*err.absolute_path, key])
                found.setdefault(p, f"unknown key {key!r}; allowed here: {', '.join(sorted(allowed))}")
        return
    found.setdefault(path, err.message)


# ---------------------------------------------------------------------------------------------
# Fast shape checks: True only when the line certainly satisfies the schema.

_NAME_RE = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_TEXT_PART_KEYS = frozenset(("type", "text"))
_IMAGE_DETAIL = frozenset(("auto", "low", "high"))


def _fast_parts(parts: Any, images: bool) -> bool:
    if type(parts) is not list or not parts:
        return False
    for p in parts:
        if type(p) is not dict:
            return False
        t = p.get("type")
        if t == "text":
            if len(p) != 2 or type(p.get("text")) is not str:
                return False
        elif t == "image_url" and images:
            img = p.get("image_url")
            if len(p) != 2 or type(img) is not dict or not {"url", "detail"}.issuperset(img):
                return False
            url = img.get("url")
            if type(url) is not str or not url or ("detail" in img and not (type(img["detail"]) is str and img["detail"] in _IMAGE_DETAIL)):
                return False
        else:
            return False
    return True


def _fast_text_content(content: Any, images: bool = False) -> bool:
    return type(content) is str or _fast_parts(content, images)


def _fast_name_arguments(fn: Any) -> bool:
    return (type(fn) is dict and len(fn) == 2 and type(fn.get("name")) is str and bool(fn["name"])
            and type(fn.get("arguments")) is str)


def _fast_tool_calls(calls: Any) -> bool:
    if type(calls) is not list or not calls:
        return False
    for c in calls:
        if (type(c) is not dict or len(c) != 3 or c.get("type") != "function" or type(c.get("id")) is not str
                or not c["id"] or not _fast_name_arguments(c.get("function"))):
            return False
    return True


def _fast_function_defs(defs: Any, lo: int = 0, hi: int | None = None) -> bool:
    if type(defs) is not list or len(defs) < lo or (hi is not None and len(defs) > hi):
        return False
    for d in defs:
        if type(d) is not dict or not _FUNCTION_DEF_KEYS.issuperset(d):
            return False
        name = d.get("name")
        if type(name) is not str or not _NAME_RE.fullmatch(name):
            return False
        if "description" in d and type(d["description"]) is not str:
            return False
        if "parameters" in d and type(d["parameters"]) is not dict:
            return False
        if "strict" in d and d["strict"] is not None and type(d["strict"]) is not bool:
            return False
    return True


_FUNCTION_DEF_KEYS = frozenset(("name", "description", "parameters", "strict"))


def _fast_tools(tools: Any) -> bool:
    if type(tools) is not list:
        return False
    for t in tools:
        if type(t) is not dict or len(t) != 2 or t.get("type") != "function":
            return False
        if not _fast_function_defs([t.get("function")]):
            return False
    return True


_ASSISTANT_KEYS = frozenset(("role", "content", "name", "weight", "refusal", "tool_calls", "function_call"))
_TOOL_KEYS = frozenset(("role", "content", "tool_call_id"))
_FUNCTION_MSG_KEYS = frozenset(("role", "name", "content"))


def _fast_messages(messages: Any, allow_weight: bool) -> bool:
    """True only if every message certainly satisfies the schema's message definitions."""
    if type(messages) is not list or not messages:
        return False
    for m in messages:
        if type(m) is not dict:
            return False
        role = m.get("role")
        content = m.get("content")
        if "name" in m and type(m["name"]) is not str:
            return False
        if role == "assistant":
            if not _ASSISTANT_KEYS.issuperset(m):
                return False
            if type(content) is not str:
                if content is None:  # absent or null: the schema then needs tool_calls or function_call
                    if "tool_calls" not in m and "function_call" not in m:
                        return False
                elif not _fast_parts(content, False):
                    return False
            if "weight" in m:
                w = m["weight"]
                if not allow_weight or type(w) is not int or w not in (0, 1):
                    return False
            if "refusal" in m and m["refusal"] is not None and type(m["refusal"]) is not str:
                return False
            if "tool_calls" in m and not _fast_tool_calls(m["tool_calls"]):
                return False
            if "function_call" in m and not _fast_name_arguments(m["function_call"]):
                return False
        elif role in ("system", "user", "developer"):
            if not _SIMPLE_KEYS.issuperset(m) or not _fast_text_content(content, role == "user"):
                return False
        elif role == "tool":
            if (len(m) != 3 or not _TOOL_KEYS.issuperset(m) or not _fast_text_content(content)
                    or type(m.get("tool_call_id")) is not str or not m["tool_call_id"]):
                return False
        elif role == "function":
            if (len(m) != 3 or not _FUNCTION_MSG_KEYS.issuperset(m) or not m["name"]
                    or (content is not None and type(content) is not str)):
                return False
        else:
            return False
    return True


def _fast_shape(obj: dict[str, Any], kind: Kind) -> bool:
    """True only when ``obj`` certainly satisfies the line schema (then jsonschema is skipped)."""
    if kind == "sft":
        if len(obj) == 1:
            return _fast_messages(obj.get("messages"), True)
        if not _SFT_TOP.issuperset(obj):
            return False
        if "parallel_tool_calls" in obj and type(obj["parallel_tool_calls"]) is not bool:
            return False
        if "tools" in obj and not _fast_tools(obj["tools"]):
            return False
        if "functions" in obj and not _fast_function_defs(obj["functions"], 1, 128):
            return False
        return _fast_messages(obj.get("messages"), True)
    if len(obj) != 3 or not _DPO_TOP.issuperset(obj):
        return False
    inp = obj["input"]
    if type(inp) is not dict or not {"messages", "parallel_tool_calls", "tools"}.issuperset(inp):
        return False
    if "parallel_tool_calls" in inp and type(inp["parallel_tool_calls"]) is not bool:
        return False
    if "tools" in inp and not _fast_tools(inp["tools"]):
        return False
    if not _fast_messages(inp.get("messages"), True):
        return False
    for key in ("preferred_output", "non_preferred_output"):
        out = obj[key]
        if type(out) is not list or len(out) != 1:
            return False
        m = out[0]
        if type(m) is not dict or m.get("role") != "assistant" or "weight" in m:
            return False
        if not _fast_messages(out, False):
            return False
    return True


def _clean_chat(obj: Any) -> bool:
    """True when an SFT line passes the schema and every rule below without error or warning.

    Recognises the shape curator's exporter writes: ``{"messages": [...]}`` of
    ``{"role", "content"}`` messages with non-blank string contents free of ``<|`` (so no
    reserved token text), a system message only first, only user/assistant after it, no two
    assistant messages in a row, ending with an assistant message. Anything else returns
    False and goes through the full checks, which then report exactly what is wrong.
    """
    if type(obj) is not dict or len(obj) != 1:
        return False
    msgs = obj.get("messages")
    if type(msgs) is not list or not msgs:
        return False
    prev = ""
    for m in msgs:
        if type(m) is not dict or len(m) != 2:
            return False
        content = m.get("content")
        if type(content) is not str or not content or "<|" in content or content.isspace():
            return False
        role = m.get("role")
        if role == "assistant":
            if prev == "assistant":
                return False
        elif role != "user" and (role != "system" or prev):
            return False
        prev = role
    return prev == "assistant"


# ---------------------------------------------------------------------------------------------
# OpenAI rules

def _has_text(content: Any) -> bool:
    if isinstance(content, str):
        return bool(content.strip())
    if isinstance(content, list):
        return any(isinstance(p, Mapping) and isinstance(p.get("text"), str) and p["text"].strip()
                   for p in content)
    return False


class _LineChecker:
    """Applies the OpenAI rules to one parsed line, reporting into ``errs``/``warns`` lists."""

    def __init__(self) -> None:
        self.errs: list[tuple[str, str, str]] = []
        self.warns: list[tuple[str, str, str]] = []

    def err(self, fld: str, msg: str, code: str) -> None:
        self.errs.append((fld, msg, code))

    def warn(self, fld: str, msg: str, code: str) -> None:
        self.warns.append((fld, msg, code))

    # -- strings -------------------------------------------------------------------------------
    def scan_text(self, fld: str, text: Any) -> None:
        if isinstance(text, str) and "<|" in text:
            found = find_reserved(text)
            if found:
                self.err(fld, f"contains reserved token text {', '.join(found)}; OpenAI fails the whole job "
                              "on it (\"invalid token\"): remove or escape it", "reserved_token")

    def content_parts(self, fld: str, content: Any, role: str, images_ok: bool, dpo: bool = False) -> None:
        if isinstance(content, str):
            self.scan_text(fld, content)
            return
        if not isinstance(content, list):
            return
        for j, part in enumerate(content):
            pf = f"{fld}[{j}]"
            if not isinstance(part, Mapping):
                continue
            ptype = part.get("type")
            if ptype == "text":
                self.scan_text(pf + ".text", part.get("text"))
            elif ptype == "image_url":
                if not images_ok:
                    why = ("DPO is text-only" if dpo else
                           "images are only allowed in user messages, not in assistant output" if role == "assistant"
                           else f"images are only allowed in user messages, not in {role!r} messages")
                    self.err(pf, f"image content is not allowed here: {why}", "image_not_allowed")
            elif ptype in ("input_audio", "audio", "file", "input_file"):
                self.err(pf, f"{ptype} content parts are not supported for fine-tuning (text and images only)",
                         "unsupported_content_part")

    # -- messages ------------------------------------------------------------------------------
    def messages(self, msgs: Any, prefix: str, *, dpo: bool, tools: Any) -> list[str]:
        """Check a message list; return the roles seen (non-dict messages as "")."""
        roles: list[str] = []
        if not isinstance(msgs, list):
            return roles
        call_ids: set[str] = set()
        tool_names = None
        if isinstance(tools, list):
            tool_names = {t["function"].get("name") for t in tools
                          if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping)
                          and isinstance(t["function"].get("name"), str)}
        prev_role = ""
        for i, m in enumerate(msgs):
            if type(m) is dict and len(m) == 2:
                # Fast path for {"role": ..., "content": "<text>"}: same rules as below.
                role = m.get("role")
                content = m.get("content")
                if type(content) is str and role in _PLAIN_ROLES and (role != "system" or i == 0):
                    empty = not content or content.isspace()
                    if role == "assistant":
                        if empty:
                            self.err(f"{prefix}[{i}].content", "assistant message needs non-empty content or "
                                     "tool_calls", "assistant_empty")
                        if prev_role == "assistant":
                            self.consecutive(f"{prefix}[{i}]")
                    elif empty:
                        self.warn(f"{prefix}[{i}].content", f"empty {role} message", "empty_content")
                    if "<|" in content:
                        self.scan_text(f"{prefix}[{i}].content", content)
                    roles.append(role)
                    prev_role = role
                    continue
            f = f"{prefix}[{i}]"
            if not isinstance(m, Mapping):
                roles.append("")
                prev_role = ""
                continue
            role = m.get("role")
            roles.append(role if isinstance(role, str) else "")
            if role == "developer":
                self.warn(f + ".role", "role 'developer' is not in OpenAI's fine-tuning input schema; use 'system'",
                          "developer_role")
            elif role == "function":
                self.warn(f + ".role", "role 'function' is deprecated legacy function calling; use tool_calls "
                                       "and role 'tool'", "function_role")
            elif role not in _ROLES:
                self.err(f + ".role", f"unknown role {role!r}; expected one of system, user, assistant, tool",
                         "unknown_role")
            if role == "system" and i > 0:
                self.warn(f + ".role", "system message is not the first message", "system_not_first")
            if "weight" in m:
                w = m["weight"]
                if role != "assistant":
                    self.err(f + ".weight", f"weight is only allowed on assistant messages, not on {role!r}",
                             "weight_not_assistant")
                elif type(w) is not int or w not in (0, 1):
                    self.err(f + ".weight", f"weight must be the integer 0 or 1, got {orjson.dumps(w).decode()}",
                             "weight_not_binary")
            content = m.get("content")
            if role == "assistant":
                has_calls = bool(m.get("tool_calls")) or bool(m.get("function_call"))
                if not _has_text(content) and not has_calls and not _has_text(m.get("refusal")):
                    self.err(f + ".content", "assistant message needs non-empty content or tool_calls",
                             "assistant_empty")
                if prev_role == "assistant":
                    self.consecutive(f)
                self.scan_text(f + ".refusal", m.get("refusal"))
                self.tool_calls(f, m.get("tool_calls"), call_ids, tool_names)
                fc = m.get("function_call")
                if isinstance(fc, Mapping):
                    self.arguments(f + ".function_call.arguments", fc.get("arguments"))
            elif role in ("system", "user", "developer") and isinstance(content, str) and not content.strip():
                self.warn(f + ".content", f"empty {role} message", "empty_content")
            if role == "tool":
                tcid = m.get("tool_call_id")
                if not isinstance(tcid, str) or not tcid:
                    self.err(f + ".tool_call_id", "tool message needs the tool_call_id of the call it answers",
                             "tool_call_id_missing")
                elif tcid not in call_ids:
                    self.err(f + ".tool_call_id", f"tool_call_id {tcid!r} does not match any tool call in an "
                                                  "earlier assistant message", "tool_call_id_unknown")
            images_ok = role == "user" and not dpo
            self.content_parts(f + ".content", content, role if isinstance(role, str) else "", images_ok, dpo)
            self.scan_text(f + ".name", m.get("name"))
            prev_role = role if isinstance(role, str) else ""
        return roles

    def consecutive(self, f: str) -> None:
        self.warn(f + ".role", "two assistant messages in a row (Azure rejects this; OpenAI behaviour "
                               "undocumented)", "consecutive_assistant")

    def arguments(self, fld: str, args: Any) -> None:
        if args is None:
            return
        if not isinstance(args, str):
            self.err(fld, f"arguments must be a JSON-encoded string, not {type(args).__name__} "
                          "(serialize it, e.g. json.dumps(arguments))", "arguments_not_string")
            return
        try:
            orjson.loads(args)
        except orjson.JSONDecodeError:
            self.err(fld, "arguments is not valid JSON", "arguments_not_json")
        self.scan_text(fld, args)

    def tool_calls(self, f: str, calls: Any, call_ids: set[str], tool_names: set[Any] | None) -> None:
        if not isinstance(calls, list):
            return
        for j, call in enumerate(calls):
            cf = f"{f}.tool_calls[{j}]"
            if not isinstance(call, Mapping):
                continue
            cid = call.get("id")
            if isinstance(cid, str) and cid:
                if cid in call_ids:
                    self.warn(cf + ".id", f"tool call id {cid!r} is used twice in this example", "duplicate_call_id")
                call_ids.add(cid)
            fn = call.get("function")
            if isinstance(fn, Mapping):
                self.arguments(cf + ".function.arguments", fn.get("arguments"))
                name = fn.get("name")
                if tool_names is not None and isinstance(name, str) and name not in tool_names:
                    self.warn(cf + ".function.name", f"function {name!r} is not among this example's tools",
                              "unknown_tool")

    # -- whole lines ---------------------------------------------------------------------------
    def sft(self, obj: Mapping[str, Any]) -> None:
        msgs = obj.get("messages")
        if not isinstance(msgs, list) or not msgs:
            self.err("messages", "each line needs a non-empty 'messages' list", "messages_missing")
            return
        roles = self.messages(msgs, "messages", dpo=False, tools=obj.get("tools"))
        trainable = [i for i, m in enumerate(msgs) if isinstance(m, Mapping) and m.get("role") == "assistant"
                     and m.get("weight", 1) != 0]
        if not trainable:
            self.err("messages", "no trainable assistant message (none present, or all have weight 0)",
                     "no_trainable_assistant")
        if roles and roles[-1] != "assistant":
            self.warn(f"messages[{len(msgs) - 1}]", f"last message is {roles[-1] or 'not a message'}, not assistant; "
                                                    "it is only context and wastes tokens", "last_not_assistant")

    def dpo(self, obj: Mapping[str, Any]) -> None:
        renamed = set()
        for old, new in (("preferred_completion", "preferred_output"),
                         ("non_preferred_completion", "non_preferred_output")):
            if old in obj:
                self.err(old, f"{old!r} was renamed {new!r} (July 2025); use {new!r}", "old_field_name")
                renamed.add(new)
        for key in ("tools", "parallel_tool_calls", "messages"):
            if key in obj:
                self.err(key, f"{key!r} belongs inside 'input' in a DPO line", "misplaced_key")
        inp = obj.get("input")
        if not isinstance(inp, Mapping) or not isinstance(inp.get("messages"), list) or not inp["messages"]:
            self.err("input.messages", "a DPO line needs 'input' with a non-empty 'messages' list", "messages_missing")
        else:
            roles = self.messages(inp["messages"], "input.messages", dpo=True, tools=inp.get("tools"))
            if roles and roles[-1] != "user":
                self.err(f"input.messages[{len(roles) - 1}]",
                         f"the input must end with the user turn (found {roles[-1] or 'a non-message'}); DPO trains "
                         "single-turn: the outputs are the reply to that user message", "input_not_ending_user")
        outs = []
        for key in ("preferred_output", "non_preferred_output"):
            out = obj.get(key)
            if key in renamed and key not in obj:
                outs.append(None)
                continue
            if not isinstance(out, list) or len(out) != 1:
                n = len(out) if isinstance(out, list) else "no list"
                self.err(key, f"{key} must be a list with exactly one assistant message (found {n})", "output_count")
                outs.append(None)
                continue
            m = out[0]
            f = f"{key}[0]"
            if not isinstance(m, Mapping):
                self.err(f, "must be an assistant message object", "output_not_assistant")
                outs.append(None)
                continue
            if m.get("role") != "assistant":
                self.err(f + ".role", f"must be 'assistant', got {m.get('role')!r}", "output_not_assistant")
            if "weight" in m:
                self.err(f + ".weight", "weight is not allowed in DPO outputs", "weight_in_output")
            if not _has_text(m.get("content")) and not m.get("tool_calls"):
                self.err(f + ".content", "needs non-empty text content", "output_empty")
            self.content_parts(f + ".content", m.get("content"), "assistant", False, True)
            self.tool_calls(f, m.get("tool_calls"), set(), None)
            outs.append(m)
        a, b = outs
        if a is not None and b is not None and _same_reply(a, b):
            self.err("non_preferred_output[0].content", "identical to preferred_output; a preference pair "
                                                        "needs two different replies", "outputs_identical")


def _related(a: str, b: str) -> bool:
    """True if one field path is the other or contains it (``messages[1]`` and ``messages[1].content``)."""
    if len(a) > len(b):
        a, b = b, a
    return b == a or (b.startswith(a) and b[len(a)] in ".[")


def _reply_key(m: Mapping[str, Any]) -> tuple[str, bytes]:
    content = m.get("content")
    if isinstance(content, list):
        content = "".join(p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    text = content.strip() if isinstance(content, str) else ""
    return text, orjson.dumps(m.get("tool_calls"), option=orjson.OPT_SORT_KEYS)


def _same_reply(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return _reply_key(a) == _reply_key(b)


# ---------------------------------------------------------------------------------------------
# Driver

class _Validator:
    def __init__(self, kind: str, model: str | None, min_examples: int, path: str | None) -> None:
        if kind not in ("sft", "dpo"):
            raise CuratorError(f"unknown file kind {kind!r}; expected 'sft' or 'dpo'")
        self.kind: Kind = kind  # type: ignore[assignment]
        self.schema = f"{kind}_line"
        self.report = ValidationReport(kind=self.kind, path=path, model=model)
        self.model = model
        self.limit: int | None = None
        if model:
            from curator.models import get_model
            from curator.tokens import encoding_for_model

            self.limit = get_model(model).token_limit
            encoding_for_model(model)  # fail early on an unknown model, load tables offline
        self.min_examples = min_examples
        self.seen: dict[int, int] = {}
        self.pending: list[tuple[int, dict[str, Any]]] = []
        self.counts: list[int] = []
        self.over: int = 0

    def line(self, no: int, obj: Any, dedup_key: bytes | None = None) -> None:
        rep = self.report
        rep.n_examples += 1
        if not isinstance(obj, dict):
            rep.add_error(no, "", f"line must be a JSON object, got {type(obj).__name__}", "not_object")
            return
        if self.kind == "sft" and _clean_chat(obj):
            ok = True  # schema-valid and clean under every rule (see _clean_chat)
        else:
            ok = self._check(no, obj)
        if dedup_key is None:
            try:
                dedup_key = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
            except TypeError as exc:
                rep.add_error(no, "", f"line cannot be written as JSON: {exc}", "not_json_serializable")
                return
        key = hash(dedup_key)
        first = self.seen.setdefault(key, no)
        if first != no:
            rep.add_warning(no, "", f"duplicate of line {first}", "duplicate_line")
        if ok:
            rep.n_valid += 1
            if self.model:
                self.pending.append((no, obj))
                if len(self.pending) >= _BATCH:
                    self.flush()

    def _check(self, no: int, obj: dict[str, Any]) -> bool:
        """Full checks of one line (rules, then the JSON Schema); True when there is no error."""
        rep = self.report
        chk = _LineChecker()
        if self.kind == "sft":
            chk.sft(obj)
        else:
            chk.dpo(obj)
        reported = {f for f, _, _ in chk.errs}
        if not _fast_shape(obj, self.kind):
            if len(rep.errors) < MAX_REPORTED:
                for fld, msg in schema_issues(obj, self.schema):
                    if (fld == "" and reported) or any(_related(fld, r) for r in reported):
                        continue
                    chk.err(fld, msg, "schema")
            elif not chk.errs:
                # Details are no longer kept; skip the slow jsonschema pass and count the line.
                # The fast check accepts every schema-valid line except float weights, which
                # the rules above already report.
                chk.err("", "does not match the line schema", "schema")
        for fld, msg, code in chk.errs:
            rep.add_error(no, fld, msg, code)
        for fld, msg, code in chk.warns:
            rep.add_warning(no, fld, msg, code)
        return not chk.errs

    def flush(self) -> None:
        if not self.pending or not self.model:
            return
        from curator.tokens import count_dpo_examples, count_examples

        lines = [n for n, _ in self.pending]
        objs = [o for _, o in self.pending]
        self.pending = []
        if self.kind == "dpo":
            parts = count_dpo_examples(objs, self.model)
            billed = [sum(p) for p in parts]
            longest = [p[0] + max(p[1], p[2]) for p in parts]
        else:
            billed = count_examples(objs, self.model)
            longest = billed
        self.counts.extend(billed)
        if self.limit is not None:
            for n, t in zip(lines, longest):
                if t > self.limit:
                    self.over += 1
                    self.report.add_warning(
                        n, "", f"example has {t} tokens, over {self.model}'s limit of {self.limit} per example; "
                               "OpenAI truncates it from the end", "over_token_limit")

    def finish(self) -> ValidationReport:
        self.flush()
        rep = self.report
        if rep.n_examples < self.min_examples:
            rep.add_error(None, "", f"{rep.n_examples} example(s); OpenAI requires at least {self.min_examples} "
                                    "per training file (50-100 recommended)", "too_few_examples")
        if self.model:
            rep.tokens = _token_stats(self.model, self.limit, self.counts, self.over)
        return rep


def _token_stats(model: str, limit: int | None, counts: list[int], over: int) -> TokenStats:
    from curator.models import default_epochs, encoding_name, get_model

    n = len(counts)
    info = get_model(model)
    billable = sum(min(limit, t) for t in counts) if limit is not None else sum(counts)
    epochs = default_epochs(n) if n else None
    cost = (billable * epochs * info.price_per_1m / 1e6
            if epochs and info.price_per_1m is not None else None)
    if n:
        ordered = sorted(counts)
        q = statistics.quantiles(ordered, n=10, method="inclusive") if n > 1 else [float(ordered[0])] * 9
        return TokenStats(model, encoding_name(model), limit, n, sum(counts), ordered[0], ordered[-1],
                          sum(counts) / n, float(statistics.median(ordered)), q[0], q[-1], over, billable,
                          epochs, cost, counts)
    return TokenStats(model, encoding_name(model), limit, 0, 0, None, None, None, None, None, None, 0, 0,
                      None, None, counts)


def _lines(fh: Any, rep: ValidationReport) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, raw bytes without newline), reporting BOMs and blank lines."""
    for no, raw in enumerate(fh, start=1):
        rep.n_lines += 1
        if no == 1:
            if raw.startswith(b"\xef\xbb\xbf"):
                rep.add_error(1, "", "file starts with a UTF-8 byte order mark (BOM); save it as UTF-8 without BOM",
                              "bom")
                raw = raw[3:]
            elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                rep.add_error(1, "", "file is UTF-16; save it as UTF-8 (one JSON object per line)", "utf16")
                return
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if not raw.strip():
            rep.add_error(no, "", "empty line; remove it (every line must be one JSON object)", "empty_line")
            continue
        yield no, raw


def _parse(no: int, raw: bytes, rep: ValidationReport) -> tuple[bool, Any]:
    try:
        return True, orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as uexc:
            rep.add_error(no, "", f"not valid UTF-8 (byte {uexc.start + 1} of the line); save the file as UTF-8",
                          "invalid_utf8")
            return False, None
        rep.add_error(no, "", f"not valid JSON: {exc}", "invalid_json")
        return False, None


def validate_file(path: str | os.PathLike[str], kind: Kind, model: str | None = None, *,
                  min_examples: int = MIN_EXAMPLES) -> ValidationReport:
    """Validate a JSONL file line by line (streaming; any size).

    ``kind`` is ``"sft"`` or ``"dpo"``. With ``model``, valid examples are also counted in that
    model's encoding and over-limit examples are reported (``report.tokens``). ``min_examples``
    is OpenAI's 10 for training files; pass a smaller number for a validation file if wanted.
    Raises ``NotFoundError``/``CuratorError`` for a missing file or unknown model; everything
    wrong *inside* the file is in the report.
    """
    p = Path(path)
    if not p.is_file():
        from curator.errors import NotFoundError

        raise NotFoundError(f"{p}: no such file")
    v = _Validator(kind, model, min_examples, str(p))
    rep = v.report
    rep.file_bytes = p.stat().st_size
    if p.suffix.lower() != ".jsonl":
        rep.add_warning(None, "", f"file name ends in {p.suffix or 'nothing'}; OpenAI fine-tuning accepts .jsonl files",
                        "not_jsonl_suffix")
    if rep.file_bytes > UPLOADS_API_LIMIT:
        rep.add_error(None, "", f"file is {rep.file_bytes / 2**30:.1f} GiB; OpenAI accepts at most 8 GB even through "
                                "the Uploads API: split it", "file_too_large")
    elif rep.file_bytes > FILES_API_LIMIT:
        rep.add_warning(None, "", f"file is {rep.file_bytes / 2**20:.0f} MiB, over the 512 MB limit of files.create; "
                                  "upload it with the Uploads API (up to 8 GB, 64 MB parts)", "use_uploads_api")
    with p.open("rb") as fh:
        for no, raw in _lines(fh, rep):
            ok, obj = _parse(no, raw, rep)
            if ok:
                v.line(no, obj, raw)
    return v.finish()


def validate_lines(lines: Iterable[Mapping[str, Any]], kind: Kind, model: str | None = None, *,
                   min_examples: int = MIN_EXAMPLES,
                   raw: Sequence[bytes] | None = None) -> ValidationReport:
    """Validate in-memory lines (dicts, as they would be written); line numbers start at 1.

    ``raw`` (optional) holds each line's serialised bytes, one per line, as they will be
    written; duplicates are then found on those bytes instead of re-serialising every line
    (equal lines serialise to equal bytes when their keys are written in the same order, as
    curator's exporter does).
    """
    v = _Validator(kind, model, min_examples, None)
    line = v.line
    if raw is None:
        for no, obj in enumerate(lines, start=1):
            line(no, obj)
    else:
        lines = list(lines)
        if len(raw) != len(lines):
            raise CuratorError(f"validate_lines: {len(raw)} serialised lines for {len(lines)} lines")
        if kind == "sft" and not model and all(map(_clean_chat, lines)):
            # Every line passed the clean-line check (no error or warning possible but
            # duplicates): count them at once; find duplicates line by line only if any.
            rep = v.report
            rep.n_examples = rep.n_valid = len(lines)
            if len(set(raw)) < len(raw):
                seen = v.seen
                for no, key in enumerate(raw, start=1):
                    first = seen.setdefault(hash(key), no)
                    if first != no:
                        rep.add_warning(no, "", f"duplicate of line {first}", "duplicate_line")
        else:
            for no, (obj, key) in enumerate(zip(lines, raw), start=1):
                line(no, obj, key)
    v.report.n_lines = v.report.n_examples
    return v.finish()


def validate_manifest(manifest: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidInput` if an export manifest does not match ``schemas/manifest.schema.json``."""
    _validate_document(manifest, "manifest", "export manifest")


def validate_project_config(config: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidInput` if a project configuration does not match ``schemas/project.schema.json``."""
    _validate_document(config, "project", "project configuration")


def _validate_document(doc: Mapping[str, Any], schema: str, what: str) -> None:
    issues = schema_issues(doc, schema)
    if issues:
        raise InvalidInput(f"invalid {what}", [RowError(None, f or "(top level)", m) for f, m in issues])


__all__ = [
    "Kind",
    "MIN_EXAMPLES",
    "FILES_API_LIMIT",
    "UPLOADS_API_LIMIT",
    "RESERVED_TOKEN_STRINGS",
    "Issue",
    "TokenStats",
    "ValidationReport",
    "load_schema",
    "schema_validator",
    "schema_issues",
    "field_path",
    "validate_file",
    "validate_lines",
    "validate_manifest",
    "validate_project_config",
]
