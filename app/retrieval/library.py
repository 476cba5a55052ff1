"""The retrieval facade: shared knowledge folder + per-chat uploads, searchable together.

Searches never wait. Every change builds a new immutable `LibraryState` (documents,
chat groups, index snapshot) and publishes it with one assignment; a search reads the
state that was current when it started. Changes are serialised by a writer lock that
searches never take, and parsing, chunking and analysis happen before that lock is
taken, in the parser pool's contained children (parsepool.py) while the caller's
(worker) thread waits.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.config import QueryExpansion, Settings
from app.retrieval import store
from app.retrieval.analyzer import analyze
from app.retrieval.bm25 import SHARED, BM25Index, BM25Params, restore, search
from app.retrieval.cache import CachedDoc, FileEntry, IndexCache, Manifest, content_id, signature
from app.retrieval.docstore import DocRecord, InMemoryChunks, LibraryState, doc_tags, slots_of
from app.retrieval.expansion import RM3, rm3_search
from app.retrieval.fields import feedback_terms
from app.retrieval.file_rules import type_problem
from app.retrieval.isolation import ParseLimits, Prepared
from app.retrieval.loaders import read_file
from app.retrieval.parsepool import POOL, Outcome
from app.retrieval.types import Chunk, DocumentRejected, Hit, IngestResult

log = logging.getLogger(__name__)

Pending = tuple[CachedDoc, str, str | None]  # parsed document, source, scope


@dataclass(slots=True)
class _Scan:
    """One folder scan's lookups: the document cache's files, and the pool's futures."""

    cached: set[str]  # doc ids the document cache has a file for
    parsing: dict[str, Future] = field(default_factory=dict)  # rel path -> its outcome


class Library:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.knowledge_dir = Path(settings.knowledge_dir)
        self.index_dir = Path(settings.resolved_index_dir)
        self._sig = signature(settings.chunk_tokens, settings.chunk_overlap)
        self._cache = IndexCache(self.index_dir, self._sig)
        self._params = BM25Params(settings.bm25_k1, settings.bm25_b, settings.bm25_epsilon)
        self._index = BM25Index(self._params)
        self._state = LibraryState(self._index.snapshot())
        self._write = threading.RLock()  # serialises changes; searches never take it
        self._next_num = 0
        self._next_group = SHARED
        self._manifest = Manifest()
        self._skipped: dict[str, str] = {}
        self._allowed = settings.upload_extensions
        self._limits = ParseLimits.from_settings(settings)
        self._chunking = (settings.chunk_tokens, settings.chunk_overlap)

    @classmethod
    def open(cls, settings: Settings) -> Library:
        lib = cls(settings)
        lib._manifest = lib._cache.load_manifest()
        if not lib._restore():
            lib._load_extras()
        lib.sync()
        return lib

    # --- preparing documents (no lock) ----------------------------------------------------
    def _prepare(self, data: bytes, name: str, doc_id: str) -> tuple[CachedDoc, bool]:
        """The chunked document and whether its text was cut at MAX_EXTRACTED_CHARS."""
        cached = self._cache.load_doc(doc_id, name)
        if cached is not None:
            return cached, False
        # Untrusted bytes: parsed, chunked and analysed by the parser pool's contained
        # children (CPU and memory limits), so neither a hostile file nor a huge one
        # stalls the chats; an upload goes ahead of any folder scan's queued files.
        p = POOL.prepare(data, name, self._limits, *self._chunking)
        return _cached(p, doc_id, name), p.truncated

    def _check_type(self, name: str) -> None:
        problem = type_problem(name, self._allowed)
        if problem:
            raise DocumentRejected(f"{name}: {problem}")

    # --- changing the state (under the writer lock) ---------------------------------------
    def _publish(self, docs: dict[int, DocRecord], keys: dict, groups: dict[str, int]) -> None:
        self._state = LibraryState(self._index.snapshot(), docs, keys, groups)

    def _group_for(self, scope: str, groups: dict[str, int]) -> int:
        group = groups.get(scope)
        if group is None:
            self._next_group += 1
            group = groups[scope] = self._next_group
        return group

    def _apply(self, remove: Iterable[tuple[str | None, str]], add: list[Pending]) -> None:
        """Remove and add documents in one batch each, then publish the result once."""
        st = self._state
        docs, keys, groups = dict(st.docs), dict(st.keys), dict(st.groups)
        gone = [keys.pop(k) for k in remove if k in keys]
        if gone:
            self._index.remove(slots_of(self._index.snapshot(), gone))
            for num in gone:
                del docs[num]
        by_scope: dict[str | None, list[Pending]] = {}
        for item in add:
            if (item[2], item[0].doc_id) not in keys:
                by_scope.setdefault(item[2], []).append(item)
        for scope, batch in by_scope.items():
            group = SHARED if scope is None else self._group_for(scope, groups)
            records = [self._record(cached, source, scope) for cached, source, _ in batch]
            counts = np.fromiter((r.n_chunks for r in records), np.int64, len(records))
            tags = doc_tags(records[0].num, counts)  # numbered consecutively by _record
            self._index.add_joined([t for c, _, _ in batch for t in c.terms], group, tags)
            for r in records:
                docs[r.num] = r
                keys[(scope, r.doc_id)] = r.num
        self._publish(docs, keys, groups)

    def _record(self, cached: CachedDoc, source: str, scope: str | None) -> DocRecord:
        self._next_num += 1
        chunks = InMemoryChunks(cached.chunks)
        return DocRecord(
            self._next_num, cached.doc_id, source, cached.title, scope, len(cached.chunks), chunks
        )

    # --- the saved index ------------------------------------------------------------------
    def _restore(self) -> bool:
        """Start from the saved shared index, if there is a good one."""
        name = self._manifest.snapshot
        loaded = store.load(self.index_dir, name, self._sig) if name else None
        if loaded is None:
            self._manifest.snapshot = None
            return False
        docs, keys = {}, {}
        first = self._next_num + 1
        for d in loaded.docs:
            self._next_num += 1
            chunks = store.StoredChunks(loaded.columns, d.first_row)
            docs[self._next_num] = DocRecord(
                self._next_num, d.doc_id, d.source, d.title, None, d.n_chunks, chunks
            )
            keys[(None, d.doc_id)] = self._next_num
        tags = doc_tags(first, np.array([d.n_chunks for d in loaded.docs], dtype=np.int64))
        self._index = restore(self._params, loaded.vocab, loaded.segments, loaded.doc_len, tags)
        self._publish(docs, keys, {})
        return True

    def _save(self) -> None:
        """Write the shared index and point the manifest at it (writer lock held)."""
        if self._cache.writable:
            try:
                name = store.save(self.index_dir, self._sig, self._state)
            except (OSError, ValueError) as e:
                log.warning("index snapshot not saved (%s); the next start re-reads documents", e)
                name = None
            self._manifest.snapshot = name
        self._cache.save_manifest(self._manifest)
        if self._cache.writable:
            store.prune(self.index_dir, self._manifest.snapshot)

    # --- knowledge folder -------------------------------------------------------------
    def _scan(self) -> list[tuple[str, str]]:
        """(path, path relative to the knowledge folder in POSIX form) of every file.

        Plain strings, not Path objects: at 20,000 files pathlib's parsing was a third of
        a warm start."""
        root = self.knowledge_dir
        if not root.is_dir():
            log.warning("knowledge folder %s does not exist; starting with no documents", root)
            return []
        index_dir = str(self.index_dir.resolve())
        found: list[Any] = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not d.startswith(".") and os.path.realpath(os.path.join(dirpath, d)) != index_dir
            )
            prefix = Path(dirpath).relative_to(root).as_posix()
            prefix = "" if prefix == "." else prefix + "/"
            found.extend(
                (os.path.join(dirpath, f), prefix + f)
                for f in sorted(filenames)
                if not f.startswith(".")
            )
        return found

    def _load_extras(self) -> None:
        """Shared documents that were uploaded rather than found in the folder."""
        items: list[Pending] = []
        for doc_id, name in list(self._manifest.extra.items()):
            cached = self._cache.load_doc(doc_id, name)
            if cached is None:
                log.warning("uploaded document %s is missing from the cache; dropping it", name)
                del self._manifest.extra[doc_id]
                continue
            items.append((cached, name, None))
        with self._write:
            self._apply([], items)

    def _folder_docs(self) -> dict[str, str]:
        """source -> doc_id of the shared documents that came from the folder."""
        extra = self._manifest.extra
        return {d.source: d.doc_id for d in self._state.shared() if d.doc_id not in extra}

    def _read_entry(self, path: str, rel: str) -> tuple[FileEntry, bytes | None]:
        """The file's manifest entry, by `stat` alone when size and mtime are unchanged."""
        st = os.stat(path)
        entry = self._manifest.files.get(rel)
        if entry is not None and (entry.size, entry.mtime_ns) == (st.st_size, st.st_mtime_ns):
            return entry, None
        data = read_file(path, self.settings.max_upload_bytes, rel)
        return FileEntry(st.st_size, st.st_mtime_ns, content_id(data)), data

    def _load_or_submit(
        self, scan: _Scan, path: str, rel: str, entry: FileEntry, data: bytes | None
    ) -> tuple[CachedDoc | None, FileEntry]:
        """The cached document, or None once the file is handed to the pool (its outcome
        will be `scan.parsing[rel]`)."""
        name = os.path.basename(path)
        if entry.doc_id in scan.cached:
            cached = self._cache.load_doc(entry.doc_id, name)
            if cached is not None:
                return cached, entry
        if data is None:
            data = read_file(path, self.settings.max_upload_bytes, rel)
            if content_id(data) != entry.doc_id:  # changed within the same mtime tick
                entry = FileEntry(entry.size, entry.mtime_ns, content_id(data))
        # Not written to the document cache: the saved index (store.py) already keeps the
        # folder's documents, and the file itself is there to re-parse if that is lost;
        # creating 20,000 small files was a third of a cold start.
        scan.parsing[rel] = POOL.submit(data, name, self._limits, self._chunking)
        return None, entry

    def _gather(self) -> tuple[dict[str, FileEntry], list[Pending], dict[str, str], int]:
        """Scan the folder; parse what is new or changed (no lock held)."""
        manifest = self._manifest
        current = self._folder_docs()
        new_files: dict[str, FileEntry] = {}
        found: list[tuple[CachedDoc | None, str]] = []
        skipped: dict[str, str] = {}
        claimed = set(manifest.extra)
        # Known files first, so that of two identical files the one indexed earlier stays.
        known = manifest.files
        scan = _Scan(self._cache.doc_ids())
        for path, rel in sorted(self._scan(), key=lambda item: item[1] not in known):
            try:
                self._check_type(os.path.basename(path))
                entry, data = self._read_entry(path, rel)
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
                cached, new_files[rel] = self._load_or_submit(scan, path, rel, entry, data)
                found.append((cached, rel))
            except DocumentRejected as e:
                skipped[rel] = e.reason
                new_files.pop(rel, None)
            except OSError as e:
                skipped[rel] = f"{rel} could not be read ({e.strerror or e})"
        # Waits for the pool's children; the scan above read files while they parsed.
        parsed: dict[str, Outcome] = {rel: f.result() for rel, f in scan.parsing.items()}
        return new_files, _collect(found, parsed, new_files, skipped), skipped, len(parsed)

    def sync(self) -> None:
        """Bring the shared index in line with the knowledge folder."""
        new_files, pending, skipped, parsed = self._gather()
        for rel, reason in skipped.items():
            if self._skipped.get(rel) != reason:
                log.warning("skipped %s: %s", rel, reason)
        with self._write:
            manifest = self._manifest
            keep = {(rel, e.doc_id) for rel, e in new_files.items()}
            replaced = {source for _, source, _ in pending}
            gone = [
                (None, doc_id)
                for rel, doc_id in self._folder_docs().items()
                if (rel, doc_id) not in keep or rel in replaced
            ]
            self._apply(gone, pending)
            self._skipped = skipped
            changed = new_files != manifest.files or bool(gone) or bool(pending)
            manifest.files = new_files
            unsaved = manifest.snapshot is None and bool(self._state.shared())
            if changed or parsed or unsaved:
                self._save()
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
        st = self._state
        existing = st.find(scope, doc_id) or st.find(None, doc_id)
        if existing is not None:
            return IngestResult(existing.source, doc_id, existing.n_chunks, _since(t0))
        cached, truncated = self._prepare(data, name, doc_id)
        source = name
        if scope is None:
            try:
                source = path.resolve().relative_to(self.knowledge_dir.resolve()).as_posix()
            except ValueError:
                source = name
        with self._write:
            doc = self._state.find(scope, doc_id)
            if doc is not None:  # a concurrent add of the same file won
                return IngestResult(doc.source, doc_id, doc.n_chunks, _since(t0))
            self._apply([], [(cached, source, scope)])
            if scope is None:
                self._cache.save_doc(cached)
                self._manifest.excluded.discard(doc_id)
                if source == name:
                    self._manifest.extra[doc_id] = name
                self._save()
        log.info("indexed %s (%d chunks) in %.0f ms", name, len(cached.chunks), _since(t0) * 1e3)
        return IngestResult(source, doc_id, len(cached.chunks), _since(t0), truncated)

    def remove_document(self, doc_id: str, scope: str | None = None) -> bool:
        with self._write:
            if self._state.find(scope, doc_id) is None:
                return False
            self._apply([(scope, doc_id)], [])
            if scope is None:
                if self._manifest.extra.pop(doc_id, None) is None:
                    # A knowledge-folder file: keep it out until its content changes.
                    self._manifest.excluded.add(doc_id)
                self._save()
            return True

    def drop_scope(self, scope: str) -> None:
        """Forget a chat's uploads (its statistics go with them; no postings are read)."""
        with self._write:
            st = self._state
            groups = dict(st.groups)
            group = groups.pop(scope, None)
            if group is None:
                return
            gone = [k for k in st.keys if k[0] == scope]
            keys = {k: n for k, n in st.keys.items() if k[0] != scope}
            docs = {n: st.docs[n] for n in keys.values()}
            self._index.drop_group(group)
            self._publish(docs, keys, groups)
            log.debug("dropped chat %s (%d documents)", scope, len(gone))

    def search(self, query: str, k: int, scope: str | None = None) -> list[Hit]:
        terms = analyze(query)
        st = self._state  # one consistent state, whatever writers do meanwhile
        group = SHARED if scope is None else st.groups.get(scope, SHARED)
        if self.settings.query_expansion is QueryExpansion.RM3:
            slots, scores = rm3_search(st.index, terms, k, _terms_of(st), RM3(), group)
        else:
            slots, scores = search(st.index, terms, k, group)
        chunks: list[Chunk] = st.chunks_at(slots)
        return [
            Hit(c, float(s), rank)
            for rank, (c, s) in enumerate(zip(chunks, scores.tolist(), strict=True), start=1)
        ]

    def skipped(self) -> list[tuple[str, str]]:
        return sorted(self._skipped.items())

    def stats(self) -> dict:
        st = self._state
        shared = st.shared()
        shared_chunks = sum(d.n_chunks for d in shared)
        return {
            "documents": len(shared),
            "chunks": shared_chunks,
            "uploaded_documents": len(st.docs) - len(shared),
            "uploaded_chunks": sum(d.n_chunks for d in st.docs.values()) - shared_chunks,
            "scopes": len(st.groups),
            "vocabulary": st.index.vocabulary_size,
            "postings": st.index.postings,
            "slots": st.index.n_slots,
            "skipped": len(self._skipped),
            "index_dir": str(self.index_dir),
        }


def _cached(p: Prepared, doc_id: str, name: str) -> CachedDoc:
    return CachedDoc(doc_id, name, p.title, p.chunks, p.joined_terms)


def _collect(
    found: list[tuple[CachedDoc | None, str]],
    parsed: dict,
    files: dict[str, FileEntry],
    skipped: dict[str, str],
) -> list[Pending]:
    """The documents found, in folder order, with the pool's outcomes in place of None;
    files it rejected move from `files` to `skipped`."""
    pending: list[Pending] = []
    for cached, rel in found:
        if cached is None:
            outcome = parsed.get(rel) or DocumentRejected(f"{rel} could not be read")
            if isinstance(outcome, DocumentRejected):
                skipped[rel] = outcome.reason
                files.pop(rel, None)
                continue
            cached = _cached(outcome, files[rel].doc_id, os.path.basename(rel))
        pending.append((cached, rel, None))
    return pending


def _terms_of(st: LibraryState) -> Callable[[np.ndarray], list[list[str]]]:
    """The index terms of chunks, analysed from their text (a handful per search, remembered)."""
    return lambda slots: [feedback_terms(c.title, c.section, c.text) for c in st.chunks_at(slots)]


def _since(t0: float) -> float:
    return time.perf_counter() - t0
