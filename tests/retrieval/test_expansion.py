from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.retrieval.analyzer import analyze
from app.retrieval.bm25 import BM25Index, search, search_weighted
from app.retrieval.chunker import index_text
from app.retrieval.expansion import RM3, relevance_model, rm3_search, rm3_weights
from app.retrieval.fields import chunk_terms, feedback_terms
from app.retrieval.library import Library

VOCAB = list("abcdefgh")
docs_st = st.lists(
    st.lists(st.sampled_from(VOCAB), min_size=1, max_size=8), min_size=1, max_size=12
)
query_st = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=5)


@settings(max_examples=200, deadline=None)
@given(docs_st, query_st, st.integers(1, 12))
def test_weighted_search_with_counts_is_the_plain_search(docs, query, k):
    index = BM25Index()
    index.add(docs)
    snap = index.snapshot()
    plain = search(snap, query, k)
    weighted = search_weighted(snap, {t: float(c) for t, c in Counter(query).items()}, k)
    assert plain[0].tolist() == weighted[0].tolist()
    assert np.allclose(plain[1], weighted[1])


def test_relevance_model_weighs_terms_by_frequency_and_chunk_score():
    model = relevance_model([(["a", "a", "b"], 3.0), (["c"], 1.0), (["z"], 0.0)], 10)
    assert abs(sum(model.values()) - 1) < 1e-12
    assert "z" not in model  # a chunk with no score lends nothing
    # a: 3/4 of the mass x 2/3 of its chunk; b: 3/4 x 1/3; c: 1/4 x 1
    assert model["a"] > model["b"] and model["a"] > model["c"]
    assert abs(model["c"] - 0.25) < 1e-12
    assert list(relevance_model([(["a", "a", "b"], 1.0)], 1)) == ["a"]


def test_rm3_keeps_the_query_counts_and_adds_feedback_terms():
    query = ["vitamin", "vitamin", "bone"]
    weights = rm3_weights(query, [(["vitamin", "calcium"], 2.0)], RM3(1, 10, 0.8))
    assert weights["bone"] == 1.0
    assert weights["vitamin"] > 2.0  # its count, plus its share of the feedback
    assert 0 < weights["calcium"] < 1.0
    assert rm3_weights(query, [], RM3()) == {"vitamin": 2.0, "bone": 1.0}
    assert rm3_weights([], [(["a"], 1.0)], RM3()) == {}


def test_rm3_finds_a_chunk_that_shares_only_the_feedback_words():
    texts = [
        "vitamin d deficiency and bone fractures calcium osteoporosis",
        "vitamin d supplements reduce fractures calcium osteoporosis",
        "calcium osteoporosis treatment in elderly women",  # no query word at all
        "aspirin lowers heart attack risk",
        "sleep quality and exercise",
    ]
    terms = [analyze(t) for t in texts]
    index = BM25Index()
    index.add(terms)
    snap, query = index.snapshot(), analyze("vitamin d fractures")
    plain = search(snap, query, 5)[0].tolist()
    assert 2 not in plain
    expanded, scores = rm3_search(
        snap, query, 5, lambda slots: [terms[i] for i in slots.tolist()], RM3(2, 5, 0.6)
    )
    assert 2 in expanded.tolist()
    assert expanded.tolist()[:2] == plain[:2]  # the direct matches stay on top
    assert (np.diff(scores) <= 0).all()


def test_head_weight_repeats_title_and_heading_terms():
    body = "Install the service with winget."
    assert chunk_terms("Guide", "Setup", body) == analyze(index_text("Guide", "Setup", body))
    assert chunk_terms("Guide", "Setup", body, 3) == ["guid", "setup"] * 3 + analyze(body)
    assert chunk_terms("", None, body, 2) == analyze(body)


def test_feedback_terms_are_the_chunk_terms_remembered():
    body = "Install the service with winget."
    first = feedback_terms("Guide", "Setup", body)
    assert first == chunk_terms("Guide", "Setup", body)
    assert feedback_terms("Guide", "Setup", body) is first  # not analysed again
    assert feedback_terms("Guide", None, body) == chunk_terms("Guide", None, body)


def test_library_searches_with_rm3_when_set(make_settings, knowledge):
    (knowledge / "a.md").write_text(
        "# Bones\n\nVitamin D deficiency and fractures in calcium osteoporosis.\n"
    )
    (knowledge / "b.md").write_text("# Care\n\nCalcium osteoporosis treatment for elderly women.\n")
    (knowledge / "c.md").write_text("# Heart\n\nAspirin lowers heart attack risk.\n")
    (knowledge / "d.md").write_text("# Sleep\n\nExercise improves sleep quality.\n")
    plain = Library.open(make_settings()).search("vitamin fractures", 5)
    expanded = Library.open(make_settings(query_expansion="rm3")).search("vitamin fractures", 5)
    assert [h.chunk.source for h in plain] == ["a.md"]
    assert [h.chunk.source for h in expanded][:2] == ["a.md", "b.md"]
    # The user's own words keep their plain BM25 score; expansion only adds to it.
    assert expanded[0].score >= plain[0].score
