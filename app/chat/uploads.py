"""Files attached in the chat: check, copy out of Chainlit's temporary folder, publish.

Chainlit deletes `.files/` when a session ends, so an upload is copied into durable,
per-chat storage before anything else happens to it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.config import FILE_TYPES
from app.retrieval.file_rules import size_problem, type_problem

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def browser_accept(extensions: frozenset[str]) -> dict[str, list[str]]:
    """The upload dialog's filter ({MIME type: [extensions]}) for the allowed extensions."""
    accept: dict[str, list[str]] = {}
    for ext in sorted(extensions):
        accept.setdefault(FILE_TYPES[ext], []).append(ext)
    return accept


@dataclass(frozen=True, slots=True)
class StoredUpload:
    name: str  # what the user called it
    path: Path  # durable copy
    size: int


def check_upload(name: str, size: int, *, allowed: frozenset[str], max_bytes: int) -> str | None:
    """Why this file can't be taken, in one sentence; None when it can."""
    problem = type_problem(name, allowed) or size_problem(size, max_bytes)
    if problem is None and size == 0:
        problem = "the file is empty"
    return f"{name} was not added: {problem}." if problem else None


MAX_NAME = 150  # characters; a file system allows 255 bytes, numbered copies add a few
MAX_SUFFIX = 16  # longer "extensions" are not extensions


def safe_name(name: str) -> str:
    """A file name that can't escape its folder or upset a file system; keeps its extension
    when it has to be shortened."""
    base = Path(name.replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip(" .") or "upload"
    if len(cleaned) <= MAX_NAME:
        return cleaned
    suffix = Path(cleaned).suffix
    if len(suffix) > MAX_SUFFIX:
        suffix = ""
    return cleaned[: MAX_NAME - len(suffix)].rstrip(" .") + suffix


def chat_folder(upload_dir: Path, scope: str) -> Path:
    """Where one chat's uploads are kept."""
    return upload_dir / safe_name(scope)


# Uploads are private to the server's user: 0700 folders, 0600 files (mkstemp's mode).
FOLDER_MODE = 0o700
SHARED_FILE_MODE = 0o644  # files published into the knowledge folder, as before


def _private_folder(path: Path) -> None:
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    os.chmod(path, FOLDER_MODE)  # mkdir's mode is masked by umask, and may pre-exist


def _copy_to_temp(src: Path, folder: Path) -> tuple[Path, str]:
    """A private (0600), uniquely named, hidden copy of `src` in `folder`, and its sha256.

    Hidden (leading dot) so a concurrent scan of the knowledge folder skips it."""
    fd, tmp = tempfile.mkstemp(prefix=".incoming-", suffix=".part", dir=folder)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, src.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), h.hexdigest()


def _numbered(path: Path, n: int) -> Path:
    return path if n == 0 else path.with_name(f"{path.stem}-{n}{path.suffix}")


def _claim(
    tmp: Path, wanted: Path, reuse: Callable[[Path], bool] | None = None
) -> tuple[Path, bool]:
    """Give the finished temp file the first free name of wanted, wanted-1, wanted-2, ….

    The name is taken with os.link, which fails if it exists: two writers can never both
    get one name, and nothing is ever overwritten. `reuse(existing)` says an existing file
    is as good as ours (identical content); then (existing, False) is returned. The temp
    file is gone afterwards either way.
    """
    try:
        for n in range(10_000):
            candidate = _numbered(wanted, n)
            try:
                os.link(tmp, candidate)
            except FileExistsError:
                if reuse is not None and reuse(candidate):
                    return candidate, False
                continue
            except OSError as e:
                if e.errno not in _NO_HARD_LINKS:
                    raise
                if not _create_exclusive(tmp, candidate):
                    if reuse is not None and reuse(candidate):
                        return candidate, False
                    continue
            return candidate, True
        raise FileExistsError(f"no free name for {wanted.name}")
    finally:
        tmp.unlink(missing_ok=True)


_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK}


def _create_exclusive(tmp: Path, target: Path) -> bool:
    """Fallback where hard links aren't supported: O_EXCL create, then copy. Still never
    overwrites; the copy is briefly visible while it is written."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as out, tmp.open("rb") as f:
        shutil.copyfileobj(f, out)
    os.chmod(target, tmp.stat().st_mode & 0o777)
    return True


def store_upload(src: Path, name: str, scope: str, upload_dir: Path) -> StoredUpload:
    """Copy a temporary upload into `upload_dir/<scope>/` (0700), as a 0600 file, never
    overwriting another file."""
    _private_folder(upload_dir)
    folder = chat_folder(upload_dir, scope)
    _private_folder(folder)
    tmp, _ = _copy_to_temp(src, folder)
    target, _ = _claim(tmp, folder / safe_name(name))
    return StoredUpload(name=name, path=target, size=target.stat().st_size)


def publish_to_knowledge(stored: StoredUpload, knowledge_dir: Path) -> tuple[Path, bool]:
    """Copy an upload into the shared knowledge folder, atomically.

    Returns (path, created). An identical file already there is reused rather than copied
    again; a different file with the same name gets a numbered name instead of being
    replaced. Safe against concurrent publishes: each writes its own temp file and takes
    a name with an exclusive link, so none is lost and none is mixed with another.
    """
    knowledge_dir.mkdir(parents=True, exist_ok=True)
    tmp, digest = _copy_to_temp(stored.path, knowledge_dir)
    os.chmod(tmp, SHARED_FILE_MODE)
    return _claim(tmp, knowledge_dir / safe_name(stored.name), reuse=lambda p: _sha256(p) == digest)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return ""
    return h.hexdigest()
