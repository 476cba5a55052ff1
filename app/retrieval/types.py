"""Value types shared by the retrieval package and its callers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Chunk:
    id: str  # f"{doc_id}:{ordinal}", stable across restarts for the same content
    doc_id: str  # content hash of the source file
    source: str  # path relative to the knowledge dir, or the uploaded file's name
    title: str  # document title, or the file stem
    section: str | None  # heading path "A › B" (Markdown, DOCX, HTML)
    page: int | None  # 1-based PDF page
    start: int  # character span in the extracted document text
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Hit:
    chunk: Chunk
    score: float
    rank: int  # 1-based


@dataclass(frozen=True, slots=True)
class IngestResult:
    source: str
    doc_id: str
    chunks: int
    seconds: float
    truncated: bool = False  # only the first MAX_EXTRACTED_CHARS of the text were indexed


class DocumentRejected(Exception):
    """A file that cannot be indexed. `str(e)` is a short reason fit to show a user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason
