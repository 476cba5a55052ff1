"""The publish guard: a button id resolves only through the chat's own table."""

from __future__ import annotations

import json
import os
from pathlib import Path

from app.chat.shareable import offer, resolve
from app.chat.uploads import chat_folder, store_upload


def _upload(tmp_path: Path, scope: str, text: str = "# Notes\n\nbody") -> tuple[dict, str, Path]:
    src = tmp_path / f"src-{scope}"
    src.write_text(text)
    stored = store_upload(src, "notes.md", scope, tmp_path / "uploads")
    registry: dict = {}
    upload_id = offer(registry, stored)
    return registry, upload_id, chat_folder(tmp_path / "uploads", scope)


def test_an_offered_upload_resolves_in_its_own_chat(tmp_path):
    registry, upload_id, folder = _upload(tmp_path, "chat-a")
    stored = resolve(registry, upload_id, folder)
    assert stored is not None and stored.name == "notes.md"
    assert stored.path.read_text() == "# Notes\n\nbody"
    json.dumps(registry)  # plain JSON, as cl.user_session needs


def test_an_id_from_another_chat_resolves_to_nothing(tmp_path):
    _, a_id, _ = _upload(tmp_path, "chat-a")
    b_registry, _, b_folder = _upload(tmp_path, "chat-b")
    assert resolve(b_registry, a_id, b_folder) is None  # replayed payload from chat A


def test_forged_ids_and_payloads_resolve_to_nothing(tmp_path):
    registry, upload_id, folder = _upload(tmp_path, "chat-a")
    for forged in [None, "", 42, {"id": upload_id}, upload_id + "x", "../../etc/passwd"]:
        assert resolve(registry, forged, folder) is None
    assert resolve({}, upload_id, folder) is None
    assert resolve(None, upload_id, folder) is None


def test_a_tampered_entry_outside_the_chat_folder_is_refused(tmp_path):
    registry, upload_id, folder = _upload(tmp_path, "chat-a")
    outside = tmp_path / "secret.md"
    outside.write_text("not yours")
    registry[upload_id]["path"] = str(outside)
    assert resolve(registry, upload_id, folder) is None
    # A symlink inside the chat folder pointing out of it is refused too.
    link = folder / "link.md"
    os.symlink(outside, link)
    registry[upload_id]["path"] = str(link)
    assert resolve(registry, upload_id, folder) is None


def test_a_deleted_upload_resolves_to_nothing(tmp_path):
    registry, upload_id, folder = _upload(tmp_path, "chat-a")
    Path(registry[upload_id]["path"]).unlink()
    assert resolve(registry, upload_id, folder) is None


def test_ids_are_unguessable_and_distinct(tmp_path):
    registry, first, _ = _upload(tmp_path, "chat-a")
    src = tmp_path / "again"
    src.write_text("x")
    second = offer(registry, store_upload(src, "x.md", "chat-a", tmp_path / "uploads"))
    assert first != second and len(first) >= 20 and len(second) >= 20
