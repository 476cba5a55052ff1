"""What one contained parse is: its limits, the job a child runs, and how it reports.

The loaders are linear on the hostile inputs we know of, but a parser bug or a crafted
file we don't know of (libxml2, pypdf) must not cost the server more than one bounded,
low-priority process: at most `cpu_seconds` of CPU and `memory_bytes` of memory per file,
then the kernel stops it. The parse never holds this process's GIL or grows its heap, so
chats keep streaming while files are read. The children that run it, one file after
another, are parsepool.py's; every file goes through that pool.

Chunking and term analysis run in the child too: for a 2-million-character document they
are a second of pure-Python work and hundreds of thousands of objects, which in this
process would hold the GIL and trigger full garbage collections (70+ ms pauses of every
chat). What comes back is the text, chunk spans and terms as a few flat strings/arrays.

Children are forked from a `forkserver` that has the parsers (and the tokenizer's
vocabulary) loaded already, so a new child costs a fork (milliseconds), not a start-up.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from array import array
from dataclasses import dataclass
from pathlib import Path

from app.retrieval.loaders import NEEDS_TOO_MUCH_MEMORY, parse_document
from app.retrieval.types import DocumentRejected

log = logging.getLogger(__name__)

# Parsers run below the chat server's priority: on a busy machine, chats win.
CHILD_NICE = 10
_PRELOAD = ["app.retrieval.forkserver_main", "app.retrieval.warm", "pypdf", "lxml.etree"]


@dataclass(frozen=True, slots=True)
class ParseLimits:
    max_bytes: int  # MAX_UPLOAD_MB
    max_chars: int  # MAX_EXTRACTED_CHARS
    cpu_seconds: float  # PARSE_TIMEOUT_S
    memory_bytes: int  # PARSE_MEMORY_MB

    @classmethod
    def from_settings(cls, settings) -> ParseLimits:
        return cls(
            max_bytes=settings.max_upload_bytes,
            max_chars=settings.max_extracted_chars,
            cpu_seconds=settings.parse_timeout_s,
            memory_bytes=int(settings.parse_memory_mb * 1024 * 1024),
        )

    def __reduce__(self) -> tuple:
        # Sent with every file to the parser pool: pickled as a plain tuple this is a
        # tenth of the default (a frozen dataclass goes through copyreg and __setattr__).
        return (ParseLimits, (self.max_bytes, self.max_chars, self.cpu_seconds, self.memory_bytes))

    @property
    def wall_seconds(self) -> float:
        # The child is niced: on a loaded machine its CPU seconds take longer to arrive.
        return self.cpu_seconds * 3 + 5


_ctx_lock = threading.Lock()
_ctx: multiprocessing.context.BaseContext | None = None


def context() -> multiprocessing.context.BaseContext:
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            methods = multiprocessing.get_all_start_methods()
            if "forkserver" in methods:
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(_PRELOAD)
            else:  # Windows: a fresh interpreter per child; slower, equally contained
                ctx = multiprocessing.get_context("spawn")  # type: ignore[assignment]
            _ctx = ctx
        if _ctx.get_start_method() == "forkserver":
            _ensure_forkserver()
        return _ctx


_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])


def _ensure_forkserver() -> None:
    """Start the fork server (if it isn't running) with this project importable.

    The fork server is a fresh interpreter. Python 3.11 doesn't give it our sys.path, so
    under `chainlit run` from another folder it would import some other `app` (or none)
    and every parse would fail; PYTHONPATH, set only while it starts, fixes that. It is
    also told our main module, so children don't import it again (forkserver_main).
    """
    from multiprocessing import forkserver, spawn

    from app.retrieval.forkserver_main import MAIN_NAME_ENV, MAIN_PATH_ENV

    prep = spawn.get_preparation_data("parser")
    env = {
        "PYTHONPATH": os.pathsep.join(
            p for p in (_PROJECT_ROOT, os.environ.get("PYTHONPATH")) if p
        ),
        MAIN_PATH_ENV: prep.get("init_main_from_path", ""),
        MAIN_NAME_ENV: prep.get("init_main_from_name", ""),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        forkserver.ensure_running()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass(frozen=True, slots=True)
class Prepared:
    """A parsed, chunked and analysed document, as the library caches it."""

    title: str
    chunks: list[tuple[int, int, str | None, int | None, str]]  # start, end, section, page, text
    joined_terms: list[str]  # each chunk's terms joined by spaces, as the library keeps them
    truncated: bool


def died(name: str, exitcode: int | None, limits: ParseLimits) -> str:
    seconds = f"{limits.cpu_seconds:g}"
    if exitcode in (None, -signal.SIGXCPU, -signal.SIGKILL):
        return (
            f"{name} took too long to read (over {seconds} s, PARSE_TIMEOUT_S); "
            "it may be damaged or built to overload the server"
        )
    return f"{name} could not be read (the parser stopped with exit code {exitcode})"


def prepare_job(
    data: bytes, name: str, limits: ParseLimits, chunk_tokens: int, chunk_overlap: int
) -> tuple:
    from app.retrieval.chunker import chunk_document
    from app.retrieval.fields import joined_chunk_terms

    doc = parse_document(data, name, limits.max_bytes, limits.max_chars)
    del data
    spans = chunk_document(doc, chunk_tokens, chunk_overlap)
    sections: dict[str | None, int] = {}
    starts, ends, pages, secs = array("q"), array("q"), array("q"), array("q")
    for s in spans:
        starts.append(s.start)
        ends.append(s.end)
        pages.append(-1 if s.page is None else s.page)
        secs.append(sections.setdefault(s.section, len(sections)))
    # Terms are \w+ stems: never a space or a newline, so two joins carry them all.
    terms = joined_chunk_terms(doc.title, doc.text, ((s.start, s.end, s.section) for s in spans))
    return (
        doc.title,
        doc.text,
        doc.truncated,
        list(sections),
        starts,
        ends,
        pages,
        secs,
        "\n".join(terms),
    )


def unpack_prepared(packed: tuple) -> Prepared:
    title, text, truncated, sections, starts, ends, pages, secs, terms = packed
    chunks = [
        (s, e, sections[k], None if p < 0 else p, text[s:e])
        for s, e, p, k in zip(starts, ends, pages, secs, strict=True)
    ]
    # Kept joined: a list of strings per chunk would be hundreds of thousands of objects
    # for a folder scan, for the cyclic GC to walk while chats stream.
    return Prepared(title, chunks, terms.split("\n") if chunks else [], truncated)


def out_of_memory(name: str, limits: ParseLimits) -> tuple[str, str]:
    mb = limits.memory_bytes / 1048576
    return ("rejected", f"{name} {NEEDS_TOO_MUCH_MEMORY} (over {mb:.0f} MB, PARSE_MEMORY_MB)")


def answer(args: tuple, name: str, limits: ParseLimits, cap: int | None) -> tuple[tuple, bool]:
    """(the reply to send for `prepare_job(*args)`, whether this process is still fit for
    another file: not after running out of memory)."""
    try:
        return ("ok", prepare_job(*args)), True
    except DocumentRejected as e:
        # libxml2 may report a failed allocation as "unknown error"; an address space
        # filled to the limit says what really happened.
        if e.reason.endswith(NEEDS_TOO_MUCH_MEMORY) or _at_cap(cap):
            return out_of_memory(name, limits), False
        return ("rejected", e.reason), True
    except MemoryError:
        return out_of_memory(name, limits), False


def _at_cap(cap: int | None) -> bool:
    used = address_space()
    return cap is not None and used is not None and used > cap - 16 * 1024 * 1024


# (pid, descriptor) of this process's /proc/self/statm, kept open: a pool child reads it
# twice per file, and opening it costs 15 times more than reading it. The pid check
# matters because a forked child inherits its parent's descriptor, which still describes
# the parent.
_statm: tuple[int, int] | None = None


def address_space() -> int | None:
    """This process's current virtual size, so the memory limit is on top of the runtime."""
    global _statm
    try:
        if _statm is None or _statm[0] != os.getpid():
            _statm = (os.getpid(), os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC))
        pages = int(os.pread(_statm[1], 64, 0).split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
