"""Serve stored files (uploads, the text behind citations) to the owner of their chat only.

A key is `<owner user id>/<element id>/<name>`: the route answers 404 (not 403, which would
confirm the file exists) unless the logged-in user's id leads the key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException
from fastapi.responses import FileResponse

from app.persistence.storage import URL_PREFIX, LocalStorageClient, safe_key


def owns_key(user_id: str | None, object_key: str) -> bool:
    try:
        key = safe_key(object_key)
    except ValueError:
        return False
    return bool(user_id) and key.split("/", 1)[0] == user_id


def install_files_route(storage: LocalStorageClient) -> None:
    from chainlit.auth import get_current_user
    from chainlit.server import app

    async def stored_file(object_key: str, current_user: Annotated[Any, Depends(get_current_user)]):
        if current_user is None:
            raise HTTPException(status_code=401, detail="Unauthorized")
        if not owns_key(getattr(current_user, "id", None), object_key):
            raise HTTPException(status_code=404, detail="Not found")
        path = storage.path_for(object_key)
        if not path.is_file():
            raise HTTPException(status_code=404, detail="Not found")
        # The edge middleware adds attachment + sandbox headers to every download.
        return FileResponse(path, media_type="application/octet-stream")

    path = f"{URL_PREFIX}/{{object_key:path}}"
    if any(getattr(r, "path", None) == path for r in app.router.routes):
        return
    app.add_api_route(path, stored_file, methods=["GET"])
    # Chainlit's catch-all GET route (the SPA) would otherwise answer first.
    app.router.routes.insert(0, app.router.routes.pop())
