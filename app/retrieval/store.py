"""The shared index on disk, so a warm start maps files instead of rebuilding anything.

    <index_dir>/snapshots/<generation>/
        meta.json           signature, documents (id, source, title, chunk count), sections
        vocab.txt           one term per line, in term-id order
        doc_len.npy         terms per chunk, in row order
        seg<i>.*.npy        each postings segment's terms / indptr / docs / tfs
        start/end/page/section/offsets.npy, text.bin   the chunks' citation data and text

Rows are the shared chunks ordered by (document, ordinal); a row is its slot after
loading. Arrays are loaded with `mmap_mode="r"`: nothing is parsed or copied up front,
the OS pages in what searches touch. A generation is written to a temporary folder,
fsynced, then renamed into place; the manifest names the current one, so a crash leaves
either the old generation or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.retrieval.bm25 import SHARED, Snapshot
from app.retrieval.docstore import ChunkRow, DocRecord, LibraryState
from app.retrieval.segments import Segment, merge

log = logging.getLogger(__name__)

_SEG_PARTS = ("terms", "indptr", "docs", "tfs")
_COLUMNS = ("start", "end", "page", "section", "offsets")


@dataclass(frozen=True, slots=True)
class StoredDoc:
    doc_id: str
    source: str
    title: str
    n_chunks: int
    first_row: int


@dataclass(frozen=True, slots=True, eq=False)
class Columns:
    """Chunk citation data and text for every row, memory-mapped."""

    start: np.ndarray
    end: np.ndarray
    page: np.ndarray  # 0: no page
    section: np.ndarray  # index into sections, -1: none
    offsets: np.ndarray  # row r's UTF-8 text is text[offsets[r]:offsets[r + 1]]
    text: np.ndarray
    sections: list[str]

    def row(self, r: int) -> ChunkRow:
        a, b = int(self.offsets[r]), int(self.offsets[r + 1])
        sec, page = int(self.section[r]), int(self.page[r])
        return (
            int(self.start[r]),
            int(self.end[r]),
            self.sections[sec] if sec >= 0 else None,
            page or None,
            self.text[a:b].tobytes().decode("utf-8"),
        )


@dataclass(frozen=True, slots=True)
class StoredChunks:
    columns: Columns
    first: int

    def row(self, i: int) -> ChunkRow:
        return self.columns.row(self.first + i)


@dataclass(frozen=True, slots=True, eq=False)
class Loaded:
    vocab: list[str]
    segments: list[Segment]
    doc_len: np.ndarray
    docs: list[StoredDoc]
    columns: Columns


# --- writing ------------------------------------------------------------------------------
def _row_slots(snap: Snapshot) -> np.ndarray:
    """Live shared slots ordered by tag, i.e. by (document number, ordinal)."""
    shared = np.flatnonzero(snap.owner == SHARED)
    return shared[np.argsort(snap.tag[shared], kind="stable")]


def _renumbered_segments(snap: Snapshot, rows: np.ndarray) -> tuple[list[Segment], np.ndarray]:
    """Segments over rows instead of slots, and over shared terms only; the used mask."""
    new_slot = np.full(snap.n_slots, -1, dtype=np.int64)
    new_slot[rows] = np.arange(rows.shape[0])
    keep = new_slot >= 0
    used = np.zeros(snap.n_terms, dtype=np.bool_)
    used[: snap.df_shared.shape[0]] = snap.df_shared[: snap.n_terms] > 0
    identity = bool(keep.all()) and bool((new_slot == np.arange(snap.n_slots)).all())
    if identity and bool(used.all()):
        return list(snap.segments), used
    new_term = np.cumsum(used) - 1
    segs = [merge([s], keep, new_slot, new_term) for s in snap.segments]
    return [s for s in segs if s.nnz], used


def _write_columns(folder: Path, docs: list[DocRecord]) -> list[str]:
    n = sum(d.n_chunks for d in docs)
    start, end = np.zeros(n, np.int64), np.zeros(n, np.int64)
    page, section = np.zeros(n, np.int32), np.full(n, -1, np.int32)
    offsets = np.zeros(n + 1, np.int64)
    sections: dict[str, int] = {}
    r = 0
    with open(folder / "text.bin", "wb") as f:
        for d in docs:
            for i in range(d.n_chunks):
                s, e, sec, pg, text = d.chunks.row(i)
                data = text.encode("utf-8")
                f.write(data)
                start[r], end[r], page[r] = s, e, pg or 0
                if sec is not None:
                    section[r] = sections.setdefault(sec, len(sections))
                offsets[r + 1] = offsets[r] + len(data)
                r += 1
    for name, arr in zip(_COLUMNS, (start, end, page, section, offsets), strict=True):
        np.save(folder / f"{name}.npy", arr)  # type: ignore[arg-type]
    return list(sections)


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_tree(folder: Path) -> None:
    # All at once: the file system commits concurrent fsyncs together (a third of the
    # time of one after another for a generation's dozen files, more on a busy disk).
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="fsync") as pool:
        list(pool.map(_fsync, list(folder.iterdir())))
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(root: Path, sig: dict, state: LibraryState) -> str:
    """Write the shared part of `state` as a new generation; returns its name."""
    snap = state.index
    rows = _row_slots(snap)
    docs = sorted(state.shared(), key=lambda d: d.num)
    if sum(d.n_chunks for d in docs) != rows.shape[0]:
        raise ValueError("documents and index disagree on the number of shared chunks")
    segments, used = _renumbered_segments(snap, rows)
    name = uuid.uuid4().hex[:12]
    tmp = root / "snapshots" / f".{name}.tmp"
    tmp.mkdir(parents=True)
    try:
        terms = [""] * int(used.sum())
        new_term = np.cumsum(used) - 1
        for t, i in snap.vocab.items():
            if i < used.shape[0] and used[i]:
                terms[new_term[i]] = t
        (tmp / "vocab.txt").write_text("\n".join(terms), encoding="utf-8")
        np.save(tmp / "doc_len.npy", snap.doc_len[rows])
        for i, seg in enumerate(segments):
            for part in _SEG_PARTS:
                np.save(tmp / f"seg{i}.{part}.npy", getattr(seg, part))
        sections = _write_columns(tmp, docs)
        meta = {
            "signature": sig,
            "segments": len(segments),
            "docs": [[d.doc_id, d.source, d.title, d.n_chunks] for d in docs],
            "sections": sections,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        _fsync_tree(tmp)
        tmp.rename(root / "snapshots" / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return name


def prune(root: Path, keep: str | None) -> None:
    """Delete every generation but `keep` (and leftovers of interrupted writes)."""
    folder = root / "snapshots"
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        if p.name != keep:
            shutil.rmtree(p, ignore_errors=True)


# --- reading ------------------------------------------------------------------------------
def _columns(folder: Path, sections: list[str], n: int) -> Columns:
    arrays = [np.load(folder / f"{c}.npy", mmap_mode="r") for c in _COLUMNS]
    text_size = (folder / "text.bin").stat().st_size
    text = (
        np.memmap(folder / "text.bin", dtype=np.uint8, mode="r")
        if text_size
        else np.zeros(0, dtype=np.uint8)
    )
    if any(a.shape[0] != n for a in arrays[:4]) or arrays[4].shape[0] != n + 1:
        raise ValueError("chunk columns have the wrong length")
    if int(arrays[4][-1]) != text_size:
        raise ValueError("chunk text is truncated")
    return Columns(*arrays, text=text, sections=sections)  # type: ignore[misc]


def _segment(folder: Path, i: int, n_rows: int, n_terms: int) -> Segment:
    terms, indptr, docs, tfs = (
        np.load(folder / f"seg{i}.{p}.npy", mmap_mode="r") for p in _SEG_PARTS
    )
    if indptr.shape[0] != terms.shape[0] + 1 or int(indptr[-1]) != docs.shape[0]:
        raise ValueError(f"segment {i} is inconsistent")
    if docs.shape[0] != tfs.shape[0] or (terms.shape[0] and int(terms[-1]) >= n_terms):
        raise ValueError(f"segment {i} is inconsistent")
    return Segment(terms, indptr, docs, tfs)


def load(root: Path, name: str, sig: dict) -> Loaded | None:
    """The generation `name`, or None (logged) if it is missing, stale or damaged."""
    folder = root / "snapshots" / name
    try:
        meta = json.loads((folder / "meta.json").read_bytes())
        if meta.get("signature") != sig:
            return None
        docs, first = [], 0
        for doc_id, source, title, n in meta["docs"]:
            docs.append(StoredDoc(str(doc_id), str(source), str(title), int(n), first))
            first += int(n)
        text = (folder / "vocab.txt").read_text(encoding="utf-8")
        vocab = text.split("\n") if text else []
        doc_len = np.load(folder / "doc_len.npy")
        if doc_len.shape[0] != first:
            raise ValueError("chunk lengths and documents disagree")
        segments = [_segment(folder, i, first, len(vocab)) for i in range(int(meta["segments"]))]
        columns = _columns(folder, [str(s) for s in meta["sections"]], first)
        return Loaded(vocab, segments, doc_len, docs, columns)
    except FileNotFoundError:
        log.warning("index snapshot %s is missing; rebuilding from the document cache", name)
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("index snapshot %s unreadable (%s); rebuilding", name, e)
    with contextlib.suppress(OSError):
        shutil.rmtree(folder)
    return None
