"""Near-duplicate detection: one-permutation MinHash of word 3-shingles, banded LSH, exact check.

How it works, in four vectorised steps:

1. Normalise and tokenise: ``str.lower()``, then a token is a maximal run of ``[0-9a-z_]`` or
   non-ASCII characters (so punctuation, spacing and case never matter). Done on the UTF-8
   bytes of a chunk of texts at once with numpy; each token gets a stable 64-bit hash (its
   bytes read 8 at a time as little-endian words, then mixed), the same in every process and
   run.
2. Shingles: every 3 consecutive tokens of a text (a text of 1-2 tokens is one shingle), hashed
   to 64 bits. One changed word in a 60-word ticket touches 3 of ~58 shingles (Jaccard ~0.90,
   above the 0.8 default), while unrelated tickets that share phrases stay far below.
3. Sketch: one-permutation hashing with optimal densification (Shrivastava, ICML 2017). The top
   7 bits of a shingle hash pick one of ``NUM_PERM`` = 128 bins, the next 32 bits are its value,
   and a text's signature holds the minimum value per bin. An empty bin takes the value of the
   first non-empty bin in a fixed pseudo-random probe order of its own. Two texts then agree on
   each position with probability equal to their Jaccard similarity, as with 128 independent
   MinHash functions, at the cost of one hash per shingle instead of 128.
4. LSH: the signature is cut into ``b`` bands of ``r`` rows (chosen for the threshold, see
   ``lsh_params``); texts that agree on a whole band share a bucket. In a bucket each text is
   paired with the first (oldest) member and the ``WINDOW`` members just before it, which keeps
   the work linear when thousands of templated tickets fall into one bucket. Candidate pairs
   are filtered by estimated Jaccard (signature agreement, with a ``MARGIN_SIGMAS`` margin) and
   then verified by the *exact* Jaccard of the two shingle sets, which is what is returned.

``find_near_duplicates`` reports, for each new text that has one, one verified older match:
candidates are checked in decreasing estimated similarity, in rounds (rank 0, 1, 2-3, 4-7, ...),
and the most similar verified one of the first round that verifies any wins (ties: the oldest).
That is enough to flag or drop the row on import. docs/pii-and-dedup.md has the details.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np

from curator.errors import InvalidInput

__all__ = [
    "NUM_PERM",
    "SHINGLE_WORDS",
    "DEFAULT_THRESHOLD",
    "WINDOW",
    "tokens",
    "shingles",
    "jaccard",
    "signatures",
    "lsh_params",
    "find_near_duplicates",
]

#: Signature length: one-permutation hashing bins (each estimates Jaccard like one MinHash).
NUM_PERM = 128
SHINGLE_WORDS = 3
DEFAULT_THRESHOLD = 0.8
#: In an LSH bucket, each text is compared with the oldest member and this many before it.
WINDOW = 4
_SEED = 20240607
#: Only the first MAX_CHARS characters of a text take part (bounds memory on huge texts).
MAX_CHARS = 1_000_000
_CHUNK = 1024             # texts hashed per numpy pass ...
_CHUNK_CHARS = 1_000_000  # ... and at most about this many characters (arrays stay in cache)
_VERIFY_BATCH = 20_000    # candidate pairs verified per pass (bounds the arrays held per thread)
_BLOCK_PAIRS = 50_000     # candidate pairs verified per block (texts hashed once per block)
_STORE_SHINGLES = 1 << 24  # shingle hashes kept for verification across blocks (128 MiB)
_EST_BATCH = 50_000       # candidate pairs estimated per pass
_PROBES = 12              # densification probes tried one at a time before the ranked fallback
_SPARSE = 32              # texts with at most this many filled bins are densified in one step
#: Candidates whose estimated Jaccard is below threshold - MARGIN_SIGMAS * sigma are dropped
#: before the exact check (sigma: standard error of a NUM_PERM estimate at the threshold).
MARGIN_SIGMAS = 2.0
_EMPTY = np.uint32(0xFFFFFFFF)
_BIN_BITS = 7  # log2(NUM_PERM)

_U64 = np.uint64
_M1 = _U64(0xBF58476D1CE4E5B9)
_M2 = _U64(0x94D049BB133111EB)
_GOLD = _U64(0x9E3779B97F4A7C15)
_C1 = _U64(0xC2B2AE3D27D4EB4F)
_C2 = _U64(0x165667B19E3779F9)
_S30, _S27, _S31, _S32 = _U64(30), _U64(27), _U64(31), _U64(32)
#: _WORD_MASK[k]: the low k bytes of a little-endian word (k = 0..8).
_WORD_MASK = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)

_TOKEN = re.compile(r"[0-9a-z_\u0080-\U0010ffff]+")
_WORD_BYTE = np.zeros(256, dtype=bool)
for _ch in b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_":
    _WORD_BYTE[_ch] = True
_WORD_BYTE[0x80:] = True
_WORD_TABLE = bytes(int(v) for v in _WORD_BYTE)  # for bytes.translate: word byte -> 1, other -> 0


def _mix(x: np.ndarray, tmp: np.ndarray | None = None) -> np.ndarray:
    """splitmix64 finaliser, in place on a uint64 array (wrapping arithmetic); ``tmp``: an
    optional work array of at least ``len(x)`` elements."""
    t = np.empty_like(x) if tmp is None else tmp[:len(x)]
    for shift, mult in ((_S30, _M1), (_S27, _M2)):
        np.right_shift(x, shift, out=t)
        x ^= t
        x *= mult
    np.right_shift(x, _S31, out=t)
    x ^= t
    return x


class _Scratch(threading.local):
    """Work arrays that one thread reuses from chunk to chunk. Fresh memory costs a page fault
    per 4 KiB page when first written (about 2 us each on the 2-core VM this was measured on),
    and glibc hands freed chunk-sized blocks back to the kernel, so reuse pays."""

    def __init__(self) -> None:
        self.bufs: dict[str, np.ndarray] = {}

    def get(self, name: str, n: int, dtype: type) -> np.ndarray:
        """A work array of ``n`` elements (contents undefined), valid until the next ``get``
        of the same name in this thread."""
        buf = self.bufs.get(name)
        if buf is None or len(buf) < n:
            buf = self.bufs[name] = np.empty(n + n // 4, dtype=dtype)
        return buf[:n]


def _probe_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per bin, the order in which an empty bin probes the others, and each bin's rank in it.

    Derived from ``_mix`` alone (not a numpy random generator), so it never changes.
    """
    k = NUM_PERM
    h = (np.arange(k * k, dtype=np.uint64) + _U64(_SEED)) * _GOLD
    order = np.argsort(_mix(h).reshape(k, k), axis=1, kind="stable").astype(np.int64)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(k, dtype=np.int64)[None, :].repeat(k, 0), axis=1)
    return order, rank


_PROBE_ORDER, _PROBE_RANK = _probe_tables()
_PROBE_BY_STEP = np.ascontiguousarray(_PROBE_ORDER.T)  # [t, bin]: the bin probed at step t
#: [j, i]: rank of bin j in bin i's probe order, times NUM_PERM, plus j (row NUM_PERM: padding).
_PROBE_SCORE = np.vstack((_PROBE_RANK.T * NUM_PERM + np.arange(NUM_PERM)[:, None],
                          np.full((1, NUM_PERM), 0xFFFF))).astype(np.uint16)


# --------------------------------------------------------------------------------------------
# Exact side (Python): used by tests and callers that want one pair's similarity
# --------------------------------------------------------------------------------------------

def tokens(text: str) -> list[str]:
    """The normalised tokens of ``text`` (lower case, punctuation and spacing dropped)."""
    return _TOKEN.findall(text.lower()) if text else []


def shingles(text: str) -> set[tuple[str, ...]]:
    """The set of word 3-shingles of ``text`` (one shingle for a 1-2 token text, none if empty)."""
    t = tokens(text)
    if len(t) < SHINGLE_WORDS:
        return {tuple(t)} if t else set()
    return set(zip(*(t[i:] for i in range(SHINGLE_WORDS))))


def jaccard(a: str, b: str) -> float:
    """Exact Jaccard similarity of the shingle sets of two texts (0.0 if either is empty)."""
    sa, sb = shingles(a), shingles(b)
    if not sa or not sb:
        return 0.0
    inter = len(sa & sb)
    return inter / (len(sa) + len(sb) - inter)


# --------------------------------------------------------------------------------------------
# Shingle hashes and signatures (numpy)
# --------------------------------------------------------------------------------------------

def _words_at(words: np.ndarray, pos: np.ndarray, out: np.ndarray | None = None,
              work: np.ndarray | None = None) -> np.ndarray:
    """The little-endian 8-byte word starting at each byte offset ``pos`` of ``words``' buffer
    (``words``: the buffer as aligned uint64, with at least one word after the last ``pos``).
    ``out`` (uint64) and ``work`` (int64, ``len(pos)``) are optional work arrays."""
    q = np.right_shift(pos, 3, out=work)
    lo = words.take(q, out=out)
    q += 1
    hi = words.take(q)
    s = q  # reuse: bit offset within the word
    np.bitwise_and(pos, 7, out=s)
    s <<= 3
    su = s.view(np.uint64)
    lo >>= su
    hi <<= _U64(1)  # two shifts: a shift by 64 (when the offset is 0) is not defined
    su ^= _U64(63)  # 63 - offset
    hi <<= su
    lo |= hi
    return lo


def _token_hashes(raw: bytes, tstart: np.ndarray, tlen: np.ndarray, out: np.ndarray,
                  scratch: _Scratch) -> None:
    """64-bit hash of each token ``raw[tstart:tstart+tlen]`` into ``out`` (``raw`` padded with
    16 spare bytes).

    A token's bytes are read as little-endian 8-byte words (the last one masked to the token);
    a token of at most 8 bytes hashes to ``f(word)`` (``f``: multiply, xor-shift), a longer one
    to ``mix(f(word_0) + sum_k mix(word_k ^ k * GOLD))``. Token bytes are never 0, so the
    masked word fixes the length.
    """
    m = len(tstart)
    words = np.frombuffer(raw, dtype="<u8", count=len(raw) // 8)
    work = scratch.get("work", m, np.int64)
    h = _words_at(words, tstart, out=out, work=work)
    np.minimum(tlen, 8, out=work)
    tmp = scratch.get("tmp", m, np.uint64)
    h &= _WORD_MASK.take(work, out=tmp)
    # A light bijective mix is enough here: the shingle hash built from these is fully mixed.
    h *= _M2
    h ^= np.right_shift(h, _S31, out=tmp)
    long = np.flatnonzero(tlen > 8)
    if len(long):
        ls, ll = tstart[long], tlen[long]
        extra = (ll - 1) >> 3  # words after the first
        first = np.cumsum(extra) - extra
        k = np.arange(int(extra.sum()), dtype=np.int64) - np.repeat(first, extra) + 1
        w = _words_at(words, np.repeat(ls, extra) + 8 * k)
        w &= _WORD_MASK[np.minimum(np.repeat(ll, extra) - 8 * k, 8)]
        w ^= k.astype(np.uint64) * _GOLD
        hl = h[long] + np.add.reduceat(_mix(w), first)
        h[long] = _mix(hl)


def _shingle_hashes(texts: Sequence[str | None], scratch: _Scratch | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """64-bit shingle hashes (uint64 array, grouped by text, repeats kept) and the count per text."""
    scratch = scratch if scratch is not None else _Scratch()
    n = len(texts)
    enc = [(t or "")[:MAX_CHARS].lower().encode("utf-8", "surrogatepass") for t in texts]
    doc_start = np.empty(n, dtype=np.int64)
    if n:
        doc_start[0] = 1
        np.cumsum(np.fromiter(map(len, enc), dtype=np.int64, count=n)[:-1] + 1, out=doc_start[1:])
        doc_start[1:] += 1
    # b"\0" before every text and 16 after the last: tokens start after byte 0 and end before
    # the padding, which leaves two whole words to read at any token byte.
    enc.append(bytes(15))
    raw = b"\x00" + b"\x00".join(enc)
    del enc
    isw = np.frombuffer(raw.translate(_WORD_TABLE), dtype=np.bool_)
    change = np.not_equal(isw[1:], isw[:-1], out=scratch.get("change", len(isw) - 1, np.bool_))
    edges = np.flatnonzero(change)
    edges += 1
    m = len(edges) // 2
    if m == 0:
        return np.empty(0, dtype=np.uint64), np.zeros(n, dtype=np.int64)
    tstart = scratch.get("tstart", m, np.int64)
    np.copyto(tstart, edges[0::2])
    tlen = np.subtract(edges[1::2], tstart, out=scratch.get("tlen", m, np.int64))
    del isw, edges
    th = scratch.get("th", m + 2, np.uint64)
    _token_hashes(raw, tstart, tlen, th[:m], scratch)
    th[m:] = 0
    first = np.searchsorted(tstart, doc_start)
    end = np.empty(n, dtype=np.int64)
    end[:-1] = first[1:]
    end[-1] = m
    ntok = end - first
    # Shingle j = tokens j, j+1, j+2; the last two positions of each text would cross into the
    # next one. A text of 1-2 tokens gets one shingle at its first position (missing tokens: 0).
    tmp = scratch.get("tmp", m, np.uint64)
    sh = np.multiply(th[:m], _C1, out=scratch.get("sh", m, np.uint64))
    sh += np.multiply(th[1:m + 1], _C2, out=tmp)
    sh += th[2:]
    keep = scratch.get("keep", m, np.bool_)
    keep.fill(True)
    keep[end[ntok >= 1] - 1] = False
    keep[end[ntok >= 2] - 2] = False
    short = np.flatnonzero((ntok > 0) & (ntok < SHINGLE_WORDS))
    if len(short):
        f = first[short]
        sh[f] = th[f] * _C1 + np.where(ntok[short] == 2, th[f + 1], _U64(0)) * _C2
        keep[f] = True
    counts = np.maximum(ntok - (SHINGLE_WORDS - 1), np.minimum(ntok, 1))
    return _mix(sh[keep], tmp), counts


def _chunks(texts: Sequence[str | None]) -> list[tuple[int, int]]:
    """[start, stop) ranges of at most _CHUNK texts and about _CHUNK_CHARS characters."""
    try:
        lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    except TypeError:  # None among the texts
        lens = np.fromiter((len(t) if t else 0 for t in texts), dtype=np.int64, count=len(texts))
    cum = np.cumsum(np.minimum(lens, MAX_CHARS))
    out = []
    start, base = 0, 0
    while start < len(texts):
        stop = int(np.searchsorted(cum, base + _CHUNK_CHARS, side="left")) + 1
        stop = min(max(stop, start + 1), start + _CHUNK, len(texts))
        out.append((start, stop))
        base = int(cum[stop - 1])
        start = stop
    return out


def _sketch(sh: np.ndarray, counts: np.ndarray, scratch: _Scratch | None = None) -> np.ndarray:
    """(n, NUM_PERM) uint32 one-permutation signatures, densified; texts without shingles get
    all 0xFFFFFFFF. A bin counts as filled when its minimum is not 0xFFFFFFFF."""
    scratch = scratch if scratch is not None else _Scratch()
    n = len(counts)
    if len(sh) == 0:
        return np.full((n, NUM_PERM), _EMPTY, dtype=np.uint32)
    first = scratch.get("first", n * NUM_PERM, np.uint32)
    first.fill(_EMPTY)
    # Bin: the top 7 bits of the shingle hash; value: the 32 bits after them.
    m = len(sh)
    slot = np.repeat(np.arange(0, n * NUM_PERM, NUM_PERM, dtype=np.int64), counts)
    tmp = scratch.get("tmp", m, np.uint64)
    slot |= np.right_shift(sh, _U64(64 - _BIN_BITS), out=tmp).view(np.int64)
    np.right_shift(sh, _U64(64 - 32 - _BIN_BITS), out=tmp)
    np.minimum.at(first, slot, tmp.astype(np.uint32))
    del slot
    # Optimal densification: an empty bin i of a text takes the value of the filled bin that
    # comes first in _PROBE_ORDER[i].
    filled = np.not_equal(first, _EMPTY, out=scratch.get("filled", n * NUM_PERM, np.bool_))
    per_text = filled.reshape(n, NUM_PERM).sum(axis=1)
    sig = first.copy()
    sparse = np.flatnonzero((per_text > 0) & (per_text <= _SPARSE))
    if len(sparse):
        # Texts with few filled bins: rank all of them for every bin at once.
        fs = np.flatnonzero(filled.reshape(n, NUM_PERM)[sparse])
        row = fs >> _BIN_BITS
        k = per_text[sparse]
        pos = np.arange(len(fs), dtype=np.int64) - np.repeat(np.cumsum(k) - k, k)
        cand = np.full((len(sparse), _SPARSE), NUM_PERM, dtype=np.int64)
        cand[row, pos] = fs & (NUM_PERM - 1)
        best = (_PROBE_SCORE[cand].min(axis=1) & (NUM_PERM - 1)).astype(np.int64)  # (texts, bins)
        base = (sparse * NUM_PERM)[:, None]
        slots = base + np.arange(NUM_PERM)
        sig[slots] = np.where(filled[slots], first[slots], first[base + best])
    live = np.repeat(per_text > _SPARSE, NUM_PERM)
    live &= ~filled
    empty = np.flatnonzero(live)
    del live
    # Other texts: probe a few positions one at a time (almost every empty bin ends here) ...
    for t in range(_PROBES):
        if len(empty) == 0:
            break
        bins = empty & (NUM_PERM - 1)
        cand = empty - bins
        cand += _PROBE_BY_STEP[t].take(bins)
        got = first.take(cand)
        sig[empty] = got
        empty = empty[got == _EMPTY]
    if len(empty):
        # ... then rank all filled bins of the text for the few bins left.
        filled_slots = np.flatnonzero(filled)
        off = np.cumsum(per_text) - per_text
        bins = empty & (NUM_PERM - 1)
        base = empty - bins
        text = base >> _BIN_BITS
        c = per_text[text]
        seg = np.cumsum(c) - c
        j = filled_slots[np.repeat(off[text] - seg, c) + np.arange(int(c.sum()), dtype=np.int64)]
        j &= NUM_PERM - 1
        score = (_PROBE_RANK[np.repeat(bins, c), j] << _BIN_BITS) | j
        sig[empty] = first[base + (np.minimum.reduceat(score, seg) & (NUM_PERM - 1))]
    return sig.reshape(n, NUM_PERM)


def signatures(texts: Sequence[str | None], num_perm: int = NUM_PERM) -> np.ndarray:
    """Signatures, shape ``(len(texts), NUM_PERM)``, dtype uint32, stable across runs.

    ``(sig_a == sig_b).mean()`` estimates the Jaccard similarity of two texts' shingle sets.
    Empty texts (no tokens) get a row of 0xFFFFFFFF and must not be compared. ``num_perm``
    must be ``NUM_PERM`` (the sketch has a fixed number of bins).
    """
    if num_perm != NUM_PERM:
        raise InvalidInput(f"signatures have {NUM_PERM} positions; num_perm={num_perm} is not supported")
    out = np.empty((len(texts), NUM_PERM), dtype=np.uint32)
    scratch = _Scratch()
    for s, e in _chunks(texts):
        out[s:e] = _sketch(*_shingle_hashes(texts[s:e], scratch), scratch)
    return out


def _run_starts(x: np.ndarray) -> np.ndarray:
    """Mask of the first element of each run of equal values in a sorted array (a cheaper
    distinct than ``np.unique``, which is slow for int64 in numpy 2.4)."""
    out = np.empty(len(x), dtype=bool)
    out[:1] = True
    np.not_equal(x[1:], x[:-1], out=out[1:])
    return out


# --------------------------------------------------------------------------------------------
# LSH
# --------------------------------------------------------------------------------------------

_trapezoid = getattr(np, "trapezoid", None) or getattr(np, "trapz")


@lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int = NUM_PERM, fn_weight: float = 0.8) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising the weighted area of false
    positives below ``threshold`` and false negatives above it (as datasketch does; false
    negatives weigh more here because candidates are verified exactly afterwards)."""
    xs_lo = np.linspace(0.0, threshold, 201)
    xs_hi = np.linspace(threshold, 1.0, 201)
    best: tuple[float, int, int] | None = None
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = _trapezoid(1 - (1 - xs_lo**rows) ** bands, xs_lo)
            fn = _trapezoid((1 - xs_hi**rows) ** bands, xs_hi)
            err = (1 - fn_weight) * fp + fn_weight * fn
            if best is None or err < best[0] - 1e-12:
                best = (err, bands, rows)
    assert best is not None
    return best[1], best[2]


def _band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(bands, n) uint64: one hash per band of ``rows`` signature values."""
    n = sig.shape[0]
    cols = np.ascontiguousarray(sig[:, :bands * rows].T)
    keys = np.empty((bands, n), dtype=np.uint64)
    tmp = np.empty(n, dtype=np.uint64)
    for i in range(bands):
        h = keys[i]
        h.fill((0x9E3779B97F4A7C15 * (i + 1)) % 2**64)  # _GOLD * (i + 1), wrapped
        for c in range(i * rows, (i + 1) * rows):
            h ^= cols[c]
            h *= _C1
            np.right_shift(h, _S32, out=tmp)
            h ^= tmp
        _mix(h)
    return keys


def _band_pairs(key: np.ndarray, rows: np.ndarray, first_new: int) -> np.ndarray:
    """Candidate pairs of one band, as int64 codes ``newer * 2**32 + older``.

    ``key``: the band hash of each row in ``rows`` (ascending row numbers). Rows whose hashes
    agree on all but the low bits (enough bits to hold a row number) share a bucket; a few more
    unrelated pairs than with full 64-bit hashes, which the estimate step drops.
    """
    bits = _U64(max(1, int(rows[-1]).bit_length()) if len(rows) else 1)
    packed = key >> bits
    packed <<= bits
    packed |= rows.astype(np.uint64)
    packed.sort()
    bucket = packed >> bits
    start = np.ones(len(packed) + 1, dtype=bool)
    np.not_equal(bucket[1:], bucket[:-1], out=start[1:-1])
    multi = ~(start[:-1] & start[1:])  # rows in buckets of two or more
    si = (packed[multi] & ((_U64(1) << bits) - _U64(1))).astype(np.int64)
    start = start[:-1][multi]
    gid = np.cumsum(start) - 1
    head = si[np.flatnonzero(start)][gid]
    member = ~start & (si >= first_new)
    out = [(si[member] << 32) | head[member]]
    for d in range(1, WINDOW + 1):
        p = np.flatnonzero(member[d:] & (gid[d:] == gid[:-d])) + d
        p = p[si[p - d] != head[p]]  # the oldest member is already paired
        out.append((si[p] << 32) | si[p - d])
    return np.concatenate(out)


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------

def find_near_duplicates(
    texts: Sequence[str | None],
    ids: Sequence[int],
    threshold: float = DEFAULT_THRESHOLD,
    existing: tuple[Sequence[str | None], Sequence[int]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> list[tuple[int, int, float]]:
    """Near-duplicates among ``texts`` and against ``existing`` items.

    ``texts``/``ids`` are the new rows in import order; ``existing`` is ``(texts, ids)`` of
    items already in the project (older than every new row). Returns ``(id, similar_id,
    similarity)`` for each new row for which an older row (earlier in ``texts``, or existing)
    with exact shingle Jaccard >= ``threshold`` was found (LSH is probabilistic: a pair just
    above the threshold can be missed), one match per new row, sorted by position of the new
    row. Never pairs a row with itself or two rows with the same id. ``progress(done, total)``
    is called as rows are hashed. ``workers`` threads do the numpy work (default: up to 2).
    """
    if len(texts) != len(ids):
        raise InvalidInput(f"near-duplicate check: {len(texts)} texts but {len(ids)} ids; give one id per text")
    if not 0.0 < threshold <= 1.0:
        raise InvalidInput(f"near-duplicate threshold must be in (0, 1], got {threshold}")
    old_texts, old_ids = existing if existing is not None else ([], [])
    if len(old_texts) != len(old_ids):
        raise InvalidInput(f"near-duplicate check: {len(old_texts)} existing texts but {len(old_ids)} ids")
    all_texts: list[str | None] = [*old_texts, *texts]
    all_ids: list[int] = [*old_ids, *ids]
    total, first_new = len(all_texts), len(old_texts)
    if len(texts) == 0 or total < 2:
        if progress:
            progress(total, total)
        return []
    if total >= 2**31:
        raise InvalidInput("near-duplicate check: at most 2**31 rows at once")

    bands, rows = lsh_params(threshold, NUM_PERM)
    n_workers = workers or min(2, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        keys, sig8, nonempty = _hash_all(all_texts, bands, rows, pool, progress)
        codes = _candidates(keys, nonempty, first_new, pool)
        del keys
        # Keep candidates whose estimate is within the margin of the threshold.
        margin = MARGIN_SIGMAS * float(np.sqrt(threshold * (1 - threshold) / NUM_PERM))
        need = int(np.ceil((threshold - margin) * NUM_PERM - 1e-9))
        newer, older, agree = _estimate(sig8, codes, need, pool)
        del sig8, codes
        if len(set(all_ids)) != len(all_ids):  # two rows with one id are the same item: skip
            ids_arr = np.asarray(all_ids)
            keep = ids_arr[newer] != ids_arr[older]
            newer, older, agree = newer[keep], older[keep], agree[keep]
        parts = _check(all_texts, newer, older, agree, threshold, pool, n_workers)
    return _best(all_ids, parts)


def _hash_all(all_texts: Sequence[str | None], bands: int, rows: int, pool: ThreadPoolExecutor,
              progress: Callable[[int, int], None] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Band keys ``(bands, n)``, the low 8 bits of each signature value ``(n, NUM_PERM)`` and
    which texts have shingles, computed chunk by chunk on the pool. 8 bits are enough for the
    estimate: two different values agree by chance 1 time in 256, which raises the expected
    agreement at Jaccard 0.8 from 102.4 to 102.5 of 128 positions."""
    total = len(all_texts)
    keys = np.empty((bands, total), dtype=np.uint64)
    sig8 = np.empty((total, NUM_PERM), dtype=np.uint8)
    nonempty = np.empty(total, dtype=bool)
    scratch = _Scratch()

    def work(span: tuple[int, int]) -> int:
        s, e = span
        sh, counts = _shingle_hashes(all_texts[s:e], scratch)
        sig = _sketch(sh, counts, scratch)
        keys[:, s:e] = _band_keys(sig, bands, rows)
        sig8[s:e] = sig
        nonempty[s:e] = counts > 0
        return e - s

    done = 0
    for n in pool.map(work, _chunks(all_texts)):
        done += n
        if progress:
            progress(done, total)
    return keys, sig8, nonempty


def _candidates(keys: np.ndarray, nonempty: np.ndarray, first_new: int, pool: ThreadPoolExecutor
                ) -> np.ndarray:
    """Distinct candidate pairs from all bands as sorted codes ``newer * 2**32 + older``."""
    live = np.flatnonzero(nonempty)
    codes = np.concatenate(list(pool.map(
        lambda i: _band_pairs(keys[i, live], live, first_new), range(keys.shape[0]))))
    codes.sort()
    return codes[_run_starts(codes)]


def _estimate(sig8: np.ndarray, codes: np.ndarray, need: int, pool: ThreadPoolExecutor
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(newer, older, agreeing positions) of the candidate pairs whose signatures agree on at
    least ``need`` positions, in the order of ``codes``."""
    def part(s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        newer = codes[s:s + _EST_BATCH] >> 32
        older = codes[s:s + _EST_BATCH] & 0xFFFFFFFF
        agree = (sig8[newer] == sig8[older]).sum(axis=1)
        keep = agree >= need
        return newer[keep], older[keep], agree[keep]

    got = list(pool.map(part, range(0, len(codes), _EST_BATCH)))
    empty = np.zeros(0, dtype=np.int64)
    return (np.concatenate([empty, *(g[0] for g in got)]), np.concatenate([empty, *(g[1] for g in got)]),
            np.concatenate([empty, *(g[2] for g in got)]))


def _check(all_texts: Sequence[str | None], newer: np.ndarray, older: np.ndarray, agree: np.ndarray,
           threshold: float, pool: ThreadPoolExecutor, n_workers: int
           ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Verify candidates exactly: each new row's candidates in decreasing estimated similarity,
    in rounds of rank 0, 1, 2-3, 4-7, ...; a row leaves once a round verifies one of them.

    New rows are taken in blocks of about ``_BLOCK_PAIRS`` candidate pairs. Texts are hashed
    when a round first needs them and kept while a later block may still need them, up to
    ``_STORE_SHINGLES`` shingle hashes (beyond that the store is emptied and refilled), so a
    popular older text is not hashed again for every block and round.
    """
    if len(newer) == 0:
        return []
    # Candidates arrive sorted by (newer, older); a stable sort by (newer, -agree) keeps that.
    order = np.argsort((newer << 8) | (NUM_PERM - agree), kind="stable")
    newer, older = newer[order], older[order]
    first_idx = np.flatnonzero(_run_starts(newer))
    rank = np.arange(len(newer)) - np.repeat(first_idx, np.diff(np.append(first_idx, len(newer))))
    # Block starts: the first new row starting at or after every _BLOCK_PAIRS-th pair.
    at = np.searchsorted(first_idx, np.arange(0, len(newer), _BLOCK_PAIRS))
    cuts = np.append(first_idx[at[at < len(first_idx)]], len(newer))
    cuts = cuts[_run_starts(cuts)]
    # The last block that may need each row's text.
    block_of = np.repeat(np.arange(len(cuts) - 1), np.diff(cuts))
    last_use = np.full(len(all_texts), -1, dtype=np.int64)
    np.maximum.at(last_use, older, block_of)
    np.maximum.at(last_use, newer, block_of)
    del block_of
    resolved = np.zeros(len(all_texts), dtype=bool)
    store = _Store(len(all_texts))
    scratch = _Scratch()
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for b, (b0, b1) in enumerate(zip(cuts[:-1].tolist(), cuts[1:].tolist())):
        nw_b, od_b, rank_b = newer[b0:b1], older[b0:b1], rank[b0:b1]
        lo, top = 0, int(rank_b.max())
        while lo <= top:
            sel = np.flatnonzero((rank_b >= lo) & (rank_b < max(1, 2 * lo)) & ~resolved[nw_b])
            lo = max(1, 2 * lo)
            if len(sel) == 0:
                continue
            nw, od = nw_b[sel], od_b[sel]
            need = np.concatenate((nw, od))
            need = need[store.where[need] < 0]
            if len(need):
                need.sort()
                need = need[_run_starts(need)]
                texts = [all_texts[r] for r in need.tolist()]
                store.add(need, list(pool.map(lambda se: _shingle_hashes(texts[se[0]:se[1]], scratch),
                                              _chunks(texts))))
                del texts
            ia, ib = store.where[nw], store.where[od]
            sh, off, cnt = store.sh, store.off, store.cnt
            step = max(2000, min(_VERIFY_BATCH, -(-len(nw) // n_workers)))
            sims = np.concatenate(list(pool.map(
                lambda s: _pair_sims(sh, off[ia[s:s + step]], cnt[ia[s:s + step]],
                                     off[ib[s:s + step]], cnt[ib[s:s + step]]),
                range(0, len(nw), step))))
            ok = sims >= threshold
            parts.append((nw[ok], od[ok], sims[ok]))
            resolved[nw[ok]] = True
        store.drop(last_use[store.rows] <= b)
    return parts


class _Store:
    """Shingle hashes of texts kept for verification: one growing buffer (lowest hash bit
    cleared), each text's slice given by ``off``/``cnt`` at position ``where[row]``."""

    def __init__(self, total: int) -> None:
        self.where = np.full(total, -1, dtype=np.int64)
        self.buf = np.empty(0, dtype=np.uint64)
        self.fill = 0
        self.off = np.empty(0, dtype=np.int64)
        self.cnt = np.empty(0, dtype=np.int64)
        self.rows = np.empty(0, dtype=np.int64)

    @property
    def sh(self) -> np.ndarray:
        return self.buf[:self.fill]

    def add(self, rows: np.ndarray, hashed: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Append the texts of ``rows`` (not stored yet), hashed chunk by chunk."""
        cnt = np.concatenate([h[1] for h in hashed])
        k = int(cnt.sum())
        if self.fill + k > len(self.buf):
            grown = np.empty(max(2 * len(self.buf), self.fill + k), dtype=np.uint64)
            grown[:self.fill] = self.buf[:self.fill]
            self.buf = grown
        start = self.fill
        for sh, _ in hashed:
            self.buf[self.fill:self.fill + len(sh)] = sh
            self.fill += len(sh)
        self.buf[start:self.fill] &= ~_ONE
        self.where[rows] = np.arange(len(self.rows), len(self.rows) + len(rows))
        self.off = np.concatenate((self.off, start + np.cumsum(cnt) - cnt))
        self.cnt = np.concatenate((self.cnt, cnt))
        self.rows = np.concatenate((self.rows, rows))

    def drop(self, dead: np.ndarray) -> None:
        """Forget the texts marked ``dead``; compact when they hold half the buffer or more,
        and empty the store when the rest exceeds half of ``_STORE_SHINGLES``."""
        live_size = int(self.cnt[~dead].sum())
        if live_size > _STORE_SHINGLES // 2:
            dead = np.ones(len(self.rows), dtype=bool)
            live_size = 0
        if 2 * (self.fill - live_size) < self.fill and len(self.buf) <= _STORE_SHINGLES:
            return  # few dead texts: leave them in place until the buffer fills up
        keep = ~dead
        self.where[self.rows] = -1
        off, cnt = self.off[keep], self.cnt[keep]
        first = np.cumsum(cnt) - cnt
        src = np.repeat(off - first, cnt)
        src += np.arange(len(src), dtype=np.int64)
        kept = self.buf[src]
        if len(self.buf) > _STORE_SHINGLES:
            self.buf = np.empty(max(len(kept), _STORE_SHINGLES // 2), dtype=np.uint64)
        self.buf[:len(kept)] = kept
        self.fill = len(kept)
        self.off, self.cnt, self.rows = first, cnt, self.rows[keep]
        self.where[self.rows] = np.arange(len(self.rows))


def _best(all_ids: Sequence[int], parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
          ) -> list[tuple[int, int, float]]:
    """Per new row, its most similar verified older row (ties: the oldest)."""
    if not parts:
        return []
    nw = np.concatenate([p[0] for p in parts])
    od = np.concatenate([p[1] for p in parts])
    sim = np.concatenate([p[2] for p in parts])
    order = np.lexsort((od, -sim, nw))
    nw, od, sim = nw[order], od[order], sim[order]
    first = np.concatenate(([True], nw[1:] != nw[:-1])) if len(nw) else np.zeros(0, dtype=bool)
    return [(all_ids[n], all_ids[o], float(x))
            for n, o, x in zip(nw[first].tolist(), od[first].tolist(), sim[first].tolist())]


_PAD = _U64(0xFFFFFFFFFFFFFFFF)
_ONE = _U64(1)
_VERIFY_CELLS = 1 << 20  # padded shingle slots per verification block (8 MiB)


def _pair_sims(sh: np.ndarray, oa: np.ndarray, ca: np.ndarray, ob: np.ndarray, cb: np.ndarray
               ) -> np.ndarray:
    """Exact Jaccard of the shingle sets ``sh[oa:oa+ca]`` and ``sh[ob:ob+cb]`` of each pair.

    Per pair, one row of a 2-D array holds the newer text's shingle hashes (lowest bit cleared,
    as stored) and the older text's with the lowest bit set (padding: all ones); sorting the
    rows puts equal shingles side by side, so distinct and shared shingles are counted by
    comparing neighbours. Rows are padded to a multiple of 64 and sorted per width, which is
    much faster than one long sort. Shingles are compared by 63 hash bits, so a false match
    needs a 1-in-10^18 collision: exact in practice.
    """
    width = (ca + cb + 63) & ~63
    sim = np.zeros(len(oa))
    order = np.argsort(width, kind="stable")
    bounds = np.flatnonzero(np.diff(width[order])) + 1
    for grp in np.split(order, bounds):
        if len(grp) == 0:
            continue
        w = int(width[grp[0]])
        step = max(1, _VERIFY_CELLS // w)
        for g0 in range(0, len(grp), step):
            p = grp[g0:g0 + step]
            sim[p] = _pair_jaccard(sh, oa[p], ca[p], ob[p], cb[p], w)
    return sim


def _pair_jaccard(sh: np.ndarray, oa: np.ndarray, ca: np.ndarray, ob: np.ndarray, cb: np.ndarray,
                  w: int) -> np.ndarray:
    """Per pair, Jaccard of the sets ``sh[oa:oa+ca]`` and ``sh[ob:ob+cb]`` (hashes with the
    lowest bit cleared), in one ``(pairs, w)`` block."""
    p = len(oa)
    block = np.full((p, w), _PAD, dtype=np.uint64)
    flat = block.reshape(-1)
    row0 = np.arange(0, p * w, w, dtype=np.int64)
    for o, c, dest0, older in ((oa, ca, row0, False), (ob, cb, row0 + ca, True)):
        first = np.cumsum(c) - c
        src = np.repeat(o - first, c)
        src += np.arange(len(src), dtype=np.int64)
        dest = np.repeat(dest0 - o, c)
        dest += src
        v = sh[src]
        if older:
            v |= _ONE
        flat[dest] = v
    block.sort(axis=1)
    # Sorted, (hash, newer) comes right before (hash, older): they differ in the last bit only.
    step = block[:, 1:] ^ block[:, :-1]
    inter = (step == _ONE).sum(axis=1)
    distinct = np.count_nonzero(step, axis=1) + 1  # distinct (hash, side) entries, padding too
    distinct -= (ca + cb) < w
    return inter / np.maximum(distinct - inter, 1)
