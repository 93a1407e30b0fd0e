"""OpenAI file validation: every rule names the right line and field; schemas; fast path soundness."""
from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from curator import validate
from curator.errors import CuratorError, InvalidInput
from curator.paths import SCHEMAS_DIR
from curator.validate import validate_file, validate_lines


def sft(user: str = "great", answer: str = "positive", **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": "Classify sentiment."},
                         {"role": "user", "content": user},
                         {"role": "assistant", "content": answer}], **extra}


TOOL_LINE = {
    "messages": [
        {"role": "user", "content": "Weather in SF?"},
        {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                                               "function": {"name": "get_weather", "arguments": "{\"city\":\"SF\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "21C"},
        {"role": "assistant", "content": "It is 21°C.", "weight": 1},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
    "parallel_tool_calls": False,
}
MULTI_TURN = {"messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "Hello!", "weight": 0},
    {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                 {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}]},
    {"role": "assistant", "content": [{"type": "text", "text": "A cat."}], "weight": 1},
]}


def dpo(user: str = "Say hi", good: str = "Hello! How can I help?", bad: str = "hi") -> dict[str, Any]:
    return {"input": {"messages": [{"role": "system", "content": "Be polite."}, {"role": "user", "content": user}]},
            "preferred_output": [{"role": "assistant", "content": good}],
            "non_preferred_output": [{"role": "assistant", "content": bad}]}


def good_sft(n: int = 10) -> list[dict[str, Any]]:
    return [sft(f"ticket {i}") for i in range(n)]


def good_dpo(n: int = 10) -> list[dict[str, Any]]:
    return [dpo(f"prompt {i}") for i in range(n)]


def write_jsonl(path: Path, lines: Iterable[Any]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    return path


def codes(report: validate.ValidationReport) -> set[str]:
    return {e.code for e in report.errors}


# ---------------------------------------------------------------------------------------------
# good files


def test_good_sft_file_passes_without_warnings(tmp_path: Path) -> None:
    lines = good_sft(10) + [TOOL_LINE, MULTI_TURN]
    rep = validate_file(write_jsonl(tmp_path / "train.jsonl", lines), "sft")
    assert rep.ok, rep.errors
    assert rep.warnings == []
    assert (rep.n_lines, rep.n_examples, rep.n_valid) == (12, 12, 12)
    assert rep.tokens is None
    json.dumps(rep.to_dict())


def test_good_dpo_file_passes(tmp_path: Path) -> None:
    rep = validate_file(write_jsonl(tmp_path / "dpo.jsonl", good_dpo(12)), "dpo")
    assert rep.ok and rep.warnings == [] and rep.n_valid == 12


def test_reference_examples_are_valid() -> None:
    """The illustrative lines of openai-finetuning.md §1.7 and §2.1."""
    a = json.loads('{"messages":[{"role":"system","content":"Classify sentiment."},{"role":"user","content":"great"},'
                   '{"role":"assistant","content":"positive"}]}')
    rep = validate_lines([a, TOOL_LINE], "sft", min_examples=0)
    assert rep.ok and rep.warnings == []
    b = {"input": {"messages": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."}],
                   "tools": [], "parallel_tool_calls": True},
         "preferred_output": [{"role": "assistant", "content": "better answer"}],
         "non_preferred_output": [{"role": "assistant", "content": "worse answer"}]}
    assert validate_lines([b], "dpo", min_examples=0).ok


# ---------------------------------------------------------------------------------------------
# SFT rules: (bad line, field, code)

SFT_BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("weight float", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "weight": 0.5}]},
     "messages[1].weight", "weight_not_binary"),
    ("weight 1.0", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "weight": 1.0}]},
     "messages[1].weight", "weight_not_binary"),
    ("weight true", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "weight": True}]},
     "messages[1].weight", "weight_not_binary"),
    ("weight on user", {"messages": [{"role": "user", "content": "a", "weight": 1}, {"role": "assistant", "content": "b"}]},
     "messages[0].weight", "weight_not_assistant"),
    ("unknown role", {"messages": [{"role": "human", "content": "a"}, {"role": "assistant", "content": "b"}]},
     "messages[0].role", "unknown_role"),
    ("args object", {"messages": [
        {"role": "user", "content": "a"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "1"}, {"role": "assistant", "content": "done"}]},
     "messages[1].tool_calls[0].function.arguments", "arguments_not_string"),
    ("args not json", {"messages": [
        {"role": "user", "content": "a"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{x:"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "1"}, {"role": "assistant", "content": "done"}]},
     "messages[1].tool_calls[0].function.arguments", "arguments_not_json"),
    ("unknown tool_call_id", {"messages": [
        {"role": "user", "content": "a"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c9", "content": "1"}, {"role": "assistant", "content": "done"}]},
     "messages[2].tool_call_id", "tool_call_id_unknown"),
    ("tool answer before call", {"messages": [
        {"role": "user", "content": "a"}, {"role": "tool", "tool_call_id": "c1", "content": "1"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "assistant", "content": "done"}]},
     "messages[1].tool_call_id", "tool_call_id_unknown"),
    ("missing tool_call_id", {"messages": [
        {"role": "user", "content": "a"}, {"role": "tool", "content": "1"}, {"role": "assistant", "content": "done"}]},
     "messages[1].tool_call_id", "tool_call_id_missing"),
    ("no trainable", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "weight": 0}]},
     "messages", "no_trainable_assistant"),
    ("no assistant", {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "a"}]},
     "messages", "no_trainable_assistant"),
    ("empty assistant", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "  "}]},
     "messages[1].content", "assistant_empty"),
    ("assistant null no calls", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": None}]},
     "messages[1].content", "assistant_empty"),
    ("reserved in user", {"messages": [{"role": "user", "content": "x <|fim_suffix|> y"}, {"role": "assistant", "content": "b"}]},
     "messages[0].content", "reserved_token"),
    ("reserved in assistant", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b<|endoftext|>"}]},
     "messages[1].content", "reserved_token"),
    ("reserved in text part", {"messages": [{"role": "user", "content": [{"type": "text", "text": "<|im_start|>"}]},
                                            {"role": "assistant", "content": "b"}]},
     "messages[0].content[0].text", "reserved_token"),
    ("reserved in arguments", {"messages": [
        {"role": "user", "content": "a"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                               "function": {"name": "f", "arguments": "{\"q\": \"<|endofprompt|>\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "1"}, {"role": "assistant", "content": "done"}]},
     "messages[1].tool_calls[0].function.arguments", "reserved_token"),
    ("image in assistant", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": [
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]},
     "messages[1].content[0]", "image_not_allowed"),
    ("audio part", {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]},
                                 {"role": "assistant", "content": "b"}]},
     "messages[0].content[0]", "unsupported_content_part"),
    ("missing messages", {"prompt": "a", "completion": "b"}, "messages", "messages_missing"),
    ("empty messages", {"messages": []}, "messages", "messages_missing"),
    ("unknown message key", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "score": 3}]},
     "messages[1].score", "schema"),
    ("unknown top key", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "meta": {}},
     "meta", "schema"),
    ("content number", {"messages": [{"role": "user", "content": 42}, {"role": "assistant", "content": "b"}]},
     "messages[0].content", "schema"),
    ("bad tool type", {"messages": [
        {"role": "user", "content": "a"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "fn", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "1"}, {"role": "assistant", "content": "done"}]},
     "messages[1].tool_calls[0].type", "schema"),
    ("bad tools definition", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
                              "tools": [{"type": "function", "function": {"name": "has space"}}]},
     "tools[0].function.name", "schema"),
]


@pytest.mark.parametrize("name,line,fld,code", SFT_BAD, ids=[c[0] for c in SFT_BAD])
def test_sft_rule_names_line_and_field(tmp_path: Path, name: str, line: dict[str, Any], fld: str, code: str) -> None:
    lines = good_sft(10)
    lines.insert(4, line)  # becomes line 5
    rep = validate_file(write_jsonl(tmp_path / "train.jsonl", lines), "sft")
    assert not rep.ok
    hits = [e for e in rep.errors if e.code == code]
    assert hits, rep.errors
    assert {(e.line, e.field) for e in hits} == {(5, fld)}, rep.errors
    assert all(e.line == 5 for e in rep.errors), rep.errors
    assert rep.n_valid == 10
    # the same verdict in memory
    mem = validate_lines(lines, "sft")
    assert [(e.line, e.field, e.code) for e in mem.errors] == [(e.line, e.field, e.code) for e in rep.errors]


SFT_WARN: list[tuple[str, dict[str, Any], str, str]] = [
    ("last not assistant", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                         {"role": "user", "content": "thanks"}]}, "messages[2]", "last_not_assistant"),
    ("developer role", {"messages": [{"role": "developer", "content": "d"}, {"role": "user", "content": "a"},
                                     {"role": "assistant", "content": "b"}]}, "messages[0].role", "developer_role"),
    ("function role", {"messages": [{"role": "user", "content": "a"},
                                    {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
                                    {"role": "function", "name": "f", "content": "1"},
                                    {"role": "assistant", "content": "b"}]}, "messages[2].role", "function_role"),
    ("two assistants", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                     {"role": "assistant", "content": "c"}]}, "messages[2].role", "consecutive_assistant"),
    ("system later", {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "s"},
                                   {"role": "assistant", "content": "c"}]}, "messages[1].role", "system_not_first"),
    ("empty user", {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "c"}]},
     "messages[0].content", "empty_content"),
    ("call to unknown tool", {**TOOL_LINE, "tools": [{"type": "function", "function": {"name": "other"}}]},
     "messages[1].tool_calls[0].function.name", "unknown_tool"),
]


@pytest.mark.parametrize("name,line,fld,code", SFT_WARN, ids=[c[0] for c in SFT_WARN])
def test_sft_warnings_name_line_and_field(name: str, line: dict[str, Any], fld: str, code: str) -> None:
    lines = good_sft(10)
    lines.insert(2, line)  # line 3
    rep = validate_lines(lines, "sft")
    assert rep.ok, rep.errors
    assert [(w.line, w.field, w.code) for w in rep.warnings] == [(3, fld, code)]


# ---------------------------------------------------------------------------------------------
# DPO rules


def _mut(f) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    x = dpo()
    f(x)
    return x


DPO_BAD: list[tuple[str, dict[str, Any], str | tuple[str, ...], str]] = [
    ("input ends with assistant", _mut(lambda x: x["input"]["messages"].append({"role": "assistant", "content": "a"})),
     "input.messages[2]", "input_not_ending_user"),
    ("identical outputs", dpo(good="Same reply", bad=" Same reply "), "non_preferred_output[0].content", "outputs_identical"),
    ("two preferred", _mut(lambda x: x["preferred_output"].append({"role": "assistant", "content": "again"})),
     "preferred_output", "output_count"),
    ("empty non-preferred list", _mut(lambda x: x.__setitem__("non_preferred_output", [])),
     "non_preferred_output", "output_count"),
    ("output role user", _mut(lambda x: x["preferred_output"][0].__setitem__("role", "user")),
     "preferred_output[0].role", "output_not_assistant"),
    ("weight in output", _mut(lambda x: x["preferred_output"][0].__setitem__("weight", 1)),
     "preferred_output[0].weight", "weight_in_output"),
    ("empty output text", dpo(bad=""), "non_preferred_output[0].content", "output_empty"),
    ("old field names", {"input": dpo()["input"], "preferred_completion": dpo()["preferred_output"],
                         "non_preferred_completion": dpo()["non_preferred_output"]},
     ("preferred_completion", "non_preferred_completion"), "old_field_name"),
    ("tools outside input", _mut(lambda x: x.__setitem__("tools", [])), "tools", "misplaced_key"),
    ("image in input", _mut(lambda x: x["input"]["messages"][1].__setitem__("content", [
        {"type": "text", "text": "what?"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}])),
     "input.messages[1].content[1]", "image_not_allowed"),
    ("reserved in output", dpo(good="ok <|im_end|>"), "preferred_output[0].content", "reserved_token"),
    ("missing input", {"preferred_output": dpo()["preferred_output"], "non_preferred_output": dpo()["non_preferred_output"]},
     "input.messages", "messages_missing"),
    ("unknown role in input", _mut(lambda x: x["input"]["messages"][0].__setitem__("role", "boss")),
     "input.messages[0].role", "unknown_role"),
]


@pytest.mark.parametrize("name,line,fld,code", DPO_BAD, ids=[c[0] for c in DPO_BAD])
def test_dpo_rule_names_line_and_field(tmp_path: Path, name: str, line: dict[str, Any], fld: str | tuple[str, ...],
                                      code: str) -> None:
    lines = good_dpo(10)
    lines.insert(9, line)  # line 10
    rep = validate_file(write_jsonl(tmp_path / "dpo.jsonl", lines), "dpo")
    hits = [e for e in rep.errors if e.code == code]
    assert hits, rep.errors
    fields = fld if isinstance(fld, tuple) else (fld,)
    assert {(e.line, e.field) for e in hits} == {(10, f) for f in fields}, rep.errors
    assert all(e.line == 10 for e in rep.errors), rep.errors


def test_sft_line_in_dpo_file_and_vice_versa() -> None:
    rep = validate_lines(good_sft(10), "dpo")
    assert not rep.ok and rep.n_valid == 0 and "messages_missing" in codes(rep)
    rep = validate_lines(good_dpo(10), "sft")
    assert not rep.ok and rep.n_valid == 0


# ---------------------------------------------------------------------------------------------
# file-level problems


def test_bom_is_an_error_on_line_1_but_the_line_is_still_checked(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "t.jsonl", good_sft(10))
    p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    rep = validate_file(p, "sft")
    assert [(e.line, e.code) for e in rep.errors] == [(1, "bom")]
    assert rep.n_examples == 10


def test_utf16_file_is_reported_once(tmp_path: Path) -> None:
    p = tmp_path / "t.jsonl"
    p.write_bytes("\n".join(json.dumps(x) for x in good_sft(10)).encode("utf-16"))
    rep = validate_file(p, "sft")
    assert "utf16" in codes(rep) and rep.n_examples == 0


def test_invalid_utf8_empty_lines_bad_json_and_non_objects(tmp_path: Path) -> None:
    body = [orjson.dumps(x) for x in good_sft(10)]
    body.insert(2, b'{"messages": [{"role": "user", "content": "caf\xe9"}]}')  # line 3: latin-1 byte
    body.insert(4, b"")                                                      # line 5: empty
    body.insert(6, b'{"messages": [}')                                       # line 7: bad JSON
    body.insert(8, b'["not", "an", "object"]')                               # line 9
    body.insert(10, b"   ")                                                  # line 11: blank
    p = tmp_path / "t.jsonl"
    p.write_bytes(b"\r\n".join(body) + b"\r\n")  # CRLF endings are fine
    rep = validate_file(p, "sft")
    assert [(e.line, e.code) for e in rep.errors] == [
        (3, "invalid_utf8"), (5, "empty_line"), (7, "invalid_json"), (9, "not_object"), (11, "empty_line")]
    assert rep.n_lines == 15 and rep.n_valid == 10


def test_too_few_examples(tmp_path: Path) -> None:
    rep = validate_file(write_jsonl(tmp_path / "t.jsonl", good_sft(9)), "sft")
    assert [(e.line, e.code) for e in rep.errors] == [(None, "too_few_examples")]
    assert "at least 10" in rep.errors[0].message
    assert validate_file(tmp_path / "t.jsonl", "sft", min_examples=1).ok


def test_file_size_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write_jsonl(tmp_path / "t.jsonl", good_sft(10))
    size = p.stat().st_size
    monkeypatch.setattr(validate, "FILES_API_LIMIT", size - 1)
    rep = validate_file(p, "sft")
    assert rep.ok and [w.code for w in rep.warnings] == ["use_uploads_api"]
    assert "Uploads API" in rep.warnings[0].message
    monkeypatch.setattr(validate, "UPLOADS_API_LIMIT", size - 1)
    assert "file_too_large" in codes(validate_file(p, "sft"))


def test_duplicates_and_suffix_are_warnings(tmp_path: Path) -> None:
    lines = good_sft(10) + [good_sft(1)[0]]
    rep = validate_file(write_jsonl(tmp_path / "t.txt", lines), "sft")
    assert rep.ok
    assert {(w.line, w.code) for w in rep.warnings} == {(None, "not_jsonl_suffix"), (11, "duplicate_line")}
    assert "line 1" in [w for w in rep.warnings if w.code == "duplicate_line"][0].message


def test_missing_file_and_unknown_kind(tmp_path: Path) -> None:
    from curator.errors import CuratorError, NotFoundError

    with pytest.raises(NotFoundError):
        validate_file(tmp_path / "nope.jsonl", "sft")
    with pytest.raises(CuratorError):
        validate_lines([], "rft")  # type: ignore[arg-type]


def test_error_list_is_capped_but_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "MAX_REPORTED", 5)
    rep = validate_lines([{"messages": []}] * 20, "sft")
    assert rep.n_errors == 20 and len(rep.errors) == 5
    assert rep.to_dict()["errors_truncated"] is True


def test_raise_for_errors_gives_rows_and_columns(tmp_path: Path) -> None:
    lines = good_sft(10)
    lines[3]["messages"][2]["weight"] = 2
    rep = validate_file(write_jsonl(tmp_path / "t.jsonl", lines), "sft")
    with pytest.raises(InvalidInput) as info:
        rep.raise_for_errors()
    err = info.value
    assert (err.errors[0].row, err.errors[0].column) == (4, "messages[2].weight")
    assert "t.jsonl" in str(err) and "row 4" in str(err)
    validate_lines(good_sft(10), "sft").raise_for_errors()  # no error: no exception


def test_not_json_serialisable_in_memory_line() -> None:
    lines: list[Any] = good_sft(10)
    lines[0]["messages"][1]["content"] = {1, 2}
    rep = validate_lines(lines, "sft")
    assert (1, "messages[1].content") in {(e.line, e.field) for e in rep.errors}


# ---------------------------------------------------------------------------------------------
# tokens


def test_token_stats_and_over_limit_warning(tmp_path: Path) -> None:
    lines = good_sft(10)
    lines.insert(6, sft(user="word " * 5000))  # line 7, over gpt-3.5-turbo-0613's 4,096
    rep = validate_file(write_jsonl(tmp_path / "t.jsonl", lines), "sft", model="gpt-3.5-turbo-0613")
    assert rep.ok
    assert [(w.line, w.code) for w in rep.warnings] == [(7, "over_token_limit")]
    t = rep.tokens
    assert t is not None and t.n_examples == 11 and t.n_over_limit == 1 and t.token_limit == 4096
    from curator.tokens import count_examples

    assert t.counts == count_examples(lines, "gpt-3.5-turbo-0613")
    assert t.total == sum(t.counts) and t.max == max(t.counts) and t.min == min(t.counts)
    assert t.billable_tokens_per_epoch == sum(min(4096, c) for c in t.counts)
    assert t.default_epochs == 9  # 11 examples -> 100 // 11
    assert t.estimated_cost_usd == pytest.approx(t.billable_tokens_per_epoch * 9 * 8.0 / 1e6)
    d = rep.to_dict()["tokens"]
    assert "counts" not in d and d["encoding"] == "cl100k_base"


def test_dpo_token_limit_uses_longest_sequence() -> None:
    limit = 4096
    long_reply = "word " * 3000
    lines = good_dpo(10) + [dpo(user="word " * 1500, good=long_reply, bad="short")]
    rep = validate_lines(lines, "dpo", "gpt-3.5-turbo-0613")
    assert rep.ok and rep.tokens is not None
    from curator.tokens import count_dpo_examples

    parts = count_dpo_examples([lines[-1]], "gpt-3.5-turbo-0613")[0]
    assert parts[0] + parts[1] > limit
    assert [(w.line, w.code) for w in rep.warnings] == [(11, "over_token_limit")]
    assert rep.tokens.counts[-1] == sum(parts)


def test_only_valid_lines_are_counted() -> None:
    lines = good_sft(10) + [{"messages": [{"role": "user", "content": "a"}]}]
    rep = validate_lines(lines, "sft", "gpt-4o")
    assert rep.tokens is not None and rep.tokens.n_examples == 10


# ---------------------------------------------------------------------------------------------
# schemas


SCHEMA_NAMES = ("sft_line", "dpo_line", "manifest", "project")


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schemas_are_valid_draft_2020_12(name: str) -> None:
    schema = json.loads((SCHEMAS_DIR / f"{name}.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_line_schemas_share_identical_message_definitions() -> None:
    s = validate.load_schema("sft_line")["$defs"]
    d = validate.load_schema("dpo_line")["$defs"]
    assert {k: v for k, v in d.items() if k != "output_message"} == s


def test_schema_weight_only_on_assistant_and_binary() -> None:
    v = validate.schema_validator("sft_line")
    ok = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "weight": 0}]}
    assert v.is_valid(ok)
    for bad_weight in (2, -1, "1", True):
        bad = copy.deepcopy(ok)
        bad["messages"][1]["weight"] = bad_weight
        assert not v.is_valid(bad), bad_weight
    bad = copy.deepcopy(ok)
    bad["messages"][0]["weight"] = 1
    assert not v.is_valid(bad)


def _manifest() -> dict[str, Any]:
    return {
        "schema_version": 1, "kind": "sft", "created_at": "2026-11-22T03:00:00+00:00", "created_by": "eve",
        "project": {"id": 1, "name": "tickets", "task_type": "classification", "labels": ["billing", "other"]},
        "database": {"identity": "0b7d-…", "path": "/data/curator.duckdb"},
        "settings": {"balance": "cap:100", "val_fraction": 0.1, "model": "gpt-4.1-mini-2025-04-14", "over_limit": "keep"},
        "seed": 42,
        "counts": {"settled": 120, "train": 90, "validation": 10},
        "distributions": {"before": {"billing": 80, "other": 40}, "after": {"billing": 60, "other": 40}},
        "tokens": {"train": {"n_examples": 90, "total": 9000, "min": 50, "max": 300, "n_over_limit": 0}},
        "cost_estimate": {"model": "gpt-4.1-mini-2025-04-14", "epochs": 3, "billable_tokens": 27000, "usd": 0.135},
        "files": [{"name": "train.jsonl", "split": "train", "sha256": "a" * 64, "bytes": 1234, "lines": 90}],
        "item_ids": {"train": [1, 2, 3], "validation": [4]},
    }


def test_manifest_schema() -> None:
    validate.validate_manifest(_manifest())
    bad = _manifest()
    bad["files"][0]["sha256"] = "xyz"
    del bad["item_ids"]
    with pytest.raises(InvalidInput) as info:
        validate.validate_manifest(bad)
    columns = {e.column for e in info.value.errors}
    assert "files[0].sha256" in columns and "(top level)" in columns


def test_project_schema() -> None:
    conf = {"name": "tickets", "task_type": "classification",
            "labels": [{"name": "billing", "description": "money", "key": "1"}, "other"],
            "multi_label": False, "system_prompt": "Classify.", "guidelines": "", "overlap": 3,
            "settle_rule": {"kind": "majority", "min_answers": 2, "margin": 1}}
    validate.validate_project_config(conf)
    validate.validate_project_config({"name": "drafts", "task_type": "response"})
    for bad in ({"name": "x", "task_type": "classification"},            # no labels
                {"name": "x", "task_type": "ranking"},
                {**conf, "overlap": 0},
                {**conf, "labels": ["a|b"]},
                {**conf, "settle_rule": {"kind": "vote"}}):
        with pytest.raises(InvalidInput):
            validate.validate_project_config(bad)


def test_field_path() -> None:
    assert validate.field_path(["messages", 2, "weight"]) == "messages[2].weight"
    assert validate.field_path([]) == ""
    assert validate.field_path(["input", "messages", 0]) == "input.messages[0]"


# ---------------------------------------------------------------------------------------------
# the fast path never accepts what the schema rejects

_VALUES: list[Any] = [None, True, False, 0, 1, 1.0, 0.5, -1, "", "x", "user", "assistant", "tool", "system", "function",
                      "developer", "text", "image_url", "bad name", "a" * 65, [], [1], {}, {"a": 1},
                      {"type": "text", "text": "t"}, {"url": "u"}, {"url": ""}, "auto", "huge"]
_KEYS = ["role", "content", "weight", "name", "tool_calls", "tool_call_id", "function_call", "refusal", "type", "text",
         "image_url", "url", "detail", "id", "function", "arguments", "parameters", "strict", "description", "extra",
         "messages", "tools", "input", "preferred_output", "non_preferred_output", "parallel_tool_calls", "functions"]
_SFT_BASES = [
    sft(), TOOL_LINE, MULTI_TURN,
    {"messages": [{"role": "user", "content": "x", "name": "bob"},
                  {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
                  {"role": "function", "name": "f", "content": None}, {"role": "developer", "content": "d"},
                  {"role": "assistant", "content": None, "refusal": "no",
                   "tool_calls": [{"id": "c", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}],
     "functions": [{"name": "f", "description": "d", "parameters": {}, "strict": None}]},
]
_DPO_BASES = [
    dpo(),
    {"input": {"messages": [{"role": "user", "content": [{"type": "text", "text": "u"}]}],
               "tools": [{"type": "function", "function": {"name": "f"}}], "parallel_tool_calls": True},
     "preferred_output": [{"role": "assistant", "content": None,
                           "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}],
     "non_preferred_output": [{"role": "assistant", "content": [{"type": "text", "text": "t"}]}]},
]


def _containers(o: Any, acc: list[Any]) -> list[Any]:
    if isinstance(o, dict):
        acc.append(o)
        for v in o.values():
            _containers(v, acc)
    elif isinstance(o, list):
        acc.append(o)
        for v in o:
            _containers(v, acc)
    return acc


def _mutate(o: Any, rng: random.Random) -> Any:
    o = copy.deepcopy(o)
    for _ in range(rng.randint(1, 3)):
        c = rng.choice(_containers(o, []))
        r = rng.random()
        if isinstance(c, dict):
            if r < 0.4 and c:
                c[rng.choice(list(c))] = copy.deepcopy(rng.choice(_VALUES))
            elif r < 0.6 and c:
                del c[rng.choice(list(c))]
            else:
                c[rng.choice(_KEYS)] = copy.deepcopy(rng.choice(_VALUES))
        elif c:
            if r < 0.3:
                c.pop(rng.randrange(len(c)))
            elif r < 0.6:
                c[rng.randrange(len(c))] = copy.deepcopy(rng.choice(_VALUES))
            else:
                c.append(copy.deepcopy(rng.choice(c)))
    return o


@pytest.mark.parametrize("kind,bases", [("sft", _SFT_BASES), ("dpo", _DPO_BASES)])
def test_fast_path_implies_schema_validity_and_validator_never_crashes(kind: str, bases: list[Any]) -> None:
    rng = random.Random(20261122)
    schema = validate.schema_validator(f"{kind}_line")
    for b in bases:
        assert validate._fast_shape(b, kind) and schema.is_valid(b)  # type: ignore[arg-type]
    mutated = [_mutate(rng.choice(bases), rng) for _ in range(1500)]
    fast = 0
    for o in mutated:
        is_fast = isinstance(o, dict) and validate._fast_shape(o, kind)  # type: ignore[arg-type]
        fast += is_fast
        if is_fast:
            assert schema.is_valid(o), (o, [e.message for e in schema.iter_errors(o)])
        elif isinstance(o, dict) and schema.is_valid(o):
            # the converse, which the validator relies on once it stops collecting details:
            # only float weights (schema-valid, rejected by the rules) miss the fast path
            weights = [m.get("weight") for m in _containers(o, []) if isinstance(m, dict) and "weight" in m]
            assert any(type(w) is float for w in weights), o
    assert fast > 80  # the fuzz really exercises the fast path
    rep = validate_lines(mutated, kind, "gpt-4o")  # type: ignore[arg-type]
    assert rep.n_examples == len(mutated) and rep.n_errors > 0


def test_schema_errors_past_the_detail_cap_are_still_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "MAX_REPORTED", 3)
    lines = [sft(f"t{i}", meta={"source": "crm"}) for i in range(20)]  # unknown top-level key on every line
    rep = validate_lines(lines, "sft")
    assert rep.n_errors == 20 and rep.n_valid == 0 and rep.codes["schema"] == 20
    assert [(e.line, e.field) for e in rep.errors] == [(1, "meta"), (2, "meta"), (3, "meta")]


# ---------------------------------------------------------------------------------------------
# the clean-line fast path (exported lines) gives the same reports as the full checks

_CLEAN_EDGES: list[Any] = [
    sft(), sft("a <| b |> c"), sft("<|endoftext|>"), sft(answer="x <|fim_suffix|>"), sft(" \t\n"), sft(""),
    sft(answer="  "), sft(answer=""),
    {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
    {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "s"},
                  {"role": "assistant", "content": "b"}]},
    {"messages": [{"role": "system", "content": "s"}, {"role": "system", "content": "s"},
                  {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
    {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                  {"role": "assistant", "content": "c"}]},
    {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                  {"role": "user", "content": "c"}]},
    {"messages": [{"role": "assistant", "content": "b"}]},
    {"messages": [{"role": "developer", "content": "d"}, {"role": "user", "content": "a"},
                  {"role": "assistant", "content": "b"}]},
    {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "weight": 1}]},
    {"messages": [{"role": "user", "content": "a"}, {"content": "b", "role": "assistant"}]},
    {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ["b"]}]},
    {"messages": [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]},
    {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "tools": []},
    {"messages": []}, {"messages": "x"}, {"message": []},
]


def test_clean_fast_path_matches_full_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    lines = (good_sft(10) + _CLEAN_EDGES + [c[1] for c in SFT_BAD] + [c[1] for c in SFT_WARN]
             + [_mutate(rng.choice(_SFT_BASES + _CLEAN_EDGES[:3]), rng) for _ in range(800)])
    lines = [x for x in lines if isinstance(x, dict)]
    schema = validate.schema_validator("sft_line")
    clean = 0
    for x in lines:
        if validate._clean_chat(x):
            clean += 1
            chk = validate._LineChecker()
            chk.sft(x)
            assert not chk.errs and not chk.warns and schema.is_valid(x), x
    assert clean > 20
    raw = [orjson.dumps(x, option=orjson.OPT_SORT_KEYS) for x in lines]  # the validator's own keys
    fast = validate_lines(lines, "sft").to_dict()
    fast_raw = validate_lines(lines, "sft", raw=raw).to_dict()
    monkeypatch.setattr(validate, "_clean_chat", lambda obj: False)
    full = validate_lines(lines, "sft").to_dict()
    assert fast == full == fast_raw
    assert full["n_errors"] > 0 and full["n_warnings"] > 0


def test_serialised_lines_are_used_for_duplicates() -> None:
    lines = good_sft(12) + [sft("ticket 3"), sft("ticket 5")]
    raw = [orjson.dumps(x) for x in lines]
    rep = validate_lines(lines, "sft", raw=raw)
    assert rep.ok and rep.n_lines == rep.n_examples == rep.n_valid == 14
    assert [(w.line, w.message) for w in rep.warnings] == [(13, "duplicate of line 4"), (14, "duplicate of line 6")]
    assert rep.to_dict() == validate_lines(lines, "sft").to_dict()
    with pytest.raises(CuratorError):
        validate_lines(lines, "sft", raw=raw[:-1])
    # with a model the tokens are still counted
    rep = validate_lines(lines, "sft", "gpt-4o", raw=raw)
    assert rep.tokens is not None and rep.tokens.n_examples == 14
