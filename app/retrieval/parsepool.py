"""Prepare untrusted files in a few long-lived contained children: uploads and folder scans.

One pool per process (`POOL`) parses every file, whichever way it came. Each child parses
file after file, one at a time, with the containment of isolation.py: niced, and before
every file its CPU-time and address-space limits are set to what it has used so far plus
PARSE_TIMEOUT_S and PARSE_MEMORY_MB, so each file gets the allowance a fresh child would
(and is received outside the last file's memory cap). The parent also waits at most
`limits.wall_seconds` per file. A child that dies or overruns costs only the file it was
on (reported as rejected, with the reason a child of its own would have given); the next
file gets a new child. A child that ran out of memory, or whose heap grew by a file's
allowance, exits after answering, so no file inherits another's leftovers.

Children start as work arrives and exit after `IDLE_S` without any, so a quiet server
keeps none. At most `POOL_WORKERS` of them parse a folder scan's files at once; uploads
go ahead of the scan's queued files and may start `URGENT_EXTRA` more children, so an
upload never waits behind a scan. A scan's files are handed over through a queue of at
most QUEUE_BYTES, so the scan reads the folder while children parse (and while the first
child's fork server starts, a second of loading parsers and the tokenizer), and holds a
bounded amount of the folder in memory.

While a child parses a small scan file, the next small one is already sent to it (it waits
in the socket's buffer), so the child goes from file to file without waiting for this
process to answer and send: with 20,000 small files those round trips, each waiting for
the interpreter lock, left the children idle a third of the time. If the child dies, the
file sent ahead was never started and goes to the next child. Only small files go ahead
behind small files, so an upload waits at most one small file's parse, and a send never
blocks on a child that is busy.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import select
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from app.retrieval.ingest import INGEST_WORKERS
from app.retrieval.isolation import (
    CHILD_NICE,
    ParseLimits,
    Prepared,
    address_space,
    answer,
    context,
    died,
    out_of_memory,
    unpack_prepared,
)
from app.retrieval.types import DocumentRejected

log = logging.getLogger(__name__)

POOL_WORKERS = max(1, min(4, os.cpu_count() or 1))
# As many as uploads can parse at once, so they never wait for a scan's file.
URGENT_EXTRA = INGEST_WORKERS
IDLE_S = 10.0  # a burst of uploads reuses children; a quiet server keeps none
# A scan's files read but not yet handed to a child (at least `workers` files, whatever
# their size), each counted with JOB_BYTES for its job and future.
QUEUE_BYTES = 32 * 1024 * 1024
JOB_BYTES = 1024
# Files up to this size are sent ahead: well inside a socket buffer (over 200 KB on Linux).
AHEAD_BYTES = 64 * 1024

Outcome = Prepared | DocumentRejected


@dataclass(slots=True)
class _Job:
    data: bytes
    name: str
    limits: ParseLimits
    chunking: tuple[int, int]
    urgent: bool
    future: Future = field(default_factory=Future)
    sent_to: _Worker | None = None  # the child it was sent ahead to, if any


@dataclass(slots=True)
class _Slot:
    """A serving thread's mailbox: the job handed to it while it waits (None: retire),
    and the scan file sent ahead to its child, which is its next job."""

    job: _Job | None
    ahead: _Job | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class ParsePool:
    """`submit` a file for a Future of its outcome: Prepared, or the DocumentRejected
    saying why not; `prepare` one upload and wait for it."""

    def __init__(
        self,
        workers: int | None = None,
        urgent_extra: int = URGENT_EXTRA,
        idle_s: float = IDLE_S,
        ahead_bytes: int = AHEAD_BYTES,
    ):
        self._workers = workers or POOL_WORKERS
        self._ahead_bytes = ahead_bytes
        self._most = self._workers + urgent_extra
        self._idle_s = idle_s
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)
        self._urgent: deque[_Job] = deque()
        self._bulk: deque[_Job] = deque()
        self._bulk_bytes = 0  # of the files in `_bulk`
        self._idle: list[_Slot] = []  # most recent last: it is reused, the oldest times out
        self._threads = 0  # serving threads, each with at most one child
        self._bulk_busy = 0
        self._children: set[_Worker] = set()

    def prepare(
        self, data: bytes, name: str, limits: ParseLimits, chunk_tokens: int, chunk_overlap: int
    ) -> Prepared:
        """One upload, ahead of any scan's queued files. Raises DocumentRejected only."""
        future = self.submit(data, name, limits, (chunk_tokens, chunk_overlap), urgent=True)
        prepared = future.result()
        if isinstance(prepared, DocumentRejected):
            raise prepared
        return prepared

    def submit(
        self,
        data: bytes,
        name: str,
        limits: ParseLimits,
        chunking: tuple[int, int],
        urgent: bool = False,
    ) -> Future:
        job = _Job(data, name, limits, chunking, urgent)
        with self._lock:
            while not urgent and self._queue_full():
                self._space.wait()  # a scan reads on only while children keep up
            if urgent or self._bulk_busy < self._workers:
                if self._idle:
                    self._hand(self._idle.pop(), job)
                    return job.future
                if self._threads < self._most:
                    self._hand(_Slot(None), job, start=True)
                    return job.future
            if urgent:
                self._urgent.append(job)
            else:
                self._bulk.append(job)
                self._bulk_bytes += len(data) + JOB_BYTES
        return job.future

    def _small(self, job: _Job) -> bool:
        return not job.urgent and len(job.data) <= self._ahead_bytes

    def _queue_full(self) -> bool:
        return len(self._bulk) >= self._workers and self._bulk_bytes >= QUEUE_BYTES

    def _take_bulk(self) -> _Job:
        """The scan's next queued file, making room for the scan to read on (lock held)."""
        job = self._bulk.popleft()
        self._bulk_bytes -= len(job.data) + JOB_BYTES
        self._space.notify()
        return job

    @property
    def children(self) -> list[int]:
        """The process ids of the children running now (busy or waiting for work)."""
        with self._lock:
            return sorted(w.pid for w in self._children)

    def stop_idle(self) -> None:
        """Stop the children waiting for work now; busy ones finish their file first. The
        pool still takes work (new children start for it)."""
        with self._lock:
            slots, self._idle = self._idle, []
        for slot in slots:
            slot.ready.set()  # with no job: the thread retires and stops its child
        for slot in slots:
            if slot.thread is not None:
                slot.thread.join()

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_idle()

    # --- the serving threads (one child each) -------------------------------------------
    def _hand(self, slot: _Slot, job: _Job, start: bool = False) -> None:
        """Give `job` to a waiting thread, or to a new one (lock held)."""
        if not job.urgent:
            self._bulk_busy += 1
        slot.job = job
        if start:
            slot.thread = threading.Thread(
                target=self._serve, args=(slot,), name="parse-pool", daemon=True
            )
            self._threads += 1
            slot.thread.start()
        else:
            slot.ready.set()

    def _serve(self, slot: _Slot) -> None:
        worker: _Worker | None = None
        try:
            while (job := slot.job) is not None:
                try:
                    worker, outcome = self._run(slot, worker)
                except Exception:  # never leave a caller waiting, nor the queue unserved
                    log.exception("parsing %s failed in the pool", job.name)
                    if worker is not None:
                        self._stop(worker)
                    worker, outcome = None, DocumentRejected(f"{job.name} could not be read")
                self._next(slot, job, outcome)
        finally:
            if worker is not None:
                self._stop(worker)
            with self._lock:
                self._threads -= 1

    def _run(self, slot: _Slot, worker: _Worker | None) -> tuple[_Worker | None, Outcome]:
        """Parse the slot's job: the child to keep for the next (None: start a fresh one),
        and the file's outcome."""
        job = slot.job
        assert job is not None
        if worker is None:
            worker = _Worker.start()
            if worker is None:
                reason = f"{job.name} could not be read (no parser process could start)"
                return None, DocumentRejected(reason)
            with self._lock:
                self._children.add(worker)
        outcome: Outcome
        try:
            if job.sent_to is not worker:  # not sent ahead, or to a child that has died
                worker.send(job)
            self._send_ahead(slot, worker)
            outcome, fit = worker.receive(job)
        except Exception as e:  # a garbled reply: this file fails, the pool goes on
            outcome, fit = DocumentRejected(f"{job.name} could not be read ({e})"), False
        job.data = b""  # the bytes are the child's now; don't hold them while idle
        if fit:
            return worker, outcome
        self._stop(worker)
        return None, outcome

    def _send_ahead(self, slot: _Slot, worker: _Worker) -> None:
        """Send the scan's next small file to the child while it parses this small one."""
        job = slot.job
        if slot.ahead is not None or job is None or not self._small(job):
            return
        with self._lock:
            if not self._bulk or not self._small(self._bulk[0]):
                return
            slot.ahead = self._take_bulk()
        worker.send(slot.ahead)  # into the socket's buffer: the child isn't reading yet
        slot.ahead.sent_to = worker

    def _stop(self, worker: _Worker) -> None:
        worker.stop()
        with self._lock:
            self._children.discard(worker)

    def _queued(self, done: _Job) -> _Job | None:
        """The next queued job for a thread that finished `done` (lock held)."""
        if not done.urgent:
            self._bulk_busy -= 1
        if self._urgent:
            return self._urgent.popleft()
        if self._bulk and self._bulk_busy < self._workers:
            self._bulk_busy += 1
            return self._take_bulk()
        return None

    def _next(self, slot: _Slot, done: _Job, outcome: Outcome) -> None:
        """Answer `done`, and put this thread's next job in its slot: a queued one, one
        handed over while it waits, or None after `idle_s` without work (or when stopped).
        It waits before it answers, so stop_idle after an answer finds it waiting."""
        with self._lock:
            # A file sent ahead is next, and this thread is still on the scan's work.
            slot.job, slot.ahead = slot.ahead, None
            if slot.job is None:
                slot.job = self._queued(done)
            waiting = slot.job is None
            if waiting:
                slot.ready.clear()
                self._idle.append(slot)
        done.future.set_result(outcome)
        if waiting:
            slot.ready.wait(self._idle_s)
            with self._lock:
                if slot in self._idle:  # nothing came: retire
                    self._idle.remove(slot)


class _Worker:
    """The parent's end of one contained child."""

    def __init__(self, proc, conn: Connection):
        self._proc, self._conn = proc, conn
        # One poll object for the child's whole life: Connection.poll builds a selector
        # per call, which was a good part of the serving thread's time per small file.
        self._poller = select.poll() if hasattr(select, "poll") else None
        if self._poller is not None:
            self._poller.register(conn.fileno(), select.POLLIN)

    def _wait(self, seconds: float) -> bool:
        """Whether the child's answer (or its death) arrived within `seconds`."""
        if self._poller is None:
            return self._conn.poll(seconds)
        return bool(self._poller.poll(seconds * 1000))

    @property
    def pid(self) -> int:
        return self._proc.pid

    @classmethod
    def start(cls) -> _Worker | None:
        ctx = context()
        mine, theirs = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=_child_loop, args=(theirs,), daemon=True)  # type: ignore[attr-defined]
        try:
            proc.start()
        except Exception:  # OSError, or EOFError from a dead forkserver: this file is
            # rejected and the serving thread goes on with the next.
            mine.close()
            return None
        finally:
            theirs.close()  # the child holds the other end: EOF as soon as it dies
        return cls(proc, mine)

    def send(self, job: _Job) -> None:
        """Hand the child a file; a child that has died shows in `receive`."""
        with contextlib.suppress(EOFError, OSError):
            self._conn.send((job.data, job.name, job.limits, *job.chunking))

    def receive(self, job: _Job) -> tuple[Outcome, bool]:
        """(the outcome for the file sent, whether this child may take another)."""
        reply = None
        with contextlib.suppress(EOFError, OSError):
            if self._wait(job.limits.wall_seconds):
                reply = self._conn.recv()
        if reply is None:
            self.stop()
            return DocumentRejected(died(job.name, self._proc.exitcode, job.limits)), False
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
def _child_loop(conn: Connection) -> None:
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICE)
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        # A crash costs its file, not a core file of a hostile document's memory on disk.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    start = address_space()
    try:
        while True:
            _lift_memory_cap()
            try:
                data, name, limits, chunk_tokens, overlap = conn.recv()
            except EOFError:
                return
            cap = _limit_next_file(limits)
            reply, fit = answer((data, name, limits, chunk_tokens, overlap), name, limits, cap)
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


def _lift_memory_cap() -> None:
    """Receive the next file outside the last one's cap: whatever that file left on the
    heap must not refuse the next one before it has its own allowance."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


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


POOL = ParsePool()
