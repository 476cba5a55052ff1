"""Validate the socket.io handshake before Chainlit's `connect` handler runs.

Chainlit names the session's upload folder after `auth.sessionId` and deletes that folder
with `shutil.rmtree` when the session ends, so a session id such as `../knowledge` would let
any client write into, and then delete, any folder the app can write to. Only canonical
UUIDs (what Chainlit's front end generates) get through.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from socketio.exceptions import ConnectionRefusedError as Refused

from app.edge.ids import is_uuid

log = logging.getLogger(__name__)

_MAX_TEXT = 256
_MAX_USER_ENV = 64 * 1024

ConnectHandler = Callable[..., Awaitable[Any]]


def handshake_problem(auth: object) -> str | None:
    """Why this socket.io `auth` payload is refused, or None when it is acceptable."""
    if not isinstance(auth, dict):
        return "missing auth payload"
    if not is_uuid(auth.get("sessionId")):
        return "invalid session id"
    thread_id = auth.get("threadId")
    # The front end sends "" (not null) for a new chat.
    if thread_id not in (None, "") and not is_uuid(thread_id):
        return "invalid thread id"
    for key in ("clientType", "chatProfile"):
        value = auth.get(key)
        if value is not None and not (isinstance(value, str) and len(value) <= _MAX_TEXT):
            return f"invalid {key}"
    user_env = auth.get("userEnv")
    if user_env is not None and not (isinstance(user_env, str) and len(user_env) <= _MAX_USER_ENV):
        return "invalid userEnv"
    return None


def guarded(connect: ConnectHandler) -> ConnectHandler:
    async def connect_if_valid(sid: str, environ: dict, auth: object = None) -> Any:
        problem = handshake_problem(auth)
        if problem is not None:
            log.warning("Refused a socket connection: %s", problem)
            raise Refused(problem)  # socket.io's own class sends the reason to the client
        return await connect(sid, environ, auth)

    connect_if_valid.__wrapped__ = connect  # type: ignore[attr-defined]
    return connect_if_valid


def install_socket_guard(sio: Any) -> None:
    """Wrap the `connect` handler Chainlit registered on the default namespace (once)."""
    handlers = sio.handlers.setdefault("/", {})
    current = handlers.get("connect")
    if current is None:
        raise RuntimeError("Chainlit's socket.io connect handler is not registered")
    if getattr(current, "__wrapped__", None) is None:
        handlers["connect"] = guarded(current)
