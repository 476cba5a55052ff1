"""The chunker against a straightforward word-by-word reference of the same rules.

`chunk_document` takes shortcuts for speed (a section that fits is one span without a
word walk; prefix sums and bisection instead of loops). The reference below is the
rules as the module docstring states them, one word at a time, so any difference in
the spans it returns is a change of output, not of speed.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from app.retrieval.chunker import Span, chunk_document
from app.retrieval.loaders import Block, Document, _paragraph_spans, load_markdown, load_text
from app.tokens import count_tokens


def _reference_words(text: str, blocks: list[Block]) -> list[list]:
    """[start, end, tokens, para_end, sentence_end] per word of the blocks."""
    out: list[list] = []
    for b in blocks:
        mine = []
        for m in re.finditer(r"\S+", text[b.start : b.end]):
            word = m.group()
            stripped = word.rstrip("\"'”’)]")
            ends_sentence = bool(stripped) and stripped[-1] in ".!?…"
            tokens = count_tokens(" " + word)
            mine.append([b.start + m.start(), b.start + m.end(), tokens, False, ends_sentence])
        if mine:
            mine[-1][3] = True
        out += mine
    return out


def _reference_cut(words: list[list], i: int, size: int) -> int:
    total, j = 0, i
    while j < len(words) and total + words[j][2] <= size:
        total += words[j][2]
        j += 1
    if j == len(words):
        return j
    if j == i:
        return i + 1
    best_para = best_sentence = None
    running = 0
    for x in range(i, j):
        running += words[x][2]
        if running >= size // 2:
            best_para = x + 1 if words[x][3] else best_para
            best_sentence = x + 1 if words[x][4] else best_sentence
    return best_para or best_sentence or j


def reference(doc: Document, size: int, overlap: int, tail: float = 1.25) -> list[Span]:
    spans = []
    has_body = any(not b.heading for b in doc.blocks)
    runs: list[list[Block]] = []
    for b in doc.blocks:
        same = runs and (runs[-1][0].section, runs[-1][0].page) == (b.section, b.page)
        runs[-1].append(b) if same else runs.append([b])
    for blocks in runs:
        if has_body and all(b.heading for b in blocks):
            continue
        words = _reference_words(doc.text, blocks)
        i = 0
        while i < len(words):
            left = sum(w[2] for w in words[i:])
            cut = len(words) if left <= size * tail else _reference_cut(words, i, size)
            spans.append(Span(words[i][0], words[cut - 1][1], blocks[0].section, blocks[0].page))
            if cut >= len(words):
                break
            start, total = cut, 0
            while overlap and start - 1 > i and total + words[start - 1][2] <= overlap:
                start -= 1
                total += words[start][2]
            i = start
    return spans


WORDS = st.one_of(
    st.sampled_from(
        ["alpha", "beta.", "gamma,", "end!", "why?”", "(aside.)", "…", "δέλτα", "日本語。"]
    ),
    st.sampled_from(["naïve", "e\u0301", "don't", "3.14159", "x" * 300, "😀😀", "’", "-", "#"]),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12),
)
SEPARATORS = st.sampled_from([" ", " ", " ", "  ", "\t", "\n", "\n\n", "\u00a0", "\u3000"])


@st.composite
def markdown(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["heading", "para", "para", "code", "list"]))
        words = draw(st.lists(st.tuples(WORDS, SEPARATORS), max_size=120))
        body = "".join(w + s for w, s in words).strip() or "word"
        if kind == "heading":
            lines.append("#" * draw(st.integers(1, 3)) + " " + body.replace("\n", " ")[:60])
        elif kind == "code":
            lines.append(f"```\n{body}\n```")
        elif kind == "list":
            lines.append("- " + body.replace("\n\n", "\n- "))
        else:
            lines.append(body)
    return "\n\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None)
@given(
    text=markdown(),
    size=st.integers(2, 120),
    overlap_frac=st.floats(0, 0.9),
    tail=st.sampled_from([1.0, 1.25, 1.5]),
    as_text=st.booleans(),
)
def test_chunks_are_exactly_the_reference_chunks(text, size, overlap_frac, tail, as_text):
    data = text.encode()
    doc = load_text(data, "t.txt") if as_text else load_markdown(data, "t.md")
    overlap = min(size - 1, int(size * overlap_frac))
    assert chunk_document(doc, size, overlap, tail) == reference(doc, size, overlap, tail)


@settings(max_examples=60, deadline=None)
@given(paras=st.lists(st.lists(st.tuples(WORDS, SEPARATORS), max_size=200), max_size=6))
def test_plain_paragraphs_match_the_reference_at_the_app_sizes(paras):
    text = "\n\n".join("".join(w + s for w, s in p) for p in paras)
    doc = Document("T", text, tuple(Block(s, e) for s, e in _paragraph_spans(text)))
    for size, overlap in ((300, 45), (40, 8), (8, 0)):
        assert chunk_document(doc, size, overlap) == reference(doc, size, overlap)


def test_sections_at_the_tail_limit_match_the_reference():
    assert count_tokens(" alpha") == 1
    for n in (99, 100, 101, 124, 125, 126):  # around size and size x tail, one token a word
        text = " ".join(["alpha"] * n)
        doc = Document("T", text, (Block(0, len(text)),))
        assert chunk_document(doc, 100, 15) == reference(doc, 100, 15)
