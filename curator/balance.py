"""Balancing options and the grouped, stratified train/validation split.

Balancing itself runs in DuckDB (``curator.store.exports.balance_rows``); this module parses
the option, predicts per-class counts, groups duplicates and assigns groups to splits.

Split rules
    * Items are grouped so duplicates never straddle the split: same ``dedup_key`` and
      connected components of near-duplicate pairs (union-find over the pair list).
    * The validation size is ``round(n * val_fraction)`` items (or ``val_count``), shared out
      over the classes in proportion to their size (largest remainder, ties by class name).
    * Groups are visited in the order their first item appears in the input (the export passes
      items sorted by ``md5('<seed>:<item id>')`` from DuckDB); a group goes to
      validation when all its items fit the per-class targets that are still open, otherwise
      to training. Singleton groups (the usual case) hit the targets exactly; a duplicate group
      larger than what is left of a target stays in training.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from curator.errors import InvalidInput

__all__ = [
    "BALANCE_MODES",
    "BalanceSpec",
    "parse_balance",
    "balanced_counts",
    "group_items",
    "validation_targets",
    "SplitResult",
    "split_groups",
]

BALANCE_MODES = ("none", "equal", "cap:N", "oversample")


@dataclass(frozen=True)
class BalanceSpec:
    """A parsed balancing option: ``mode`` is none, equal, cap or oversample."""

    mode: str
    cap: int | None = None

    def __str__(self) -> str:
        return f"cap:{self.cap}" if self.mode == "cap" else self.mode


def parse_balance(spec: "str | BalanceSpec | None") -> BalanceSpec:
    """``'none'``, ``'equal'``, ``'cap:N'`` (N >= 1) or ``'oversample'``; InvalidInput otherwise."""
    if isinstance(spec, BalanceSpec):
        return spec
    text = (spec or "none").strip().lower()
    if text in ("none", "equal", "oversample"):
        return BalanceSpec(text)
    if text.startswith("cap:"):
        num = text[4:].strip()
        if num.isdigit() and int(num) >= 1:
            return BalanceSpec("cap", int(num))
        raise InvalidInput(f"balance {spec!r}: the cap must be a whole number >= 1, e.g. cap:500")
    raise InvalidInput(f"unknown balance option {spec!r}; expected one of: none, equal, cap:N "
                       "(at most N per class), oversample (repeat smaller classes; only when asked)")


def balanced_counts(counts: Mapping[str, int], spec: BalanceSpec) -> dict[str, int]:
    """Per-class counts after balancing (what ``balance_rows`` produces), keyed like ``counts``."""
    if not counts:
        return {}
    if spec.mode == "none":
        return dict(counts)
    if spec.mode == "cap":
        assert spec.cap is not None
        return {c: min(n, spec.cap) for c, n in counts.items()}
    if spec.mode == "equal":
        lo = min(counts.values())
        return {c: lo for c in counts}
    hi = max(counts.values())
    return {c: hi for c in counts}


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:  # path compression
            nxt = parent.get(x, x)
            parent[x] = root
            x = nxt
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:  # the smaller id becomes the root: group id = smallest member
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra


def group_items(item_ids: Iterable[int], pairs: Iterable[tuple[int, int]]) -> dict[int, int]:
    """item id -> group id (the smallest item id of its connected component over ``pairs``).

    Pairs may mention items outside ``item_ids`` (they still connect: A~B~C keeps A and C
    together even when B is not exported).
    """
    uf = _UnionFind()
    for a, b in pairs:
        uf.union(int(a), int(b))
    if not uf.parent:
        return {int(i): int(i) for i in item_ids}
    return {int(i): uf.find(int(i)) for i in item_ids}


def validation_targets(class_counts: Mapping[str, int], val_fraction: float | None = None,
                       val_count: int | None = None) -> dict[str, int]:
    """Validation items per class: ``round(total * val_fraction)`` (or ``val_count``) shared out
    in proportion to class sizes by largest remainder (ties: class name)."""
    total = sum(class_counts.values())
    if val_count is not None:
        want = int(val_count)
    else:
        want = int(round(total * float(val_fraction or 0.0) + 1e-9))
    want = max(0, min(want, total))
    if want == 0 or total == 0:
        return {c: 0 for c in class_counts}
    exact = {c: n * want / total for c, n in class_counts.items()}
    out = {c: int(v) for c, v in exact.items()}
    left = want - sum(out.values())
    for c in sorted(class_counts, key=lambda c: (-(exact[c] - out[c]), c))[:left]:
        out[c] += 1
    return out


@dataclass
class SplitResult:
    """Which items go to validation; counts per class; groups seen."""

    validation: set[int]
    targets: dict[str, int]
    val_by_class: dict[str, int]
    n_groups: int
    n_multi_item_groups: int
    largest_group: int
    shortfall: dict[str, int]
    """class -> validation items missing from its target because duplicate groups did not fit."""


def split_groups(items: Sequence[tuple[int, str]], groups: Mapping[int, int], *,
                 val_fraction: float | None = None, val_count: int | None = None) -> SplitResult:
    """Assign whole groups to validation, stratified by class (see the module docstring).

    ``items`` are distinct (item id, class) pairs in visiting order (seeded pseudo-random: the
    result depends on this order, so pass the same order for the same split); ``groups`` maps
    item id -> group id.
    """
    by_class = Counter(c for _, c in items)
    targets = validation_targets(dict(sorted(by_class.items())), val_fraction, val_count)
    gids = [groups.get(item_id, item_id) for item_id, _ in items] if groups else [i for i, _ in items]
    sizes = Counter(gids)
    # Only groups with several items need their member lists; the usual singleton groups are
    # decided item by item (same visiting order: first appearance in ``items``).
    members: dict[int, list[tuple[int, str]]] = {g: [] for g, n in sizes.items() if n > 1}
    if members:
        for (item_id, cls), gid in zip(items, gids):
            if gid in members:
                members[gid].append((item_id, cls))
    open_ = dict(targets)
    val: set[int] = set()
    need = sum(open_.values())
    if need:
        seen: set[int] = set()
        for (item_id, cls), gid in zip(items, gids):
            group = members.get(gid) if members else None
            if group is None:
                if open_[cls] > 0:
                    open_[cls] -= 1
                    val.add(item_id)
                    need -= 1
            elif gid not in seen:
                seen.add(gid)
                per = Counter(c for _, c in group)
                if all(open_[c] >= n for c, n in per.items()):
                    for c, n in per.items():
                        open_[c] -= n
                    val.update(i for i, _ in group)
                    need -= len(group)
            if need == 0:
                break
    val_by_class = {c: targets[c] - open_[c] for c in targets}
    return SplitResult(
        validation=val, targets=targets, val_by_class=val_by_class, n_groups=len(sizes),
        n_multi_item_groups=len(members), largest_group=max(sizes.values(), default=0),
        shortfall={c: n for c, n in open_.items() if n > 0},
    )
