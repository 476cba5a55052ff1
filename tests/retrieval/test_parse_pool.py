"""The folder-scan parser pool: long-lived contained children, each file its own limits.

Every test runs the pool with one child, so a hostile file and the good files after it
go through the same child (or its replacement), and asserts outcomes, never durations.
"""

from __future__ import annotations

import math
import time

import pytest

from app.retrieval import parsepool
from app.retrieval.hostile_files import docx_bomb
from app.retrieval.isolation import ParseLimits, prepare_file
from app.retrieval.loaders import parse_document
from app.retrieval.parsepool import ParsePool
from app.retrieval.types import DocumentRejected
from tests.support.pdfgen import pdf_bytes

MB = 1024 * 1024
CHUNKING = (100, 20)


@pytest.fixture(autouse=True)
def one_child(monkeypatch):
    monkeypatch.setattr(parsepool, "POOL_WORKERS", 1)


def good(i: int) -> tuple[bytes, str]:
    return (
        f"# Note {i}\n\n## Part\n\nParking permit {i} is issued by facilities.".encode(),
        f"n{i}.md",
    )


def run(limits: ParseLimits, files: list[tuple[bytes, str]]) -> dict:
    with ParsePool(limits, *CHUNKING) as pool:
        for data, name in files:
            pool.submit(name, data, name)
        return pool.results()


def test_each_file_gets_its_own_cpu_allowance_in_a_long_lived_child():
    # Files that each take about a third of the CPU limit: one child parses all of them,
    # together several times the limit, and none is refused.
    limits = ParseLimits(20 * MB, 10**8, cpu_seconds=1, memory_bytes=300 * MB)
    pdf = pdf_bytes([f"Line {i} of a long report, with words.\n" * 40 for i in range(100)])
    t0 = time.process_time()
    parse_document(pdf, "r.pdf", limits.max_bytes)
    one = max(time.process_time() - t0, 0.01)
    assert one < 0.6, "the sample PDF should take well under the 1 s limit"
    files = [(pdf, f"r{i}.pdf") for i in range(math.ceil(3 / one) + 1)]
    out = run(limits, files)
    expected = prepare_file(pdf, "r0.pdf", limits, *CHUNKING)
    assert [type(out[name]) for _, name in files] == [type(expected)] * len(files)
    assert out["r0.pdf"] == expected


def test_a_file_over_the_cpu_limit_costs_only_itself():
    limits = ParseLimits(20 * MB, 10**8, cpu_seconds=1, memory_bytes=300 * MB)
    slow = pdf_bytes([f"Line {i} of a long report, with words.\n" * 40 for i in range(800)])
    files = [good(1), (slow, "report.pdf"), good(2), (b"not a zip", "fake.docx"), good(3)]
    out = run(limits, files)
    assert str(out["report.pdf"]).startswith(
        "report.pdf took too long to read (over 1 s, PARSE_TIMEOUT_S)"
    )
    assert "fake.docx is not a valid .docx" in str(out["fake.docx"])
    for data, name in (good(1), good(2), good(3)):
        assert out[name] == prepare_file(data, name, limits, *CHUNKING)


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
        assert out[name] == prepare_file(data, name, limits, *CHUNKING)


def test_a_folder_with_a_hostile_file_indexes_the_rest(knowledge, make_settings):
    from app.retrieval import Library

    slow = pdf_bytes([f"Line {i} of a long report, with words.\n" * 40 for i in range(800)])
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


def test_files_sent_ahead_of_a_hostile_one_are_parsed_by_the_next_child(monkeypatch):
    # Every file is sent ahead (even the bomb), so when the child dies on one, the files
    # already in its pipe behind it are lost with it and must go to a fresh child.
    monkeypatch.setattr(parsepool, "AHEAD_BYTES", 100 * MB)
    monkeypatch.setattr(parsepool, "AHEAD_FILES", 3)
    limits = ParseLimits(20 * MB, 200_000, cpu_seconds=30, memory_bytes=64 * MB)
    bomb = docx_bomb(60 * MB, empty_runs=True)
    goods = [good(i) for i in range(8)]
    files = [goods[0], (bomb, "runs.docx"), *goods[1:4], (b"not a zip", "fake.docx")]
    files += [(bomb, "again.docx"), *goods[4:]]
    out = run(limits, files)
    assert set(out) == {name for _, name in files}
    for name in ("runs.docx", "again.docx"):
        assert (
            str(out[name]) == f"{name} needs too much memory to read (over 64 MB, PARSE_MEMORY_MB)"
        )
    assert "fake.docx is not a valid .docx" in str(out["fake.docx"])
    for data, name in goods:
        assert out[name] == prepare_file(data, name, limits, *CHUNKING)


def test_address_space_is_the_callers_own_after_a_fork():
    # The pool child reads its size from a descriptor it keeps open; one inherited from
    # the fork server would describe the fork server, so its limits would be off.
    import os

    from app.retrieval.isolation import address_space

    before = address_space()
    assert before is not None
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: grow by 64 MB and say how much its own size grew
        _grown = bytearray(64 * MB)
        os.write(write_end, str(address_space() - before).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    # (part of it may reuse heap the parent had freed; through the parent's descriptor: ~0)
    assert int(os.read(read_end, 64)) >= 32 * MB
