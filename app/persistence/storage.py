"""Chainlit's BaseStorageClient on a local folder (DATA_DIR/files), for one host or a folder
every replica mounts.

Chainlit builds object keys as `<user id>/<element id>/<name>`; the files are served by
`files_route.py`, which only hands a file to the user whose id leads its key.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chainlit.data.storage_clients.base import BaseStorageClient

URL_PREFIX = "/persisted-files"
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_key(object_key: str) -> str:
    """The key with each segment made harmless: no `..`, no absolute paths, no odd bytes."""
    parts = [_UNSAFE.sub("_", p).strip(" .") for p in object_key.replace("\\", "/").split("/")]
    parts = [p for p in parts if p]
    if not parts:
        raise ValueError("empty object key")
    return "/".join(parts)


class LocalStorageClient(BaseStorageClient):
    def __init__(self, root: Path, url_prefix: str = URL_PREFIX) -> None:
        self.root = root
        self.url_prefix = url_prefix.rstrip("/")

    def path_for(self, object_key: str) -> Path:
        return self.root / safe_key(object_key)

    def url_for(self, object_key: str) -> str:
        return f"{self.url_prefix}/{quote(safe_key(object_key))}"

    async def upload_file(
        self,
        object_key: str,
        data: bytes | str,
        mime: str = "application/octet-stream",
        overwrite: bool = True,
        content_disposition: str | None = None,
    ) -> dict[str, Any]:
        path = self.path_for(object_key)
        if path.exists() and not overwrite:
            return {"object_key": safe_key(object_key), "url": self.url_for(object_key)}
        payload = data.encode("utf-8") if isinstance(data, str) else data
        await asyncio.to_thread(_write_atomically, path, payload)
        return {"object_key": safe_key(object_key), "url": self.url_for(object_key)}

    async def delete_file(self, object_key: str) -> bool:
        path = self.path_for(object_key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        # The element's folder (<user>/<element>/) held only this file.
        shutil.rmtree(path.parent, ignore_errors=True)
        return True

    async def get_read_url(self, object_key: str) -> str:
        return self.url_for(object_key)

    async def close(self) -> None:
        return None


def _write_atomically(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_bytes(payload)
    tmp.replace(path)  # readers (another replica) never see half a file
