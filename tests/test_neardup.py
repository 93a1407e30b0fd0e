"""Near-duplicate detection: behaviour, determinism, and a cross-check against datasketch."""
from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest

from curator.errors import InvalidInput
from curator.neardup import (
    NUM_PERM,
    find_near_duplicates,
    jaccard,
    lsh_params,
    shingles,
    signatures,
    tokens,
)

_WORDS = ("hub camera bulb plug doorbell thermostat app account order refund invoice charge payment "
          "login password reset code email phone battery firmware update crash screen light motion "
          "sensor alarm schedule scene router wifi network signal pairing install setup guide manual "
          "delivery parcel courier tracking warehouse late missing broken damaged replacement warranty "
          "subscription plan monthly yearly cancel renew upgrade downgrade price discount coupon voucher "
          "support agent chat call waiting answer weekend holiday office kitchen garden garage bedroom").split()


def ticket(r: random.Random, n_words: int = 60) -> str:
    words = [r.choice(_WORDS) for _ in range(n_words)]
    out, i = [], 0
    while i < len(words):  # sentences of 6-12 words
        k = r.randint(6, 12)
        sent = words[i:i + k]
        out.append(sent[0].capitalize() + " " + " ".join(sent[1:]) + r.choice([".", "!", "?"]))
        i += k
    return " ".join(out)


def edit_words(text: str, r: random.Random, n: int) -> str:
    words = text.split(" ")
    for _ in range(n):
        i = r.randrange(len(words))
        words[i] = r.choice(["zebra", "quantum", "violet", "harbour", "meadow", "pixel"]) + str(r.randint(0, 99))
    return " ".join(words)


def test_tokens_and_shingles_ignore_case_and_punctuation() -> None:
    assert tokens("Hello, WORLD!! it's  Zoë's\tcafé") == ["hello", "world", "it", "s", "zoë", "s", "café"]
    assert shingles("a b") == {("a", "b")}
    assert shingles("") == set()
    assert jaccard("The hub is OFFLINE.", "the hub, is offline") == 1.0


def test_lightly_edited_copy_is_found() -> None:
    r = random.Random(1)
    base = ticket(r, 60)
    one_word = edit_words(base, r, 1)
    restyled = base.upper().replace(".", "!!").replace(" ", "  ")
    texts = [base, ticket(r), one_word, ticket(r), restyled]
    pairs = find_near_duplicates(texts, [10, 11, 12, 13, 14])
    found = {(a, b): s for a, b, s in pairs}
    assert found[(12, 10)] == pytest.approx(jaccard(one_word, base))
    assert 0.8 <= found[(12, 10)] < 1.0
    assert found[(14, 10)] == 1.0  # case, punctuation and spacing do not count
    assert set(found) == {(12, 10), (14, 10)}  # the unrelated tickets are not paired


def test_unrelated_tickets_not_paired() -> None:
    r = random.Random(2)
    texts = [ticket(r) for _ in range(500)]
    assert find_near_duplicates(texts, list(range(500))) == []


def test_threshold_changes_result() -> None:
    r = random.Random(3)
    base = ticket(r, 80)
    texts = [base, edit_words(base, r, 2), edit_words(base, r, 6)]
    sims = [jaccard(base, t) for t in texts[1:]]
    assert sims[0] > 0.85 and 0.5 < sims[1] < 0.75
    at = {th: {(a, b) for a, b, _ in find_near_duplicates(texts, [0, 1, 2], threshold=th)}
          for th in (0.5, 0.8, 0.99)}
    assert (1, 0) in at[0.8] and (2, 0) not in at[0.8]
    assert (2, 0) in at[0.5] or (2, 1) in at[0.5]
    assert at[0.99] == set()
    for a, b, s in find_near_duplicates(texts, [0, 1, 2], threshold=0.5):
        assert s >= 0.5 and s == pytest.approx(jaccard(texts[a], texts[b]))


def test_links_newer_to_older_and_existing() -> None:
    r = random.Random(4)
    old = [ticket(r) for _ in range(50)]
    new = [edit_words(old[7], r, 1), ticket(r), edit_words(old[7], r, 1), old[20]]
    new_ids = [100, 101, 102, 103]
    old_ids = list(range(50))
    pairs = find_near_duplicates(new, new_ids, existing=(old, old_ids))
    by_new = {a: (b, s) for a, b, s in pairs}
    assert by_new[100][0] == 7
    assert by_new[102][0] in (7, 100)  # its best older match: the existing item or the earlier copy
    assert by_new[103] == (20, 1.0)    # exact duplicate of an existing item is reported too
    assert 101 not in by_new
    assert all(a in new_ids for a, _, _ in pairs)  # pairs among existing items are not reported
    # An old item re-submitted under its own id is never paired with itself.
    assert find_near_duplicates([old[3]], [3], existing=(old, old_ids)) == []


def test_exact_duplicates_and_odd_inputs_are_robust() -> None:
    texts = ["same text here ok", "same text here ok", "", None, "x", "x", "   ", "!!!", "zoë café naïve"]
    pairs = find_near_duplicates(texts, list(range(len(texts))))
    assert (1, 0, 1.0) in pairs and (5, 4, 1.0) in pairs
    assert all(a != b for a, b, _ in pairs)
    linked = {a for a, _, _ in pairs}
    assert not linked & {2, 3, 6, 7}  # texts without tokens are never paired
    assert find_near_duplicates([], []) == []
    assert find_near_duplicates(["only one"], [1]) == []


def test_template_heavy_bucket_stays_bounded() -> None:
    base = "my camera is offline again and the app says device not found please help " * 3
    texts = [base + f" ticket {i}" for i in range(3000)]
    pairs = find_near_duplicates(texts, list(range(3000)))
    # Every later copy (J = 0.88 to the others) should be linked to one older copy; LSH is
    # probabilistic, so allow a few misses.
    assert 0.98 * 2999 <= len(pairs) <= 2999
    assert all(b < a and s == pytest.approx(0.88, abs=0.01) for a, b, s in pairs)


def test_bad_arguments_raise_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="2 texts but 1 ids"):
        find_near_duplicates(["a", "b"], [1])
    with pytest.raises(InvalidInput, match="threshold"):
        find_near_duplicates(["a", "b"], [1, 2], threshold=1.5)
    with pytest.raises(InvalidInput, match="existing"):
        find_near_duplicates(["a"], [1], existing=(["b"], []))


def test_progress_reports_all_rows() -> None:
    r = random.Random(5)
    texts = [ticket(r, 20) for _ in range(9000)]
    seen: list[tuple[int, int]] = []
    find_near_duplicates(texts[4000:], list(range(4000, 9000)), existing=(texts[:4000], list(range(4000))),
                         progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (9000, 9000) and len(seen) >= 2
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_signatures_are_deterministic_across_processes() -> None:
    texts = ["The hub is offline since Monday.", "", "café au lait, s'il vous plaît"]
    sig = signatures(texts)
    assert sig.shape == (3, NUM_PERM) and sig.dtype == np.uint32
    assert (sig[1] == 0xFFFFFFFF).all()
    code = ("import sys, json; from curator.neardup import signatures; "
            "print(json.dumps(signatures(json.loads(sys.argv[1])).tolist()))")
    import json
    out = subprocess.run([sys.executable, "-c", code, json.dumps(texts)], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123", "PATH": "/usr/bin:/bin"})
    assert np.array_equal(np.array(json.loads(out.stdout), dtype=np.uint32), sig)
    # Signature agreement estimates Jaccard.
    r = random.Random(6)
    a = ticket(r, 200)
    b = edit_words(a, r, 10)
    sa, sb = signatures([a, b])
    assert abs((sa == sb).mean() - jaccard(a, b)) < 0.15


def test_lsh_params_fit_the_threshold() -> None:
    for th in (0.5, 0.8, 0.9):
        b, r = lsh_params(th)
        assert b * r <= NUM_PERM
        assert 1 - (1 - th**r) ** b > 0.5            # most pairs at the threshold become candidates
        assert 1 - (1 - (th - 0.3) ** r) ** b < 0.2  # few far below it do


def test_recall_matches_datasketch() -> None:
    datasketch = pytest.importorskip("datasketch")
    r = random.Random(7)
    texts: list[str] = []
    for _ in range(400):
        if texts and r.random() < 0.35:
            src = r.choice(texts)
            texts.append(edit_words(src, r, r.choice([1, 2, 3, 4, 6, 8])))
        else:
            texts.append(ticket(r, r.randint(40, 90)))
    sh = [shingles(t) for t in texts]

    def exact(i: int, j: int) -> float:
        inter = len(sh[i] & sh[j])
        return inter / (len(sh[i]) + len(sh[j]) - inter)

    truth = {i for i in range(len(texts)) if any(exact(i, j) >= 0.8 for j in range(i))}
    assert len(truth) > 40

    # datasketch: MinHash of the same shingles, MinHashLSH at 0.8, candidates checked exactly.
    lsh = datasketch.MinHashLSH(threshold=0.8, num_perm=128)
    ds_found = set()
    for i, s in enumerate(sh):
        m = datasketch.MinHash(num_perm=128, seed=1)
        m.update_batch([" ".join(x).encode() for x in s])
        if any(exact(i, int(j)) >= 0.8 for j in lsh.query(m)):
            ds_found.add(i)
        lsh.insert(str(i), m)

    pairs = find_near_duplicates(texts, list(range(len(texts))))
    ours = {a for a, _, _ in pairs}
    assert ours <= truth  # every reported pair is verified exactly
    for a, b, s in pairs:
        assert b < a and s == pytest.approx(exact(a, b)) and s >= 0.8
    recall_ours = len(ours) / len(truth)
    recall_ds = len(ds_found) / len(truth)
    assert recall_ours >= 0.9
    assert recall_ours >= recall_ds - 0.05, (recall_ours, recall_ds)


def _reference_signature(shingle_hashes: list[int]) -> np.ndarray:
    """The documented sketch, one text at a time in plain Python: bin = top 7 bits, value = next
    32 bits, minimum per bin; an empty bin copies the first filled bin of its probe order."""
    from curator.neardup import _PROBE_ORDER

    first = [None] * NUM_PERM
    for x in shingle_hashes:
        b, v = x >> 57, (x >> 25) & 0xFFFFFFFF
        first[b] = v if first[b] is None else min(first[b], v)
    if all(v is None for v in first):
        return np.full(NUM_PERM, 0xFFFFFFFF, dtype=np.uint32)
    out = [v if v is not None else next(first[j] for j in _PROBE_ORDER[b] if first[j] is not None)
           for b, v in enumerate(first)]
    return np.array(out, dtype=np.uint32)


def test_sketch_follows_its_definition() -> None:
    from curator.neardup import _shingle_hashes, _sketch

    r = random.Random(11)
    # Texts from 0 to ~300 shingles: sparse ones (few filled bins) and dense ones take
    # different code paths.
    texts = [" ".join(r.choice(_WORDS) + str(r.randint(0, 50)) for _ in range(n))
             for n in [0, 1, 2, 3, 5, 9, 20, 35, 60, 120, 300] * 6]
    sh, counts = _shingle_hashes(texts)
    sig = _sketch(sh, counts)
    start = 0
    for i, c in enumerate(counts.tolist()):
        assert np.array_equal(sig[i], _reference_signature(sh[start:start + c].tolist())), i
        start += c


def test_shingle_hashes_identify_shingles() -> None:
    from curator.neardup import _shingle_hashes

    r = random.Random(12)
    vocab = ["a", "bb", "eight888", "nine99999", "sixteen_16_chars", "seventeen17_chars", "x" * 40,
             "Zoë", "café", "ß", "日本語テキスト", "İstanbul", "q" * 8 + "r", "q" * 8 + "s", "Word", "word"]
    texts = [r.choice([" ", ", ", "!! ", "\n"]).join(r.choice(vocab) for _ in range(r.choice([0, 1, 2, 3, 7, 30])))
             for _ in range(1500)]
    sh, counts = _shingle_hashes(texts)
    seen: dict[tuple[str, ...], int] = {}
    back: dict[int, tuple[str, ...]] = {}
    start = 0
    for text, c in zip(texts, counts.tolist()):
        toks = tokens(text)
        seq = [tuple(toks)] if 0 < len(toks) < 3 else list(zip(toks, toks[1:], toks[2:]))
        assert len(seq) == c
        for s, h in zip(seq, sh[start:start + c].tolist()):
            assert seen.setdefault(s, h) == h  # one shingle, one hash ...
            assert back.setdefault(h, s) == s  # ... and one hash, one shingle
        start += c
    assert len(seen) > 500


def test_estimates_track_jaccard() -> None:
    r = random.Random(13)
    a = [ticket(r, r.randint(40, 120)) for _ in range(400)]
    b = [edit_words(t, r, r.choice([1, 2, 4, 8, 15])) for t in a]
    j = np.array([jaccard(x, y) for x, y in zip(a, b)])
    est = (signatures(a) == signatures(b)).mean(axis=1)
    err = est - j
    assert abs(err.mean()) < 0.01                        # unbiased
    assert err.std() < 1.3 * np.sqrt((j * (1 - j)).mean() / NUM_PERM)  # as precise as MinHash
    with pytest.raises(InvalidInput, match="num_perm"):
        signatures(a, num_perm=64)


def test_reported_similarity_is_exact_for_repeats_long_tokens_and_long_texts() -> None:
    r = random.Random(14)
    loop = "reset the hub then reset the hub again " * 40  # many repeated shingles
    long_tokens = " ".join("".join(r.choice("abcdef") for _ in range(r.randint(9, 30))) for _ in range(80))
    huge = ticket(r, 6000)                                # one wide comparison block
    texts = [loop, long_tokens, huge, loop + " thanks", edit_words(long_tokens, r, 2),
             edit_words(huge, r, 40), long_tokens.upper()]
    pairs = find_near_duplicates(texts, list(range(len(texts))))
    found = {a: (b, s) for a, b, s in pairs}
    assert set(found) == {3, 4, 5, 6}
    for a, (b, s) in found.items():
        assert s == pytest.approx(jaccard(texts[a], texts[b]), abs=1e-12)
    assert found[6] == (1, 1.0)


def test_band_buckets_pair_with_oldest_and_window() -> None:
    from curator.neardup import WINDOW, _band_pairs

    r = random.Random(15)
    n, first_new = 400, 100
    rows = np.arange(n, dtype=np.int64)
    key = np.array([r.choice([1, 2, 3]) << 40 if r.random() < 0.3 else r.getrandbits(64) for _ in range(n)],
                   dtype=np.uint64)
    got = set(_band_pairs(key, rows, first_new).tolist())
    want = set()
    for k in set(key.tolist()):
        members = [i for i in range(n) if key[i] == k]
        for pos, i in enumerate(members):
            if i >= first_new and pos > 0:
                for j in {members[0], *members[max(0, pos - WINDOW):pos]}:
                    want.add(i << 32 | j)
    assert got == want


def test_result_does_not_depend_on_verification_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    import curator.neardup as nd

    r = random.Random(16)
    texts: list[str] = []
    for _ in range(1500):
        if texts and r.random() < 0.5:
            texts.append(edit_words(r.choice(texts[-200:]), r, r.choice([1, 2, 3, 5])))
        else:
            texts.append(ticket(r, r.randint(30, 80)))
    ids = list(range(len(texts)))
    expected = find_near_duplicates(texts[500:], ids[500:], existing=(texts[:500], ids[:500]))
    assert len(expected) > 150
    # Tiny blocks and store: many blocks, texts dropped, compacted and the store emptied.
    monkeypatch.setattr(nd, "_BLOCK_PAIRS", 7)
    monkeypatch.setattr(nd, "_STORE_SHINGLES", 4000)
    monkeypatch.setattr(nd, "_VERIFY_BATCH", 50)
    assert find_near_duplicates(texts[500:], ids[500:], existing=(texts[:500], ids[:500])) == expected
