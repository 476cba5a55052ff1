from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.retrieval.chunker import TAIL, chunk_document, index_text
from app.retrieval.loaders import Block, Document, _paragraph_spans, load_markdown
from app.tokens import count_tokens

# Per-word token counts can differ from the joined text's count by a token or two.
SLACK = 1.05


def plain(text: str, title: str = "T") -> Document:
    return Document(title, text, tuple(Block(s, e) for s, e in _paragraph_spans(text)))


def words_of(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\S+", text)]


def sentence(i: int, n: int = 12) -> str:
    return " ".join(f"word{i}x{j}" for j in range(n)) + "."


def assert_word_aligned(doc: Document, spans) -> None:
    starts = {s for s, _ in words_of(doc.text)}
    ends = {e for _, e in words_of(doc.text)}
    for sp in spans:
        assert sp.start in starts and sp.end in ends, "chunk cut inside a word"


def test_short_document_is_one_chunk():
    doc = plain("A short note.\n\nWith two paragraphs.")
    [only] = chunk_document(doc, 300, 45)
    assert (only.start, only.end) == (0, len(doc.text))


def test_sizes_overlap_and_coverage():
    text = " ".join(sentence(i) for i in range(200))  # one long paragraph
    doc = plain(text)
    spans = chunk_document(doc, 100, 15)
    assert len(spans) > 10
    for sp in spans[:-1]:
        assert count_tokens(text[sp.start : sp.end]) <= 100 * SLACK
    # The last chunk may take in a tail of up to a quarter chunk rather than leave it alone.
    assert count_tokens(text[spans[-1].start : spans[-1].end]) <= 100 * TAIL * SLACK
    assert_word_aligned(doc, spans)
    # Every word is in some chunk, in order, and consecutive chunks overlap by <= 15 tokens.
    assert spans[0].start == 0 and spans[-1].end == len(text)
    for a, b in itertools.pairwise(spans):
        assert a.start < b.start < a.end
        assert 0 < count_tokens(text[b.start : a.end]) <= 15 + 2


def test_a_passage_just_over_a_chunk_stays_whole():
    def passage(tokens: int) -> str:
        words = []
        while count_tokens(" ".join(words)) < tokens:
            words.append(f"w{len(words)}.")
        return " ".join(words)

    for tokens, pieces in ((110, 1), (118, 1), (140, 2)):
        text = passage(tokens)
        spans = chunk_document(plain(text), 100, 15)
        assert len(spans) == pieces, (tokens, spans)
        assert spans[-1].end == len(text)
    # tail=1.0 is the old rule: no chunk over the size, so the tail is a chunk of its own.
    spans = chunk_document(plain(passage(115)), 100, 15, tail=1.0)
    assert len(spans) == 2
    assert all(count_tokens(passage(115)[s.start : s.end]) <= 100 * SLACK for s in spans)


def test_zero_overlap_tiles_the_text():
    text = " ".join(sentence(i) for i in range(100))
    spans = chunk_document(plain(text), 64, 0)
    for a, b in itertools.pairwise(spans):
        assert a.end < b.start and text[a.end : b.start].isspace()


def test_prefers_paragraph_then_sentence_boundaries():
    paras = [" ".join(sentence(p * 10 + i, 8) for i in range(4)) for p in range(12)]
    text = "\n\n".join(paras)
    spans = chunk_document(plain(text), 300, 0)
    para_ends = {e for _, e in _paragraph_spans(text)}
    assert all(sp.end in para_ends for sp in spans)

    one_para = " ".join(sentence(i, 8) for i in range(80))
    spans = chunk_document(plain(one_para), 100, 0)
    assert all(one_para[sp.end - 1] == "." for sp in spans)


def test_no_good_boundary_falls_back_to_a_word_boundary():
    text = " ".join(f"w{i}" for i in range(2000))  # no punctuation, one paragraph
    doc = plain(text)
    spans = chunk_document(doc, 50, 5)
    assert_word_aligned(doc, spans)
    assert max(count_tokens(text[s.start : s.end]) for s in spans) <= 50 * TAIL * SLACK


def test_a_word_longer_than_a_chunk_is_kept_whole():
    giant = "x" * 3000
    doc = plain(f"before {giant} after")
    spans = chunk_document(doc, 40, 5)
    assert any(doc.text[s.start : s.end] == giant for s in spans)
    assert_word_aligned(doc, spans)


def test_chunks_never_span_sections_or_pages():
    text = "Alpha one.\n\nAlpha two.\n\nBeta one.\n\nPage two."
    blocks = (
        Block(0, 10, "A", None),
        Block(12, 22, "A", None),
        Block(24, 33, "A › B", None),
        Block(35, 44, "A › B", 2),
    )
    spans = chunk_document(Document("Doc", text, blocks), 300, 45)
    assert [(text[s.start : s.end], s.section, s.page) for s in spans] == [
        ("Alpha one.\n\nAlpha two.", "A", None),
        ("Beta one.", "A › B", None),
        ("Page two.", "A › B", 2),
    ]


def test_overlap_must_be_smaller_than_size():
    with pytest.raises(ValueError):
        chunk_document(plain("x"), 10, 10)


def test_index_text_carries_title_and_heading_path():
    assert index_text("Guide", "Guide › Uploads", "Body") == "Guide\nGuide › Uploads\nBody"
    assert index_text("Guide", None, "Body") == "Guide\nBody"
    assert index_text("Guide", "Guide", "Body") == "Guide\nBody"
    assert index_text("", None, "Body") == "Body"


@settings(max_examples=60, deadline=None)
@given(
    paras=st.lists(
        st.lists(
            st.sampled_from(["alpha", "beta.", "gamma,", "δέλτα", "x" * 40, "end!"]), max_size=80
        ),
        min_size=1,
        max_size=8,
    ),
    size=st.integers(32, 120),
    overlap_frac=st.floats(0, 0.4),
)
def test_invariants_on_random_documents(paras, size, overlap_frac):
    text = "\n\n".join(" ".join(p) for p in paras)
    doc = plain(text)
    overlap = int(size * overlap_frac)
    spans = chunk_document(doc, size, overlap)
    assert_word_aligned(doc, spans)
    covered = set()
    for sp in spans:
        covered.update(
            i for i, (s, e) in enumerate(words_of(text)) if sp.start <= s and e <= sp.end
        )
        n = count_tokens(text[sp.start : sp.end])
        assert n <= size * TAIL * SLACK + 2 or " " not in text[sp.start : sp.end]
    assert covered == set(range(len(words_of(text))))


def test_a_heading_without_text_of_its_own_makes_no_chunk():
    doc = load_markdown(
        b"# Heron runbook\n\n## Rotation\n\nKeys rotate every 45 days.\n", "heron.md"
    )
    spans = chunk_document(doc, 300, 45)
    assert [doc.text[s.start : s.end] for s in spans] == [
        "## Rotation\n\nKeys rotate every 45 days."
    ]
    assert spans[0].section == "Heron runbook › Rotation"
    # A document that is nothing but a heading still yields its one chunk.
    only = load_markdown(b"# Just a title\n", "t.md")
    assert len(chunk_document(only, 300, 45)) == 1
