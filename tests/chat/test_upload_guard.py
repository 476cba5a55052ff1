"""Empty uploads: refused with a clear reason, not Chainlit's HTTP 500; others untouched.

Requests are real multipart bodies (encoded by httpx) sent through Chainlit's own FastAPI
app with the guard in front, over ASGI.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from app.chat.upload_guard import EmptyUploadGuard, empty_upload_name


def _request(content: bytes, name: str = "notes.txt") -> httpx.Request:
    return httpx.Request(
        "POST",
        "http://app/project/file?session_id=abc",
        files={"file": (name, content, "text/plain")},
    )


@pytest.mark.parametrize(("content", "expected"), [(b"", "empty.txt"), (b"x", None), (b"\n", None)])
def test_empty_upload_name_reads_real_multipart_bodies(content, expected):
    req = _request(content, "empty.txt")
    assert empty_upload_name(req.read(), req.headers["content-type"]) == expected


def test_non_multipart_bodies_are_not_uploads():
    assert empty_upload_name(b"{}", "application/json") is None
    assert empty_upload_name(b"garbage", "multipart/form-data; boundary=zzz") is None


def _guarded_chainlit():
    """Chainlit's upload route on a fresh app, behind the guard."""
    from chainlit.server import router

    told: list[tuple[str | None, str]] = []

    async def notify(session_id, name):
        told.append((session_id, name))
        return f"{name} was not added: the file is empty."

    app = FastAPI()
    app.include_router(router)
    return EmptyUploadGuard(app, notify), told


async def _send(app, req: httpx.Request) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        return await client.send(req)


def test_an_empty_upload_gets_a_400_with_the_reason_and_the_chat_is_told():
    app, told = _guarded_chainlit()
    resp = asyncio.run(_send(app, _request(b"", "empty.txt")))
    assert resp.status_code == 400
    assert resp.json() == {"detail": "empty.txt was not added: the file is empty."}
    assert told == [("abc", "empty.txt")]


def test_other_uploads_reach_chainlit_unchanged():
    app, told = _guarded_chainlit()
    # No such session: Chainlit's own answer proves the request (body intact) reached it.
    small = asyncio.run(_send(app, _request(b"hello")))
    big = asyncio.run(_send(app, _request(b"y" * 200_000)))
    assert small.status_code == big.status_code == 404
    assert small.json() == {"detail": "Session not found"}
    assert told == []
