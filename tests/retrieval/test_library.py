from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from app.retrieval import DocumentRejected, Library
from app.retrieval.cache import FORMAT
from app.retrieval.parsepool import ParsePool
from tests.retrieval.conftest import write_docx
from tests.support.pdfgen import encrypt_pdf, write_pdf

LEAVE = "# Leave policy\n\n## Annual leave\n\nStaff get 25 days of annual leave per year.\n"
TRAVEL = "# Travel\n\nBook trains through the travel portal at least a week ahead.\n"


def sources(hits) -> list[str]:
    return [h.chunk.source for h in hits]


@pytest.fixture
def populated(knowledge: Path) -> Path:
    (knowledge / "leave.md").write_text(LEAVE)
    (knowledge / "sub").mkdir()
    (knowledge / "sub" / "travel.md").write_text(TRAVEL)
    write_pdf(knowledge / "expenses.pdf", ["Expenses intro.", "Taxis are refunded with receipts."])
    write_docx(knowledge / "guide.docx", [("Heading 1", "Uploads"), ("Normal", "Drag files in.")])
    (knowledge / "page.html").write_text("<h1>Models</h1><p>Phi drafts answers quickly.</p>")
    (knowledge / "glossary.txt").write_text("BM25: a lexical ranking function.")
    return knowledge


def test_open_indexes_every_loader_with_citation_metadata(populated, make_settings):
    lib = Library.open(make_settings())
    assert lib.skipped() == []
    assert lib.stats()["documents"] == 6
    [hit] = lib.search("how many days of annual leave", 1)
    c = hit.chunk
    assert (c.source, c.title, c.section, c.page) == (
        "leave.md",
        "Leave policy",
        "Leave policy › Annual leave",
        None,
    )
    assert hit.rank == 1 and hit.score > 0
    assert c.id == f"{c.doc_id}:{c.id.split(':')[1]}"
    [taxi] = lib.search("taxi receipts", 1)
    assert (taxi.chunk.source, taxi.chunk.page) == ("expenses.pdf", 2)
    assert "Taxis are refunded" in taxi.chunk.text
    assert sources(lib.search("travel portal trains", 1)) == ["sub/travel.md"]
    assert lib.search("drag files", 1)[0].chunk.section == "Uploads"
    assert sources(lib.search("phi drafts", 1)) == ["page.html"]
    assert sources(lib.search("lexical ranking", 1)) == ["glossary.txt"]


def test_bad_files_are_skipped_with_reasons_and_the_rest_is_indexed(
    populated, make_settings, caplog
):
    k = populated
    settings = make_settings(max_upload_mb=1)
    Library.open(settings)
    (k / "empty.txt").write_bytes(b"")
    (k / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    (k / "latin1.txt").write_bytes("café".encode("latin-1"))
    (k / "corrupt.pdf").write_bytes(b"%PDF-1.4 nonsense")
    encrypt_pdf(write_pdf(k / ".plain.pdf", ["secret"]), k / "locked.pdf")
    (k / "huge.md").write_bytes(b"big " * 400_000)
    (k / "notes.xlsx").write_bytes(b"PK")
    (k / "copy.md").write_text(LEAVE)  # same content as leave.md
    with caplog.at_level(logging.WARNING):
        lib = Library.open(settings)
    reasons = dict(lib.skipped())
    assert set(reasons) == {
        "empty.txt",
        "binary.txt",
        "latin1.txt",
        "corrupt.pdf",
        "locked.pdf",
        "huge.md",
        "notes.xlsx",
        "copy.md",
    }
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "PDF" in reasons["corrupt.pdf"]
    assert "encrypted" in reasons["locked.pdf"]
    assert "limit" in reasons["huge.md"]
    assert "not supported" in reasons["notes.xlsx"]
    assert "duplicate of leave.md" in reasons["copy.md"]
    assert lib.stats()["documents"] == 6
    for name in reasons:
        assert any(name in r.getMessage() for r in caplog.records)


def test_add_file_to_a_scope_is_searchable_at_once_and_isolated(populated, make_settings, tmp_path):
    lib = Library.open(make_settings())
    up = tmp_path / "upload-123.md"
    up.write_text("# Q3 report\n\nRevenue grew by twelve percent in the quarter.\n")
    result = lib.add_file(up, scope="chat-a", display_name="q3.md")
    assert (result.source, result.chunks) == ("q3.md", 1) and result.seconds >= 0
    assert sources(lib.search("revenue quarter", 3, scope="chat-a")) == ["q3.md"]
    assert lib.search("revenue quarter", 3, scope="chat-b") == []
    assert lib.search("revenue quarter", 3) == []
    # The chat still sees shared knowledge.
    assert sources(lib.search("annual leave", 1, scope="chat-a")) == ["leave.md"]
    # Uploading the same file again does not duplicate it.
    again = lib.add_file(up, scope="chat-a", display_name="q3.md")
    assert again.doc_id == result.doc_id
    assert len(lib.search("revenue", 10, scope="chat-a")) == 1

    assert lib.remove_document(result.doc_id, scope="chat-a") is True
    assert lib.search("revenue quarter", 3, scope="chat-a") == []
    assert lib.remove_document(result.doc_id, scope="chat-a") is False


def test_drop_scope_forgets_its_uploads_only(populated, make_settings, tmp_path):
    lib = Library.open(make_settings())
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("alpha zebra facts")
    b.write_text("beta zebra facts")
    lib.add_file(a, scope="A")
    lib.add_file(b, scope="B")
    lib.drop_scope("A")
    assert lib.search("zebra", 5, scope="A") == []
    assert sources(lib.search("zebra", 5, scope="B")) == ["b.txt"]
    lib.add_file(a, scope="C")  # group ids are not reused across scopes
    assert sources(lib.search("zebra", 5, scope="B")) == ["b.txt"]
    assert sources(lib.search("zebra", 5, scope="C")) == ["a.txt"]


def test_single_upload_in_an_empty_library_still_ranks(make_settings, tmp_path):
    lib = Library.open(make_settings())
    p = tmp_path / "only.md"
    p.write_text(
        "# Only\n\n## One\n\nThe vpn needs a token.\n\n## Two\n\nPrinters are on floor two."
    )
    lib.add_file(p, scope="chat")
    hits = lib.search("vpn token", 5, scope="chat")
    assert hits and hits[0].chunk.section == "Only › One"


def test_add_file_rejections(make_settings, tmp_path):
    lib = Library.open(make_settings())
    bad = tmp_path / "x.txt"
    bad.write_bytes(b"\xff\xfe\xfa\x00\x00binary")
    with pytest.raises(DocumentRejected):
        lib.add_file(bad, scope="s", display_name="notes.txt")
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ")
    with pytest.raises(DocumentRejected, match="not supported"):
        lib.add_file(exe, scope="s")
    enc = encrypt_pdf(write_pdf(tmp_path / "p.pdf", ["x"]), tmp_path / "report.pdf")
    with pytest.raises(DocumentRejected) as e:
        lib.add_file(enc, scope="s")
    assert str(e.value) == "report.pdf is encrypted; remove the password and upload it again"
    assert lib.stats()["uploaded_documents"] == 0


def test_warm_restart_reuses_the_cache_without_parsing(populated, make_settings, monkeypatch):
    settings = make_settings()
    first = Library.open(settings)
    expected = [(h.chunk, h.score) for h in first.search("annual leave taxis", 5)]

    def boom(*a, **k):
        raise AssertionError("parsed a file that was cached")

    monkeypatch.setattr(ParsePool, "submit", boom)  # uploads and scans: every parse
    second = Library.open(settings)
    assert [(h.chunk, h.score) for h in second.search("annual leave taxis", 5)] == expected


def test_changes_while_down_are_picked_up(populated, make_settings):
    settings = make_settings()
    Library.open(settings)
    (populated / "glossary.txt").unlink()
    (populated / "leave.md").write_text(LEAVE.replace("25 days", "30 days of holiday"))
    (populated / "new.md").write_text("# New\n\nParking permits are issued by facilities.")
    lib = Library.open(settings)
    assert lib.search("lexical ranking", 3) == []
    assert "30 days" in lib.search("annual leave", 1)[0].chunk.text
    assert sources(lib.search("parking permits", 1)) == ["new.md"]
    assert lib.stats()["documents"] == 6
    # The saved index is replaced, not added to: one generation, holding the six documents.
    [generation] = (settings.resolved_index_dir / "snapshots").iterdir()
    meta = json.loads((generation / "meta.json").read_text())
    assert sorted(source for _, source, _, _ in meta["docs"]) == sorted(
        ["leave.md", "sub/travel.md", "expenses.pdf", "guide.docx", "page.html", "new.md"]
    )


def test_sync_while_running(populated, make_settings):
    lib = Library.open(make_settings())
    (populated / "late.txt").write_text("Late arrivals sign the visitor book.")
    lib.sync()
    assert sources(lib.search("visitor arrivals", 1)) == ["late.txt"]
    (populated / "late.txt").unlink()
    lib.sync()
    assert lib.search("visitor arrivals", 1) == []


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "manifest.json").write_text("{not json"),
        lambda d: (d / "manifest.json").write_bytes(b"\x00" * 50),
        lambda d: [p.write_text('{"half": ') for p in (d / "docs").glob("*.json")],
        lambda d: [p.write_text("[]") for p in (d / "docs").glob("*.json")],
        lambda d: (d / "manifest.json").write_text(
            json.dumps({"signature": {"format": FORMAT - 1}, "files": {}})
        ),
    ],
    ids=["manifest-garbage", "manifest-binary", "docs-truncated", "docs-wrong-shape", "old-format"],
)
def test_corrupt_or_outdated_cache_is_rebuilt(populated, make_settings, damage):
    settings = make_settings()
    expected = [h.chunk for h in Library.open(settings).search("annual leave taxis", 5)]
    damage(settings.resolved_index_dir)
    lib = Library.open(settings)
    assert [h.chunk for h in lib.search("annual leave taxis", 5)] == expected
    assert lib.skipped() == []
    # ... and the rebuilt cache is good again.
    again = Library.open(settings)
    assert [h.chunk for h in again.search("annual leave taxis", 5)] == expected


def test_changed_chunk_settings_invalidate_the_cache(populated, make_settings):
    Library.open(make_settings())
    lib = Library.open(make_settings(chunk_tokens=64, chunk_overlap=8))
    assert lib.stats()["documents"] == 6


def test_leftover_temp_files_from_a_crash_are_ignored_and_cleaned(populated, make_settings):
    settings = make_settings()
    Library.open(settings)
    index_dir = settings.resolved_index_dir
    (index_dir / ".manifest.json.abc.tmp").write_text("{half-written")
    (populated / "more.txt").write_text("More text to index.")
    lib = Library.open(settings)
    assert sources(lib.search("more text", 1)) == ["more.txt"]
    assert not list(index_dir.glob(".*.tmp"))


def test_shared_upload_persists_and_can_be_removed(populated, make_settings, tmp_path):
    settings = make_settings()
    lib = Library.open(settings)
    up = tmp_path / "handbook.md"
    up.write_text("# Handbook\n\nThe canteen opens at eight.")
    res = lib.add_file(up)
    up.unlink()  # the cache keeps it, as for any shared document
    lib2 = Library.open(settings)
    assert sources(lib2.search("canteen", 1)) == ["handbook.md"]
    assert lib2.remove_document(res.doc_id) is True
    assert Library.open(settings).search("canteen", 1) == []


def test_removing_a_knowledge_file_keeps_it_out_until_it_changes(populated, make_settings):
    settings = make_settings()
    lib = Library.open(settings)
    doc_id = lib.search("annual leave", 1)[0].chunk.doc_id
    assert lib.remove_document(doc_id)
    lib.sync()
    assert lib.search("annual leave", 5) == []
    assert Library.open(settings).search("annual leave", 5) == []
    (populated / "leave.md").write_text(LEAVE + "\nUpdated.\n")
    assert sources(Library.open(settings).search("annual leave", 1)) == ["leave.md"]


def test_missing_knowledge_dir_and_read_only_index_dir(tmp_path, make_settings):
    lib = Library.open(make_settings(knowledge_dir=tmp_path / "nope"))
    assert lib.stats()["documents"] == 0 and lib.search("anything", 3) == []

    k = tmp_path / "k"
    k.mkdir()
    (k / "a.txt").write_text("apples and pears")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the index dir should be")
    lib = Library.open(make_settings(knowledge_dir=k, index_dir=blocker / "index"))
    assert sources(lib.search("pears", 1)) == ["a.txt"]


def test_concurrent_uploads_and_searches(populated, make_settings, tmp_path):
    lib = Library.open(make_settings())
    errors: list[BaseException] = []
    files = []
    for i in range(12):
        p = tmp_path / f"u{i}.md"
        p.write_text(f"# Upload {i}\n\n" + f"unique{i} shared words here. " * 40)
        files.append(p)

    def upload(i: int) -> None:
        try:
            lib.add_file(files[i], scope=f"chat{i % 3}")
        except BaseException as e:
            errors.append(e)

    def search() -> None:
        try:
            for _ in range(50):
                for h in lib.search("shared words annual leave", 10, scope="chat1"):
                    assert h.chunk.source in {"leave.md"} or h.chunk.source in {
                        f"u{i}.md" for i in range(1, 12, 3)
                    }
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(12)]
    threads += [threading.Thread(target=search) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(lib.search("shared words", 50, scope="chat1")) == 4
    assert sources(lib.search("unique4", 5, scope="chat1")) == ["u4.md"]


def test_mtime_change_without_content_change_is_not_reparsed(populated, make_settings, monkeypatch):
    settings = make_settings()
    Library.open(settings)
    later = time.time() + 100
    os.utime(populated / "leave.md", (later, later))
    monkeypatch.setattr(ParsePool, "submit", lambda *a: 1 / 0)
    assert sources(Library.open(settings).search("annual leave", 1)) == ["leave.md"]


def _generation(settings) -> Path:
    [generation] = (settings.resolved_index_dir / "snapshots").iterdir()
    return generation


@pytest.mark.parametrize(
    "damage",
    [
        lambda g: (g / "meta.json").write_text("{not json"),
        lambda g: (g / "seg0.docs.npy").write_bytes(b"\x93NUMPY garbage"),
        lambda g: (g / "offsets.npy").unlink(),
        lambda g: (g / "text.bin").write_bytes(b"short"),
        lambda g: (g / "vocab.txt").write_text("just\nthree\nterms"),
        lambda g: __import__("shutil").rmtree(g),
    ],
    ids=[
        "meta-garbage",
        "segment-garbage",
        "column-missing",
        "text-truncated",
        "vocab-short",
        "generation-gone",
    ],
)
def test_damaged_saved_index_is_rebuilt_from_the_folder(populated, make_settings, damage):
    settings = make_settings()
    expected = [(h.chunk, h.score) for h in Library.open(settings).search("annual leave taxis", 5)]
    damage(_generation(settings))
    lib = Library.open(settings)
    assert [(h.chunk, h.score) for h in lib.search("annual leave taxis", 5)] == expected
    assert lib.skipped() == [] and lib.stats()["documents"] == 6
    again = Library.open(settings)  # ... and the rebuilt index was saved again
    assert [(h.chunk, h.score) for h in again.search("annual leave taxis", 5)] == expected


def test_a_search_sees_a_sync_entirely_or_not_at_all(populated, make_settings):
    lib = Library.open(make_settings())
    for i in range(150):
        (populated / f"batch{i:03d}.md").write_text(f"# Batch {i}\n\nquokka sighting number {i}.")
    seen: set[int] = set()
    done = threading.Event()

    def searcher() -> None:
        while not done.is_set():
            seen.add(len(lib.search("quokka sighting", 500)))

    t = threading.Thread(target=searcher)
    t.start()
    lib.sync()
    for i in range(0, 150, 2):
        (populated / f"batch{i:03d}.md").unlink()
    lib.sync()
    done.set()
    t.join()
    assert seen <= {0, 150, 75}
    assert len(lib.search("quokka sighting", 500)) == 75


def test_chat_add_drop_cycles_leave_no_trace(populated, make_settings, tmp_path):
    lib = Library.open(make_settings())
    base = lib.stats()
    up = tmp_path / "up.md"
    for i in range(1200):
        up.write_text(f"# Up {i}\n\n" + f"word{i} zebra facts and figures. " * 20)
        lib.add_file(up, scope=f"chat-{i}")
        assert [h.chunk.source for h in lib.search(f"word{i}", 3, scope=f"chat-{i}")] == ["up.md"]
        lib.drop_scope(f"chat-{i}")
    after = lib.stats()
    assert after["scopes"] == 0 and after["uploaded_documents"] == 0
    assert after["vocabulary"] == base["vocabulary"]
    # Dead slots were compacted away instead of piling up (1,200 chats, ~1 chunk each).
    assert after["slots"] <= base["slots"] + 1000
    assert lib.search("annual leave", 1)[0].chunk.source == "leave.md"
