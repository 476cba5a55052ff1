"""Files attached in the chat: check, copy out of Chainlit's temporary folder, publish.

Chainlit deletes `.files/` when a session ends, so an upload is copied into durable,
per-chat storage before anything else happens to it.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


_MIME = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def browser_accept(extensions: frozenset[str]) -> dict[str, list[str]]:
    """The upload dialog's filter ({MIME type: [extensions]}) for the allowed extensions."""
    accept: dict[str, list[str]] = {}
    for ext in sorted(extensions):
        accept.setdefault(_MIME[ext], []).append(ext)
    return accept


@dataclass(frozen=True, slots=True)
class StoredUpload:
    name: str  # what the user called it
    path: Path  # durable copy
    size: int


def check_upload(name: str, size: int, *, allowed: frozenset[str], max_bytes: int) -> str | None:
    """Why this file can't be taken, in one sentence; None when it can."""
    suffix = Path(name).suffix.lower()
    if suffix not in allowed:
        kinds = ", ".join(sorted(allowed))
        shown = suffix or "no extension"
        return f"{name} was not added: {shown} files are not supported (use {kinds})."
    if size > max_bytes:
        return (
            f"{name} was not added: it is {size / 1_048_576:.1f} MB and the limit is "
            f"{max_bytes / 1_048_576:.0f} MB (MAX_UPLOAD_MB)."
        )
    if size == 0:
        return f"{name} was not added: the file is empty."
    return None


def safe_name(name: str) -> str:
    """A file name that can't escape its folder or upset a file system."""
    base = Path(name.replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip(" .") or "upload"
    return cleaned[:150]


def store_upload(src: Path, name: str, scope: str, upload_dir: Path) -> StoredUpload:
    """Copy a temporary upload into `upload_dir/<scope>/`, never overwriting another file."""
    folder = upload_dir / safe_name(scope)
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_path(folder / safe_name(name))
    tmp = target.with_name(target.name + ".part")
    shutil.copyfile(src, tmp)
    tmp.replace(target)  # atomic: a crash never leaves a half-copied file under the real name
    return StoredUpload(name=name, path=target, size=target.stat().st_size)


def publish_to_knowledge(stored: StoredUpload, knowledge_dir: Path) -> tuple[Path, bool]:
    """Copy an upload into the shared knowledge folder.

    Returns (path, created). An identical file already there is reused rather than copied
    again; a different file with the same name gets a numbered name instead of being replaced.
    """
    knowledge_dir.mkdir(parents=True, exist_ok=True)
    wanted = knowledge_dir / safe_name(stored.name)
    digest = _sha256(stored.path)
    candidate = wanted
    n = 1
    while candidate.exists():
        if _sha256(candidate) == digest:
            return candidate, False
        candidate = wanted.with_name(f"{wanted.stem}-{n}{wanted.suffix}")
        n += 1
    tmp = candidate.with_name("." + candidate.name + ".part")
    shutil.copyfile(stored.path, tmp)
    tmp.replace(candidate)
    return candidate, True


def _free_path(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
