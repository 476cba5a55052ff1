"""Local file storage: keys can't escape the folder; only the owner's id opens a file."""

from __future__ import annotations

from app.persistence.files_route import element_id_of, may_read
from app.persistence.storage import LocalStorageClient, safe_key


async def test_upload_read_url_and_delete(tmp_path):
    storage = LocalStorageClient(tmp_path)
    stored = await storage.upload_file("u1/e1/notes.md", "text")
    assert stored["url"] == "/persisted-files/u1/e1/notes.md"
    assert (tmp_path / "u1/e1/notes.md").read_text() == "text"
    assert await storage.get_read_url("u1/e1/notes.md") == stored["url"]
    assert await storage.delete_file("u1/e1/notes.md")
    assert not (tmp_path / "u1/e1").exists()


def test_keys_cannot_escape():
    assert safe_key("../../etc/passwd") == "etc/passwd"
    assert safe_key("/abs/../x") == "abs/x"
    assert safe_key("u/e/a b?.md") == "u/e/a b_.md"


def test_only_the_owner_of_the_chat_opens_a_file():
    rows = [{"owner": "u1", "key": "unknown/e1/x.md"}]
    assert element_id_of("unknown/e1/x.md") == "e1"
    assert may_read("u1", rows, "unknown/e1/x.md")
    assert not may_read("u2", rows, "unknown/e1/x.md")
    assert not may_read(None, rows, "unknown/e1/x.md")
    assert not may_read("u1", rows, "unknown/e1/other.md")  # the key must be the stored one
    assert not may_read("u1", [], "unknown/e1/x.md")
