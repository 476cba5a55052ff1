"""Empty uploads get a clear message in the chat instead of a silent HTTP 500.

Chainlit's POST /project/file passes the content to `persist_file`, which raises on empty
content (HTTP 500), and the browser then drops the file without a word. This ASGI
middleware reads small upload requests before Chainlit does: when the file part is
empty it answers 400 with the reason and says the same in the chat. Every other request
goes through untouched (bodies are replayed exactly as received).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# An empty file's request is a few hundred bytes of multipart framing; anything larger
# carries content and is none of our business.
SMALL_BODY = 64 * 1024

Notify = Callable[[str | None, str], Awaitable[str]]


def empty_upload_name(body: bytes, content_type: str) -> str | None:
    """The file name, when this multipart/form-data body holds an empty `file` part."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") != "file":
            continue
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        if filename is not None and not payload:
            return filename
    return None


class EmptyUploadGuard:
    def __init__(self, app: ASGIApp, notify: Notify) -> None:
        self.app = app
        self.notify = notify  # (session id, file name) -> the message shown in the chat

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].endswith("/project/file")
        ):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        size, more = 0, True
        while more and size <= SMALL_BODY:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        if not more and size <= SMALL_BODY:
            headers = dict(scope["headers"])
            body = b"".join(m.get("body", b"") for m in received)
            name = empty_upload_name(body, headers.get(b"content-type", b"").decode("latin-1"))
            if name is not None:
                query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                text = await self.notify(query.get("session_id", [None])[0], name)
                await JSONResponse({"detail": text}, status_code=400)(scope, receive, send)
                return

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)


def chat_notifier(settings) -> Notify:
    """Notify for the running app: the refusal, posted into the chat that sent the file."""

    async def notify(session_id: str | None, name: str) -> str:
        import chainlit as cl
        from chainlit.context import init_ws_context
        from chainlit.session import WebsocketSession

        from app.chat.uploads import check_upload

        text = (
            check_upload(
                name, 0, allowed=settings.upload_extensions, max_bytes=settings.max_upload_bytes
            )
            or f"{name} was not added: the file is empty."
        )
        # Session ids are random and private to their browser tab; an unknown one gets
        # the HTTP answer only.
        session = WebsocketSession.get_by_id(session_id) if session_id else None
        if session is not None:
            init_ws_context(session)
            await cl.ErrorMessage(content=text, author="Uploads").send()
        return text

    return notify
