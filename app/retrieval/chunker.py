"""Split a `Document` into token-bounded chunks that keep their citation metadata.

Sizes are counted with the project's o200k tokenizer. A chunk never spans two sections or
two PDF pages, always starts and ends on a word boundary, and prefers to end at a
paragraph end, then a sentence end, as long as that keeps it at least half full.
Consecutive chunks of one section share about `overlap` tokens. A section's last chunk
may hold up to `size x TAIL` tokens rather than leave a small tail.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import accumulate, chain, groupby

from app.retrieval.loaders import Block, Document
from app.retrieval.memo import lookup
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


def _learn(words: list[str]) -> None:
    if len(_TOKENS) + len(words) > _MAX_MEMO:
        _TOKENS.clear()
    for w in words:
        # Inside running text a word is preceded by a space; o200k's pre-tokenizer splits
        # at those spaces, so per-word counts add up to the count of the joined text (±1-2).
        _TOKENS[w] = count_tokens(" " + w)


def _ends_sentence(word: str) -> bool:
    # Sentence punctuation, then any closing quotes or brackets: "end." "end.)" "end?”"
    stripped = word.rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in _SENTENCE_MARKS


@dataclass(frozen=True, slots=True)
class _Section:
    """One section's words, in the flat form the cutting rules below work on."""

    prefix: list[int]  # prefix[k]: tokens of words[:k], so any run's size is a subtraction
    para_ends: list[int]  # indices of the last word of each block (a paragraph end)
    sentence_ends: list[int]  # indices of words that end a sentence


def _section(words: list[str], per_block: list[int], tokens: list[int]) -> _Section:
    para_ends = list(accumulate(n for n in per_block if n))
    return _Section(
        [0, *accumulate(tokens)],
        [k - 1 for k in para_ends],
        [k for k, w in enumerate(words) if _ends_sentence(w)],
    )


def _cut(sec: _Section, i: int, size: int) -> int:
    """Exclusive end of the chunk starting at word i: as many words as fit in `size`, then
    back to the last paragraph end, else sentence end, that keeps the chunk half full."""
    prefix = sec.prefix
    j = bisect_right(prefix, prefix[i] + size, i) - 1  # words i..j-1 fit
    if j == len(prefix) - 1:  # up to the section's last word
        return j
    if j == i:  # one word longer than a whole chunk: keep it whole rather than split it
        return i + 1
    half_full = bisect_left(prefix, prefix[i] + size // 2, i + 1) - 1  # first word at half
    for ends in (sec.para_ends, sec.sentence_ends):
        k = bisect_left(ends, j) - 1  # the last such end before j
        if k >= 0 and ends[k] >= half_full:
            return ends[k] + 1
    return j


def _overlap_start(sec: _Section, i: int, cut: int, overlap: int) -> int:
    """The first word of the next chunk: the words before `cut` that fit in `overlap`
    tokens, but at least one word past i so that every chunk moves on."""
    return max(i + 1, bisect_left(sec.prefix, sec.prefix[cut] - overlap))


def _word_spans(text: str, blocks: list[Block]) -> tuple[list[int], list[int]]:
    found = [m for b in blocks for m in _WORD.finditer(text, b.start, b.end)]
    return [m.start() for m in found], [m.end() for m in found]


def _long_section(
    text: str, blocks: list[Block], sec: _Section, sizes: tuple[int, int, float]
) -> list[tuple[int, int]]:
    """(start, end) of each chunk of a section too long for one chunk."""
    size, overlap, tail = sizes
    starts, ends = _word_spans(text, blocks)
    n, total = len(sec.prefix) - 1, sec.prefix[-1]
    out = []
    i = 0
    while True:
        cut = n if total - sec.prefix[i] <= size * tail else _cut(sec, i, size)
        out.append((starts[i], ends[cut - 1]))
        if cut >= n:
            return out
        i = _overlap_start(sec, i, cut, overlap) if overlap else cut


def _whole(text: str, blocks: list[Block], per_block: list[list[str]]) -> tuple[int, int]:
    """(start, end) of a section's words from its first to its last."""
    first = next(k for k, ws in enumerate(per_block) if ws)
    last = max(k for k, ws in enumerate(per_block) if ws)
    # A word's first occurrence in its block is itself (only blanks come before it);
    # likewise the last word's last occurrence.
    start = text.find(per_block[first][0], blocks[first].start, blocks[first].end)
    word = per_block[last][-1]
    return start, text.rfind(word, blocks[last].start, blocks[last].end) + len(word)


def _section_spans(
    text: str, blocks: list[Block], sizes: tuple[int, int, float]
) -> list[tuple[int, int]]:
    """(start, end) of each chunk of one section's blocks."""
    # str.split() and the \S+ of _WORD agree on what is blank (Py_UNICODE_ISSPACE); split
    # is four times faster.
    per_block = [text[b.start : b.end].split() for b in blocks]
    words = list(chain.from_iterable(per_block))
    if not words:
        return []
    size, _, tail = sizes
    tokens = lookup(_TOKENS, words, _learn)
    if sum(tokens) <= size * tail:  # the common case: the section is one chunk
        return [_whole(text, blocks, per_block)]
    sec = _section(words, [len(ws) for ws in per_block], tokens)
    return _long_section(text, blocks, sec, sizes)


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
        for start, end in _section_spans(doc.text, blocks, (size, overlap, tail)):
            spans.append(Span(start, end, section, page))
    return spans


def index_text(title: str, section: str | None, text: str) -> str:
    """What gets analysed for a chunk: the title and heading path count as its words too."""
    head = title if not section or section == title else f"{title}\n{section}"
    return f"{head}\n{text}" if head else text
