"""UPLOAD_RETENTION_DAYS: chat upload folders are deleted once nothing in them has changed
for that long, at start-up and then periodically. 0 keeps them forever.

Only folders named like a chat scope (`chat-<32 hex>`) are touched, so a misconfigured
UPLOAD_DIR (say `.`) can never lose anything else.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from pathlib import Path

log = logging.getLogger(__name__)

DAY = 86_400.0
CHAT_FOLDER = re.compile(r"chat-[0-9a-f]{32}")


def new_scope() -> str:
    """A chat's scope: its upload folder name and its index group."""
    import uuid

    return f"chat-{uuid.uuid4().hex}"


def _last_change(folder: Path) -> float:
    times = [folder.stat().st_mtime]
    times.extend(p.lstat().st_mtime for p in folder.iterdir())
    return max(times)


def expired_chat_folders(upload_dir: Path, retention_days: float, now: float) -> list[Path]:
    """Chat folders in `upload_dir` with nothing changed for `retention_days` (0: none)."""
    if retention_days <= 0 or not upload_dir.is_dir():
        return []
    cutoff = now - retention_days * DAY
    expired = []
    for folder in sorted(upload_dir.iterdir()):
        if not CHAT_FOLDER.fullmatch(folder.name) or folder.is_symlink() or not folder.is_dir():
            continue
        try:
            if _last_change(folder) < cutoff:
                expired.append(folder)
        except OSError:  # vanished or unreadable: leave it for the next round
            continue
    return expired


def prune_uploads(upload_dir: Path, retention_days: float, now: float | None = None) -> int:
    """Delete expired chat folders; returns how many went."""
    removed = 0
    for folder in expired_chat_folders(upload_dir, retention_days, now or time.time()):
        try:
            shutil.rmtree(folder)
            removed += 1
        except OSError as e:
            log.warning("could not delete expired uploads %s: %s", folder, e)
    if removed:
        log.info("deleted %d chat upload folders older than %g days", removed, retention_days)
    return removed


def prune_interval(retention_days: float) -> float:
    """Seconds between prunes: hourly, or more often for a retention under four hours."""
    return max(60.0, min(3600.0, retention_days * DAY / 4))
