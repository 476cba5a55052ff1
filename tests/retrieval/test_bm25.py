from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from app.retrieval.bm25 import SHARED, BM25Index, BM25Params, search

VOCAB = [f"t{i}" for i in range(25)]
docs_st = st.lists(st.lists(st.sampled_from(VOCAB), max_size=12), min_size=1, max_size=30)
query_st = st.lists(st.sampled_from([*VOCAB, "unknown"]), min_size=1, max_size=5)
k_st = st.integers(1, 12)
cuts_st = st.lists(st.integers(0, 30), max_size=4)  # where the corpus is cut into segments
# A corpus added in segments, and a top-k query against it.
segmented_search = dict(corpus=docs_st, query=query_st, k=k_st, cuts=cuts_st)


def segments(corpus, cuts):
    """The corpus as consecutive slices, cut at `cuts`: each is added as its own segment."""
    bounds = sorted({0, len(corpus), *(c for c in cuts if c <= len(corpus))})
    return [corpus[lo:hi] for lo, hi in itertools.pairwise(bounds)]


def reference_top(corpus, query, k, k1, b, eps):
    """Top-k of plain BM25Okapi.get_scores: positive scores, best first, ties by index."""
    with np.errstate(invalid="ignore"):  # b=1 and an empty doc: 0/0 in rank-bm25, never > 0
        scores = BM25Okapi(corpus, k1=k1, b=b, epsilon=eps).get_scores(query)
    # A mean IDF that cancels to zero leaves float noise (~1e-17) instead of 0; the engine's
    # own summation order may land on the other side of zero, so noise counts as no match.
    ranked = sorted((i for i, s in enumerate(scores) if s > 1e-9), key=lambda i: (-scores[i], i))
    return ranked[:k], scores


def assert_same_top(slots, scores, ref_ids, ref_scores, slot_to_ref=None):
    """Identical top-k up to the order of exactly tied scores."""
    mapped = [int(s) if slot_to_ref is None else slot_to_ref[int(s)] for s in slots]
    assert len(mapped) == len(ref_ids)
    np.testing.assert_allclose(scores, [ref_scores[i] for i in ref_ids], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(scores, [ref_scores[i] for i in mapped], rtol=1e-9, atol=1e-12)


def usable(corpus) -> bool:
    return any(corpus)  # BM25Okapi divides by zero on an all-empty corpus


@settings(max_examples=300, deadline=None)
@given(
    **segmented_search,
    k1=st.sampled_from([0.9, 1.2, 1.5, 2.0]),
    b=st.sampled_from([0.0, 0.5, 0.75, 1.0]),
    eps=st.sampled_from([0.0, 0.25, 0.5]),
)
def test_topk_matches_rank_bm25_exactly_with_incremental_adds(corpus, query, k, cuts, k1, b, eps):
    assume(usable(corpus))
    index = BM25Index(BM25Params(k1, b, eps, small_corpus_fix=False))
    for part in segments(corpus, cuts):  # several segments, merged or not
        index.add(part)
    ref_ids, ref_scores = reference_top(corpus, query, k, k1, b, eps)
    assert_same_top(*index.search(query, k), ref_ids, ref_scores)


@settings(max_examples=200, deadline=None)
@given(corpus=docs_st, query=query_st, k=k_st, data=st.data())
def test_topk_after_removals_matches_rank_bm25_on_the_rest(corpus, query, k, data):
    removed = data.draw(st.sets(st.integers(0, len(corpus) - 1)))
    rest = [d for i, d in enumerate(corpus) if i not in removed]
    assume(usable(rest))
    index = BM25Index(BM25Params(1.5, 0.75, 0.25, small_corpus_fix=False))
    index.add(corpus, tags=np.arange(len(corpus)))
    index.remove(np.array(sorted(removed), dtype=np.int64))
    if data.draw(st.booleans()):
        index.compact()  # renumbers slots; the tags say which document each one holds
    ref_of_doc = {}
    for doc in range(len(corpus)):
        if doc not in removed:
            ref_of_doc[doc] = len(ref_of_doc)
    tags = index.snapshot().tag
    slot_to_ref = {s: ref_of_doc.get(int(tags[s])) for s in range(index.n_slots)}
    ref_ids, ref_scores = reference_top(rest, query, k, 1.5, 0.75, 0.25)
    assert_same_top(*index.search(query, k), ref_ids, ref_scores, slot_to_ref)


@settings(max_examples=200, deadline=None)
@given(corpus=docs_st, query=query_st, k=k_st)
def test_small_corpus_fix_changes_nothing_when_rank_bm25_idf_is_positive(corpus, query, k):
    assume(usable(corpus))
    assume(min(BM25Okapi(corpus, k1=1.2, b=0.75, epsilon=0.25).idf.values()) > 0)
    index = BM25Index(BM25Params(1.2, 0.75, 0.25, small_corpus_fix=True))
    index.add(corpus)
    ref_ids, ref_scores = reference_top(corpus, query, k, 1.2, 0.75, 0.25)
    assert_same_top(*index.search(query, k), ref_ids, ref_scores)


@settings(max_examples=150, deadline=None)
@given(shared=docs_st, mine=docs_st, other=docs_st, query=query_st)
def test_a_scope_sees_shared_plus_its_own_docs_with_their_joint_statistics(
    shared, mine, other, query
):
    assume(usable(shared) and usable(shared + mine))
    index = BM25Index(BM25Params(1.5, 0.75, 0.25, small_corpus_fix=False))
    index.add(shared[:1])
    index.add(mine, group=1)
    index.add(shared[1:])
    index.add(other, group=2)
    # Slots follow insertion order: shared[0], mine..., shared[1:], other...
    as_joint = {0: 0}
    as_joint.update({1 + i: len(shared) + i for i in range(len(mine))})
    as_joint.update({1 + len(mine) + j: 1 + j for j in range(len(shared) - 1)})
    joint = shared + mine
    ref_ids, ref_scores = reference_top(joint, query, 50, 1.5, 0.75, 0.25)
    assert_same_top(*index.search(query, 50, group=1), ref_ids, ref_scores, as_joint)

    ref_ids, ref_scores = reference_top(shared, query, 50, 1.5, 0.75, 0.25)
    shared_slots = {0: 0, **{1 + len(mine) + i: 1 + i for i in range(len(shared) - 1)}}
    assert_same_top(*index.search(query, 50), ref_ids, ref_scores, shared_slots)


# --- rank-bm25's small-corpus flaws, and the fix --------------------------------------------
def test_rank_bm25_flaws_are_real():
    # One of two docs matches: IDF log(1.5/1.5) = 0, so nothing scores.
    assert list(BM25Okapi([["leave", "policy"], ["travel"]]).get_scores(["leave"])) == [0, 0]
    # A term in exactly half of four documents gets IDF 0 too.
    four = [["a", "x"], ["a", "y"], ["b"], ["c"]]
    assert BM25Okapi(four).idf["a"] == 0


def test_single_uploaded_document_ranks_its_chunks():
    index = BM25Index()
    index.add([["leave", "polici", "annual"], ["travel", "book"], ["leave", "leave", "sick"]])
    slots, scores = index.search(["leave"], 5)
    assert slots.tolist() == [2, 0] and (scores > 0).all()


@pytest.mark.parametrize(
    "corpus",
    [
        [["leave", "polici"]],  # one chunk
        [["leave", "polici"], ["travel"]],  # two chunks
        [["leave", "x"], ["leave", "y"], ["b"], ["c"]],  # term in exactly half
    ],
)
def test_fix_gives_matching_chunks_a_positive_score(corpus):
    index = BM25Index(BM25Params(small_corpus_fix=True))
    index.add(corpus)
    slots, scores = index.search(["leave"], 5)
    matching = [i for i, d in enumerate(corpus) if "leave" in d]
    assert sorted(slots.tolist()) == matching and (scores > 0).all()


def test_fixed_idf_still_prefers_rarer_terms():
    index = BM25Index()
    index.add([["common", "rare"], ["common"]])
    assert index.idf("rare") > index.idf("common") > 0


# --- behaviour --------------------------------------------------------------------------------
def test_removed_and_dropped_documents_disappear():
    index = BM25Index()
    slots = index.add([["alpha"], ["alpha", "beta"], ["gamma"]])
    up = index.add([["alpha", "upload"]], group=7)
    index.remove(slots[:1])
    assert index.search(["alpha"], 10)[0].tolist() == [1]
    assert sorted(index.search(["alpha"], 10, group=7)[0].tolist()) == [1, int(up[0])]
    index.drop_group(7)
    assert index.search(["upload"], 10, group=7)[0].tolist() == []
    assert index.n_docs() == 2


def test_many_small_adds_stay_few_segments_and_compaction_drops_dead_postings():
    index = BM25Index()
    for i in range(300):
        index.add([[f"t{i % 7}", "common"]])
    assert len(index._segments) <= 10
    index.remove(np.arange(0, 300, 2))
    before = index.postings
    index.compact()
    assert index.postings == before // 2
    assert len(index.search(["common"], 1000)[0]) == 150


def test_unknown_terms_and_empty_queries():
    index = BM25Index()
    index.add([["a"]])
    assert index.search([], 5)[0].size == 0
    assert index.search(["zzz"], 5)[0].size == 0
    assert index.search(["a"], 0)[0].size == 0
    assert BM25Index().search(["a"], 5)[0].size == 0


def test_scores_group_stats_are_isolated():
    index = BM25Index()
    index.add([["shared", "x"], ["shared", "y"], ["z"]])
    before = index.search(["shared"], 5)
    index.add([["shared"]] * 20, group=3)  # a chat uploads many docs with the term
    after = index.search(["shared"], 5)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_allclose(before[1], after[1])
    assert index.idf("shared", group=3) != index.idf("shared", group=SHARED)


def test_a_scope_searched_after_another_scope_grew_the_vocabulary():
    # Regression: chat B's cached statistics predate the terms chat A's upload added, and a
    # query using those terms crashed with an IndexError instead of matching nothing.
    index = BM25Index(BM25Params())
    index.add([["vpn", "client"], ["laptop", "encrypt"], ["badge", "lost"]])
    assert index.search(["vpn"], 5, group=2)[0].tolist() == [0]  # B's view is now cached
    index.add([["falcon", "budget", "kroner"]], group=1)  # A uploads new words
    slots, scores = index.search(["falcon", "budget"], 5, group=2)
    assert slots.tolist() == [] and scores.tolist() == []
    slots, _ = index.search(["falcon", "vpn"], 5, group=2)
    assert slots.tolist() == [0]
    assert index.idf("falcon", group=2) == 0.0
    assert index.search(["falcon"], 5, group=1)[0].tolist() == [3]


# --- MaxScore pruning is exact ------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(**segmented_search, removed=st.sets(st.integers(0, 29), max_size=6))
def test_pruned_search_equals_exhaustive_search(corpus, query, k, cuts, removed):
    assume(usable(corpus))
    index = BM25Index(BM25Params(1.2, 0.75, 0.25))
    for i, part in enumerate(segments(corpus, cuts)):
        index.add(part, group=i % 2)  # shared and one chat, interleaved
    index.remove(np.array(sorted(r for r in removed if r < len(corpus)), dtype=np.int64))
    for group in (SHARED, 1):
        pruned = index.search(query, k, group, prune_from=0)  # check the bound at every term
        full = index.search(query, k, group, prune=False)
        np.testing.assert_array_equal(pruned[0], full[0])
        np.testing.assert_allclose(pruned[1], full[1], rtol=1e-12)


def zipf_corpus(n_docs: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(3000)])
    p = 1 / np.arange(1, 3001) ** 1.05
    p /= p.sum()
    return [list(vocab[rng.choice(3000, int(rng.integers(20, 120)), p=p)]) for _ in range(n_docs)]


def test_pruning_skips_long_lists_yet_returns_the_exhaustive_top_k_at_scale():
    corpus = zipf_corpus(6000, seed=3)
    index = BM25Index()
    for lo in range(0, 6000, 700):
        index.add(corpus[lo : lo + 700])
    index.remove(np.arange(0, 6000, 37))
    rng = np.random.default_rng(5)
    for _ in range(150):
        query = [f"w{i}" for i in rng.integers(20, 2000, int(rng.integers(1, 5)))] + ["w0"]
        for k in (1, 5, 20):
            pruned, full = index.search(query, k), index.search(query, k, prune=False)
            np.testing.assert_array_equal(pruned[0], full[0])
            np.testing.assert_allclose(pruned[1], full[1], rtol=1e-12)


# --- snapshots, compaction --------------------------------------------------------------------
def test_a_snapshot_keeps_answering_as_it_was_while_the_index_changes():
    corpus = zipf_corpus(3000, seed=1)
    index = BM25Index()
    index.add(corpus[:2000])
    index.add(corpus[2000:2500], group=4)
    before = index.snapshot()
    queries = [["w3", "w40"], ["w7", "w100", "w0"], ["w250"]]
    expected = [search(before, q, 10, g) for q in queries for g in (SHARED, 4)]
    index.add(corpus[2500:])
    index.remove(np.arange(0, 2000, 2))
    index.drop_group(4)
    index.compact()
    assert index.n_slots < before.n_slots
    again = [search(before, q, 10, g) for q in queries for g in (SHARED, 4)]
    for (s1, v1), (s2, v2) in zip(expected, again, strict=True):
        np.testing.assert_array_equal(s1, s2)
        np.testing.assert_array_equal(v1, v2)


def test_add_drop_cycles_reuse_space_and_shrink_the_vocabulary():
    index = BM25Index()
    index.add(zipf_corpus(500, seed=2))
    for cycle in range(400):
        group = cycle + 1
        index.add([[f"novel{cycle}x{j}", "w1", "w2"] for j in range(10)], group=group)
        assert index.search([f"novel{cycle}x3"], 5, group=group)[0].size == 1
        index.drop_group(group)
    # 4,000 chat chunks came and went; compaction keeps slots and terms near what is alive.
    assert index.n_slots <= 500 + 2 * 1000
    assert len(index.vocab) <= index.vocabulary_size + 1000 + 10
    assert index.n_docs() == 500 and index.search(["novel0x3"], 5, group=1)[0].size == 0
    assert len(index.snapshot().segments) <= 12
