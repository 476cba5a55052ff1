"""Exact top-k BM25 over a set of segments, with MaxScore pruning.

Query terms are taken in order of their largest possible contribution (weight x (k1+1)).
Before reading a long posting list, the search checks whether the terms still unread
could lift any document past the current k-th best partial score; if not, documents
found so far are finished by looking their slots up in the remaining lists (binary
search) and everything else is skipped. With all weights positive the result is exactly
the exhaustive top-k; with any weight <= 0 nothing is pruned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.retrieval.segments import Segment

# Only stop to check the bound before a list worth skipping.
PRUNE_FROM = 4096
# Relative slack on bounds, far above float summation error, far below any real gap.
_SLACK = 1e-9


@dataclass(frozen=True, slots=True)
class Corpus:
    """What a search reads: postings and per-slot arrays of one snapshot."""

    segments: Sequence[Segment]
    doc_len: np.ndarray  # int32 per slot
    owner: np.ndarray  # group per slot, negative once removed
    n_slots: int
    clean: bool  # every slot alive and shared: no visibility filter needed


@dataclass(frozen=True, slots=True)
class Weights:
    k1: float
    b: float
    avgdl: float


def _ranges(corpus: Corpus, qids: np.ndarray) -> list[list[tuple[Segment, int, int]]]:
    per_term: list[list[tuple[Segment, int, int]]] = [[] for _ in range(qids.shape[0])]
    for seg in corpus.segments:
        which, starts, ends = seg.lookup(qids)
        for i, s, e in zip(which.tolist(), starts.tolist(), ends.tolist(), strict=True):
            per_term[i].append((seg, s, e))
    return per_term


def _tf_part(tf: np.ndarray, dl: np.ndarray, p: Weights) -> np.ndarray:
    tf = tf.astype(np.float64)
    return tf * (p.k1 + 1) / (tf + p.k1 * (1 - p.b + p.b * dl / p.avgdl))


def _visible(corpus: Corpus, docs: np.ndarray, group: int) -> np.ndarray:
    own = corpus.owner[docs]
    return (own == 0) | (own == group)


class _Accumulator:
    """Partial scores in a dense array, plus which slots have been touched."""

    def __init__(self, corpus: Corpus, group: int, p: Weights):
        self.corpus, self.group, self.p = corpus, group, p
        self.acc = np.zeros(corpus.n_slots, dtype=np.float64)
        self.touched: list[np.ndarray] = []
        self.volume = 0

    def add_list(self, seg: Segment, s: int, e: int, weight: float) -> None:
        docs, tf = seg.docs[s:e], seg.tfs[s:e]
        if not self.corpus.clean:
            keep = _visible(self.corpus, docs, self.group)
            docs, tf = docs[keep], tf[keep]
        # A slot appears once per posting list, so fancy-index += adds each exactly once.
        self.acc[docs] += weight * _tf_part(tf, self.corpus.doc_len[docs], self.p)
        self.touched.append(docs)
        self.volume += docs.shape[0]

    def candidates(self) -> np.ndarray:
        if self.volume * 8 > self.corpus.n_slots:
            return np.flatnonzero(self.acc)
        if not self.touched:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate(self.touched))


def _kth(scores: np.ndarray, k: int) -> float:
    if scores.shape[0] < k:
        return -np.inf
    return float(np.partition(scores, scores.shape[0] - k)[scores.shape[0] - k])


def _finish(
    cand: np.ndarray,
    scores: np.ndarray,
    rest: list[tuple[float, list[tuple[Segment, int, int]]]],
    corpus: Corpus,
    p: Weights,
) -> np.ndarray:
    """Add the contributions of the unread terms to candidates (sorted slots)."""
    scores = scores.copy()
    dl = corpus.doc_len[cand]
    for weight, ranges in rest:
        for seg, s, e in ranges:
            docs = seg.docs[s:e]
            pos = np.minimum(np.searchsorted(docs, cand), e - s - 1)
            hit = np.flatnonzero(docs[pos] == cand)
            if hit.shape[0]:
                tf = seg.tfs[s:e][pos[hit]]
                scores[hit] += weight * _tf_part(tf, dl[hit], p)
    return scores


def _top(cand: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    positive = scores > 0
    cand, scores = cand[positive], scores[positive]
    if cand.shape[0] > k:
        # Keep every slot tied with the k-th score, so the tie goes to the lowest slot
        # rather than to whichever argpartition happened to put first.
        kth = np.partition(scores, cand.shape[0] - k)[cand.shape[0] - k]
        top = scores >= kth
        cand, scores = cand[top], scores[top]
    order = np.lexsort((cand, -scores))[:k]
    return cand[order].astype(np.int64), scores[order]


def top_k(
    corpus: Corpus,
    qids: np.ndarray,
    weights: np.ndarray,
    k: int,
    group: int,
    p: Weights,
    *,
    prune: bool = True,
    prune_from: int = PRUNE_FROM,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (slots, scores) with score > 0, best first, ties to the lower slot.

    prune_from: the fewest unread postings worth checking the bound for (0: check before
    every term, which tests use to exercise pruning on small corpora).
    """
    per_term = _ranges(corpus, qids)
    order = np.argsort(-weights, kind="stable").tolist()
    lengths = [sum(e - s for _, s, e in per_term[i]) for i in order]
    bound = weights[order] * (p.k1 + 1)
    rest_bound = np.cumsum(bound[::-1])[::-1]  # most the terms order[j:] can add
    prune = prune and bool((weights > 0).all())
    acc = _Accumulator(corpus, group, p)
    for j, ti in enumerate(order):
        rest_volume = sum(lengths[j:])
        worth = prune_from == 0 or rest_volume > max(prune_from, 2 * acc.volume)
        if prune and j and worth:
            cand = acc.candidates()
            partial = acc.acc[cand]
            theta = _kth(partial, k)
            limit = rest_bound[j] * (1 + _SLACK)
            if limit < theta * (1 - _SLACK):
                keep = partial + limit >= theta * (1 - _SLACK)
                cand, partial = cand[keep], partial[keep]
                rest = [(float(weights[i]), per_term[i]) for i in order[j:]]
                return _top(cand, _finish(cand, partial, rest, corpus, p), k)
        for seg, s, e in per_term[ti]:
            acc.add_list(seg, s, e, float(weights[ti]))
    cand = acc.candidates()
    return _top(cand, acc.acc[cand], k)
