"""The retrieval facade: shared knowledge folder + per-chat uploads, searchable together.

Parsing, chunking and analysis happen outside the lock; only the index update and the
bookkeeping that goes with it hold it, so a chat can search while another chat's upload
is being parsed, and a search never sees half of a document.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.config import Settings
from app.retrieval.analyzer import analyze
from app.retrieval.bm25 import SHARED, BM25Index, BM25Params
from app.retrieval.cache import CachedDoc, FileEntry, IndexCache, Manifest, content_id, signature
from app.retrieval.isolation import ParseLimits, prepare_file
from app.retrieval.loaders import SUPPORTED, read_file
from app.retrieval.types import Chunk, DocumentRejected, Hit, IngestResult

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Doc:
    doc_id: str
    source: str
    title: str
    scope: str | None
    slots: np.ndarray
    chunks: list[Chunk]


def _make_chunks(cached: CachedDoc, source: str) -> list[Chunk]:
    return [
        Chunk(f"{cached.doc_id}:{i}", cached.doc_id, source, cached.title, sec, pg, s, e, text)
        for i, (s, e, sec, pg, text) in enumerate(cached.chunks)
    ]


class Library:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.knowledge_dir = Path(settings.knowledge_dir)
        self.index_dir = Path(settings.resolved_index_dir)
        self._cache = IndexCache(
            self.index_dir, signature(settings.chunk_tokens, settings.chunk_overlap)
        )
        self._index = BM25Index(
            BM25Params(settings.bm25_k1, settings.bm25_b, settings.bm25_epsilon)
        )
        self._lock = threading.RLock()
        self._chunks: dict[int, Chunk] = {}  # slot -> chunk
        self._docs: dict[tuple[str | None, str], _Doc] = {}  # (scope, doc_id) -> doc
        self._groups: dict[str, int] = {}  # scope -> index group
        self._next_group = SHARED
        self._manifest = Manifest()
        self._skipped: dict[str, str] = {}

    @classmethod
    def open(cls, settings: Settings) -> Library:
        lib = cls(settings)
        lib._manifest = lib._cache.load_manifest()
        lib._load_extras()
        lib.sync()
        return lib

    # --- preparing documents (no lock) ----------------------------------------------------
    def _prepare(self, data: bytes, name: str, doc_id: str) -> tuple[CachedDoc, bool]:
        """The chunked document and whether its text was cut at MAX_EXTRACTED_CHARS."""
        cached = self._cache.load_doc(doc_id, name)
        if cached is not None:
            return cached, False
        # Untrusted bytes: parsed, chunked and analysed in a child process with CPU and
        # memory limits, so neither a hostile file nor a huge one stalls the chats.
        s = self.settings
        p = prepare_file(data, name, ParseLimits.from_settings(s), s.chunk_tokens, s.chunk_overlap)
        return CachedDoc(doc_id, name, p.title, p.chunks, p.terms), p.truncated

    def _check_type(self, name: str) -> None:
        ext = Path(name).suffix.lower()
        allowed = self.settings.upload_extensions & SUPPORTED
        if ext not in allowed:
            raise DocumentRejected(
                f"{name}: {ext or 'extension-less'} files are not accepted "
                f"(allowed: {', '.join(sorted(allowed))})"
            )

    # --- applying documents (under the lock) ------------------------------------------
    def _insert(self, items: list[tuple[CachedDoc, str, str | None]]) -> None:
        """Index many documents in one batch: one segment, one statistics update."""
        by_scope: dict[str | None, list[int]] = {}
        for i, (_, _, scope) in enumerate(items):
            by_scope.setdefault(scope, []).append(i)
        for scope, idxs in by_scope.items():
            group = SHARED if scope is None else self._group_for(scope)
            batch = [items[i] for i in idxs]
            slots = self._index.add([t for c, _, _ in batch for t in c.terms], group)
            offset = 0
            for cached, source, _ in batch:
                n = len(cached.chunks)
                doc_slots = slots[offset : offset + n]
                offset += n
                chunks = _make_chunks(cached, source)
                self._chunks.update(zip(doc_slots.tolist(), chunks, strict=True))
                self._docs[(scope, cached.doc_id)] = _Doc(
                    cached.doc_id, source, cached.title, scope, doc_slots, chunks
                )

    def _group_for(self, scope: str) -> int:
        group = self._groups.get(scope)
        if group is None:
            self._next_group += 1
            group = self._groups[scope] = self._next_group
        return group

    def _delete(self, key: tuple[str | None, str]) -> bool:
        doc = self._docs.pop(key, None)
        if doc is None:
            return False
        self._index.remove(doc.slots)
        for s in doc.slots.tolist():
            self._chunks.pop(s, None)
        return True

    # --- knowledge folder -------------------------------------------------------------
    def _scan(self) -> list[Path]:
        root = self.knowledge_dir
        if not root.is_dir():
            log.warning("knowledge folder %s does not exist; starting with no documents", root)
            return []
        index_dir = self.index_dir.resolve()
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = sorted(
                d for d in dirnames if not d.startswith(".") and (here / d).resolve() != index_dir
            )
            found.extend(here / f for f in sorted(filenames) if not f.startswith("."))
        return found

    def _load_extras(self) -> None:
        """Shared documents that were uploaded rather than found in the folder."""
        items = []
        for doc_id, name in list(self._manifest.extra.items()):
            cached = self._cache.load_doc(doc_id, name)
            if cached is None:
                log.warning("uploaded document %s is missing from the cache; dropping it", name)
                del self._manifest.extra[doc_id]
                continue
            items.append((cached, name, None))
        with self._lock:
            self._insert(items)

    def sync(self) -> None:
        """Bring the shared index in line with the knowledge folder."""
        max_bytes = self.settings.max_upload_bytes
        manifest = self._manifest
        new_files: dict[str, FileEntry] = {}
        pending: list[tuple[CachedDoc, str, str | None]] = []
        skipped: dict[str, str] = {}
        parsed = 0
        with self._lock:
            current = {
                d.source: d.doc_id
                for (scope, _), d in self._docs.items()
                if scope is None and d.doc_id not in manifest.extra
            }
        claimed = set(manifest.extra)
        # Known files first, so that of two identical files the one indexed earlier stays.
        known = manifest.files
        scan = sorted(
            self._scan(), key=lambda p: p.relative_to(self.knowledge_dir).as_posix() not in known
        )
        for path in scan:
            rel = path.relative_to(self.knowledge_dir).as_posix()
            try:
                self._check_type(path.name)
                st = path.stat()
                entry = manifest.files.get(rel)
                if entry is None or (entry.size, entry.mtime_ns) != (st.st_size, st.st_mtime_ns):
                    data = read_file(path, max_bytes, rel)
                    entry = FileEntry(st.st_size, st.st_mtime_ns, content_id(data))
                else:
                    data = None
                if entry.doc_id in manifest.excluded:
                    new_files[rel] = entry
                    continue
                if entry.doc_id in claimed:
                    other = next((p for p, e in new_files.items() if e.doc_id == entry.doc_id), "")
                    raise DocumentRejected(f"{rel} is a duplicate of {other or 'an upload'}")
                claimed.add(entry.doc_id)
                new_files[rel] = entry
                if current.get(rel) == entry.doc_id:
                    continue
                cached = self._cache.load_doc(entry.doc_id, path.name)
                if cached is None:
                    if data is None:
                        data = read_file(path, max_bytes, rel)
                        if content_id(data) != entry.doc_id:  # changed in the same mtime tick
                            entry = FileEntry(st.st_size, st.st_mtime_ns, content_id(data))
                            new_files[rel] = entry
                    cached, _ = self._prepare(data, path.name, entry.doc_id)
                    self._cache.save_doc(cached)
                    parsed += 1
                pending.append((cached, rel, None))
            except DocumentRejected as e:
                skipped[rel] = e.reason
                new_files.pop(rel, None)
            except OSError as e:
                skipped[rel] = f"{rel} could not be read ({e.strerror or e})"
        for rel, reason in skipped.items():
            if self._skipped.get(rel) != reason:
                log.warning("skipped %s: %s", rel, reason)

        with self._lock:
            keep = {(rel, e.doc_id) for rel, e in new_files.items()}
            replaced = {source for _, source, _ in pending}
            for rel, doc_id in current.items():
                if (rel, doc_id) not in keep or rel in replaced:
                    self._delete((None, doc_id))
            self._insert(pending)
            self._skipped = skipped
            changed = new_files != manifest.files
            manifest.files = new_files
            if changed or parsed:
                self._cache.save_manifest(manifest)
                self._cache.prune(manifest.referenced())
        if pending:
            log.info("indexed %d documents (%d parsed, the rest cached)", len(pending), parsed)

    # --- public API -------------------------------------------------------------------
    def add_file(
        self, path: Path, scope: str | None = None, display_name: str | None = None
    ) -> IngestResult:
        """Index one file now. scope None adds it to the shared knowledge (and the cache);
        a scope (chat id) keeps it in memory, visible to that scope's searches only."""
        t0 = time.perf_counter()
        path = Path(path)
        name = display_name or path.name
        self._check_type(name)
        data = read_file(path, self.settings.max_upload_bytes, name)
        doc_id = content_id(data)
        with self._lock:
            existing = self._docs.get((scope, doc_id)) or self._docs.get((None, doc_id))
        if existing is not None:
            return IngestResult(existing.source, doc_id, len(existing.chunks), _since(t0))
        cached, truncated = self._prepare(data, name, doc_id)
        source = name
        if scope is None:
            try:
                source = path.resolve().relative_to(self.knowledge_dir.resolve()).as_posix()
            except ValueError:
                source = name
        with self._lock:
            if (scope, doc_id) in self._docs:  # a concurrent add of the same file won
                doc = self._docs[(scope, doc_id)]
                return IngestResult(doc.source, doc_id, len(doc.chunks), _since(t0))
            self._insert([(cached, source, scope)])
            if scope is None:
                self._cache.save_doc(cached)
                self._manifest.excluded.discard(doc_id)
                if source == name:
                    self._manifest.extra[doc_id] = name
                self._cache.save_manifest(self._manifest)
        log.info("indexed %s (%d chunks) in %.0f ms", name, len(cached.chunks), _since(t0) * 1e3)
        return IngestResult(source, doc_id, len(cached.chunks), _since(t0), truncated)

    def remove_document(self, doc_id: str, scope: str | None = None) -> bool:
        with self._lock:
            removed = self._delete((scope, doc_id))
            if removed and scope is None:
                if self._manifest.extra.pop(doc_id, None) is None:
                    # A knowledge-folder file: keep it out until its content changes.
                    self._manifest.excluded.add(doc_id)
                self._cache.save_manifest(self._manifest)
            return removed

    def drop_scope(self, scope: str) -> None:
        with self._lock:
            for key in [k for k in self._docs if k[0] == scope]:
                doc = self._docs.pop(key)
                for s in doc.slots.tolist():
                    self._chunks.pop(s, None)
            group = self._groups.pop(scope, None)
            if group is not None:
                self._index.drop_group(group)

    def search(self, query: str, k: int, scope: str | None = None) -> list[Hit]:
        terms = analyze(query)
        with self._lock:
            group = SHARED if scope is None else self._groups.get(scope, SHARED)
            slots, scores = self._index.search(terms, k, group)
            chunks = [self._chunks[s] for s in slots.tolist()]
        return [
            Hit(c, float(s), rank)
            for rank, (c, s) in enumerate(zip(chunks, scores.tolist(), strict=True), start=1)
        ]

    def skipped(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._skipped.items())

    def stats(self) -> dict:
        with self._lock:
            shared = [d for (s, _), d in self._docs.items() if s is None]
            return {
                "documents": len(shared),
                "chunks": sum(len(d.chunks) for d in shared),
                "uploaded_documents": len(self._docs) - len(shared),
                "uploaded_chunks": len(self._chunks) - sum(len(d.chunks) for d in shared),
                "scopes": len(self._groups),
                "vocabulary": self._index.vocabulary_size,
                "postings": self._index.postings,
                "skipped": len(self._skipped),
                "index_dir": str(self.index_dir),
            }


def _since(t0: float) -> float:
    return time.perf_counter() - t0
