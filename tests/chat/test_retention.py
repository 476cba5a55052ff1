"""UPLOAD_RETENTION_DAYS: expired chat upload folders go; nothing else is touched."""

from __future__ import annotations

import os
import time

from app.chat.retention import (
    DAY,
    expired_chat_folders,
    new_scope,
    prune_interval,
    prune_uploads,
)
from app.chat.uploads import store_upload


def _chat(tmp_path, uploads, age_days: float, now: float):
    scope = new_scope()
    src = tmp_path / "src"
    src.write_text("hello")
    stored = store_upload(src, "a.txt", scope, uploads)
    then = now - age_days * DAY
    for p in (stored.path, stored.path.parent):
        os.utime(p, (then, then))
    return stored.path.parent


def test_old_chat_folders_are_deleted_and_recent_ones_kept(tmp_path):
    uploads, now = tmp_path / "uploads", time.time()
    old = _chat(tmp_path, uploads, 31, now)
    recent = _chat(tmp_path, uploads, 29, now)
    assert expired_chat_folders(uploads, 30, now) == [old]
    assert prune_uploads(uploads, 30, now) == 1
    assert not old.exists() and recent.exists()


def test_a_recent_file_keeps_its_folder(tmp_path):
    uploads, now = tmp_path / "uploads", time.time()
    folder = _chat(tmp_path, uploads, 40, now)
    fresh = folder / "new.txt"
    fresh.write_text("added today")
    os.utime(folder, (now - 40 * DAY, now - 40 * DAY))  # folder mtime old, file new
    assert expired_chat_folders(uploads, 30, now) == []


def test_zero_keeps_everything(tmp_path):
    uploads, now = tmp_path / "uploads", time.time()
    _chat(tmp_path, uploads, 3650, now)
    assert expired_chat_folders(uploads, 0, now) == []
    assert prune_uploads(uploads, 0, now) == 0


def test_only_chat_folders_are_ever_deleted(tmp_path):
    # UPLOAD_DIR=. by mistake: old project folders must survive.
    now = time.time()
    for name in ["knowledge", "chat-notes", "chat-" + "z" * 32]:
        d = tmp_path / name
        d.mkdir()
        os.utime(d, (now - 400 * DAY, now - 400 * DAY))
    assert prune_uploads(tmp_path, 1, now) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "chat-notes",
        "chat-" + "z" * 32,
        "knowledge",
    ]


def test_prune_interval_is_hourly_or_quicker_for_short_retention():
    assert prune_interval(30) == 3600
    assert prune_interval(0.01) == 216
    assert prune_interval(0.0001) == 60
