"""Prepare many untrusted files in a few long-lived contained children, not one each.

A cold start of a large knowledge folder spent most of its time starting a child per
file. Here each of up to `POOL_WORKERS` children parses file after file, one at a time,
with the same containment as isolation.py: niced, and before every file its CPU-time and
address-space limits are set to what it has used so far plus PARSE_TIMEOUT_S and
PARSE_MEMORY_MB, so each file gets the allowance a fresh child would. The parent also
waits at most `limits.wall_seconds` per file. A child that dies or overruns costs only
the file it was on (reported as rejected, as before); the next file gets a new child.
A child that ran out of memory, or whose heap grew by a file's allowance, exits after
answering, so no file inherits another's leftovers.

Files are handed over through a small bounded queue, so the caller reads the folder
while children parse and at most a few files' bytes are held at once.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
from collections.abc import Hashable
from multiprocessing.connection import Connection

from app.retrieval.isolation import (
    CHILD_NICE,
    ParseLimits,
    Prepared,
    address_space,
    answer,
    context,
    died,
    out_of_memory,
    prepare_job,
    unpack_prepared,
)
from app.retrieval.types import DocumentRejected

POOL_WORKERS = max(1, min(4, os.cpu_count() or 1))
_STOP = None

Outcome = Prepared | DocumentRejected


class ParsePool:
    """`submit` files, then `results()`: key -> Prepared, or the DocumentRejected saying
    why not. Use as a context manager so the children stop even on an error."""

    def __init__(self, limits: ParseLimits, chunk_tokens: int, chunk_overlap: int):
        self._limits = limits
        self._chunking = (chunk_tokens, chunk_overlap)
        self._jobs: queue.Queue = queue.Queue(maxsize=POOL_WORKERS)
        self._results: dict[Hashable, Outcome] = {}
        self._threads: list[threading.Thread] = []
        self._submitted = 0

    def submit(self, key: Hashable, data: bytes, name: str) -> None:
        self._submitted += 1
        if len(self._threads) < min(POOL_WORKERS, self._submitted):
            # Start children only as work arrives: one file needs one child.
            thread = threading.Thread(target=self._serve, name="parse-pool", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._jobs.put((key, data, name))

    def results(self) -> dict[Hashable, Outcome]:
        self._stop()
        return self._results

    def _stop(self) -> None:
        for _ in self._threads:
            self._jobs.put(_STOP)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _serve(self) -> None:
        worker: _Worker | None = None
        try:
            while (job := self._jobs.get()) is not _STOP:
                key, data, name = job
                if worker is None:
                    worker = _Worker.start(self._limits, *self._chunking)
                if worker is None:
                    self._results[key] = DocumentRejected(
                        f"{name} could not be read (no parser process could start)"
                    )
                    continue
                try:
                    self._results[key], fit = worker.prepare(data, name)
                except Exception as e:  # a garbled reply: this file fails, the pool goes on
                    self._results[key] = DocumentRejected(f"{name} could not be read ({e})")
                    fit = False
                if not fit:
                    worker.stop()
                    worker = None
        finally:
            if worker is not None:
                worker.stop()


class _Worker:
    """The parent's end of one contained child."""

    def __init__(self, proc, conn: Connection, limits: ParseLimits):
        self._proc, self._conn, self._limits = proc, conn, limits

    @classmethod
    def start(cls, limits: ParseLimits, chunk_tokens: int, chunk_overlap: int) -> _Worker | None:
        ctx = context()
        mine, theirs = ctx.Pipe(duplex=True)
        proc = ctx.Process(  # type: ignore[attr-defined]
            target=_child_loop, args=(theirs, limits, chunk_tokens, chunk_overlap), daemon=True
        )
        try:
            proc.start()
        except Exception:  # OSError, or EOFError from a dead forkserver: the file is
            # rejected and the serving thread lives on; a dead thread would hang the scan.
            mine.close()
            return None
        finally:
            theirs.close()  # the child holds the other end: EOF as soon as it dies
        return cls(proc, mine, limits)

    def prepare(self, data: bytes, name: str) -> tuple[Outcome, bool]:
        """(the outcome for this file, whether this child may take another)."""
        reply = None
        with contextlib.suppress(EOFError, OSError):
            self._conn.send((data, name))
            if self._conn.poll(self._limits.wall_seconds):
                reply = self._conn.recv()
        if reply is None:
            self.stop()
            return DocumentRejected(died(name, self._proc.exitcode, self._limits)), False
        (kind, payload), fit = reply
        if kind == "rejected":
            return DocumentRejected(payload), fit
        return unpack_prepared(payload), fit

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.close()  # the child reads EOF and exits
        self._proc.join(timeout=0.5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()


# --- in the child -------------------------------------------------------------------------
def _child_loop(conn: Connection, limits: ParseLimits, chunk_tokens: int, overlap: int) -> None:
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICE)
    start = address_space()
    try:
        while True:
            try:
                data, name = conn.recv()
            except EOFError:
                return
            cap = _limit_next_file(limits)
            reply, fit = answer(
                prepare_job, (data, name, limits, chunk_tokens, overlap), name, limits, cap
            )
            del data
            now = address_space()
            if start is not None and now is not None and now - start > limits.memory_bytes:
                fit = False  # its heap holds a whole file's allowance: let a fresh child go on
            try:
                conn.send((reply, fit))
            except MemoryError:  # pickling a large result under the memory limit
                conn.send((out_of_memory(name, limits), False))
                return
            if not fit:
                return
    finally:
        conn.close()


def _limit_next_file(limits: ParseLimits) -> int | None:
    """Give the next file this process's CPU and memory use so far plus one file's
    allowance (soft limits; SIGXCPU, or failed allocations, past them). The cap, or None."""
    try:
        import resource
    except ImportError:  # Windows: the parent's wall-clock timeout still applies
        return None
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = math.ceil(used.ru_utime + used.ru_stime + max(1.0, limits.cpu_seconds))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, resource.getrlimit(resource.RLIMIT_CPU)[1]))
    base = address_space()
    if base is None:
        return None
    cap = base + limits.memory_bytes
    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
    except (ValueError, OSError):  # above a hard limit, or macOS (which doesn't enforce it)
        return None
    return cap
