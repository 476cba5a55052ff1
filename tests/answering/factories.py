"""Small builders for retrieval hits used across the core tests."""

from __future__ import annotations

from app.retrieval.types import Chunk, Hit


def hit(
    text: str,
    *,
    rank: int = 1,
    score: float = 8.0,
    source: str = "handbook.md",
    section: str | None = None,
    page: int | None = None,
) -> Hit:
    chunk = Chunk(
        id=f"doc:{rank}",
        doc_id="doc",
        source=source,
        title=source.rsplit(".", 1)[0],
        section=section,
        page=page,
        start=0,
        end=len(text),
        text=text,
    )
    return Hit(chunk=chunk, score=score, rank=rank)
