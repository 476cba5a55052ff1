"""ASGI middleware in front of Chainlit: origin checks, id checks, security headers."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from app.edge.headers import COMMON_HEADERS, FILE_CSP, file_media_type
from app.edge.ids import is_uuid
from app.edge.origins import OriginPolicy

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Chainlit routes whose path segments are ids; each (group) must be a UUID.
_ID_ROUTES = [
    re.compile(r"/project/file/(?P<file>[^/]+)"),
    re.compile(r"/project/thread/(?P<thread>[^/]+)(?:/element/(?P<element>[^/]+))?"),
    re.compile(r"/project/share/(?P<thread>[^/]+)"),
    re.compile(r"/persisted-files/[^/]+/(?P<element>[^/]+)(?:/.*)?"),
]
_SESSION_ROUTES = re.compile(r"/project/file(?:/[^/]*)?")
_FILE_DOWNLOAD = re.compile(r"/project/file/[^/]+|/persisted-files/.+")


def ids_problem(path: str, query_string: bytes) -> str | None:
    """Why the ids in this request are refused, or None when they are all well-formed."""
    for route in _ID_ROUTES:
        match = route.fullmatch(path)
        if match:
            for name, value in match.groupdict().items():
                if value is not None and not is_uuid(value):
                    return f"invalid {name} id"
    if _SESSION_ROUTES.fullmatch(path):
        query = parse_qs(query_string.decode("latin-1"), keep_blank_values=True)
        if "session_id" in query and not all(is_uuid(v) for v in query["session_id"]):
            return "invalid session id"
    return None


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        origins: OriginPolicy,
        csp: Callable[[], str],
        root_path: str = "",
    ) -> None:
        self.app = app
        self.origins = origins
        self.csp = csp
        self.root_path = root_path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not self.origins.allows(headers.get("origin"), headers):
            await _refuse(scope, send, 403, "origin not allowed")
            return
        path = scope.get("path", "")
        if self.root_path and path.startswith(self.root_path):
            path = path[len(self.root_path) :] or "/"
        problem = ids_problem(path, scope.get("query_string", b""))
        if problem is not None:
            await _refuse(scope, send, 400, problem)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        is_download = scope.get("method") == "GET" and _FILE_DOWNLOAD.fullmatch(path) is not None
        await self.app(scope, receive, self._with_headers(send, is_download))

    def _with_headers(self, send: Send, is_download: bool) -> Send:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = self._headers(list(message.get("headers", [])), is_download)
            await send(message)

        return send_with_headers

    def _headers(
        self, headers: list[tuple[bytes, bytes]], is_download: bool
    ) -> list[tuple[bytes, bytes]]:
        names = {k.lower() for k, _ in headers}
        if is_download:
            # An uploaded .html must never render as a page on our origin.
            headers = [
                (k, file_media_type(v.decode("latin-1")).encode("latin-1"))
                if k.lower() == b"content-type"
                else (k, v)
                for k, v in headers
                if k.lower() not in (b"content-disposition", b"content-security-policy")
            ]
            headers.append((b"content-disposition", b"attachment"))
            headers.append((b"content-security-policy", FILE_CSP.encode()))
        elif b"content-security-policy" not in names:
            headers.append((b"content-security-policy", self.csp().encode()))
        headers.extend(h for h in COMMON_HEADERS if h[0] not in names)
        return headers


async def _refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
    if scope["type"] == "websocket":
        # Closing before accepting makes the server answer the handshake with 403.
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *COMMON_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
