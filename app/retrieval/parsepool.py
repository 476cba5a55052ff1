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
import select
import threading
from collections import deque
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
# A child is sent up to AHEAD_FILES more files while it parses one, if they are small:
# for a folder of small documents the round trip through the parent took longer than the
# parse. Small, so that what waits in the pipe never fills it (no send can block).
AHEAD_FILES = 2
AHEAD_BYTES = 32 * 1024
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
        todo: deque = deque()  # jobs taken from the queue and not answered yet, in order
        sent = 0  # how many of them `worker` has been sent
        try:
            while True:
                if not todo:
                    todo.append(self._jobs.get())
                if todo[0] is _STOP:
                    return
                key, _, name = todo[0]
                if worker is None:
                    worker, sent = _Worker.start(self._limits, *self._chunking), 0
                if worker is None:
                    todo.popleft()
                    self._results[key] = DocumentRejected(
                        f"{name} could not be read (no parser process could start)"
                    )
                    continue
                sent = self._send_ahead(worker, todo, sent)
                todo.popleft()
                sent -= 1
                self._results[key], fit = worker.receive(name)
                if not fit:  # the files sent after this one are lost with it: resent
                    worker.stop()
                    worker = None
        finally:
            if worker is not None:
                worker.stop()

    def _send_ahead(self, worker: _Worker, todo: deque, sent: int) -> int:
        """Send `worker` the first job if it hasn't got it, then up to AHEAD_FILES small
        files already waiting in the queue, so that it starts the next file as soon as it
        answers, without waiting for this thread. How many of `todo` it has now."""
        while sent <= AHEAD_FILES:
            if sent == len(todo):
                if todo[-1] is _STOP:
                    break
                try:
                    todo.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
                continue
            job = todo[sent]
            if job is _STOP or (sent and len(job[1]) > AHEAD_BYTES):
                break
            sent += 1
            if not worker.send(job[1], job[2]):
                break  # it died: the first file's answer says so
        return sent


class _Worker:
    """The parent's end of one contained child."""

    def __init__(self, proc, conn: Connection, limits: ParseLimits):
        self._proc, self._conn, self._limits = proc, conn, limits
        # One poll object for the child's whole life: Connection.poll builds a selector
        # per call, which was a good part of this thread's time per small file.
        self._poller = select.poll() if hasattr(select, "poll") else None
        if self._poller is not None:
            self._poller.register(conn.fileno(), select.POLLIN)

    def _wait(self) -> bool:
        """Whether the child's answer (or its death) arrived within the file's wall time."""
        if self._poller is None:
            return self._conn.poll(self._limits.wall_seconds)
        return bool(self._poller.poll(self._limits.wall_seconds * 1000))

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

    def send(self, data: bytes, name: str) -> bool:
        try:
            self._conn.send((data, name))
        except (OSError, EOFError):  # it died; `receive` reports why
            return False
        return True

    def receive(self, name: str) -> tuple[Outcome, bool]:
        """(the outcome for the oldest file sent, whether this child may take another)."""
        reply = None
        try:
            with contextlib.suppress(EOFError, OSError):
                if self._wait():
                    reply = self._conn.recv()
            if reply is None:
                self.stop()
                return DocumentRejected(died(name, self._proc.exitcode, self._limits)), False
            (kind, payload), fit = reply
            if kind == "rejected":
                return DocumentRejected(payload), fit
            return unpack_prepared(payload), fit
        except Exception as e:  # a garbled reply: this file fails, the pool goes on
            return DocumentRejected(f"{name} could not be read ({e})"), False

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
