"""Token counting: exact known counts, the chat formula, ft: mapping, offline table seeding."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tiktoken

from curator import tokens
from curator.errors import CuratorError, NotFoundError
from curator.models import encoding_name
from curator.paths import ROOT

TOY = [
    {"role": "system", "content": "Classify sentiment."},
    {"role": "user", "content": "great"},
    {"role": "assistant", "content": "positive"},
]

# Counts verified with tiktoken 0.14 and, independently, with bpe-openai's Rust tokenizer.
KNOWN = [
    ("hello world", "gpt-4o-2024-08-06", 2),
    ("hello world", "gpt-3.5-turbo-0125", 2),
    ("The quick brown fox jumps over the lazy dog.", "gpt-4.1-mini-2025-04-14", 10),
    ("Привет, мир! 你好，世界 🤖", "gpt-4.1-2025-04-14", 11),
    ("Привет, мир! 你好，世界 🤖", "gpt-3.5-turbo-0125", 17),
    ("def f(x):\n    return x**2\n", "gpt-4o-mini", 10),
    ("<|endoftext|>", "gpt-4o", 7),  # special-token text counts as ordinary text
]


@pytest.mark.parametrize("text,model,expected", KNOWN)
def test_known_counts(text: str, model: str, expected: int) -> None:
    assert tokens.count_text(text, model) == expected


@pytest.mark.parametrize("text,model,_", KNOWN)
def test_counts_agree_with_independent_tokenizer(text: str, model: str, _: int) -> None:
    from bpe_openai import _bindings

    other = _bindings.tokenizer_for_encoding(encoding_name(model))
    assert tokens.count_text(text, model) == other.count(text)


def test_reserved_text_counts_like_encode_with_disallowed_special_empty() -> None:
    enc = tokens.encoding_for_model("gpt-4o")
    text = "before <|endoftext|> <|fim_suffix|> <|im_start|> after"
    assert tokens.count_text(text, "gpt-4o") == len(enc.encode(text, disallowed_special=()))
    with pytest.raises(ValueError):
        enc.encode(text)  # why the counter must not use plain encode()


def test_chat_formula_on_toy_example() -> None:
    enc = tiktoken.get_encoding("o200k_base")
    content = sum(len(enc.encode(m["content"])) for m in TOY)
    roles = sum(len(enc.encode(m["role"])) for m in TOY)
    assert (content, roles) == (6, 3)
    # 3 special tokens per message + role + content, no reply primer.
    assert tokens.count_messages(TOY, "gpt-4.1-mini-2025-04-14") == 3 * 3 + 3 + 6 == 18


def test_name_adds_its_tokens_plus_one() -> None:
    base = tokens.count_messages(TOY, "gpt-4o")
    named = [dict(TOY[0]), dict(TOY[1], name="alice_smith"), dict(TOY[2])]
    assert tokens.count_messages(named, "gpt-4o") == base + tokens.count_text("alice_smith", "gpt-4o") + 1


def test_tools_tool_calls_and_images_are_counted() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"SF\"}"}}
    msgs = [{"role": "user", "content": "Weather?"}, {"role": "assistant", "tool_calls": [call]}]
    with_calls = tokens.count_messages(msgs, "gpt-4o")
    bare = tokens.count_messages([msgs[0], {"role": "assistant"}], "gpt-4o")
    assert with_calls > bare
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    plain, tooled = tokens.count_examples([{"messages": msgs}, {"messages": msgs, "tools": tools}], "gpt-4o")
    assert tooled > plain
    image = [{"role": "user", "content": [{"type": "text", "text": "what is this"},
                                          {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]
    assert tokens.count_messages(image, "gpt-4o") == 3 + 1 + tokens.count_text("what is this", "gpt-4o") + 85


def test_ft_names_map_by_base_model() -> None:
    ft = "ft:gpt-4.1-mini-2025-04-14:acme:labels-v3:AbC123"
    # tiktoken itself gets this wrong; curator must not.
    assert tiktoken.encoding_name_for_model(ft) == "cl100k_base"
    assert encoding_name(ft) == "o200k_base"
    assert tokens.encoding_for_model(ft).name == "o200k_base"
    assert tokens.count_messages(TOY, ft) == tokens.count_messages(TOY, "gpt-4.1-mini-2025-04-14")
    assert encoding_name("ft:gpt-3.5-turbo-0125:acme::xyz") == "cl100k_base"
    for model in ("gpt-5-mini", "o3", "o1-mini", "o4-mini", "chatgpt-4o-latest", "gpt-4.1-nano"):
        assert encoding_name(model) == "o200k_base", model
    for model in ("gpt-4-0613", "gpt-4", "babbage-002", "davinci-002", "gpt-3.5-turbo-1106"):
        assert encoding_name(model) == "cl100k_base", model


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(NotFoundError) as info:
        tokens.count_text("x", "llama-3-8b")
    msg = str(info.value)
    assert "llama-3-8b" in msg and "gpt-4.1-mini-2025-04-14" in msg
    assert isinstance(info.value, CuratorError)


def test_batch_counts_equal_single_counts_including_threaded_path() -> None:
    n = tokens._PARALLEL_MIN_TEXTS + 500  # forces the threaded path
    examples = [
        {"messages": [{"role": "system", "content": "You sort tickets."},
                      {"role": "user", "content": f"Ticket {i}: my order #{i * 7} {'is late ' * (i % 13)}"},
                      {"role": "assistant", "content": ["billing", "shipping", "other"][i % 3], "weight": 1}]}
        for i in range(n)
    ]
    batch = tokens.count_examples(examples, "gpt-4.1-mini")
    assert len(batch) == n
    sample = range(0, n, 97)
    assert [batch[i] for i in sample] == [tokens.count_messages(examples[i]["messages"], "gpt-4.1-mini") for i in sample]


def test_dpo_counts_parts_and_billed_sum() -> None:
    ex = {"input": {"messages": [{"role": "user", "content": "Say hi politely"}]},
          "preferred_output": [{"role": "assistant", "content": "Hello, how can I help you today?"}],
          "non_preferred_output": [{"role": "assistant", "content": "hi"}]}
    (parts,) = tokens.count_dpo_examples([ex], "gpt-4o")
    inp = tokens.count_messages(ex["input"]["messages"], "gpt-4o")
    pref = tokens.count_messages(ex["preferred_output"], "gpt-4o")
    non = tokens.count_messages(ex["non_preferred_output"], "gpt-4o")
    assert parts == (inp, pref, non)
    assert tokens.count_examples([ex], "gpt-4o") == [inp + pref + non]
    assert tokens.dpo_sequence_tokens(parts) == inp + pref
    with pytest.raises(CuratorError):
        tokens.count_dpo_examples([{"messages": TOY}], "gpt-4o")


def test_find_reserved() -> None:
    assert tokens.find_reserved("plain < | text") == []
    assert tokens.find_reserved("a <|fim_suffix|> b <|endoftext|>") == ["<|endoftext|>", "<|fim_suffix|>"]


def test_cache_file_names_and_hashes_match_tiktoken() -> None:
    import tiktoken_ext.openai_public as public

    source = Path(public.__file__).read_text()
    for name, (url, sha) in tokens.TIKTOKEN_TABLES.items():
        assert url in source and sha in source
        assert tokens.cache_file_name(name) == hashlib.sha1(url.encode()).hexdigest()
    assert tokens.cache_file_name("o200k_base") == "fb374d419588a4632f3f557e76b4b70aebbca790"
    assert tokens.cache_file_name("cl100k_base") == "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"


_NO_NETWORK = textwrap.dedent("""
    import socket
    def _refuse(*a, **k):
        raise OSError("network disabled in this test")
    socket.socket.connect = _refuse
    socket.create_connection = _refuse
    socket.getaddrinfo = _refuse
""")


def _run_offline(script: str, env_updates: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")}
    for k, v in env_updates.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", _NO_NETWORK + textwrap.dedent(script)], env=env,
                          capture_output=True, text=True, timeout=120)


_SCRIPT = """
    import os
    from curator import tokens
    print(tokens.count_text("hello world", "gpt-4o"), tokens.count_text("hello world", "gpt-3.5-turbo"))
    print(os.environ["TIKTOKEN_CACHE_DIR"])
"""


def test_seeds_empty_tiktoken_cache_dir_from_bpe_openai(tmp_path: Path) -> None:
    cache = tmp_path / "tk"
    cache.mkdir()
    res = _run_offline(_SCRIPT, {"TIKTOKEN_CACHE_DIR": str(cache), "CURATOR_CACHE_DIR": str(tmp_path / "own")})
    assert res.returncode == 0, res.stderr
    counts, used = res.stdout.split("\n")[:2]
    assert counts == "2 2" and used == str(cache)
    for name, (_, sha) in tokens.TIKTOKEN_TABLES.items():
        data = (cache / tokens.cache_file_name(name)).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha
    assert not (tmp_path / "own").exists()


def test_unset_cache_dir_seeds_curator_cache(tmp_path: Path) -> None:
    own = tmp_path / "own"
    res = _run_offline(_SCRIPT, {"CURATOR_CACHE_DIR": str(own)})
    assert res.returncode == 0, res.stderr
    counts, used = res.stdout.split("\n")[:2]
    assert counts == "2 2" and used == str(own / "tiktoken")
    assert (own / "tiktoken" / tokens.cache_file_name("o200k_base")).is_file()


def test_unusable_cache_dir_falls_back_to_curator_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    own = tmp_path / "own"
    res = _run_offline(_SCRIPT, {"TIKTOKEN_CACHE_DIR": str(blocker / "cache"), "CURATOR_CACHE_DIR": str(own)})
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[1] == str(own / "tiktoken")


def test_corrupt_table_is_replaced_not_trusted(tmp_path: Path) -> None:
    cache = tmp_path / "tk"
    cache.mkdir()
    (cache / tokens.cache_file_name("o200k_base")).write_bytes(b"garbage")
    res = _run_offline(_SCRIPT, {"TIKTOKEN_CACHE_DIR": str(cache), "CURATOR_CACHE_DIR": str(tmp_path / "own")})
    assert res.returncode == 0, res.stderr
    data = (cache / tokens.cache_file_name("o200k_base")).read_bytes()
    assert hashlib.sha256(data).hexdigest() == tokens.TIKTOKEN_TABLES["o200k_base"][1]


def test_paths_follow_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from curator import paths

    assert (paths.SCHEMAS_DIR / "sft_line.schema.json").is_file()
    assert paths.schema_path("dpo_line").is_file()
    monkeypatch.delenv("CURATOR_EXPORTS_DIR", raising=False)
    assert paths.exports_dir() == paths.ROOT / "exports"
    monkeypatch.setenv("CURATOR_EXPORTS_DIR", str(tmp_path / "ex"))
    assert paths.exports_dir() == tmp_path / "ex"
    monkeypatch.setenv("CURATOR_CACHE_DIR", str(tmp_path / "c"))
    assert paths.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CURATOR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_dir() == tmp_path / "xdg" / "curator"


def _sft_lines(system: str | None, users: list[str], answers: list[str]) -> list[dict]:
    head = [{"role": "system", "content": system}] if system else []
    return [{"messages": [*head, {"role": "user", "content": u}, {"role": "assistant", "content": a}]}
            for u, a in zip(users, answers)]


@pytest.mark.parametrize("system", [None, "", "Sort the ticket into billing, refund or other."])
def test_column_counts_equal_line_counts(system: str | None) -> None:
    n = tokens._PARALLEL_MIN_TEXTS + 300  # the threaded path
    users = [f"Ticket {i}: refund {'please ' * (i % 7)}<|endoftext|>" if i % 50 == 0
             else f"Ticket {i}: Привет 🤖 order #{i * 13} {'late ' * (i % 11)}" for i in range(n)]
    users[5] = users[6]  # a repeated text is counted like any other
    answers = [["billing", "refund", "billing, refund", ""][i % 4] for i in range(n)]
    lines = _sft_lines(system, users, answers)
    model = "gpt-4.1-mini-2025-04-14"
    assert tokens.count_sft_columns(system, users, answers, model) == tokens.count_examples(lines, model)
    legacy = "gpt-3.5-turbo-0125"  # other encoding (cl100k_base)
    assert (tokens.count_sft_columns(system, users[:40], answers[:40], legacy)
            == tokens.count_examples(lines[:40], legacy))


@pytest.mark.parametrize("system", [None, "Be polite."])
def test_dpo_column_counts_equal_line_counts(system: str | None) -> None:
    users = [f"Say hi to customer {i}" for i in range(30)]
    good = [f"Hello {i}! How can I help you today?" for i in range(30)]
    bad = ["hi", "go away", "hi"] * 10
    head = [{"role": "system", "content": system}] if system else []
    lines = [{"input": {"messages": [*head, {"role": "user", "content": u}]},
              "preferred_output": [{"role": "assistant", "content": p}],
              "non_preferred_output": [{"role": "assistant", "content": r}]} for u, p, r in zip(users, good, bad)]
    assert tokens.count_dpo_columns(system, users, good, bad, "gpt-4o") == tokens.count_dpo_examples(lines, "gpt-4o")


def test_column_counts_need_equal_lengths() -> None:
    with pytest.raises(CuratorError):
        tokens.count_sft_columns(None, ["a", "b"], ["x"], "gpt-4o")
    with pytest.raises(CuratorError):
        tokens.count_dpo_columns(None, ["a"], ["x"], [], "gpt-4o")


def test_text_lengths_counts_each_distinct_text() -> None:
    got = tokens.text_lengths(["hello world", "hello world", "<|endoftext|>"], "gpt-4o")
    assert got == {"hello world": 2, "<|endoftext|>": 7}
