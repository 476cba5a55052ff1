"""Local file storage: keys can't escape the folder; only the owner's id opens a file."""

from __future__ import annotations

from app.persistence.files_route import owns_key
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


def test_only_the_owner_id_opens_a_file():
    assert owns_key("u1", "u1/e1/x.md")
    assert not owns_key("u2", "u1/e1/x.md")
    assert not owns_key(None, "u1/e1/x.md")
    assert owns_key("u1", "../u1/e1")  # normalised: still u1's own file
