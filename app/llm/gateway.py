"""One async client for an OpenAI-compatible server (Foundry Local, llama.cpp, Ollama, vLLM…).

`LLMGateway.stream()` yields `TokenEvent`s as text arrives and then exactly one `Completion`.
Failures before the first token raise an `LLMError` subclass with a message for staff; a
stream that breaks after output has started ends with a `Completion` marked `incomplete`
that keeps the partial text, because half an answer with a warning beats none.

Servers differ in what they accept, so the gateway learns per endpoint (one gateway per
endpoint) and remembers:
- `stream_options={"include_usage": true}`: some servers reject the field; then it is
  dropped and token counts come from the project's tokenizer;
- `logprobs=true`: some servers reject it (dropped), others accept it and send null
  (Foundry Local), which simply gives `logprobs=None`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from openai import AsyncOpenAI

from app.config import Settings
from app.llm.errors import (
    ContextTooLong,
    EndpointUnreachable,
    LLMError,
    LLMServerError,
    LLMTimeout,
    ModelNotAvailable,
)
from app.llm.models import match_model
from app.llm.thinking import ThinkSplitter
from app.llm.types import Completion, Timing, TokenEvent, TokenKind
from app.tokens import count_tokens

# The finish reason of a stream the caller's `stop_when` ended: the rest was not read.
STOPPED_EARLY = "stopped_early"

# Chat templates add a few tokens per message around the content; the usual estimate.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_REPLY = 3

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


@dataclass
class EndpointCapabilities:
    """What this endpoint has been seen to accept; None means not yet known."""

    stream_options: bool | None = None
    logprobs: bool | None = None


class _ModelUnknown(Exception):
    def __init__(self, server_text: str) -> None:
        super().__init__(server_text)
        self.server_text = server_text


class LLMGateway:
    def __init__(
        self,
        settings: Settings,
        *,
        http_client: httpx.AsyncClient | None = None,
        max_retries: int = 0,
        top_logprobs: int | None = None,
    ) -> None:
        self.endpoint = settings.endpoint
        self.connect_timeout_s = settings.connect_timeout_s
        self.read_timeout_s = settings.read_timeout_s
        # Retries are off by default: a local server that refused once will refuse again, and
        # the user is waiting. Timeouts apply per read, so a slow but steady stream is fine.
        self._client = AsyncOpenAI(
            base_url=settings.endpoint,
            api_key=settings.api_key,
            # openai's stubs name a vendored httpx; the real httpx objects are what it uses.
            timeout=httpx.Timeout(  # type: ignore[arg-type]
                settings.read_timeout_s, connect=settings.connect_timeout_s
            ),
            max_retries=max_retries,
            http_client=http_client,  # type: ignore[arg-type]
        )
        # `logprobs=true` alone is free where servers support it (vLLM, Ollama, llama-server)
        # and ignored by llama-cpp-python, which wants `top_logprobs` too but then sorts the
        # whole vocabulary per token: with Gemma 3 that is ~0.6 s/token, 30x slower. So
        # top_logprobs is opt-in, for runs (e.g. evaluation) that want logprobs at any cost.
        self.top_logprobs = top_logprobs
        self.capabilities = EndpointCapabilities()
        self._models: list[str] | None = None
        self._resolved: dict[str, str] = {}

    # --- model names -------------------------------------------------------------------

    async def list_models(self) -> list[str]:
        """IDs the server lists at `GET /models` (fetched every call; see `resolve_model`)."""
        try:
            page = await self._client.models.list()
        except openai.APIError as e:
            raise self._translate(e, model="") from e
        self._models = [m.id for m in page.data]
        return list(self._models)

    async def resolve_model(self, name: str) -> str:
        """The server's ID for a configured name: exact ID first, then alias matching."""
        if name in self._resolved:
            return self._resolved[name]
        models = self._models
        cached = models is not None
        if models is None:
            models = await self.list_models()
        found = match_model(name, models)
        if found is None and cached:
            # The list may predate the model being loaded (`foundry model run …` while the
            # app runs); ask the server again before telling the user it isn't there.
            models = await self.list_models()
            found = match_model(name, models)
        if found is None:
            raise ModelNotAvailable(name, models)
        self._resolved[name] = found
        return found

    def forget_models(self) -> None:
        self._models = None
        self._resolved.clear()

    # --- completions -------------------------------------------------------------------

    async def stream(
        self,
        model: str,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        stop_when: Callable[[str], bool] | None = None,
    ) -> AsyncGenerator[TokenEvent | Completion, None]:
        """TokenEvents as they arrive, then one Completion (always last).

        `stop_when(answer_so_far)` true ends the stream there: the connection is closed (a
        llama.cpp server stops generating when its client hangs up) and the Completion has
        finish reason `STOPPED_EARLY`. Closing this generator early closes the connection too.
        """
        model_id = await self.resolve_model(model)
        refreshed = False
        while True:
            try:
                response, sent_at, t0 = await self._open(
                    model_id, messages, temperature=temperature, max_tokens=max_tokens
                )
                break
            except _ModelUnknown as e:
                # The list may be stale (model unloaded, or a new one loaded): look once more.
                if refreshed:
                    raise ModelNotAvailable(model, self._models or []) from None
                refreshed = True
                self.forget_models()
                fresh = await self.resolve_model(model)
                if fresh == model_id:
                    # Listed but refused: typically known to the catalogue but not loaded.
                    raise ModelNotAvailable(model, self._models or []) from e
                model_id = fresh
        items = self._consume(response, model, model_id, messages, sent_at, t0, stop_when)
        async with aclosing(items):
            async for item in items:
                yield item

    async def complete(
        self,
        model: str,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
    ) -> Completion:
        result: Completion | None = None
        async for item in self.stream(
            model, messages, temperature=temperature, max_tokens=max_tokens
        ):
            if isinstance(item, Completion):
                result = item
        assert result is not None, "stream() always ends with a Completion"
        return result

    async def aclose(self) -> None:
        await self._client.close()

    # --- internals ---------------------------------------------------------------------

    async def _open(
        self,
        model_id: str,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
    ) -> tuple[Any, float, float]:
        """Send the request, dropping parameters the server refuses; returns the open stream."""
        caps = self.capabilities
        while True:
            extra: dict[str, Any] = {}
            if caps.stream_options is not False:
                extra["stream_options"] = {"include_usage": True}
            if caps.logprobs is not False:
                extra["logprobs"] = True
                if self.top_logprobs is not None:
                    extra["top_logprobs"] = self.top_logprobs
            sent_at, t0 = time.time(), time.perf_counter()
            try:
                # The raw response, not openai's AsyncStream: building a pydantic model per
                # chunk cost ~0.5 ms of CPU each (45x a json.loads), per token of every
                # answer. Request building, retries and status errors stay openai's.
                response = await self._client.chat.completions.with_streaming_response.create(
                    model=model_id,
                    messages=messages,  # type: ignore[arg-type]
                    temperature=temperature,
                    max_tokens=max_tokens,
                    stream=True,
                    **extra,
                ).__aenter__()
            except openai.APIStatusError as e:
                # Refusals come as 400/422, or as a 500 from servers that fail on the flag.
                text = _server_text(e) if e.status_code in (400, 422, 500) else ""
                if "stream_options" in extra and "stream_options" in text:
                    caps.stream_options = False
                    continue
                if "logprobs" in extra and "logprobs" in text:
                    caps.logprobs = False
                    continue
                raise self._translate(e, model=model_id) from e
            except openai.APIError as e:
                raise self._translate(e, model=model_id) from e
            if "stream_options" in extra:
                caps.stream_options = True
            return response, sent_at, t0

    async def _consume(
        self,
        response: Any,
        model: str,
        model_id: str,
        messages: list[dict[str, str]],
        sent_at: float,
        t0: float,
        stop_when: Callable[[str], bool] | None,
    ) -> AsyncGenerator[TokenEvent | Completion, None]:
        state = _StreamState()
        cut: str | None = None
        try:
            async for chunk in _sse_chunks(response.iter_lines()):
                if isinstance(chunk.get("error"), dict | str):
                    cut = f"the server reported an error mid-stream: {_error_text(chunk)}"
                    break
                for event in state.take(chunk, time.perf_counter() - t0):
                    yield event
                if stop_when is not None and stop_when("".join(state.answer)):
                    state.finish_reason = state.finish_reason or STOPPED_EARLY
                    break
        except _READ_TIMEOUTS:
            cut = f"no data from the server for {self.read_timeout_s:g} s (read timeout)"
            if state.first_t is None:
                raise LLMTimeout(self.endpoint, "read", self.read_timeout_s) from None
        except _CONNECTION_LOST as e:
            cut = f"the connection to the server was lost ({_cause(e)})"
        except openai.APIError as e:
            cut = f"the server reported an error mid-stream: {_server_text(e)}"
        finally:
            await response.close()

        for event in state.flush(time.perf_counter() - t0):
            yield event
        if cut is None and state.finish_reason is None:
            # A complete OpenAI stream always says why it stopped; silence means it was cut.
            cut = "the server closed the stream before the answer was finished"
        if cut is not None and state.first_t is None:
            raise LLMServerError(None, f"{cut}; no answer was received", model_id)
        end_t = time.perf_counter() - t0
        yield state.completion(model, model_id, messages, cut, sent_at, end_t)

    def _translate(self, e: openai.APIError, *, model: str) -> LLMError | _ModelUnknown:
        """Map an openai exception raised before any output to our error types."""
        if isinstance(e, openai.APITimeoutError):
            cause = e.__cause__
            # httpx and httpx2 both name it ConnectTimeout; avoid importing openai's backend.
            if cause is not None and "Connect" in type(cause).__name__:
                return LLMTimeout(self.endpoint, "connect", self.connect_timeout_s)
            return LLMTimeout(self.endpoint, "read", self.read_timeout_s)
        if isinstance(e, openai.APIConnectionError):
            return EndpointUnreachable(self.endpoint, _cause(e))
        if isinstance(e, openai.APIStatusError):
            text = _server_text(e)
            status = e.status_code
            if model and (status == 404 or (status in (400, 422) and _MODEL_UNKNOWN.search(text))):
                return _ModelUnknown(text)
            if status in (400, 413, 422) and _CONTEXT_TOO_LONG.search(text):
                return ContextTooLong(model, text)
            if status == 404 and not model:
                return LLMServerError(
                    404,
                    f"{text} (no model list at {self.endpoint}/models; the endpoint should "
                    "end in /v1)",
                )
            return LLMServerError(status, text, model)
        return LLMServerError(None, str(e), model)


class _StreamState:
    """What one streamed completion has accumulated so far."""

    def __init__(self) -> None:
        self.splitter = ThinkSplitter()
        self.answer: list[str] = []
        self.reasoning: list[str] = []
        self.logprobs: list[float] = []
        self.saw_logprobs = False
        self.first_t: float | None = None
        self.last_t: float | None = None
        self.finish_reason: str | None = None
        self.usage: Any = None

    def emit(self, kind: TokenKind, text: str, logprob: float | None, t: float) -> TokenEvent:
        if self.first_t is None:
            self.first_t = t
        self.last_t = t
        (self.answer if kind == "answer" else self.reasoning).append(text)
        return TokenEvent(text=text, kind=kind, logprob=logprob, t=t)

    def take(self, chunk: dict[str, Any], t: float) -> Iterator[TokenEvent]:
        """The token events in one stream chunk (only the first choice counts)."""
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            thought = _reasoning_delta(delta)
            if thought:
                yield self.emit("reasoning", thought, None, t)
            content = delta.get("content")
            if content:
                entries = _logprob_entries(choice)
                self.saw_logprobs |= entries is not None
                for kind, text, lps in _split_content(self.splitter, content, entries):
                    if kind == "answer":
                        self.logprobs.extend(lps)
                    yield self.emit(kind, text, sum(lps) if lps and kind == "answer" else None, t)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def flush(self, t: float) -> Iterator[TokenEvent]:
        for kind, text in self.splitter.flush():
            yield self.emit(kind, text, None, t)

    def completion(
        self,
        model: str,
        model_id: str,
        messages: list[dict[str, str]],
        cut: str | None,
        sent_at: float,
        end_t: float,
    ) -> Completion:
        text = "".join(self.answer).strip()
        thoughts = "".join(self.reasoning).strip()
        usage = self.usage
        if usage is not None and usage.get("completion_tokens") is not None:
            prompt_tokens = usage.get("prompt_tokens") or 0
            completion_tokens = usage["completion_tokens"]
        else:
            prompt_tokens = estimate_prompt_tokens(messages)
            completion_tokens = count_tokens(text) + count_tokens(thoughts)
        return Completion(
            model=model,
            model_id=model_id,
            text=text,
            reasoning=thoughts,
            finish_reason=None if cut else self.finish_reason,
            incomplete=cut is not None,
            error=cut,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            usage_reported=usage is not None,
            logprobs=self.logprobs if self.saw_logprobs and self.logprobs else None,
            timing=Timing(
                sent_at=sent_at,
                ttft_s=self.first_t,
                total_s=self.last_t if self.last_t is not None else end_t,
                tokens_per_s=_rate(completion_tokens, self.first_t, self.last_t),
            ),
        )


def estimate_prompt_tokens(messages: list[dict[str, str]]) -> int:
    """Prompt tokens as the project's tokenizer counts them, plus chat-template overhead."""
    return (
        sum(count_tokens(m.get("content") or "") + _TOKENS_PER_MESSAGE for m in messages)
        + _TOKENS_PER_REPLY
    )


def _rate(tokens: int, first_t: float | None, last_t: float | None) -> float | None:
    """Decode speed: tokens after the first one over the time after the first one."""
    if first_t is None or last_t is None or tokens < 2 or last_t <= first_t:
        return None
    return (tokens - 1) / (last_t - first_t)


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


_READ_TIMEOUTS, _CONNECTION_LOST = _http_errors()


async def _sse_chunks(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects of an OpenAI-style server-sent event stream, until `[DONE]`."""
    async for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, comments, `event:` lines
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError:
            continue  # a keep-alive or a stray line; a real cut shows as no finish_reason
        if isinstance(chunk, dict):
            yield chunk


def _error_text(chunk: dict[str, Any]) -> str:
    error = chunk["error"]
    return str(error.get("message") or error) if isinstance(error, dict) else str(error)


def _reasoning_delta(delta: dict[str, Any]) -> str | None:
    for name in ("reasoning_content", "reasoning"):
        value = delta.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _logprob_entries(choice: dict[str, Any]) -> list[tuple[str, float]] | None:
    """(token, logprob) pairs in this chunk, or None when the server sent none."""
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return None
    content = lp.get("content")
    if content:
        return [
            (str(c.get("token", "")), float(c["logprob"]))
            for c in content
            if isinstance(c, dict) and c.get("logprob") is not None
        ]
    # Completions-style shape some servers use in chat streams.
    tokens, values = lp.get("tokens"), lp.get("token_logprobs")
    if isinstance(tokens, list) and isinstance(values, list):
        return [(str(t), float(v)) for t, v in zip(tokens, values, strict=False) if v is not None]
    return None


def _split_content(
    splitter: ThinkSplitter, content: str, entries: list[tuple[str, float]] | None
) -> list[tuple[TokenKind, str, list[float]]]:
    """Split a content delta into reasoning/answer pieces, each with its tokens' logprobs."""
    if entries and "".join(tok for tok, _ in entries) == content:
        # Token texts line up with the delta: label each token, so a chunk like
        # "</think>Yes" gives the answer only the logprob of "Yes". A token the splitter
        # holds back (it might start a tag) passes its logprob to the next settled piece.
        out: list[tuple[TokenKind, str, list[float]]] = []
        waiting: list[float] = []
        for tok, lp in entries:
            waiting.append(lp)
            for kind, text in splitter.feed(tok):
                if out and out[-1][0] == kind:
                    out[-1] = (kind, out[-1][1] + text, [*out[-1][2], *waiting])
                else:
                    out.append((kind, text, waiting))
                waiting = []
        return out
    pieces = splitter.feed(content)
    lps = [lp for _, lp in entries] if entries else []
    # Tokens cannot be placed within the chunk: give all to the first answer piece.
    result: list[tuple[TokenKind, str, list[float]]] = []
    for kind, text in pieces:
        if kind == "answer" and lps:
            result.append((kind, text, lps))
            lps = []
        else:
            result.append((kind, text, []))
    return result


def _server_text(e: openai.APIError) -> str:
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


def _cause(e: BaseException) -> str:
    cause = e.__cause__ or e.__context__
    if cause is None:
        return type(e).__name__
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__
