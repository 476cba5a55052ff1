"""Immutable term-major postings segments, and the ways new segments are made from old.

A segment holds, for each of its terms (ascending), the slots containing it (ascending)
and the term frequency there. Segments never change after construction, so a search
can read one while a writer builds its replacement.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

# Chunks are a few hundred tokens; a frequency above this is clipped (BM25 has long since
# saturated), so two bytes per posting are enough.
MAX_TF = 2**14 - 1
# Merges work on term ranges holding about this many postings, so their temporaries stay
# small however large the segments are, and no single numpy call holds the GIL for long.
MERGE_BLOCK = 2_000_000
_SLOT_BITS = 30  # packed sort keys: (local term, slot, tf) in one int64
_TF_BITS = 14


class Segment:
    """For terms[i]: slots docs[indptr[i]:indptr[i+1]] with frequencies tfs[...]."""

    __slots__ = ("docs", "indptr", "terms", "tfs")

    def __init__(self, terms: np.ndarray, indptr: np.ndarray, docs: np.ndarray, tfs: np.ndarray):
        self.terms = terms
        self.indptr = indptr
        self.docs = docs
        self.tfs = tfs

    @property
    def nnz(self) -> int:
        return int(self.docs.shape[0])

    @classmethod
    def empty(cls) -> Segment:
        none = np.zeros(0, dtype=np.int32)
        return cls(none, np.zeros(1, dtype=np.int64), none, np.zeros(0, dtype=np.uint16))

    @classmethod
    def from_sorted(cls, term: np.ndarray, slot: np.ndarray, tf: np.ndarray) -> Segment:
        """From one (term, slot, tf) triple per posting, sorted by (term, slot)."""
        if term.shape[0] == 0:
            return cls.empty()
        starts = np.flatnonzero(term[1:] != term[:-1]) + 1
        indptr = np.concatenate(([0], starts, [term.shape[0]])).astype(np.int64)
        tfs = np.minimum(tf, MAX_TF).astype(np.uint16)
        return cls(term[indptr[:-1]].astype(np.int32), indptr, slot.astype(np.int32), tfs)

    @classmethod
    def from_tokens(cls, term_ids: np.ndarray, slot_of_token: np.ndarray) -> Segment:
        """From one (term id, slot) pair per token occurrence."""
        if term_ids.shape[0] == 0:
            return cls.empty()
        key = term_ids.astype(np.int64, copy=True)
        key <<= 32
        key |= slot_of_token
        key.sort()
        edges = np.flatnonzero(key[1:] != key[:-1]) + 1
        starts = np.concatenate(([0], edges))
        counts = np.diff(np.append(starts, key.shape[0]))
        uniq = key[starts]
        return cls.from_sorted(uniq >> 32, uniq & 0xFFFFFFFF, counts)

    def expanded_terms(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """The term of every posting of terms[lo:hi]."""
        hi = self.terms.shape[0] if hi is None else hi
        return np.repeat(self.terms[lo:hi], np.diff(self.indptr[lo : hi + 1]))

    def df(self) -> tuple[np.ndarray, np.ndarray]:
        """(terms, number of slots holding each) — every slot, dead or alive."""
        return self.terms, np.diff(self.indptr)

    def lookup(self, term_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(which query terms are present, their posting starts, their posting ends)."""
        n = self.terms.shape[0]
        if n == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        pos = np.searchsorted(self.terms, term_ids)
        clipped = np.minimum(pos, n - 1)
        hit = (pos < n) & (self.terms[clipped] == term_ids)
        which = np.flatnonzero(hit)
        p = pos[which]
        return which, self.indptr[p], self.indptr[p + 1]


def _term_blocks(segments: Sequence[Segment]) -> list[tuple[int, int]]:
    """Consecutive term-id ranges [lo, hi) holding about MERGE_BLOCK postings each, each
    spanning at most 2**19 ids (the local term id's share of the packed key)."""
    live = [s for s in segments if s.terms.shape[0]]
    if not live:
        return []
    first = min(int(s.terms[0]) for s in live)
    top = max(int(s.terms[-1]) for s in live) + 1
    span = 1 << 19
    if sum(s.nnz for s in live) <= MERGE_BLOCK and top - first <= span:
        return [(first, top)]
    counts = np.zeros(top - first, dtype=np.int64)
    for s in live:
        counts[s.terms - first] += np.diff(s.indptr)
    cum = np.cumsum(counts)
    bounds = [0]
    while bounds[-1] < top - first:
        lo = bounds[-1]
        base = cum[lo - 1] if lo else 0
        hi = int(np.searchsorted(cum, base + MERGE_BLOCK, side="right"))
        bounds.append(min(top - first, max(hi, lo + 1), lo + span))
    return [(first + a, first + b) for a, b in itertools.pairwise(bounds)]


def _block(
    segments: Sequence[Segment], lo: int, hi: int, keep_slot: np.ndarray, new_slot: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The merged (term, slot, tf) postings of terms [lo, hi), dead slots dropped."""
    parts = []
    for s in segments:
        a, b = np.searchsorted(s.terms, [lo, hi])
        if a == b:
            continue
        p, q = s.indptr[a], s.indptr[b]
        docs = s.docs[p:q]
        keep = keep_slot[docs]
        term = (s.expanded_terms(a, b) - lo).astype(np.int64)[keep]
        slot = new_slot[docs[keep]].astype(np.int64)
        parts.append((term << (_SLOT_BITS + _TF_BITS)) | (slot << _TF_BITS) | s.tfs[p:q][keep])
    if not parts:
        none = np.zeros(0, dtype=np.int64)
        return none, none, none
    key = np.sort(np.concatenate(parts))
    term = (key >> (_SLOT_BITS + _TF_BITS)) + lo
    slot = (key >> _TF_BITS) & ((1 << _SLOT_BITS) - 1)
    return term, slot, key & MAX_TF


def _slot_ordered(segments: Sequence[Segment]) -> bool:
    """Each segment's slots all come after the previous segment's (appends, no reuse)."""
    last = -1
    for s in segments:
        if s.nnz:
            lo, hi = int(s.docs.min()), int(s.docs.max())
            if lo <= last:
                return False
            last = hi
    return True


def concat(segments: Sequence[Segment]) -> Segment:
    """Merge slot-ordered segments without sorting: each term's list in the result is its
    lists in the inputs, one after another, so every posting is copied once into place."""
    terms = np.unique(np.concatenate([s.terms for s in segments]))
    counts = np.zeros(terms.shape[0], dtype=np.int64)
    where = [np.searchsorted(terms, s.terms) for s in segments]
    for s, loc in zip(segments, where, strict=True):
        counts[loc] += np.diff(s.indptr)
    indptr = np.concatenate(([0], np.cumsum(counts)))
    fill = indptr[:-1].copy()  # the next free position in each term's list
    docs = np.empty(int(indptr[-1]), dtype=np.int32)
    tfs = np.empty(int(indptr[-1]), dtype=np.uint16)
    for s, loc in zip(segments, where, strict=True):
        lengths = np.diff(s.indptr)
        for lo, hi in _index_blocks(s.indptr):
            shift = np.repeat(fill[loc[lo:hi]] - s.indptr[lo:hi], lengths[lo:hi])
            p, q = int(s.indptr[lo]), int(s.indptr[hi])
            dest = shift + np.arange(p, q)
            docs[dest] = s.docs[p:q]
            tfs[dest] = s.tfs[p:q]
        fill[loc] += lengths
    return Segment(terms.astype(np.int32), indptr, docs, tfs)


def _index_blocks(indptr: np.ndarray) -> list[tuple[int, int]]:
    """Term-index ranges [lo, hi) of one segment holding about MERGE_BLOCK postings each."""
    n = indptr.shape[0] - 1
    bounds = np.searchsorted(indptr, np.arange(0, int(indptr[-1]), MERGE_BLOCK), side="right") - 1
    edges = sorted({0, n, *bounds.tolist()})
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def merge(
    segments: Sequence[Segment],
    keep_slot: np.ndarray,
    new_slot: np.ndarray | None = None,
    new_term: np.ndarray | None = None,
) -> Segment:
    """One segment with the postings of `segments` whose slot is kept.

    new_slot / new_term renumber slots and terms; both must be increasing on what is kept,
    so that a renumbered segment is still sorted.
    """
    if new_slot is None:
        new_slot = np.arange(keep_slot.shape[0], dtype=np.int64)
    if new_slot.shape[0] and int(new_slot.max()) >= 1 << _SLOT_BITS:
        raise ValueError("too many slots for one index")
    total = sum(s.nnz for s in segments)
    out_term = np.empty(total, dtype=np.int32)
    out_slot = np.empty(total, dtype=np.int32)
    out_tf = np.empty(total, dtype=np.uint16)
    n = 0
    for lo, hi in _term_blocks(segments):
        term, slot, tf = _block(segments, lo, hi, keep_slot, new_slot)
        m = term.shape[0]
        out_term[n : n + m] = term if new_term is None else new_term[term]
        out_slot[n : n + m] = slot
        out_tf[n : n + m] = tf
        n += m
    return Segment.from_sorted(out_term[:n], out_slot[:n].copy(), out_tf[:n])


def tiered(segments: list[Segment], keep_slot: np.ndarray, fanout: int = 4) -> list[Segment]:
    """Merge the newest segments while the last `fanout` are of one size class.

    Size classes grow by `fanout`, so every posting is rewritten about log_fanout(N / batch)
    times and a stream of small additions stays a handful of segments.
    """
    segs = list(segments)

    def size_class(s: Segment) -> int:
        return int(np.log(max(s.nnz, 1)) / np.log(fanout))

    while len(segs) >= fanout:
        tail = segs[-fanout:]
        if size_class(tail[0]) > size_class(tail[-1]):
            break
        clean = all(bool(keep_slot[s.docs].all()) for s in tail) and _slot_ordered(tail)
        merged = concat(tail) if clean else merge(tail, keep_slot)
        segs[-fanout:] = [merged] if merged.nnz else []
    return segs
