"""Retrieval: load documents, chunk them, and rank chunks with BM25.

Public entry points: `Library` (knowledge folder + per-chat uploads), `analyze` (the
shared text-to-terms pipeline) and `load_document` (one file to text with citations).

The names are imported on first use (PEP 562): the parser pool's fork server imports
modules of this package, and with eager imports it also loaded the library, numpy and
the settings, which no parser child uses (0.45 s of its start-up, before the first file
of a cold start could be parsed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names as type checkers see them (`as`: re-exported)
    from app.retrieval.analyzer import analyze as analyze
    from app.retrieval.library import Library as Library
    from app.retrieval.loaders import Document as Document
    from app.retrieval.loaders import load_document as load_document
    from app.retrieval.types import Chunk as Chunk
    from app.retrieval.types import DocumentRejected as DocumentRejected
    from app.retrieval.types import Hit as Hit
    from app.retrieval.types import IngestResult as IngestResult

_HOMES = {
    "analyze": "app.retrieval.analyzer",
    "Library": "app.retrieval.library",
    "Document": "app.retrieval.loaders",
    "load_document": "app.retrieval.loaders",
    "Chunk": "app.retrieval.types",
    "DocumentRejected": "app.retrieval.types",
    "Hit": "app.retrieval.types",
    "IngestResult": "app.retrieval.types",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
