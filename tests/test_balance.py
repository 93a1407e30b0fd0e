"""Balancing options, DuckDB balancing windows, duplicate groups and the grouped stratified split."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from curator.balance import (BalanceSpec, balanced_counts, group_items, parse_balance,
                             split_groups, validation_targets)
from curator.errors import InvalidInput
from curator.store import exports as sql


def test_parse_balance():
    assert parse_balance(None) == BalanceSpec("none")
    assert parse_balance(" Equal ") == BalanceSpec("equal")
    assert parse_balance("cap:25") == BalanceSpec("cap", 25)
    assert str(parse_balance("cap:25")) == "cap:25"
    assert parse_balance("oversample").mode == "oversample"
    for bad in ("cap:0", "cap:x", "cap:", "undersample", "cap:-3"):
        with pytest.raises(InvalidInput):
            parse_balance(bad)


def test_balanced_counts():
    counts = {"a": 10, "b": 3, "c": 7}
    assert balanced_counts(counts, BalanceSpec("none")) == counts
    assert balanced_counts(counts, BalanceSpec("cap", 5)) == {"a": 5, "b": 3, "c": 5}
    assert balanced_counts(counts, BalanceSpec("equal")) == {"a": 3, "b": 3, "c": 3}
    assert balanced_counts(counts, BalanceSpec("oversample")) == {"a": 10, "b": 10, "c": 10}


def test_group_items_connects_through_items_not_exported():
    # 1~5 and 5~9: 1 and 9 stay together even though 5 is not among the items
    groups = group_items([1, 2, 9, 10, 11], [(5, 1), (9, 5), (11, 10)])
    assert groups == {1: 1, 2: 2, 9: 1, 10: 10, 11: 10}


def test_validation_targets_proportional_and_exact_total():
    t = validation_targets({"a": 50, "b": 30, "c": 20}, 0.1)
    assert t == {"a": 5, "b": 3, "c": 2}
    t = validation_targets({"a": 7, "b": 7, "c": 7}, 0.2)  # 4.2 -> 4, remainders tie: by name
    assert sum(t.values()) == 4 and t == {"a": 2, "b": 1, "c": 1}
    assert validation_targets({"a": 7, "b": 3}, val_count=5) == {"a": 4, "b": 1}  # 3.5/1.5: tie -> "a"
    assert validation_targets({"a": 3}, val_count=99) == {"a": 3}
    assert validation_targets({"a": 3, "b": 4}, 0.0) == {"a": 0, "b": 0}


def _random_items(rng: random.Random, n: int, classes: str = "abcd"):
    items = [(i, rng.choice(classes)) for i in range(1, n + 1)]
    pairs = []
    for _ in range(n // 6):
        a, b = rng.randint(1, n), rng.randint(1, n)
        pairs.append((a, b))
    return items, pairs


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_split_never_straddles_groups_and_is_stratified(seed):
    rng = random.Random(seed)
    items, pairs = _random_items(rng, 600)
    groups = group_items([i for i, _ in items], pairs)
    rng.shuffle(items)  # the export passes items in a seeded md5 order
    res = split_groups(items, groups, val_fraction=0.2)
    # no group straddles the split
    side: dict[int, bool] = {}
    for i, _ in items:
        g = groups[i]
        assert side.setdefault(g, i in res.validation) == (i in res.validation)
    # stratified: every class reaches its target unless a duplicate group did not fit
    by_class = Counter(c for i, c in items if i in res.validation)
    for c, target in res.targets.items():
        assert by_class[c] == target - res.shortfall.get(c, 0)
        assert by_class[c] <= target
    assert sum(res.targets.values()) == round(600 * 0.2)
    assert res.n_multi_item_groups > 0


def test_split_singletons_hit_targets_exactly_and_is_deterministic():
    items = [(i, "abc"[i % 3]) for i in range(1, 301)]
    groups = group_items([i for i, _ in items], [])
    random.Random(7).shuffle(items)
    a = split_groups(items, groups, val_fraction=0.1)
    b = split_groups(list(items), groups, val_fraction=0.1)
    c = split_groups(list(reversed(items)), groups, val_fraction=0.1)
    assert a.validation == b.validation  # same visiting order -> same split
    assert a.validation != c.validation  # the order (seeded in the export) decides
    assert Counter(x for i, x in items if i in a.validation) == {"a": 10, "b": 10, "c": 10}
    assert not a.shortfall


def test_split_big_group_stays_in_training_and_is_reported():
    items = [(i, "a") for i in range(1, 21)]
    groups = group_items([i for i, _ in items], [(1, k) for k in range(2, 11)])  # group of 10
    res = split_groups(items, groups, val_count=5)
    assert not (res.validation & set(range(1, 11)))
    assert len(res.validation) == 5 and not res.shortfall
    res = split_groups(items[:10], groups, val_count=3)  # only the big group: cannot fit
    assert res.validation == set() and res.shortfall == {"a": 3}


# --------------------------------------------------------------------------------------------
# DuckDB balancing (store.exports.balance_rows)

@pytest.fixture
def cur(store):
    c = store.cursor()
    yield c
    c.close()


def _table(cur, counts: dict[str, int], excluded: int = 0) -> str:
    name = sql.new_name("examples")
    cur.execute(f"CREATE TEMP TABLE {name} (item_id BIGINT, cls VARCHAR, excluded VARCHAR)")
    rows, i = [], 0
    for c, n in counts.items():
        for _ in range(n):
            i += 1
            rows.append((i, c, None))
    for _ in range(excluded):
        i += 1
        rows.append((i, "a", "tie"))
    cur.executemany(f"INSERT INTO {name} VALUES (?, ?, ?)", rows)
    return name


@pytest.mark.parametrize("spec", ["none", "cap:4", "cap:100", "equal", "oversample"])
def test_sql_balance_matches_predicted_counts(cur, spec):
    counts = {"a": 13, "b": 5, "c": 9}
    src = _table(cur, counts, excluded=3)
    dst = sql.new_name("balanced")
    s = parse_balance(spec)
    sql.balance_rows(cur, src, dst, s.mode, 0, s.cap)
    rows = sql.balanced_rows(cur, dst, 0)
    assert dict(Counter(c for _, c, _ in rows)) == balanced_counts(counts, s)
    assert all(i <= 27 for i, _, _ in rows)  # excluded rows never picked
    if s.mode == "oversample":
        per_item = Counter(i for i, _, _ in rows)
        # copies are spread evenly: within a class counts differ by at most one
        for c, n in counts.items():
            ids = [i for i, cc, _ in rows if cc == c]
            vals = {per_item[i] for i in ids}
            assert max(vals) - min(vals) <= 1 and len(set(ids)) == n
        assert {k for _, _, k in rows} == {0, 1, 2}
    else:
        assert len({i for i, _, _ in rows}) == len(rows)


def test_sql_balance_deterministic_and_seeded(cur):
    src = _table(cur, {"a": 50, "b": 50})

    def pick(seed: int, cap: int) -> set[int]:
        dst = sql.new_name("balanced")
        sql.balance_rows(cur, src, dst, "cap", seed, cap)
        out = {i for i, _, _ in sql.balanced_rows(cur, dst, seed)}
        sql.drop(cur, dst)
        return out

    assert pick(3, 10) == pick(3, 10)
    assert pick(3, 10) != pick(4, 10)
    assert pick(3, 10) <= pick(3, 20)  # the same ranking: a larger cap keeps the smaller set


def test_sql_balance_restricted_to_items(cur):
    src = _table(cur, {"a": 6, "b": 2})
    dst = sql.new_name("balanced")
    sql.balance_rows(cur, src, dst, "oversample", 0, item_ids=[1, 2, 3, 7])
    rows = sql.balanced_rows(cur, dst, 0)
    assert Counter(c for _, c, _ in rows) == {"a": 3, "b": 3}
    assert {i for i, _, _ in rows} == {1, 2, 3, 7}


def _reference_split(items, groups, val_count):
    """The plain algorithm: visit groups in first-appearance order, take a group if it fits."""
    from curator.balance import validation_targets
    targets = validation_targets(dict(sorted(Counter(c for _, c in items).items())), val_count=val_count)
    members: dict[int, list] = {}
    for i, c in items:
        members.setdefault(groups.get(i, i), []).append((i, c))
    open_, val = dict(targets), set()
    for group in members.values():
        per = Counter(c for _, c in group)
        if all(open_[c] >= n for c, n in per.items()):
            for c, n in per.items():
                open_[c] -= n
            val.update(i for i, _ in group)
    return val, len(members), sum(1 for g in members.values() if len(g) > 1), max(map(len, members.values()))


@pytest.mark.parametrize("seed", range(6))
def test_split_equals_the_plain_group_algorithm(seed):
    rng = random.Random(100 + seed)
    items, pairs = _random_items(rng, 400, "abc")
    pairs = pairs[: seed * 15]  # from no duplicates at all to many groups
    groups = group_items([i for i, _ in items], pairs)
    rng.shuffle(items)
    for val_count in (0, 7, 40, 399):
        res = split_groups(items, groups, val_count=val_count)
        val, n_groups, n_multi, largest = _reference_split(items, groups, val_count)
        assert res.validation == val
        assert (res.n_groups, res.n_multi_item_groups, res.largest_group) == (n_groups, n_multi, largest)


def test_blank_text_sql_is_trim_equals_empty(cur):
    # the export's cheap blank test must agree with DuckDB's trim(coalesce(x, '')) = ''
    values = ["", " ", "  ", "\t", "\n", " a", "a ", "\u3000", "\u00a0 ", "\u2003\u2003", " \u0301",
              "\u200b", "\ufeff", " \u200b ", "x", "  \n", None]
    cur.execute("CREATE TEMP TABLE blanks (t VARCHAR)")
    cur.executemany("INSERT INTO blanks VALUES (?)", [[v] for v in values])
    rows = cur.execute(f"SELECT t, trim(coalesce(t, '')) = '', {sql._blank('t')} FROM blanks").fetchall()
    assert len(rows) == len(values)
    assert all(a == b for _, a, b in rows), rows
    assert {t for t, a, _ in rows if a} == {"", " ", "  ", "\u3000", "\u00a0 ", "\u2003\u2003", None}
