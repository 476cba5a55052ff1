"""Split a `Document` into token-bounded chunks that keep their citation metadata.

Sizes are counted with the project's o200k tokenizer. A chunk never spans two sections or
two PDF pages, always starts and ends on a word boundary, and prefers to end at a
paragraph end, then a sentence end, as long as that keeps it at least half full.
Consecutive chunks of one section share about `overlap` tokens. A section's last chunk
may hold up to `size x TAIL` tokens rather than leave a small tail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby

from app.retrieval.loaders import Block, Document
from app.tokens import count_tokens

_WORD = re.compile(r"\S+")
_CLOSERS = "\"'”’)]"
_SENTENCE_MARKS = ".!?…"


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    section: str | None
    page: int | None


# A plain dict rather than lru_cache: lru_cache keeps a linked list of entries that the
# cyclic GC must walk (200k lists), a dict of str -> int it skips entirely.
_TOKENS: dict[str, int] = {}
_MAX_MEMO = 200_000


def _word_tokens(word: str) -> int:
    n = _TOKENS.get(word)
    if n is None:
        if len(_TOKENS) >= _MAX_MEMO:
            _TOKENS.clear()
        # Inside running text a word is preceded by a space; o200k's pre-tokenizer splits
        # at those spaces, so per-word counts add up to the count of the joined text (±1-2).
        n = _TOKENS[word] = count_tokens(" " + word)
    return n


@dataclass(slots=True)
class _Word:
    start: int
    end: int
    tokens: int
    para_end: bool
    sentence_end: bool


def _ends_sentence(word: str) -> bool:
    # Sentence punctuation, then any closing quotes or brackets: "end." "end.)" "end?”"
    stripped = word.rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in _SENTENCE_MARKS


def _words(text: str, blocks: list[Block]) -> list[_Word]:
    out: list[_Word] = []
    for block in blocks:
        first = len(out)
        for m in _WORD.finditer(text, block.start, block.end):
            w = m.group()
            out.append(_Word(m.start(), m.end(), _word_tokens(w), False, _ends_sentence(w)))
        if len(out) > first:
            out[-1].para_end = True
    return out


def _cut(words: list[_Word], i: int, size: int) -> int:
    """Exclusive end of the chunk starting at word i."""
    total, j = 0, i
    while j < len(words) and total + words[j].tokens <= size:
        total += words[j].tokens
        j += 1
    if j == len(words):
        return j
    if j == i:  # one word longer than a whole chunk: keep it whole rather than split it
        return i + 1
    half = size // 2
    best_para = best_sentence = None
    running = 0
    for x in range(i, j):
        running += words[x].tokens
        if running >= half:
            if words[x].para_end:
                best_para = x + 1
            if words[x].sentence_end:
                best_sentence = x + 1
    return best_para or best_sentence or j


def _overlap_start(words: list[_Word], i: int, cut: int, overlap: int) -> int:
    start, total = cut, 0
    while start - 1 > i and total + words[start - 1].tokens <= overlap:
        start -= 1
        total += words[start].tokens
    return start


# A section, or what is left of one, of up to `size x TAIL` tokens stays one chunk. Without
# it a passage just over `size` ends in a small tail chunk, and neither piece holds enough
# of the passage to rank as the whole would (`bench --variants` measures 1.0, 1.25, 1.5).
TAIL = 1.25


def chunk_document(
    doc: Document, size: int = 300, overlap: int = 45, tail: float = TAIL
) -> list[Span]:
    if overlap >= size:
        raise ValueError("overlap must be smaller than size")
    spans: list[Span] = []
    has_body = any(not b.heading for b in doc.blocks)
    for (section, page), run in groupby(doc.blocks, key=lambda b: (b.section, b.page)):
        blocks = list(run)
        if has_body and all(b.heading for b in blocks):
            # A heading with no text of its own ("# Title" straight before "## Part") would be
            # a chunk nobody can cite; its words are indexed with the chunks below it anyway.
            continue
        words = _words(doc.text, blocks)
        left = sum(w.tokens for w in words)  # tokens from word i to the section's end
        i = 0
        while i < len(words):
            cut = len(words) if left <= size * tail else _cut(words, i, size)
            spans.append(Span(words[i].start, words[cut - 1].end, section, page))
            if cut >= len(words):
                break
            start = _overlap_start(words, i, cut, overlap) if overlap else cut
            left -= sum(w.tokens for w in words[i:start])
            i = start
    return spans


def index_text(title: str, section: str | None, text: str) -> str:
    """What gets analysed for a chunk: the title and heading path count as its words too."""
    head = title if not section or section == title else f"{title}\n{section}"
    return f"{head}\n{text}" if head else text
