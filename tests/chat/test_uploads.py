"""Upload checks, durable copies and publishing into the shared knowledge folder."""

import stat
import threading
from concurrent.futures import ThreadPoolExecutor
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
        ("big.pdf", 21 * 1_048_576, "it is 21.0 MB, over the 20 MB limit (MAX_UPLOAD_MB)"),
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


# --- names ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected_suffix"),
    [("x" * 300 + ".docx", ".docx"), ("ré" * 100 + ".pdf", ".pdf"), ("a." + "b" * 300, "")],
)
def test_long_names_are_shortened_keeping_the_extension(raw, expected_suffix):
    name = safe_name(raw)
    assert len(name) <= 150
    assert Path(name).suffix == expected_suffix or (not expected_suffix and "." not in name[2:])
    if expected_suffix:
        assert name.endswith(expected_suffix) and len(name) == 150


def test_long_names_keep_their_extension_in_storage_and_knowledge(tmp_path):
    src = tmp_path / "in"
    src.write_text("# Long\n\ntext")
    long_name = "Quarterly report " * 20 + ".md"
    stored = store_upload(src, long_name, "chat-1", tmp_path / "uploads")
    assert stored.path.suffix == ".md"
    shared, created = publish_to_knowledge(stored, tmp_path / "knowledge")
    assert created and shared.suffix == ".md" and len(shared.name) <= 150


# --- permissions --------------------------------------------------------------------------------
def test_stored_uploads_are_private(tmp_path):
    src = tmp_path / "in"
    src.write_text("secret plans")
    stored = store_upload(src, "plans.txt", "chat-1", tmp_path / "uploads")
    assert stat.S_IMODE(stored.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "uploads").stat().st_mode) == 0o700


# --- concurrent publishing ----------------------------------------------------------------------
def _publish_concurrently(tmp_path: Path, contents: list[str]) -> list[tuple[Path, bool]]:
    stored = []
    for i, text in enumerate(contents):
        p = tmp_path / f"upload-{i}.md"
        p.write_text(text)
        stored.append(StoredUpload(name="guide.md", path=p, size=p.stat().st_size))
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    start = threading.Barrier(len(stored))

    def go(s: StoredUpload) -> tuple[Path, bool]:
        start.wait()
        return publish_to_knowledge(s, knowledge)

    with ThreadPoolExecutor(len(stored)) as pool:
        return list(pool.map(go, stored))


@pytest.mark.parametrize("round_", range(5))
def test_concurrent_publishes_of_one_name_lose_nothing_and_mix_nothing(tmp_path, round_):
    contents = [f"# Guide\n\nversion {i}\n" + f"line {i}\n" * 20_000 for i in range(8)]
    results = _publish_concurrently(tmp_path, contents)
    knowledge = tmp_path / "knowledge"
    assert all(created for _, created in results)
    assert len({path for path, _ in results}) == 8
    on_disk = sorted(p.read_text() for p in knowledge.iterdir())
    assert on_disk == sorted(contents), "a publish was lost, overwritten or mixed"
    assert sorted(p.name for p in knowledge.iterdir()) == sorted(
        ["guide.md"] + [f"guide-{n}.md" for n in range(1, 8)]
    )


def test_concurrent_publishes_of_one_file_keep_one_copy(tmp_path):
    results = _publish_concurrently(tmp_path, ["# Same\n\nsame text\n"] * 8)
    assert [p.name for p in (tmp_path / "knowledge").iterdir()] == ["guide.md"]
    assert sum(created for _, created in results) == 1
