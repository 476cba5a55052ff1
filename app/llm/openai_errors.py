"""How a failure of openai's client, or of the HTTP stack under it, becomes our error.

Before any output, an openai exception becomes an `LLMError` with a message for staff
(`translate`). During a stream, the read-timeout and connection-lost classes below are
what a raw response raises, and the gateway ends the answer as cut instead.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import openai

from app.llm.errors import (
    ContextTooLong,
    EndpointUnreachable,
    LLMError,
    LLMServerError,
    LLMTimeout,
)

_CONTEXT_TOO_LONG = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|too many tokens|prompt is too long"
    r"|exceed\w*\b.{0,40}\b(context|tokens?)\b|context_length_exceeded",
    re.IGNORECASE | re.DOTALL,
)
_MODEL_UNKNOWN = re.compile(
    r"model.{0,80}(not found|does not exist|not loaded|unknown|not available|no such)"
    r"|(unknown|invalid) model|model_not_found",
    re.IGNORECASE | re.DOTALL,
)


class ModelUnknown(Exception):
    """The server refused the model ID; the gateway refreshes its model list once."""

    def __init__(self, server_text: str) -> None:
        super().__init__(server_text)
        self.server_text = server_text


def translate(
    e: openai.APIError, *, model: str, endpoint: str, connect_s: float, read_s: float
) -> LLMError | ModelUnknown:
    """Map an openai exception raised before any output to our error types."""
    if isinstance(e, openai.APITimeoutError):
        cause = e.__cause__
        # httpx and httpx2 both name it ConnectTimeout; avoid importing openai's backend.
        if cause is not None and "Connect" in type(cause).__name__:
            return LLMTimeout(endpoint, "connect", connect_s)
        return LLMTimeout(endpoint, "read", read_s)
    if isinstance(e, openai.APIConnectionError):
        return EndpointUnreachable(endpoint, cause_text(e))
    if isinstance(e, openai.APIStatusError):
        text = server_text(e)
        status = e.status_code
        if model and (status == 404 or (status in (400, 422) and _MODEL_UNKNOWN.search(text))):
            return ModelUnknown(text)
        if status in (400, 413, 422) and _CONTEXT_TOO_LONG.search(text):
            return ContextTooLong(model, text)
        if status == 404 and not model:
            return LLMServerError(
                404,
                f"{text} (no model list at {endpoint}/models; the endpoint should end in /v1)",
            )
        return LLMServerError(status, text, model)
    return LLMServerError(None, str(e), model)


def _http_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """Read-timeout and connection-lost exception classes of the HTTP stack in use.

    openai 3.x sends through `httpx2`, a fork of httpx; a raw stream raises that library's
    exceptions, which openai would otherwise have wrapped."""
    libs: list[Any] = [httpx]
    try:
        import httpx2

        libs.append(httpx2)
    except ImportError:  # older openai releases use httpx itself
        pass
    timeouts = (openai.APITimeoutError, *(lib.TimeoutException for lib in libs))
    lost = (
        openai.APIConnectionError,
        *(lib.TransportError for lib in libs),
        *(lib.StreamError for lib in libs),
    )
    return timeouts, lost


READ_TIMEOUTS, CONNECTION_LOST = _http_errors()


def server_text(e: openai.APIError) -> str:
    """What the server said, from the error body if it has one."""
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(err, str):
            return err
    response = getattr(e, "response", None)
    if response is not None:
        try:
            return response.text or e.message
        except Exception:
            return e.message
    return e.message


def cause_text(e: BaseException) -> str:
    """The underlying cause, e.g. "ConnectError: [Errno 111] Connection refused"."""
    cause = e.__cause__ or e.__context__
    if cause is None:
        return type(e).__name__
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__
