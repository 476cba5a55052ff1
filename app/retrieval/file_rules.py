"""Which files are read at all: the type rule and the size rule, stated once.

The upload check in the chat, the library and the loaders all ask here, so a file is
refused for the same reason, in the same words, whichever door it came through. Each
function returns the reason as a phrase to put after the file's name, or None.
"""

from __future__ import annotations

from pathlib import PurePath

MB = 1024 * 1024

# Every file type a document can be: extension -> MIME type. The loaders pick a parser by
# the MIME type, the upload dialog filters by it, and ALLOWED_UPLOAD_TYPES is a subset.
FILE_TYPES: dict[str, str] = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def type_problem(name: str, allowed: frozenset[str]) -> str | None:
    """Why a file with this name's extension is not taken (ALLOWED_UPLOAD_TYPES)."""
    ext = _suffix(name).lower()
    if ext in allowed:
        return None
    shown = ext or "no extension"
    return f"{shown} files are not supported (use {', '.join(sorted(allowed))})"


def size_problem(size: int, max_bytes: int) -> str | None:
    """Why a file of `size` bytes is too big (MAX_UPLOAD_MB): "it is … MB, over …"."""
    if size <= max_bytes:
        return None
    return f"it is {size / MB:.1f} MB, over the {max_bytes / MB:g} MB limit (MAX_UPLOAD_MB)"


def _suffix(name: str) -> str:
    """`PurePath(name).suffix`. A plain file name takes pathlib's own rule on the name
    directly: a folder scan asks for each of its files, and building a path for each was a
    quarter of a warm start at 20,000 files. Anything path-like goes through pathlib."""
    if "/" in name or "\\" in name or ":" in name:
        return PurePath(name).suffix
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""
