"""A chunk's index terms with its title and heading path weighted (simplified BM25F).

BM25F sums each field's term frequency times the field's weight and measures length the
same way. With a whole-number weight w that is exactly "the head's terms w times, then
the body's", so the index and its rank-bm25 scoring stay as they are. Weight 1 gives the
terms of `index_text`, the app's default.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from app.retrieval.analyzer import analyze
from app.retrieval.chunker import index_text


def chunk_terms(title: str, section: str | None, text: str, head_weight: int = 1) -> list[str]:
    if head_weight == 1:
        return analyze(index_text(title, section, text))
    head = analyze(index_text(title, section, ""))
    return head * head_weight + analyze(text)


@lru_cache(maxsize=512)
def feedback_terms(title: str, section: str | None, text: str) -> list[str]:
    """`chunk_terms`, remembered for the last 512 chunks. RM3 needs the terms of each
    search's best chunks, and the same chunks come back for related questions. Keyed by
    content, so never stale. The list is shared between callers: read it, don't change it."""
    return chunk_terms(title, section, text)


def joined_chunk_terms(
    title: str, text: str, chunks: Iterable[tuple[int, int, str | None]]
) -> list[str]:
    """`chunk_terms` of each (start, end, section) of `text`, joined by spaces.

    The head (title and heading path) is analysed once per section, not once per chunk,
    and apart from the body: the " › " of a heading path is not ASCII, and with it in the
    same string the whole chunk would take the analyzer's slower Unicode path. The two
    are split at a newline, which no word spans, so the terms are the same."""
    heads: dict[str | None, str] = {}
    out = []
    for start, end, section in chunks:
        head = heads.get(section)
        if head is None:
            head = heads[section] = " ".join(analyze(index_text(title, section, "")))
        body = " ".join(analyze(text[start:end]))
        out.append(f"{head} {body}" if head and body else head or body)
    return out
