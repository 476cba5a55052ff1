"""An element stored as Chainlit's SQLAlchemy create_element stores it (chainlit 2.x,
data/sql_alchemy.py): its content goes to the storage client under
`<owner id or "unknown">/<element id>/<name>`, then its row is written. The data layer does
these steps itself so that it holds the row as a row, for the write queue, instead of
recognising Chainlit's INSERT by its SQL text."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
from chainlit.element import Element


async def element_content(element: Element) -> bytes | str:
    """The element's content, from where Chainlit reads it, in its order: a file, a URL,
    or the content itself. Raises ValueError, as Chainlit does, when there is none."""
    if element.path:
        return await asyncio.to_thread(Path(element.path).read_bytes)
    if element.url:
        async with aiohttp.ClientSession() as session, session.get(element.url) as response:
            if response.status != 200:
                raise ValueError("Content is None, cannot upload file")
            return await response.read()
    if element.content:
        return element.content
    raise ValueError("Element url, path or content must be provided")


def object_key(owner_id: str | None, element: Element) -> str:
    """Where the file goes; files_route.py checks the owner from the row, not this key."""
    return f"{owner_id or 'unknown'}/{element.id}" + (f"/{element.name}" if element.name else "")


def element_row(element: Element, uploaded: dict[str, Any]) -> dict[str, Any]:
    """The columns Chainlit writes for a stored element, computed the same way."""
    row: dict[str, Any] = {
        **element.to_dict(),
        "url": uploaded.get("url"),
        "objectKey": uploaded.get("object_key"),
    }
    row = {k: v for k, v in row.items() if v is not None}
    if "props" in row:
        row["props"] = json.dumps(row["props"])
    return row
