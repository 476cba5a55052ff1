"""Uploads a chat may add to the shared knowledge, kept on the server in that chat's session.

The "Add to shared knowledge" button carries only an opaque random id. The browser can
replay or forge it, but an id is looked up only in the chat's own table, so it can never
name another chat's upload, nor any other file: path and name never come from the
browser. The table is plain JSON ({id: {"path": …, "name": …}}) for `cl.user_session`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from app.chat.uploads import StoredUpload

SESSION_KEY = "shareable"
Registry = dict[str, dict[str, str]]


def offer(registry: Registry, stored: StoredUpload, new_id: Callable[[], str] | None = None) -> str:
    """Remember `stored` as shareable by this chat; returns the id the button carries."""
    upload_id = (new_id or _random_id)()
    registry[upload_id] = {"path": str(stored.path), "name": stored.name}
    return upload_id


def resolve(registry: Registry | None, upload_id: object, chat_dir: Path) -> StoredUpload | None:
    """The upload behind `upload_id` if this chat offered it and its file is still a regular
    file directly in the chat's own folder; None otherwise."""
    if not registry or not isinstance(upload_id, str):
        return None
    entry = registry.get(upload_id)
    if not isinstance(entry, dict):
        return None
    path = Path(entry.get("path", ""))
    try:
        if path.is_symlink() or not path.is_file():
            return None
        real = path.resolve(strict=True)
        if real.parent != chat_dir.resolve(strict=True):
            return None
        size = real.stat().st_size
    except OSError:
        return None
    return StoredUpload(name=str(entry.get("name") or real.name), path=real, size=size)


def _random_id() -> str:
    return secrets.token_urlsafe(18)
