"""Serve stored files (uploads, the text behind citations) to the owner of their chat only.

A key is `<user id or "unknown">/<element id>/<name>` (Chainlit writes "unknown" when the
file is stored before the chat has an owner, e.g. an upload on the first message), so the
key is not trusted: the element row says which chat the file belongs to, and the chat says
who owns it. Anyone else gets 404 (not 403, which would confirm the file exists)."""

# No `from __future__ import annotations`: FastAPI reads the Depends() annotation at run time.
from typing import Annotated, Any

from chainlit.auth import get_current_user
from chainlit.data import get_data_layer
from fastapi import Depends, HTTPException
from fastapi.responses import FileResponse

from app.persistence.storage import URL_PREFIX, LocalStorageClient, safe_key

_OWNER = """
SELECT t."userId" AS owner, e."objectKey" AS key FROM elements e
JOIN threads t ON t."id" = e."threadId"
WHERE e."id" = :element_id
"""


def element_id_of(object_key: str) -> str | None:
    try:
        parts = safe_key(object_key).split("/")
    except ValueError:
        return None
    return parts[1] if len(parts) >= 2 else None


def may_read(user_id: str | None, rows: Any, object_key: str) -> bool:
    """The element exists, its stored key is this key, and its chat belongs to the user."""
    if not user_id or not isinstance(rows, list) or not rows:
        return False
    row = rows[0]
    return row["owner"] == user_id and safe_key(row["key"] or "") == safe_key(object_key)


async def _stored_file(
    object_key: str, current_user: Annotated[Any, Depends(get_current_user)]
) -> FileResponse:
    if current_user is None:
        raise HTTPException(status_code=401, detail="Unauthorized")
    element_id = element_id_of(object_key)
    layer = get_data_layer()
    rows = await layer.execute_sql(_OWNER, {"element_id": element_id}) if element_id else None
    if not may_read(getattr(current_user, "id", None), rows, object_key):
        raise HTTPException(status_code=404, detail="Not found")
    path = layer.storage_provider.path_for(object_key)
    if not path.is_file():
        raise HTTPException(status_code=404, detail="Not found")
    # The edge middleware adds attachment + sandbox headers to every download.
    return FileResponse(path, media_type="application/octet-stream")


def install_files_route(storage: LocalStorageClient) -> None:
    from chainlit.server import app

    path = f"{storage.url_prefix}/{{object_key:path}}"
    if any(getattr(r, "path", None) == path for r in app.router.routes):
        return
    app.add_api_route(path, _stored_file, methods=["GET"])
    # Chainlit's catch-all GET route (the SPA) would otherwise answer first.
    app.router.routes.insert(0, app.router.routes.pop())


__all__ = ["URL_PREFIX", "install_files_route"]
