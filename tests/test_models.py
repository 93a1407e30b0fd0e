"""The model table: lookups, ft: names, default epochs, cost, lifecycle dates."""
from __future__ import annotations

from datetime import date

import pytest
import tiktoken

from curator import models
from curator.errors import CuratorError, NotFoundError


@pytest.mark.parametrize("n,epochs", [
    (1, 25), (3, 25), (4, 25), (5, 20), (10, 10), (20, 5), (33, 3), (34, 3), (100, 3), (8333, 3),
    (8334, 2), (12500, 2), (12501, 1), (1_000_000, 1),
])
def test_default_epochs_matches_cookbook(n: int, epochs: int) -> None:
    assert models.default_epochs(n) == epochs


def test_default_epochs_rejects_empty_dataset() -> None:
    with pytest.raises(CuratorError):
        models.default_epochs(0)


@pytest.mark.parametrize("name,expected", [
    ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini-2025-04-14"),
    ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
    ("  gpt-4.1  ", "gpt-4.1-2025-04-14"),
    ("ft:gpt-4.1-nano-2025-04-14:acme:v3:AbC", "gpt-4.1-nano-2025-04-14"),
    ("ft:gpt-4o-mini-2024-07-18:acme::9xYz:ckpt-step-120", "gpt-4o-mini-2024-07-18"),
])
def test_get_model_resolves_aliases_and_ft_names(name: str, expected: str) -> None:
    assert models.get_model(name).name == expected


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(NotFoundError) as info:
        models.get_model("ft:llama-3:acme:x:y")
    assert "gpt-4.1-mini-2025-04-14" in str(info.value) and "llama-3" in str(info.value)
    with pytest.raises(CuratorError):
        models.get_model("ft:")


def test_table_encodings_agree_with_tiktoken_for_snapshot_names() -> None:
    for name, info in models.MODELS.items():
        assert tiktoken.encoding_name_for_model(name) == info.encoding, name


def test_table_facts() -> None:
    m = models.MODELS
    assert m["gpt-4.1-nano-2025-04-14"].token_limit == 32_768
    assert m["gpt-4o-2024-08-06"].token_limit == 65_536
    assert m["gpt-3.5-turbo-0613"].token_limit == 4_096
    assert m["gpt-3.5-turbo-0125"].token_limit == 16_385
    for name in ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14"):
        assert m[name].shutdown_date == date(2027, 1, 14)
    assert m["gpt-4.1-nano-2025-04-14"].shutdown_date is None  # sources disagree
    assert models.OPENAI_FT_CUTOFF == date(2027, 1, 6)
    assert not m["o4-mini-2025-04-16"].supports("sft") and not m["o4-mini-2025-04-16"].supports("dpo")
    assert m["gpt-4o-mini-2024-07-18"].dpo == "unverified" and m["gpt-4o-mini-2024-07-18"].supports("dpo")
    assert {x.name for x in models.fine_tunable("dpo")} >= {"gpt-4.1-2025-04-14", "gpt-4o-2024-08-06"}
    assert "o4-mini-2025-04-16" not in {x.name for x in models.fine_tunable("sft")}
    with pytest.raises(CuratorError):
        m["gpt-4o-2024-08-06"].supports("ppo")
    d = m["gpt-4.1-2025-04-14"].to_dict()
    assert d["shutdown_date"] == "2027-01-14" and d["price_per_1m"] == 25.0


def test_cost_truncates_to_limit_and_multiplies_epochs() -> None:
    counts = [10, 100, 70_000]  # last one is over gpt-4.1-mini's 65,536 limit
    assert models.billable_tokens(counts, "gpt-4.1-mini", 3) == (10 + 100 + 65_536) * 3
    cost = models.estimate_cost(counts, "ft:gpt-4.1-mini-2025-04-14:o:s:i", 3)
    assert cost == pytest.approx((10 + 100 + 65_536) * 3 * 5.0 / 1e6)
    # 2024 guide's worked example: 100k tokens x 3 epochs on gpt-4o-mini is about $0.90.
    assert models.estimate_cost([100_000 // 4] * 4, "gpt-4o-mini", 3) == pytest.approx(0.90)


def test_cost_unknown_price_is_none_and_bad_epochs_refused() -> None:
    assert models.estimate_cost([1000], "o4-mini", 1) is None
    assert models.estimate_cost([1000], "babbage-002", 2) is None
    assert models.billable_tokens([1000, 5], "babbage-002", 2) == 2010  # no known limit: nothing truncated
    with pytest.raises(CuratorError):
        models.estimate_cost([1], "gpt-4o", 0)


def test_lifecycle_notice() -> None:
    before = models.lifecycle_notice("gpt-4.1-mini", today=date(2026, 11, 1))
    assert before and "2027-01-06" in before and "shuts down on 2027-01-14" in before
    after = models.lifecycle_notice("ft:gpt-4o-2024-08-06:a:b:c", today=date(2027, 2, 1))
    assert after and "no longer accepts" in after and "was shut down on 2027-01-14" in after
    nano = models.lifecycle_notice("gpt-4.1-nano", today=date(2026, 11, 1))
    assert nano and "2027-01-14" not in nano
