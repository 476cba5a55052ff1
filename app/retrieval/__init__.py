"""Retrieval: load documents, chunk them, and rank chunks with BM25.

Public entry points: `Library` (knowledge folder + per-chat uploads), `analyze` (the
shared text-to-terms pipeline) and `load_document` (one file to text with citations).
"""

from app.retrieval.analyzer import analyze
from app.retrieval.library import Library
from app.retrieval.loaders import Document, load_document
from app.retrieval.types import Chunk, DocumentRejected, Hit, IngestResult

__all__ = [
    "Chunk",
    "Document",
    "DocumentRejected",
    "Hit",
    "IngestResult",
    "Library",
    "analyze",
    "load_document",
]
