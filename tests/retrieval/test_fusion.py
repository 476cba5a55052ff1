"""Reciprocal rank fusion of two searches."""

from __future__ import annotations

from app.retrieval.fusion import fuse_rankings
from app.retrieval.types import Chunk, Hit


def hit(cid: str, rank: int, score: float) -> Hit:
    chunk = Chunk(cid, cid, f"{cid}.md", cid, None, None, 0, 1, cid)
    return Hit(chunk=chunk, score=score, rank=rank)


def test_a_chunk_both_searches_found_comes_first():
    words = [hit("a", 1, 9.0), hit("both", 2, 5.0)]
    rewrite = [hit("b", 1, 8.0), hit("both", 2, 6.0)]
    fused = fuse_rankings([words, rewrite], top_k=3)
    assert [h.chunk.id for h in fused] == ["both", "a", "b"]
    assert [h.rank for h in fused] == [1, 2, 3]
    assert fused[0].score == 6.0  # its best BM25 score, for the router's strength signal


def test_top_k_and_an_empty_ranking():
    words = [hit(str(i), i, 10.0 - i) for i in range(1, 6)]
    fused = fuse_rankings([words, []], top_k=2)
    assert [h.chunk.id for h in fused] == ["1", "2"]
    assert fuse_rankings([[], []], top_k=5) == []
