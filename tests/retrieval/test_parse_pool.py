"""The parser pool (uploads and folder scans): long-lived contained children, each file its
own limits.

Most tests run a pool of their own with one child, so a hostile file and the good files
after it go through the same child (or its replacement), and assert outcomes, never
durations.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import signal
import time

import pytest

from app.retrieval.hostile_files import docx_bomb
from app.retrieval.isolation import ParseLimits, Prepared, prepare_job, unpack_prepared
from app.retrieval.loaders import parse_document
from app.retrieval.parsepool import ParsePool
from app.retrieval.types import DocumentRejected
from tests.support.pdfgen import pdf_bytes

MB = 1024 * 1024
CHUNKING = (100, 20)


@functools.cache
def slow_pdf() -> bytes:
    """A real, well-formed PDF that takes pypdf a few seconds of CPU to read."""
    return pdf_bytes([f"Line {i} of a long report, with words.\n" * 40 for i in range(800)])


def good(i: int) -> tuple[bytes, str]:
    return (
        f"# Note {i}\n\n## Part\n\nParking permit {i} is issued by facilities.".encode(),
        f"n{i}.md",
    )


def run(limits: ParseLimits, files: list[tuple[bytes, str]]) -> dict:
    with ParsePool(workers=1, urgent_extra=0) as pool:
        futures = {name: pool.submit(data, name, limits, CHUNKING) for data, name in files}
        return {name: f.result() for name, f in futures.items()}


def here(data: bytes, name: str, limits: ParseLimits) -> Prepared:
    """What the child prepares, prepared in this process."""
    return unpack_prepared(prepare_job(data, name, limits, *CHUNKING))


def test_each_file_gets_its_own_cpu_allowance_in_a_long_lived_child():
    # Files that each take about a third of the CPU limit: one child parses all of them,
    # together several times the limit, and none is refused.
    limits = ParseLimits(20 * MB, 10**8, cpu_seconds=1, memory_bytes=300 * MB)
    pdf = pdf_bytes([f"Line {i} of a long report, with words.\n" * 40 for i in range(100)])
    parse_document(pdf, "r.pdf", limits.max_bytes)  # the first parse also imports the PDF reader
    t0 = time.process_time()
    parse_document(pdf, "r.pdf", limits.max_bytes)
    one = max(time.process_time() - t0, 0.01)
    assert one < 0.6, "the sample PDF should take well under the 1 s limit"
    files = [(pdf, f"r{i}.pdf") for i in range(math.ceil(3 / one) + 1)]
    out = run(limits, files)
    expected = here(pdf, "r0.pdf", limits)
    assert [type(out[name]) for _, name in files] == [type(expected)] * len(files)
    assert out["r0.pdf"] == expected


def test_a_file_over_the_cpu_limit_costs_only_itself():
    limits = ParseLimits(20 * MB, 10**8, cpu_seconds=1, memory_bytes=300 * MB)
    slow = slow_pdf()
    files = [good(1), (slow, "report.pdf"), good(2), (b"not a zip", "fake.docx"), good(3)]
    out = run(limits, files)
    assert str(out["report.pdf"]).startswith(
        "report.pdf took too long to read (over 1 s, PARSE_TIMEOUT_S)"
    )
    assert "fake.docx is not a valid .docx" in str(out["fake.docx"])
    for data, name in (good(1), good(2), good(3)):
        assert out[name] == here(data, name, limits)


def test_a_file_over_the_memory_limit_costs_only_itself():
    limits = ParseLimits(20 * MB, 200_000, cpu_seconds=30, memory_bytes=64 * MB)
    bomb = docx_bomb(60 * MB, empty_runs=True)
    out = run(limits, [good(1), (bomb, "runs.docx"), good(2), (bomb, "again.docx"), good(3)])
    for name in ("runs.docx", "again.docx"):
        assert isinstance(out[name], DocumentRejected)
        assert (
            str(out[name]) == f"{name} needs too much memory to read (over 64 MB, PARSE_MEMORY_MB)"
        )
    for data, name in (good(1), good(2), good(3)):
        assert out[name] == here(data, name, limits)


def test_a_folder_with_a_hostile_file_indexes_the_rest(knowledge, make_settings):
    from app.retrieval import Library

    slow = slow_pdf()
    (knowledge / "report.pdf").write_bytes(slow)
    for i in range(4):
        data, name = good(i)
        (knowledge / name).write_bytes(data)
    lib = Library.open(make_settings(parse_timeout_s=1))
    reasons = dict(lib.skipped())
    assert list(reasons) == ["report.pdf"]
    assert reasons["report.pdf"].startswith("report.pdf took too long to read")
    assert lib.stats()["documents"] == 4
    assert [h.chunk.source for h in lib.search("parking permit 3", 1)] == ["n3.md"]


# --- one pool for uploads and scans ------------------------------------------------------
UNHURRIED = ParseLimits(20 * MB, 10**8, cpu_seconds=60, memory_bytes=300 * MB)


def wait_for(condition, what: str):
    deadline = time.monotonic() + 120
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)
    return value


def test_an_upload_goes_ahead_of_the_scans_queued_files():
    done: list[str] = []
    with ParsePool(workers=1, urgent_extra=0) as pool:
        jobs = [
            (pool.submit(slow_pdf(), "report.pdf", UNHURRIED, CHUNKING), "report.pdf"),
            (pool.submit(*good(1), UNHURRIED, CHUNKING), "scan n1.md"),
            (pool.submit(*good(2), UNHURRIED, CHUNKING, urgent=True), "upload n2.md"),
        ]
        for future, label in jobs:
            future.add_done_callback(lambda _, label=label: done.append(label))
        outcomes = [future.result() for future, _ in jobs]
    assert all(isinstance(o, Prepared) for o in outcomes)
    assert done == ["report.pdf", "upload n2.md", "scan n1.md"]


def test_an_upload_gets_a_child_of_its_own_while_the_scan_keeps_the_others_busy():
    with ParsePool(workers=1, urgent_extra=1) as pool:
        scan = pool.submit(slow_pdf(), "report.pdf", UNHURRIED, CHUNKING)
        data, name = good(1)
        assert pool.prepare(data, name, UNHURRIED, *CHUNKING) == here(data, name, UNHURRIED)
        assert len(pool.children) == 2  # the scan's child and the upload's
        assert isinstance(scan.result(), Prepared)


def test_a_child_that_crashes_costs_only_its_file():
    with ParsePool(workers=1, urgent_extra=0) as pool:
        crashing = pool.submit(slow_pdf(), "report.pdf", UNHURRIED, CHUNKING)
        after = pool.submit(*good(1), UNHURRIED, CHUNKING)  # waits for the same child
        [pid] = wait_for(lambda: pool.children, "the parser child")
        os.kill(pid, signal.SIGSEGV)
        assert str(crashing.result()) == (
            "report.pdf could not be read (the parser stopped with exit code -11)"
        )
        assert after.result() == here(*good(1), UNHURRIED)
        assert pid not in pool.children


@pytest.mark.parametrize(
    "hostile, limits, reason",
    [
        (
            (slow_pdf, "report.pdf"),
            ParseLimits(20 * MB, 10**8, cpu_seconds=1, memory_bytes=300 * MB),
            "report.pdf took too long to read (over 1 s, PARSE_TIMEOUT_S)",
        ),
        (
            (functools.partial(docx_bomb, 60 * MB, empty_runs=True), "runs.docx"),
            ParseLimits(20 * MB, 200_000, cpu_seconds=30, memory_bytes=64 * MB),
            "runs.docx needs too much memory to read (over 64 MB, PARSE_MEMORY_MB)",
        ),
    ],
    ids=["killed-over-cpu", "exits-out-of-memory"],
)
def test_a_file_sent_ahead_to_a_child_that_stops_goes_to_the_next_child(hostile, limits, reason):
    # Every file here counts as small, so each next file is sent to the child while it
    # parses the one before. Either reason means that child is gone (killed, or exited
    # after answering), so the file behind the hostile one, never started there, must
    # have gone to the next child.
    make, name = hostile
    with ParsePool(workers=1, urgent_extra=0, ahead_bytes=64 * MB) as pool:
        futures = [
            pool.submit(d, n, limits, CHUNKING) for d, n in [(make(), name), good(1), good(2)]
        ]
        outcomes = [f.result() for f in futures]
    assert str(outcomes[0]).startswith(reason)
    assert outcomes[1:] == [here(*good(1), limits), here(*good(2), limits)]


def test_a_scan_reads_on_while_the_children_are_busy():
    # Small files queue up to QUEUE_BYTES: the scan isn't held to the children's pace (nor
    # to the second it takes the first child's fork server to start).
    with ParsePool(workers=1, urgent_extra=0) as pool:
        busy = pool.submit(slow_pdf(), "report.pdf", UNHURRIED, CHUNKING)
        queued = [pool.submit(*good(i), UNHURRIED, CHUNKING) for i in range(200)]
        assert not busy.done()
        assert [f.result() for f in queued[:2]] == [here(*good(i), UNHURRIED) for i in range(2)]


def test_children_exit_when_idle_and_the_pool_still_takes_work():
    with ParsePool(idle_s=0.2) as pool:
        pool.prepare(*good(1), UNHURRIED, *CHUNKING)
        [pid] = pool.children
        wait_for(lambda: not pool.children, "the idle child to exit")
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # gone, and reaped
        assert pool.prepare(*good(2), UNHURRIED, *CHUNKING) == here(*good(2), UNHURRIED)


def test_uploads_are_parsed_by_the_shared_pools_long_lived_child(knowledge, make_settings):
    from app.retrieval import Library
    from app.retrieval.parsepool import POOL

    lib = Library.open(make_settings())
    POOL.stop_idle()  # earlier tests' children: every answered file's child is waiting
    assert POOL.children == []
    children = []
    for i in (1, 2):
        data, name = good(i)
        (knowledge.parent / name).write_bytes(data)
        assert lib.add_file(knowledge.parent / name, scope=f"chat-{i}").chunks == 1
        children.append(POOL.children)
    assert len(children[0]) == 1 and children[1] == children[0]


def test_a_hostile_upload_costs_only_itself_in_a_burst_from_several_chats(tmp_path, make_settings):
    from app.retrieval import Library
    from app.retrieval.ingest import run_ingest

    lib = Library.open(make_settings(parse_timeout_s=1, parse_memory_mb=64))
    files = {
        "report.pdf": slow_pdf(),  # CPU hog
        "runs.docx": docx_bomb(60 * MB, empty_runs=True),  # memory hog
        "fake.docx": b"not a zip",
        **{name: data for data, name in (good(1), good(2))},
    }
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)

    async def burst() -> list:
        uploads = (run_ingest(lib.add_file, p, f"chat-{i}", p.name) for i, p in enumerate(paths))
        return await asyncio.gather(*uploads, return_exceptions=True)

    out = dict(zip(files, asyncio.run(burst()), strict=True))
    assert str(out["report.pdf"]).startswith(
        "report.pdf took too long to read (over 1 s, PARSE_TIMEOUT_S)"
    )
    assert str(out["runs.docx"]) == (
        "runs.docx needs too much memory to read (over 64 MB, PARSE_MEMORY_MB)"
    )
    assert "fake.docx is not a valid .docx" in str(out["fake.docx"])
    for i, name in enumerate(files):
        if name.startswith("n"):
            assert out[name].chunks == 1
            hits = lib.search(f"parking permit {name[1]}", 1, scope=f"chat-{i}")
            assert [h.chunk.source for h in hits] == [name]
    assert lib.stats()["uploaded_documents"] == 2


def test_a_files_outcome_does_not_depend_on_the_file_before_it_in_the_same_child():
    # 13 MB of text under a 24 MB allowance: over it, whichever child reads it. Received
    # under the previous file's cap, it used to crash the child ("exit code 1") instead.
    limits = ParseLimits(40 * MB, 10**8, cpu_seconds=30, memory_bytes=24 * MB)
    big = b"".join(b"line %d of a large plain text file\n" % i for i in range(12 * MB // 34))
    alone = run(limits, [(big, "big.txt")])["big.txt"]
    after = run(limits, [good(1), (big, "big.txt")])["big.txt"]
    assert str(alone) == "big.txt needs too much memory to read (over 24 MB, PARSE_MEMORY_MB)"
    assert str(after) == str(alone)
