"""What the library knows about each indexed document, as immutable values.

A `LibraryState` is one consistent picture (documents, chat groups, index snapshot);
the library publishes a new one with a single assignment after every change, so a
search reads one state from start to finish without locks. Index slots carry a tag,
`doc number << 24 | chunk ordinal`, that leads from a hit back to its chunk; document
numbers are never reused, so a tag read from an old snapshot can never name a newer
document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from app.retrieval.bm25 import Snapshot
from app.retrieval.types import Chunk

ORDINAL_BITS = 24

ChunkRow = tuple[int, int, str | None, int | None, str]  # start, end, section, page, text


class ChunkSource(Protocol):
    def row(self, i: int) -> ChunkRow: ...


@dataclass(frozen=True, slots=True)
class InMemoryChunks:
    rows: Sequence[ChunkRow]

    def row(self, i: int) -> ChunkRow:
        return self.rows[i]


@dataclass(frozen=True, slots=True)
class DocRecord:
    num: int  # never reused; slot tags carry it
    doc_id: str
    source: str
    title: str
    scope: str | None
    n_chunks: int
    chunks: ChunkSource

    def chunk(self, ordinal: int) -> Chunk:
        start, end, section, page, text = self.chunks.row(ordinal)
        return Chunk(
            f"{self.doc_id}:{ordinal}",
            self.doc_id,
            self.source,
            self.title,
            section,
            page,
            start,
            end,
            text,
        )


@dataclass(frozen=True, slots=True)
class LibraryState:
    index: Snapshot
    docs: dict[int, DocRecord] = field(default_factory=dict)  # number -> record
    keys: dict[tuple[str | None, str], int] = field(default_factory=dict)  # (scope, id) -> num
    groups: dict[str, int] = field(default_factory=dict)  # chat scope -> index group

    def find(self, scope: str | None, doc_id: str) -> DocRecord | None:
        num = self.keys.get((scope, doc_id))
        return None if num is None else self.docs[num]

    def shared(self) -> list[DocRecord]:
        return [d for d in self.docs.values() if d.scope is None]

    def chunks_at(self, slots: np.ndarray) -> list[Chunk]:
        tags = self.index.tag[slots].tolist()
        mask = (1 << ORDINAL_BITS) - 1
        return [self.docs[t >> ORDINAL_BITS].chunk(t & mask) for t in tags]


def slots_of(index: Snapshot, nums: Sequence[int]) -> np.ndarray:
    """Live slots holding chunks of the given documents."""
    if not nums:
        return np.zeros(0, dtype=np.int64)
    owners = index.tag >> ORDINAL_BITS
    hit = np.isin(owners, np.asarray(nums, dtype=np.int64)) & (index.owner >= 0)
    return np.flatnonzero(hit)


def doc_tags(first_num: int, n_chunks: np.ndarray) -> np.ndarray:
    """Tags of consecutive documents numbered from `first_num`, all at once."""
    nums = np.repeat(np.arange(first_num, first_num + n_chunks.shape[0]), n_chunks)
    starts = np.repeat(np.cumsum(n_chunks) - n_chunks, n_chunks)
    return (nums << ORDINAL_BITS) + (np.arange(nums.shape[0]) - starts)
