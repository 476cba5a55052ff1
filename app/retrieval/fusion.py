"""Reciprocal rank fusion: one ranking from several searches of the same index."""

from __future__ import annotations

from collections.abc import Sequence

from app.retrieval.types import Hit

# The constant from Cormack et al. (2009); it damps the weight of the very top ranks.
RRF_K = 60


def fuse_rankings(rankings: Sequence[Sequence[Hit]], top_k: int, k: int = RRF_K) -> list[Hit]:
    """The top `top_k` chunks by summed 1/(k + rank), each keeping its best BM25 score.

    A chunk found by both searches outranks one found by either alone, so a follow-up's
    rewrite adds context without ever pushing out what the user's own words found.
    """
    fused: dict[str, float] = {}
    best: dict[str, Hit] = {}
    for ranking in rankings:
        for hit in ranking:
            cid = hit.chunk.id
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (k + hit.rank)
            if cid not in best or hit.score > best[cid].score:
                best[cid] = hit
    order = sorted(fused, key=lambda cid: (-fused[cid], -best[cid].score, cid))[:top_k]
    return [
        Hit(chunk=best[cid].chunk, score=best[cid].score, rank=i)
        for i, cid in enumerate(order, start=1)
    ]
