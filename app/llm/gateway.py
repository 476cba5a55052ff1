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
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from openai import AsyncOpenAI

from app.config import Settings
from app.llm.errors import LLMError, LLMServerError, LLMTimeout, ModelNotAvailable
from app.llm.models import match_model
from app.llm.openai_errors import (
    CONNECTION_LOST,
    READ_TIMEOUTS,
    ModelUnknown,
    cause_text,
    server_text,
    translate,
)
from app.llm.thinking import ThinkSplitter
from app.llm.types import Completion, Timing, TokenEvent, TokenKind
from app.tokens import count_tokens

# The finish reason of a stream the caller's `stop_when` ended: the rest was not read.
STOPPED_EARLY = "stopped_early"

# Chat templates add a few tokens per message around the content; the usual estimate.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_REPLY = 3


@dataclass
class EndpointCapabilities:
    """What this endpoint has been seen to accept; None means not yet known."""

    stream_options: bool | None = None
    logprobs: bool | None = None


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
    ) -> AsyncIterator[TokenEvent | Completion]:
        """TokenEvents as they arrive, then one Completion (always last).

        `stop_when` is fed the answer's text piece by piece as it arrives (one per stream:
        it may keep state); once it says true, the stream ends after that chunk: the
        connection is closed (a llama.cpp server stops generating when its client hangs up)
        and the Completion has finish reason `STOPPED_EARLY`.
        """
        state = _StreamState()
        # This block owns the response: it is closed as soon as reading ends, however it
        # ends (finished, cut, stalled, or the caller stopped listening).
        async with AsyncExitStack() as stack:
            sent = await self._send(
                stack, model, messages, temperature=temperature, max_tokens=max_tokens
            )
            async for event in self._read(sent, state, stop_when):
                yield event
        for event in state.flush(time.perf_counter() - sent.t0):
            yield event
        if state.cut is None and state.finish_reason is None:
            # A complete OpenAI stream always says why it stopped; silence means it was cut.
            state.cut = "the server closed the stream before the answer was finished"
        if state.cut is not None and state.first_t is None:
            raise LLMServerError(None, f"{state.cut}; no answer was received", sent.model_id)
        yield state.completion(model, messages, sent, time.perf_counter() - sent.t0)

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

    async def _send(
        self,
        stack: AsyncExitStack,
        model: str,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
    ) -> _Sent:
        """Send the request for `model`, its response entered on `stack`. A refused model ID
        is looked up once more: the list may be stale (a model unloaded or a new one loaded)."""
        model_id = await self.resolve_model(model)
        refreshed = False
        while True:
            try:
                return await self._open(
                    stack, model_id, messages, temperature=temperature, max_tokens=max_tokens
                )
            except ModelUnknown as e:
                if refreshed:
                    raise ModelNotAvailable(model, self._models or []) from None
                refreshed = True
                self.forget_models()
                fresh = await self.resolve_model(model)
                if fresh == model_id:
                    # Listed but refused: typically known to the catalogue but not loaded.
                    raise ModelNotAvailable(model, self._models or []) from e
                model_id = fresh

    async def _open(
        self,
        stack: AsyncExitStack,
        model_id: str,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
    ) -> _Sent:
        """Send the request, dropping parameters the server refuses."""
        caps = self.capabilities
        while True:
            extra = self._optional_parameters()
            sent_at, t0 = time.time(), time.perf_counter()
            # The raw response, not openai's AsyncStream: building a pydantic model per
            # chunk cost ~0.5 ms of CPU each (45x a json.loads), per token of every answer.
            # Request building, retries and status errors stay openai's.
            request = self._client.chat.completions.with_streaming_response.create(
                model=model_id,
                messages=messages,  # type: ignore[arg-type]
                temperature=temperature,
                max_tokens=max_tokens,
                stream=True,
                **extra,
            )
            try:
                response = await stack.enter_async_context(request)
            except openai.APIStatusError as e:
                # Refusals come as 400/422, or as a 500 from servers that fail on the flag.
                text = server_text(e) if e.status_code in (400, 422, 500) else ""
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
            return _Sent(response, model_id, sent_at, t0)

    def _optional_parameters(self) -> dict[str, Any]:
        """The parameters this endpoint has not refused yet."""
        extra: dict[str, Any] = {}
        if self.capabilities.stream_options is not False:
            extra["stream_options"] = {"include_usage": True}
        if self.capabilities.logprobs is not False:
            extra["logprobs"] = True
            if self.top_logprobs is not None:
                extra["top_logprobs"] = self.top_logprobs
        return extra

    async def _read(
        self, sent: _Sent, state: _StreamState, stop_when: Callable[[str], bool] | None
    ) -> AsyncIterator[TokenEvent]:
        """The token events of an open response until it ends (or `stop_when` says enough);
        `state.cut` says if it broke."""
        try:
            async for chunk in _sse_chunks(sent.response.iter_lines()):
                if isinstance(chunk.get("error"), dict | str):
                    state.cut = f"the server reported an error mid-stream: {_error_text(chunk)}"
                    return
                enough = False
                for event in state.take(chunk, time.perf_counter() - sent.t0):
                    yield event
                    if stop_when is not None and event.kind == "answer":
                        enough = stop_when(event.text) or enough  # it sees every piece
                if enough:
                    state.finish_reason = state.finish_reason or STOPPED_EARLY
                    return
        except READ_TIMEOUTS:
            state.cut = f"no data from the server for {self.read_timeout_s:g} s (read timeout)"
            if state.first_t is None:
                raise LLMTimeout(self.endpoint, "read", self.read_timeout_s) from None
        except CONNECTION_LOST as e:
            state.cut = f"the connection to the server was lost ({cause_text(e)})"
        except openai.APIError as e:
            state.cut = f"the server reported an error mid-stream: {server_text(e)}"

    def _translate(self, e: openai.APIError, *, model: str) -> LLMError | ModelUnknown:
        return translate(
            e,
            model=model,
            endpoint=self.endpoint,
            connect_s=self.connect_timeout_s,
            read_s=self.read_timeout_s,
        )


@dataclass(frozen=True, slots=True)
class _Sent:
    """A request the server accepted: its open streaming response, and when it was sent."""

    response: Any  # openai's raw streaming response; closed by the stack it was entered on
    model_id: str
    sent_at: float  # wall clock
    t0: float  # perf_counter at the same moment; token times are relative to it


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
        self.cut: str | None = None  # why the stream ended early, if it did

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
        self, model: str, messages: list[dict[str, str]], sent: _Sent, end_t: float
    ) -> Completion:
        cut = self.cut
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
            model_id=sent.model_id,
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
                sent_at=sent.sent_at,
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
