"""A chunk's index terms with its title and heading path weighted (simplified BM25F).

BM25F sums each field's term frequency times the field's weight and measures length the
same way. With a whole-number weight w that is exactly "the head's terms w times, then
the body's", so the index and its rank-bm25 scoring stay as they are. Weight 1 gives the
terms of `index_text`, the app's default.
"""

from __future__ import annotations

from app.retrieval.analyzer import analyze
from app.retrieval.chunker import index_text


def chunk_terms(title: str, section: str | None, text: str, head_weight: int = 1) -> list[str]:
    if head_weight == 1:
        return analyze(index_text(title, section, text))
    head = analyze(index_text(title, section, ""))
    return head * head_weight + analyze(text)
