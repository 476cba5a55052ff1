"""An incremental inverted index with rank-bm25's `BM25Okapi` scoring.

Why not `BM25Okapi` itself: its `get_scores` walks every document for every query term
(~200 ms per query at 100k chunks) and it cannot add or remove documents. Here a query
only touches the postings of its own terms (and with MaxScore pruning, often only part
of them), and adds/removes never re-tokenise the rest.

Layout. Every indexed chunk gets a *slot*. Postings live in immutable segments
(segments.py); adding chunks builds a new segment, small segments are merged in tiers,
removal marks slots dead, and compaction renumbers the live slots and terms densely once
dead slots dominate, so memory follows what is alive.

Snapshots. Every change publishes a new immutable `Snapshot` with one assignment; a
search reads whichever snapshot was current when it started and never waits for a
writer. Per-slot arrays are shared between snapshots where that is safe (appends write
past an older snapshot's end) and copied where it is not (marking slots dead).

Scores. Each slot belongs to a *group*: 0 is the shared knowledge, any other int is one
chat's uploads. A search in group g sees groups {0, g}, and corpus statistics (N, average
length, document frequencies) are those of exactly that view, so a chat's ranking is the
ranking BM25Okapi would give over "shared + my uploads".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from app.retrieval.scoring import PRUNE_FROM, Corpus, Weights, top_k
from app.retrieval.segments import Segment, merge, tiered
from app.retrieval.termids import TermEncoder

SHARED = 0
DEAD = -1

# rank-bm25 gives IDF 0 to a term in exactly half the documents, and in corpora of one or
# two documents every IDF is <= 0 (the epsilon floor is a fraction of a non-positive mean),
# so a chat whose only document is an upload would score everything 0. Terms whose
# rank-bm25 IDF ends up <= 0 get this fraction of the always-positive Lucene IDF instead,
# log(1 + (N - n + 0.5) / (n + 0.5)): small, positive and still lower for commoner terms.
FALLBACK_IDF_SCALE = 0.25

# Compact when at least this many slots are dead and they are a quarter of all slots.
COMPACT_MIN_DEAD = 1000
# ... or when at least this many terms, and a quarter of the vocabulary, are used nowhere.
COMPACT_MIN_TERMS = 20_000


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


@dataclass(slots=True)
class _View:
    n_docs: int
    avgdl: float
    idf: np.ndarray


class _Growable:
    """A 1-D array with amortised O(1) append. Appends write past every earlier `view()`,
    so views handed out before stay valid and unchanged."""

    def __init__(self, dtype: type, fill: object = 0, data: np.ndarray | None = None):
        self.fill = fill
        self.data = np.full(1024, fill, dtype=dtype) if data is None else data
        self.size = 0 if data is None else data.shape[0]

    def extend(self, values: np.ndarray) -> None:
        need = self.size + values.shape[0]
        if need > self.data.shape[0]:
            bigger = np.full(max(need, 2 * self.data.shape[0]), self.fill, dtype=self.data.dtype)
            bigger[: self.size] = self.data[: self.size]
            self.data = bigger
        self.data[self.size : need] = values
        self.size = need

    def writable_copy(self) -> np.ndarray:
        """Replace the buffer by a copy (older views keep the old one) and return it."""
        self.data = self.data.copy()
        return self.data[: self.size]

    def view(self) -> np.ndarray:
        return self.data[: self.size]


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    """One immutable state of the index. `views` is a cache filled on first use."""

    params: BM25Params
    vocab: dict[str, int]  # shared and append-only; ids >= n_terms are not in this snapshot
    n_terms: int
    segments: tuple[Segment, ...]
    doc_len: np.ndarray
    owner: np.ndarray  # group per slot, DEAD once removed
    tag: np.ndarray  # the caller's label per slot
    groups: dict[int, tuple[int, int]]  # group -> (documents, total length)
    df_shared: np.ndarray  # document frequency in the shared group, per term id
    df_scoped: dict[int, dict[int, int]]  # group -> term id -> document frequency
    dead: int
    views: dict[int, _View] = field(default_factory=dict)

    @property
    def n_slots(self) -> int:
        return int(self.owner.shape[0])

    def n_docs(self, group: int = SHARED) -> int:
        return self.groups.get(group, (0, 0))[0]

    @property
    def postings(self) -> int:
        return sum(s.nnz for s in self.segments)

    @property
    def vocabulary_size(self) -> int:
        terms = set(np.flatnonzero(self.df_shared).tolist())
        for df in self.df_scoped.values():
            terms.update(df)
        return len(terms)

    def view(self, group: int) -> _View:
        view = self.views.get(group)
        if view is not None:
            return view
        n_docs, total = self.groups.get(SHARED, (0, 0))
        df = np.zeros(self.n_terms, dtype=np.int64)
        df[: min(self.n_terms, self.df_shared.shape[0])] = self.df_shared[: self.n_terms]
        if group != SHARED:
            n, t = self.groups.get(group, (0, 0))
            n_docs, total = n_docs + n, total + t
            scoped = self.df_scoped.get(group, {})
            if scoped:
                ids = np.fromiter(scoped.keys(), dtype=np.int64, count=len(scoped))
                df[ids] += np.fromiter(scoped.values(), dtype=np.int64, count=len(scoped))
        idf = bm25okapi_idf(df, n_docs, self.params)
        view = _View(n_docs, total / n_docs if n_docs else 0.0, idf)
        self.views[group] = view  # a racing search may compute the same view; either wins
        return view

    def corpus(self) -> Corpus:
        clean = self.dead == 0 and all(g == SHARED or n == 0 for g, (n, _) in self.groups.items())
        return Corpus(self.segments, self.doc_len, self.owner, self.n_slots, clean)


def _empty_snapshot(params: BM25Params, vocab: dict[str, int]) -> Snapshot:
    none32 = np.zeros(0, dtype=np.int32)
    none64 = np.zeros(0, dtype=np.int64)
    return Snapshot(params, vocab, 0, (), none32, none32, none64, {}, none64, {}, 0)


def search(
    snap: Snapshot,
    query: Sequence[str],
    k: int,
    group: int = SHARED,
    *,
    prune: bool = True,
    prune_from: int = PRUNE_FROM,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (slots, scores) with score > 0, best first; ties go to the lower slot.

    Duplicate query terms count once per occurrence, as in BM25Okapi.get_scores.
    """
    return search_weighted(snap, Counter(query), k, group, prune=prune, prune_from=prune_from)


def search_weighted(
    snap: Snapshot,
    query: Mapping[str, float],
    k: int,
    group: int = SHARED,
    *,
    prune: bool = True,
    prune_from: int = PRUNE_FROM,
) -> tuple[np.ndarray, np.ndarray]:
    """`search` with a weight per query term instead of a count (query expansion)."""
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))
    vocab = snap.vocab
    pairs = zip(map(vocab.get, query), query.values(), strict=True)
    found = [(tid, w) for tid, w in pairs if tid is not None]
    if k <= 0 or not found:
        return empty
    view = snap.view(group)
    if view.n_docs == 0:
        return empty
    qids = np.fromiter((t for t, _ in found), dtype=np.int64, count=len(found))
    qweight = np.fromiter((w for _, w in found), dtype=np.float64, count=len(found))
    # Terms added after this view was computed (another chat's upload, or a writer that
    # is adding right now) occur in none of its documents.
    known = qids < view.idf.shape[0]
    qids, qweight = qids[known], qweight[known]
    weights = qweight * view.idf[qids]
    useful = weights != 0  # a zero weight adds nothing to any score
    if not useful.any():
        return empty
    p = snap.params
    return top_k(
        snap.corpus(),
        qids[useful],
        weights[useful],
        k,
        group,
        Weights(p.k1, p.b, view.avgdl),
        prune=prune,
        prune_from=prune_from,
    )


class BM25Index:
    """The writer side. One mutation at a time (callers serialise them); `search` and
    `snapshot()` may be called from any thread at any time and never wait."""

    def __init__(self, params: BM25Params | None = None):
        self.params = params or BM25Params()
        self._reset({})

    def _reset(self, vocab: dict[str, int]) -> None:
        self._vocab = vocab
        self._encoder = TermEncoder(vocab)
        self._doc_len = _Growable(np.int32)
        self._owner = _Growable(np.int32, DEAD)
        self._tag = _Growable(np.int64, -1)
        self._snap = _empty_snapshot(self.params, vocab)

    # --- reading ------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return self._snap

    @property
    def vocab(self) -> dict[str, int]:
        return self._vocab

    @property
    def encoder(self) -> TermEncoder:
        """Text to this index's term ids (adds new terms to the vocabulary)."""
        return self._encoder

    @property
    def n_slots(self) -> int:
        return self._snap.n_slots

    def n_docs(self, group: int | None = None) -> int:
        return self._snap.n_docs(SHARED if group is None else group)

    @property
    def vocabulary_size(self) -> int:
        return self._snap.vocabulary_size

    @property
    def postings(self) -> int:
        return self._snap.postings

    @property
    def _segments(self) -> tuple[Segment, ...]:
        return self._snap.segments

    def idf(self, term: str, group: int = SHARED) -> float:
        snap = self._snap
        tid = snap.vocab.get(term)
        idf = snap.view(group).idf
        return 0.0 if tid is None or tid >= idf.shape[0] else float(idf[tid])

    def search(
        self, query: Sequence[str], k: int, group: int = SHARED, **options: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """`search` on the current snapshot; options: prune, prune_from."""
        return search(self._snap, query, k, group, **options)

    # --- adding -------------------------------------------------------------------------
    def add(
        self, docs: Sequence[Sequence[str]], group: int = SHARED, tags: np.ndarray | None = None
    ) -> np.ndarray:
        """Index analysed documents (term lists); returns their new slots."""
        ids, lengths = self._encoder.encode_terms(docs)
        return self.add_ids(ids, lengths, group, tags)

    def add_joined(
        self, docs: Sequence[str], group: int = SHARED, tags: np.ndarray | None = None
    ) -> np.ndarray:
        """Index documents given as their terms joined by spaces."""
        ids, lengths = self._encoder.encode_joined(docs)
        return self.add_ids(ids, lengths, group, tags)

    def add_texts(
        self, texts: Sequence[str], group: int = SHARED, tags: np.ndarray | None = None
    ) -> np.ndarray:
        """Analyse and index raw texts, without materialising their term lists."""
        ids, lengths = self._encoder.encode(texts)
        return self.add_ids(ids, lengths, group, tags)

    def add_ids(
        self,
        term_ids: np.ndarray,
        lengths: np.ndarray,
        group: int = SHARED,
        tags: np.ndarray | None = None,
    ) -> np.ndarray:
        """Index documents given as their concatenated term ids and their lengths."""
        old = self._snap
        n = int(lengths.shape[0])
        first = self._owner.size
        slots = np.arange(first, first + n, dtype=np.int64)
        seg = Segment.from_tokens(term_ids, np.repeat(slots, lengths))
        self._doc_len.extend(lengths.astype(np.int32))
        self._owner.extend(np.full(n, group, dtype=np.int32))
        self._tag.extend(np.full(n, -1, dtype=np.int64) if tags is None else tags)
        groups = dict(old.groups)
        d, t = groups.get(group, (0, 0))
        groups[group] = (d + n, t + int(lengths.sum()))
        df_shared, df_scoped = self._count_df(old, group, *seg.df(), sign=1)
        segments = [*old.segments, seg] if seg.nnz else list(old.segments)
        segments = tiered(segments, self._owner.view() != DEAD)
        self._publish(
            {group},
            segments=tuple(segments),
            groups=groups,
            df_shared=df_shared,
            df_scoped=df_scoped,
        )
        return slots

    def _count_df(
        self, old: Snapshot, group: int, terms: np.ndarray, counts: np.ndarray, sign: int
    ) -> tuple[np.ndarray, dict[int, dict[int, int]]]:
        """New (df_shared, df_scoped) after documents of `group` holding `terms` (unique,
        each in `counts` of them) come or go."""
        if group == SHARED:
            df = np.zeros(len(self._vocab), dtype=np.int64)
            df[: old.df_shared.shape[0]] = old.df_shared
            df[terms] += sign * counts
            return df, old.df_scoped
        scoped = dict(old.df_scoped)
        mine = dict(scoped.get(group, {}))
        for t, c in zip(terms.tolist(), counts.tolist(), strict=True):
            left = mine.get(t, 0) + sign * c
            if left > 0:
                mine[t] = left
            else:
                mine.pop(t, None)
        scoped[group] = mine
        return old.df_shared, scoped

    def _publish(self, changed: set[int], **fields: object) -> None:
        old = self._snap
        # Statistics of untouched groups are unchanged, so their cached IDFs still hold.
        keep = {} if SHARED in changed else {g: v for g, v in old.views.items() if g not in changed}
        self._snap = replace(
            old,
            n_terms=len(self._vocab),
            doc_len=self._doc_len.view(),
            owner=self._owner.view(),
            tag=self._tag.view(),
            views=keep,
            **fields,  # type: ignore[arg-type]
        )

    # --- removing -----------------------------------------------------------------------
    def remove(self, slots: np.ndarray) -> None:
        """Remove documents by slot, all in one step (one scan of the postings)."""
        old = self._snap
        slots = np.asarray(slots, dtype=np.int64)
        now = self._owner.view()
        slots = np.unique(slots[now[slots] != DEAD])
        if slots.shape[0] == 0:
            return
        owner_of = now[slots]
        removed = _removed_df(old.segments, slots, now)
        owner = self._owner.writable_copy()
        owner[slots] = DEAD
        groups = dict(old.groups)
        df_shared, df_scoped = old.df_shared, old.df_scoped
        lengths = self._doc_len.view()[slots].astype(np.int64)
        for g in np.unique(owner_of).tolist():
            sel = owner_of == g
            d, t = groups.get(g, (0, 0))
            groups[g] = (d - int(sel.sum()), t - int(lengths[sel].sum()))
            terms, counts = removed.get(g, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
            interim = replace(old, df_shared=df_shared, df_scoped=df_scoped)
            df_shared, df_scoped = self._count_df(interim, g, terms, counts, sign=-1)
        self._publish(
            set(np.unique(owner_of).tolist()),
            groups=groups,
            df_shared=df_shared,
            df_scoped=df_scoped,
            dead=old.dead + int(slots.shape[0]),
        )
        self._maybe_compact()

    def drop_group(self, group: int) -> None:
        """Forget a chat's documents. Its statistics go with it, so no postings are read."""
        if group == SHARED:
            self.remove(np.flatnonzero(self._owner.view() == SHARED))
            return
        old = self._snap
        slots = np.flatnonzero(self._owner.view() == group)
        if slots.shape[0]:
            self._owner.writable_copy()[slots] = DEAD
        groups = {g: v for g, v in old.groups.items() if g != group}
        df_scoped = {g: v for g, v in old.df_scoped.items() if g != group}
        self._publish(
            {group}, groups=groups, df_scoped=df_scoped, dead=old.dead + int(slots.shape[0])
        )
        self._maybe_compact()

    def _maybe_compact(self) -> None:
        snap = self._snap
        if snap.dead >= COMPACT_MIN_DEAD and snap.dead * 4 >= snap.n_slots:
            self.compact()
        elif snap.dead and self._unused_terms() >= max(COMPACT_MIN_TERMS, len(self._vocab) // 4):
            # Chats bring words nobody else uses; when they leave, their terms would stay
            # in the vocabulary for good without this.
            self.compact()

    def _unused_terms(self) -> int:
        snap = self._snap
        used = int(np.count_nonzero(snap.df_shared[: len(self._vocab)]))
        used += sum(len(df) for df in snap.df_scoped.values())  # overlap: a lower bound
        return len(self._vocab) - used

    def compact(self) -> None:
        """Renumber live slots and terms densely, dropping dead postings and unused terms.

        Slots change; callers find their documents again through the slot tags.
        """
        old = self._snap
        live = self._owner.view() != DEAD
        new_slot = np.cumsum(live) - 1
        used = np.zeros(len(self._vocab), dtype=np.bool_)
        used[: old.df_shared.shape[0]] = old.df_shared > 0
        for df in old.df_scoped.values():
            used[list(df)] = True
        new_term = np.cumsum(used) - 1
        segments = [merge([s], live, new_slot, new_term) for s in old.segments]
        vocab = {t: int(new_term[i]) for t, i in self._vocab.items() if used[i]}
        doc_len, owner, tag = (a.view()[live] for a in (self._doc_len, self._owner, self._tag))
        df_full = np.zeros(len(self._vocab), dtype=np.int64)
        df_full[: old.df_shared.shape[0]] = old.df_shared
        df_scoped = {
            g: {int(new_term[t]): c for t, c in df.items()} for g, df in old.df_scoped.items()
        }
        self._reset(vocab)
        self._doc_len.extend(doc_len)
        self._owner.extend(owner)
        self._tag.extend(tag)
        self._publish(
            {SHARED},
            vocab=vocab,
            segments=tuple(s for s in segments if s.nnz),
            groups=dict(old.groups),
            df_shared=df_full[used],
            df_scoped=df_scoped,
            dead=0,
        )


def _removed_df(
    segments: Sequence[Segment], slots: np.ndarray, owner: np.ndarray
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """group -> (terms, how many of the removed slots hold each), by reading postings."""
    gone = np.zeros(owner.shape[0], dtype=np.bool_)
    gone[slots] = True
    terms_parts, group_parts = [], []
    for seg in segments:
        pos = np.flatnonzero(gone[seg.docs])
        if pos.shape[0]:
            which = np.searchsorted(seg.indptr, pos, side="right") - 1
            terms_parts.append(seg.terms[which].astype(np.int64))
            group_parts.append(owner[seg.docs[pos]])
    if not terms_parts:
        return {}
    terms, groups = np.concatenate(terms_parts), np.concatenate(group_parts)
    out = {}
    for g in np.unique(groups).tolist():
        out[g] = np.unique(terms[groups == g], return_counts=True)
    return out


def restore(
    params: BM25Params,
    terms: Sequence[str],
    segments: Sequence[Segment],
    doc_len: np.ndarray,
    tags: np.ndarray,
) -> BM25Index:
    """An index of shared documents from saved parts (term i of `terms` has id i)."""
    index = BM25Index(params)
    index._reset({t: i for i, t in enumerate(terms)})
    n = int(doc_len.shape[0])
    index._doc_len.extend(np.asarray(doc_len, dtype=np.int32))
    index._owner.extend(np.zeros(n, dtype=np.int32))
    index._tag.extend(np.asarray(tags, dtype=np.int64))
    df = np.zeros(len(terms), dtype=np.int64)
    for seg in segments:
        df[seg.terms] += np.diff(seg.indptr)
    index._publish(
        {SHARED},
        segments=tuple(segments),
        groups={SHARED: (n, int(doc_len.sum()))} if n else {},
        df_shared=df,
    )
    return index
