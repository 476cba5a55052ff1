"""On-disk cache of parsed, chunked and analysed documents, keyed by content hash.

    <index_dir>/manifest.json      path -> (size, mtime_ns, doc_id), so unchanged files
                                   are recognised by `stat` alone, without re-reading
    <index_dir>/docs/<doc_id>.json chunks (span, section, page, text) and their terms

    <index_dir>/snapshots/...     the whole shared index, memory-mapped on start (store.py)

Every write goes to a temporary file that is renamed over the target. The manifest is
fsynced first, so a crash leaves the old manifest or the new one; document files are
not (one fsync per file made a cold start a third slower): a document torn by a crash
fails to parse or validate on load, counts as a miss and is re-parsed. Anything
unreadable, from another format version or from other chunking settings counts as a
miss and is rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

FORMAT = 1
ANALYZER_VERSION = 1  # bump when analyze() changes what it emits
CHUNKER_VERSION = 3  # bump when loaders or chunk_document() change the chunks they produce


def content_id(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=10).hexdigest()


def signature(chunk_tokens: int, chunk_overlap: int) -> dict[str, int]:
    return {
        "format": FORMAT,
        "analyzer": ANALYZER_VERSION,
        "chunker": CHUNKER_VERSION,
        "chunk_tokens": chunk_tokens,
        "chunk_overlap": chunk_overlap,
    }


@dataclass(frozen=True, slots=True)
class CachedDoc:
    doc_id: str
    name: str  # the file name the title may have been derived from
    title: str
    # (start, end, section, page, text) per chunk
    chunks: list[tuple[int, int, str | None, int | None, str]]
    # Each chunk's terms joined by spaces (terms never contain whitespace): one string per
    # chunk instead of a list of strings keeps the cyclic GC's work, and its pauses, small.
    terms: list[str]


@dataclass(frozen=True, slots=True)
class FileEntry:
    size: int
    mtime_ns: int
    doc_id: str


@dataclass(slots=True)
class Manifest:
    files: dict[str, FileEntry] = field(default_factory=dict)  # knowledge-dir files
    extra: dict[str, str] = field(default_factory=dict)  # doc_id -> name, added by upload
    excluded: set[str] = field(default_factory=set)  # doc_ids removed by remove_document
    snapshot: str | None = None  # current generation under snapshots/ (store.py)

    def referenced(self) -> set[str]:
        return {e.doc_id for e in self.files.values()} | set(self.extra)


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class IndexCache:
    def __init__(self, root: Path, sig: dict[str, int]):
        self.root = root
        self.sig = sig
        self.writable = True

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def _doc_path(self, doc_id: str) -> str:
        # A plain string: a folder scan asks for every new file, and on a cold start each
        # one is a miss, where pathlib was most of the cost.
        return os.path.join(self.root, "docs", doc_id + ".json")

    def _write(self, path: Path, payload: object, *, durable: bool = True) -> None:
        if not self.writable:
            return
        try:
            data = json.dumps(payload, ensure_ascii=False).encode()
            atomic_write(path, data, durable=durable)
        except OSError as e:
            # A read-only knowledge folder still works; it just re-parses on every start.
            log.warning("index cache disabled: cannot write %s (%s)", path, e)
            self.writable = False

    # --- manifest ---------------------------------------------------------------------
    def load_manifest(self) -> Manifest:
        try:
            raw = json.loads(self.manifest_path.read_bytes())
            if raw.get("signature") != self.sig:
                log.info("index cache is from other settings or an older version; rebuilding")
                return Manifest()
            return Manifest(
                files={p: FileEntry(*e) for p, e in raw["files"].items()},
                extra=dict(raw["extra"]),
                excluded=set(raw["excluded"]),
                snapshot=raw.get("snapshot"),
            )
        except FileNotFoundError:
            return Manifest()
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            log.warning("index manifest unreadable (%s); rebuilding", e)
            return Manifest()

    def save_manifest(self, m: Manifest) -> None:
        self._write(
            self.manifest_path,
            {
                "signature": self.sig,
                "files": {p: [e.size, e.mtime_ns, e.doc_id] for p, e in sorted(m.files.items())},
                "extra": m.extra,
                "excluded": sorted(m.excluded),
                "snapshot": m.snapshot,
            },
        )

    # --- documents --------------------------------------------------------------------
    def doc_ids(self) -> set[str]:
        """The documents the cache holds a file for: one listing, so that a folder scan
        doesn't try to open a cache file for each of 20,000 files it has none for."""
        try:
            names = os.listdir(os.path.join(self.root, "docs"))
        except OSError:
            return set()
        return {n[:-5] for n in names if n.endswith(".json") and not n.startswith(".")}

    def load_doc(self, doc_id: str, name: str) -> CachedDoc | None:
        path = self._doc_path(doc_id)
        try:
            with open(path, "rb") as f:
                raw = json.loads(f.read())
            if raw["signature"] != self.sig or raw["doc_id"] != doc_id or raw["name"] != name:
                return None
            chunks = [(int(s), int(e), sec, pg, str(t)) for s, e, sec, pg, t in raw["chunks"]]
            terms = [str(t) for t in raw["terms"]]
            if len(terms) != len(chunks):
                raise ValueError("chunk and term counts differ")
            return CachedDoc(doc_id, name, str(raw["title"]), chunks, terms)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("cached document %s.json unreadable (%s); re-parsing", doc_id, e)
            return None

    def save_doc(self, doc: CachedDoc) -> None:
        self._write(
            Path(self._doc_path(doc.doc_id)),
            {
                "signature": self.sig,
                "doc_id": doc.doc_id,
                "name": doc.name,
                "title": doc.title,
                "chunks": doc.chunks,
                "terms": doc.terms,
            },
            durable=False,
        )

    def prune(self, keep: set[str]) -> None:
        """Delete cached documents no longer referenced by the manifest."""
        if not self.writable:
            return
        try:
            for p in (self.root / "docs").glob("*.json"):
                if p.stem not in keep:
                    p.unlink(missing_ok=True)
            # Leftovers of writes interrupted by a crash.
            for p in [*self.root.glob(".*.tmp"), *(self.root / "docs").glob(".*.tmp")]:
                p.unlink(missing_ok=True)
        except OSError as e:
            log.warning("could not prune index cache (%s)", e)
