from __future__ import annotations

import numpy as np
import pytest

from app.retrieval import segments
from app.retrieval.segments import Segment, concat, merge, tiered


def slot_ordered_segments(seed: int, n: int = 4) -> tuple[list[Segment], int]:
    rng = np.random.default_rng(seed)
    out, base = [], 0
    for _ in range(n):
        docs = int(rng.integers(20, 400))
        slots = np.repeat(np.arange(base, base + docs), rng.integers(1, 30, docs))
        out.append(Segment.from_tokens(rng.integers(0, 300, slots.shape[0]), slots))
        base += docs
    return out, base


def same(a: Segment, b: Segment) -> None:
    for part in ("terms", "indptr", "docs", "tfs"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part), err_msg=part)


@pytest.mark.parametrize("block", [37, 1000, 2_000_000])
def test_concat_equals_the_sorting_merge(monkeypatch, block):
    monkeypatch.setattr(segments, "MERGE_BLOCK", block)  # a size, not behaviour: small blocks
    segs, n_slots = slot_ordered_segments(seed=block)
    same(concat(segs), merge(segs, np.ones(n_slots, dtype=np.bool_)))


def test_merge_drops_dead_slots_and_renumbers():
    segs, n_slots = slot_ordered_segments(seed=9)
    keep = np.ones(n_slots, dtype=np.bool_)
    keep[::3] = False
    new_slot = np.cumsum(keep) - 1
    merged = merge(segs[::-1], keep, new_slot)  # any input order
    full = merge(segs, np.ones(n_slots, dtype=np.bool_))
    terms = np.repeat(full.terms, np.diff(full.indptr))
    alive = keep[full.docs]
    expected = Segment.from_sorted(terms[alive], new_slot[full.docs[alive]], full.tfs[alive])
    same(merged, expected)


def test_tiered_keeps_a_stream_of_small_segments_few():
    segs: list[Segment] = []
    for i in range(200):
        segs.append(Segment.from_tokens(np.array([i % 5, 7]), np.array([i, i])))
        segs = tiered(segs, np.ones(200, dtype=np.bool_))
    assert len(segs) <= 8
    assert sum(s.nnz for s in segs) == 400
