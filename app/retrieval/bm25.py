"""An incremental inverted index with rank-bm25's `BM25Okapi` scoring.

Why not `BM25Okapi` itself: its `get_scores` walks every document for every query term
(~200 ms per query at 100k chunks) and it cannot add or remove documents. Here a query
only touches the postings of its own terms, and adds/removes never re-tokenise the rest.

Layout. Every indexed chunk gets a *slot* (an int that is never reused). Postings live
in immutable *segments*, term-major: for each term, the slots containing it and the term
frequency there. Adding chunks builds a new small segment; small segments are merged
(log-structured, like Lucene), and removal marks slots dead until the next compaction.

Scores. Each slot belongs to a *group*: 0 is the shared knowledge, any other int is one
chat's uploads. A search in group g sees groups {0, g}, and corpus statistics (N, average
length, document frequencies) are those of exactly that view, so a chat's ranking is the
ranking BM25Okapi would give over "shared + my uploads".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SHARED = 0

# rank-bm25 gives IDF 0 to a term in exactly half the documents, and in corpora of one or
# two documents every IDF is <= 0 (the epsilon floor is a fraction of a non-positive mean),
# so a chat whose only document is an upload would score everything 0. Terms whose
# rank-bm25 IDF ends up <= 0 get this fraction of the always-positive Lucene IDF instead,
# log(1 + (N - n + 0.5) / (n + 0.5)): small, positive and still lower for commoner terms.
FALLBACK_IDF_SCALE = 0.25


@dataclass(frozen=True, slots=True)
class BM25Params:
    k1: float = 1.2
    b: float = 0.75
    epsilon: float = 0.25
    # False reproduces rank-bm25 exactly, including its small-corpus flaws.
    small_corpus_fix: bool = True


def bm25okapi_idf(df: np.ndarray, n_docs: int, params: BM25Params) -> np.ndarray:
    """IDF per term as BM25Okapi computes it; terms with df == 0 get 0 and are not in the
    vocabulary average."""
    idf = np.zeros(df.shape[0], dtype=np.float64)
    present = df > 0
    if n_docs == 0 or not present.any():
        return idf
    d = df[present].astype(np.float64)
    raw = np.log(n_docs - d + 0.5) - np.log(d + 0.5)
    average = float(raw.mean())
    # IDFs that cancel out leave summation noise (±1e-17) whose sign depends on the order of
    # addition; call it zero so such terms match nothing rather than everything, by chance.
    if abs(average) < 1e-12 * max(1.0, float(np.abs(raw).max())):
        average = 0.0
    raw[raw < 0] = params.epsilon * average
    if params.small_corpus_fix:
        weak = raw <= 0
        if weak.any():
            dw = d[weak]
            raw[weak] = FALLBACK_IDF_SCALE * np.log1p((n_docs - dw + 0.5) / (dw + 0.5))
    idf[present] = raw
    return idf


class _Segment:
    """Immutable term-major postings: for terms[i], slots docs[indptr[i]:indptr[i+1]]."""

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
    def from_pairs(cls, term: np.ndarray, slot: np.ndarray, tf: np.ndarray) -> _Segment:
        """From (term, slot, tf) triples already sorted by (term, slot)."""
        if term.shape[0] == 0:
            empty = np.zeros(0, dtype=np.int32)
            return cls(empty, np.zeros(1, dtype=np.int64), empty, np.zeros(0, np.float32))
        starts = np.flatnonzero(np.diff(term)) + 1
        indptr = np.concatenate(([0], starts, [term.shape[0]])).astype(np.int64)
        terms = term[indptr[:-1]].astype(np.int32)
        return cls(terms, indptr, slot.astype(np.int32), tf.astype(np.float32))

    @classmethod
    def from_tokens(cls, term_ids: np.ndarray, slot_of_token: np.ndarray) -> _Segment:
        key = (term_ids.astype(np.int64) << 32) | slot_of_token.astype(np.int64)
        uniq, counts = np.unique(key, return_counts=True)
        return cls.from_pairs(uniq >> 32, uniq & 0xFFFFFFFF, counts)

    def expanded_terms(self) -> np.ndarray:
        return np.repeat(self.terms, np.diff(self.indptr))

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


def _merge(segments: Sequence[_Segment], alive: np.ndarray) -> _Segment:
    term = np.concatenate([s.expanded_terms() for s in segments])
    slot = np.concatenate([s.docs for s in segments])
    tf = np.concatenate([s.tfs for s in segments])
    keep = alive[slot]
    term, slot, tf = term[keep], slot[keep], tf[keep]
    order = np.lexsort((slot, term))
    return _Segment.from_pairs(term[order], slot[order], tf[order])


@dataclass(slots=True)
class _View:
    stamp: tuple[int, int]
    n_docs: int
    avgdl: float
    idf: np.ndarray


class _Growable:
    """A 1-D numpy array with amortised O(1) append."""

    def __init__(self, dtype: type, fill: object = 0):
        self.data = np.full(1024, fill, dtype=dtype)
        self.size = 0
        self.fill = fill

    def extend(self, values: np.ndarray) -> None:
        need = self.size + values.shape[0]
        if need > self.data.shape[0]:
            bigger = np.full(max(need, 2 * self.data.shape[0]), self.fill, dtype=self.data.dtype)
            bigger[: self.size] = self.data[: self.size]
            self.data = bigger
        self.data[self.size : need] = values
        self.size = need

    def view(self) -> np.ndarray:
        return self.data[: self.size]


class BM25Index:
    """Not thread-safe; the caller serialises mutations against searches."""

    def __init__(self, params: BM25Params | None = None):
        self.params = params or BM25Params()
        self.vocab: dict[str, int] = {}
        self._segments: list[_Segment] = []
        self._doc_len = _Growable(np.float64)
        self._alive = _Growable(np.bool_, False)
        self._group = _Growable(np.int32)
        self._n: Counter[int] = Counter()
        self._total_len: Counter[int] = Counter()
        self._df_shared = np.zeros(0, dtype=np.int64)
        self._df_scoped: dict[int, Counter[int]] = {}
        self._stamp: Counter[int] = Counter()  # bumped on every change to a group
        self._views: dict[int, _View] = {}
        self._dead = 0

    # --- size -------------------------------------------------------------------------
    @property
    def n_slots(self) -> int:
        return self._doc_len.size

    def n_docs(self, group: int | None = None) -> int:
        return self._n[SHARED] if group is None else self._n[group]

    @property
    def vocabulary_size(self) -> int:
        terms = set(np.flatnonzero(self._df_shared).tolist())
        for df in self._df_scoped.values():
            terms.update(df)
        return len(terms)

    @property
    def postings(self) -> int:
        return sum(s.nnz for s in self._segments)

    # --- mutation ---------------------------------------------------------------------
    def _term_ids(self, flat: list[str]) -> np.ndarray:
        vocab = self.vocab
        for t in set(flat).difference(vocab):
            vocab[t] = len(vocab)
        return np.fromiter(map(vocab.__getitem__, flat), dtype=np.int64, count=len(flat))

    def add(self, docs: Sequence[Sequence[str]], group: int = SHARED) -> np.ndarray:
        """Index analysed documents (term lists); returns their new slots."""
        first = self.n_slots
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        slots = np.arange(first, first + len(docs), dtype=np.int64)
        flat = [t for d in docs for t in d]
        term_ids = self._term_ids(flat)
        seg = _Segment.from_tokens(term_ids, np.repeat(slots, lengths))

        self._doc_len.extend(lengths.astype(np.float64))
        self._alive.extend(np.ones(len(docs), dtype=np.bool_))
        self._group.extend(np.full(len(docs), group, dtype=np.int32))
        self._n[group] += len(docs)
        self._total_len[group] += int(lengths.sum())
        self._count_df(seg.expanded_terms(), group, +1)
        if seg.nnz:
            self._segments.append(seg)
            self._merge_small()
        self._stamp[group] += 1
        return slots

    def remove(self, slots: np.ndarray) -> None:
        slots = np.asarray(slots, dtype=np.int64)
        alive = self._alive.view()
        slots = slots[alive[slots]]
        if slots.shape[0] == 0:
            return
        groups = self._group.view()[slots]
        dead = np.zeros(self.n_slots, dtype=np.bool_)
        dead[slots] = True
        for seg in self._segments:
            mask = dead[seg.docs]
            if mask.any():
                terms = seg.expanded_terms()[mask]
                for g in np.unique(groups):
                    in_g = self._group.view()[seg.docs[mask]] == g
                    self._count_df(terms[in_g], int(g), -1)
        lengths = self._doc_len.view()[slots]
        for g in np.unique(groups):
            sel = groups == g
            self._n[int(g)] -= int(sel.sum())
            self._total_len[int(g)] -= int(lengths[sel].sum())
            self._stamp[int(g)] += 1
        alive[slots] = False
        self._dead += int(slots.shape[0])
        if self._dead > 1000 and self._dead * 4 > self.n_slots:
            self.compact()

    def drop_group(self, group: int) -> None:
        self.remove(np.flatnonzero(self._group.view() == group))
        self._df_scoped.pop(group, None)
        self._views.pop(group, None)

    def compact(self) -> None:
        if self._segments:
            self._segments = [_merge(self._segments, self._alive.view())]
        self._dead = 0

    def _count_df(self, expanded_terms: np.ndarray, group: int, sign: int) -> None:
        if group == SHARED:
            if self._df_shared.shape[0] < len(self.vocab):
                grown = np.zeros(max(len(self.vocab), 2 * self._df_shared.shape[0]), np.int64)
                grown[: self._df_shared.shape[0]] = self._df_shared
                self._df_shared = grown
            counts = np.bincount(expanded_terms, minlength=0)
            self._df_shared[: counts.shape[0]] += sign * counts
            return
        df = self._df_scoped.setdefault(group, Counter())
        ids, counts = np.unique(expanded_terms, return_counts=True)
        for t, c in zip(ids.tolist(), counts.tolist(), strict=True):
            df[t] += sign * c
            if df[t] <= 0:
                del df[t]

    def _merge_small(self) -> None:
        segs = self._segments
        while len(segs) >= 2 and segs[-2].nnz <= 4 * segs[-1].nnz:
            tail = _merge(segs[-2:], self._alive.view())
            segs[-2:] = [tail]

    # --- search -----------------------------------------------------------------------
    def _view(self, group: int) -> _View:
        stamp = (self._stamp[SHARED], self._stamp[group] if group != SHARED else 0)
        view = self._views.get(group)
        if view is not None and view.stamp == stamp:
            return view
        n_docs = self._n[SHARED] + (self._n[group] if group != SHARED else 0)
        total = self._total_len[SHARED] + (self._total_len[group] if group != SHARED else 0)
        df = np.zeros(len(self.vocab), dtype=np.int64)
        df[: self._df_shared.shape[0]] = self._df_shared[: len(self.vocab)]
        if group != SHARED and self._df_scoped.get(group):
            scoped = self._df_scoped[group]
            ids = np.fromiter(scoped.keys(), dtype=np.int64, count=len(scoped))
            df[ids] += np.fromiter(scoped.values(), dtype=np.int64, count=len(scoped))
        view = _View(
            stamp=stamp,
            n_docs=n_docs,
            avgdl=total / n_docs if n_docs else 0.0,
            idf=bm25okapi_idf(df, n_docs, self.params),
        )
        self._views[group] = view
        return view

    def idf(self, term: str, group: int = SHARED) -> float:
        tid = self.vocab.get(term)
        idf = self._view(group).idf
        return 0.0 if tid is None or tid >= idf.shape[0] else float(idf[tid])

    def search(
        self, query: Sequence[str], k: int, group: int = SHARED
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (slots, scores) with score > 0, best first; ties go to the lower slot.

        Duplicate query terms count once per occurrence, as in BM25Okapi.get_scores.
        """
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))
        counts = Counter(t for t in query if t in self.vocab)
        if k <= 0 or not counts:
            return empty
        view = self._view(group)
        if view.n_docs == 0:
            return empty
        qids = np.fromiter((self.vocab[t] for t in counts), dtype=np.int64, count=len(counts))
        qweight = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        # Another chat's upload can grow the shared vocabulary without touching this group's
        # statistics; terms newer than this view occur in none of its documents.
        known = qids < view.idf.shape[0]
        if not known.all():
            qids, qweight = qids[known], qweight[known]
            if qids.shape[0] == 0:
                return empty
        qweight *= view.idf[qids]

        docs_parts, tf_parts, w_parts = [], [], []
        for seg in self._segments:
            which, starts, ends = seg.lookup(qids)
            for i, s, e in zip(which.tolist(), starts.tolist(), ends.tolist(), strict=True):
                docs_parts.append(seg.docs[s:e])
                tf_parts.append(seg.tfs[s:e])
                w_parts.append(np.full(e - s, qweight[i]))
        if not docs_parts:
            return empty
        docs = np.concatenate(docs_parts)
        tf = np.concatenate(tf_parts).astype(np.float64)
        w = np.concatenate(w_parts)

        visible = self._alive.data[docs]
        grp = self._group.data[docs]
        visible &= (grp == SHARED) | (grp == group)
        docs, tf, w = docs[visible], tf[visible], w[visible]
        if docs.shape[0] == 0:
            return empty

        p = self.params
        dl = self._doc_len.data[docs]
        contrib = w * (tf * (p.k1 + 1) / (tf + p.k1 * (1 - p.b + p.b * dl / view.avgdl)))
        cand, inverse = np.unique(docs, return_inverse=True)
        scores = np.bincount(inverse, weights=contrib, minlength=cand.shape[0])
        positive = scores > 0
        cand, scores = cand[positive], scores[positive]
        if cand.shape[0] > k:
            top = np.argpartition(-scores, k - 1)[:k]
            cand, scores = cand[top], scores[top]
        order = np.lexsort((cand, -scores))
        return cand[order].astype(np.int64), scores[order]
