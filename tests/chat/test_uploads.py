"""Upload checks, durable copies and publishing into the shared knowledge folder."""

from pathlib import Path

import pytest

from app.chat.uploads import (
    StoredUpload,
    check_upload,
    publish_to_knowledge,
    safe_name,
    store_upload,
)

ALLOWED = frozenset({".md", ".txt", ".pdf", ".docx", ".html"})


@pytest.mark.parametrize(
    ("name", "size", "expected"),
    [
        ("notes.md", 10, None),
        ("REPORT.PDF", 10, None),
        ("setup.exe", 10, "setup.exe was not added: .exe files are not supported"),
        ("Makefile", 10, "no extension files are not supported"),
        ("big.pdf", 21 * 1_048_576, "it is 21.0 MB and the limit is 20 MB (MAX_UPLOAD_MB)"),
        ("empty.txt", 0, "empty.txt was not added: the file is empty."),
    ],
)
def test_check_upload(name, size, expected):
    reason = check_upload(name, size, allowed=ALLOWED, max_bytes=20 * 1_048_576)
    if expected is None:
        assert reason is None
    else:
        assert expected in reason


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\plan.docx", "plan.docx"),
        ("résumé (final).pdf", "r_sum_ _final_.pdf"),
        ("...", "upload"),
    ],
)
def test_safe_name_cannot_escape_its_folder(raw, clean):
    assert safe_name(raw) == clean


def test_store_upload_copies_and_never_overwrites(tmp_path):
    src = tmp_path / "tmp-upload"
    src.write_text("first")
    a = store_upload(src, "notes.md", "chat-1", tmp_path / "uploads")
    src.write_text("second")
    b = store_upload(src, "notes.md", "chat-1", tmp_path / "uploads")
    assert a.path != b.path
    assert a.path.read_text() == "first" and b.path.read_text() == "second"
    assert a.path.parent == tmp_path / "uploads" / "chat-1"
    src.unlink()  # Chainlit deletes its temporary file; the durable copies remain
    assert a.path.exists() and b.path.exists()
    assert not list((tmp_path / "uploads").rglob("*.part"))


def test_publish_reuses_identical_files_and_renames_different_ones(tmp_path):
    knowledge = tmp_path / "knowledge"
    up = tmp_path / "up.md"
    up.write_text("# Guide\nv1")
    stored = StoredUpload(name="guide.md", path=up, size=up.stat().st_size)

    first, created = publish_to_knowledge(stored, knowledge)
    assert created and first == knowledge / "guide.md"
    again, created = publish_to_knowledge(stored, knowledge)
    assert not created and again == first

    up.write_text("# Guide\nv2")
    other, created = publish_to_knowledge(stored, knowledge)
    assert created and other == knowledge / "guide-1.md"
    assert first.read_text().endswith("v1"), "an existing shared file was overwritten"
    assert sorted(p.name for p in knowledge.iterdir()) == ["guide-1.md", "guide.md"]


def test_publish_creates_the_knowledge_folder(tmp_path):
    up = tmp_path / "a.txt"
    up.write_text("x")
    path, created = publish_to_knowledge(
        StoredUpload(name="a.txt", path=up, size=1), tmp_path / "new" / "knowledge"
    )
    assert created and path.exists() and isinstance(path, Path)


def test_browser_accept_groups_extensions_by_mime_type():
    from app.chat.uploads import browser_accept

    assert browser_accept(frozenset({".md", ".html", ".htm", ".pdf"})) == {
        "text/html": [".htm", ".html"],
        "text/markdown": [".md"],
        "application/pdf": [".pdf"],
    }
