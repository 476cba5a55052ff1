"""A scripted OpenAI-compatible server for tests: real HTTP and SSE on 127.0.0.1.

Two ways to use it:

- in-process: `with ScriptedLLM() as llm: llm.base_url` (a uvicorn server on a free port in
  a background thread); `llm.script([...])`, `llm.requests`, `llm.reset()`;
- as a process: `python -m tests.support.scripted_llm --port 8089 [--models A,B]`, scripted
  over HTTP with the control endpoints below.

Endpoints
- `GET  /v1/models`            the configured IDs (default: Foundry-style
                               `Phi-4-mini-instruct-generic-cpu`, `gpt-oss-20b-generic-cpu`).
- `POST /v1/chat/completions`  streaming (SSE, ends with `data: [DONE]`) and non-streaming.
- `POST /_script`              JSON `{"rules": [...], "append": false, "models": [...],
                               "reject_stream_options": false, "reject_logprobs": false}`;
                               every key optional; rules replace the list unless `append`.
- `GET  /_requests`            every chat request received: `[{"body": {...}, "status": 200,
                               "rule": 0 | null, "ended": ...}, ...]` (`rule` is the rule's
                               position; `ended`, for streams: null while streaming, then
                               "complete" or "disconnected" when the client hung up first).
- `POST /_reset`               back to the start-up state (no rules, default models, no log).
- `POST /_release`             JSON `{"hold": "name"}`: let streams held under that name go on.

Server-wide switches (endpoint capabilities, as real servers differ):
- `reject_stream_options`: any request carrying `stream_options` gets HTTP 400 whose message
  names `stream_options`;
- `reject_logprobs`: any request with `logprobs` true gets HTTP 400 naming `logprobs`.
A request for a model not in the model list gets HTTP 404 `model ... not found`.

Rules. For each chat request the first rule that matches is used; a rule with `times` is
removed after that many uses, so a list of `{"times": 1, ...}` rules is a queue. Match keys
(all optional, all must hold):
- `model`: case-insensitive substring of the requested model ID;
- `contains`: case-insensitive substring of the last user message;
- `system_contains`: case-insensitive substring of the system message.
Response keys (all optional):
- `text` (str): the answer. Streamed in `chunks` (list of str, overrides `text`) or in pieces
  of `chunk_chars` characters (default 6);
- `reasoning` (str): sent first as reasoning deltas, in pieces of `chunk_chars`, in the field
  `reasoning_field` (default `reasoning_content`); with `reasoning_at` (int) it is sent
  after that many answer chunks instead, as a model that thinks again mid-answer;
- `delay_s` (float): pause before each chunk; `first_delay_s`: pause before the first one;
- `finish_reason` (str, default "stop");
- `usage`: true (default: sent when `stream_options.include_usage` asks, counted with the
  project's tokenizer), false (never), or `{"prompt_tokens": n, "completion_tokens": m}`;
- `logprobs`: "present" (default; one entry per chunk, value `logprob`, default -0.1, when
  the request asks), "null" (the field is null, like Foundry Local), "absent" (no field);
- `status` (int) with `error` (str message) or `body` (any JSON): answer with that HTTP error
  instead, e.g. `{"status": 400, "error": "This model's maximum context length is 4096"}`;
- `cut_after` (int): after that many chunks end the stream: `cut_mode` "close" (default)
  ends the HTTP body cleanly with neither finish_reason nor [DONE]; "abort" drops the TCP
  connection mid-body;
- `stall_after` (int) with `stall_s` (float, default 30): stop sending after that many chunks
  for that long, to trigger the client's read timeout;
- `hold_after` (int) with `hold` (str, default "default"): after that many chunks, wait until
  the test releases that name (`llm.release(name)` or `POST /_release`; at most `hold_s`,
  default 60), so a test can look at a half-streamed answer while the rest provably has not
  been sent yet.

With no matching rule the server answers from the prompt: the first sentences after `[1]` in
the messages, cited as `[1]`, so an unscripted app session still gets a grounded answer.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from app.tokens import count_tokens
from tests.support.background import BackgroundServer

# The draft model's ID also names the benchmarks' requests (app/chat/load_bench, floor_app).
DRAFT_MODEL_ID = "Phi-4-mini-instruct-generic-cpu"
DEFAULT_MODELS = [DRAFT_MODEL_ID, "gpt-oss-20b-generic-cpu"]
DEFAULT_CHUNK_CHARS = 6


class _Abort(Exception):
    """Raised inside a streaming body so the server drops the connection mid-response."""


class _QuietAbort(logging.Filter):
    """Keep uvicorn from printing a traceback for a cut the script asked for."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BaseExceptionGroup):
            return not exc.subgroup(_Abort)
        return not isinstance(exc, _Abort)


logging.getLogger("uvicorn.error").addFilter(_QuietAbort())


class ScriptState:
    def __init__(self, models: list[str] | None = None) -> None:
        self._initial_models = list(models or DEFAULT_MODELS)
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.models = list(self._initial_models)
            self.rules: list[dict[str, Any]] = []
            self.requests: list[dict[str, Any]] = []
            self.reject_stream_options = False
            self.reject_logprobs = False
            self.released: set[str] = set()

    def release(self, name: str) -> None:
        with self.lock:
            self.released.add(name)

    async def wait_released(self, name: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if name in self.released:
                    return
            await asyncio.sleep(0.02)

    def configure(self, payload: dict[str, Any]) -> None:
        with self.lock:
            rules = [dict(r) for r in payload.get("rules", [])]
            if payload.get("append"):
                self.rules.extend(rules)
            elif "rules" in payload:
                self.rules = rules
            if "models" in payload:
                self.models = list(payload["models"])
            for key in ("reject_stream_options", "reject_logprobs"):
                if key in payload:
                    setattr(self, key, bool(payload[key]))

    def take_rule(self, body: dict[str, Any]) -> tuple[int | None, dict[str, Any] | None]:
        with self.lock:
            for i, rule in enumerate(self.rules):
                if _matches(rule, body):
                    if rule.get("times") is not None:
                        rule["times"] -= 1
                        if rule["times"] <= 0:
                            self.rules.pop(i)
                    return i, copy.deepcopy(rule)
        return None, None

    def log(self, body: dict[str, Any], status: int, rule: int | None) -> dict[str, Any]:
        entry = {"body": body, "status": status, "rule": rule, "ended": None}
        with self.lock:
            self.requests.append(entry)
        return entry

    def ended(self, entry: dict[str, Any], how: str) -> None:
        with self.lock:
            entry["ended"] = how


def _last(messages: list[dict[str, Any]], role: str) -> str:
    for m in reversed(messages):
        if m.get("role") == role and isinstance(m.get("content"), str):
            return m["content"]
    return ""


def _matches(rule: dict[str, Any], body: dict[str, Any]) -> bool:
    messages = body.get("messages") or []
    checks = [
        ("model", str(body.get("model", ""))),
        ("contains", _last(messages, "user")),
        ("system_contains", _last(messages, "system")),
    ]
    return all(
        rule.get(key) is None or str(rule[key]).lower() in value.lower() for key, value in checks
    )


def default_answer(messages: list[dict[str, Any]]) -> str:
    """Quote the start of context block [1] and cite it, or a plain reply without context."""
    joined = "\n".join(str(m.get("content") or "") for m in messages)
    # A context block starts a line with "[1] <source label>"; the system prompt's own
    # mention of "[1]" (in its citation instructions) sits mid-line and must not match.
    match = re.search(r"(?m)^\[1\][^\n]*\n(.+)", joined, re.DOTALL)
    if not match:
        return "This is the scripted test server's default answer; no context was given."
    words = match.group(1).split()[:40]
    words = [w for w in words if not re.fullmatch(r"\[\d+\]", w)]
    return "According to the documents, " + " ".join(words).rstrip(".") + " [1]."


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "code": code}},
        status_code=status,
    )


def build_app(state: ScriptState) -> Starlette:
    async def models(_: Request) -> Response:
        with state.lock:
            ids = list(state.models)
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": m, "object": "model", "owned_by": "scripted"} for m in ids],
            }
        )

    async def chat(request: Request) -> Response:
        body = await request.json()
        if state.reject_stream_options and "stream_options" in body:
            state.log(body, 400, None)
            return _error(400, "Unrecognized request argument supplied: stream_options")
        if state.reject_logprobs and body.get("logprobs"):
            state.log(body, 400, None)
            return _error(400, "logprobs is not supported by this server")
        model = str(body.get("model", ""))
        if model not in state.models:
            state.log(body, 404, None)
            return _error(404, f"The model `{model}` was not found.", "model_not_found")
        index, rule = state.take_rule(body)
        rule = rule or {"text": default_answer(body.get("messages") or [])}
        if rule.get("status"):
            status = int(rule["status"])
            state.log(body, status, index)
            if "body" in rule:
                return JSONResponse(rule["body"], status_code=status)
            return _error(status, str(rule.get("error", "scripted error")))
        entry = state.log(body, 200, index)
        if body.get("stream"):
            return StreamingResponse(
                _watched(_sse(rule, body, state), state, entry),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        return JSONResponse(_whole(rule, body))

    async def script(request: Request) -> Response:
        state.configure(await request.json())
        return JSONResponse({"ok": True, "rules": len(state.rules)})

    async def requests_(_: Request) -> Response:
        with state.lock:
            return JSONResponse(list(state.requests))

    async def reset(_: Request) -> Response:
        state.reset()
        return JSONResponse({"ok": True})

    async def release(request: Request) -> Response:
        state.release(str((await request.json()).get("hold", "default")))
        return JSONResponse({"ok": True})

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/_script", script, methods=["POST"]),
            Route("/_requests", requests_, methods=["GET"]),
            Route("/_reset", reset, methods=["POST"]),
            Route("/_release", release, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


def _usage(rule: dict[str, Any], body: dict[str, Any], text: str, reasoning: str) -> dict | None:
    setting = rule.get("usage", True)
    if setting is False:
        return None
    if isinstance(setting, dict):
        p, c = int(setting.get("prompt_tokens", 0)), int(setting.get("completion_tokens", 0))
    else:
        messages = body.get("messages") or []
        p = sum(count_tokens(str(m.get("content") or "")) for m in messages)
        c = count_tokens(text) + count_tokens(reasoning)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _answer_chunks(rule: dict[str, Any]) -> list[str]:
    if "chunks" in rule:
        return [str(c) for c in rule["chunks"]]
    return _pieces(str(rule.get("text", "")), int(rule.get("chunk_chars", DEFAULT_CHUNK_CHARS)))


def _logprobs_field(rule: dict[str, Any], body: dict[str, Any], token: str) -> tuple[bool, Any]:
    """(include the key?, its value) for one chunk."""
    mode = rule.get("logprobs", "present")
    if mode == "absent":
        return False, None
    if mode == "null" or not body.get("logprobs"):
        return True, None
    value = float(rule.get("logprob", -0.1))
    entry = {"token": token, "logprob": value, "bytes": list(token.encode()), "top_logprobs": []}
    return True, {"content": [entry], "refusal": None}


async def _sse(
    rule: dict[str, Any], body: dict[str, Any], state: ScriptState
) -> AsyncIterator[bytes]:
    cid, created, model = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time()), body["model"]
    reasoning = str(rule.get("reasoning", ""))
    size = int(rule.get("chunk_chars", DEFAULT_CHUNK_CHARS))
    field = str(rule.get("reasoning_field", "reasoning_content"))
    answer = _answer_chunks(rule)
    planned: list[tuple[str, str]] = [("content", p) for p in answer]
    at = int(rule.get("reasoning_at", 0))
    planned[at:at] = [(field, p) for p in _pieces(reasoning, size)]
    delay = float(rule.get("delay_s", 0))
    cut_after, stall_after = rule.get("cut_after"), rule.get("stall_after")
    hold_after = rule.get("hold_after")

    def event(choices: list[dict[str, Any]], usage: dict | None = None) -> bytes:
        payload: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
        }
        if usage is not None:
            payload["usage"] = usage
        return f"data: {json.dumps(payload)}\n\n".encode()

    yield event(
        [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
    )
    if rule.get("first_delay_s"):
        await asyncio.sleep(float(rule["first_delay_s"]))
    for n, (key, piece) in enumerate(planned):
        if cut_after is not None and n >= int(cut_after):
            if rule.get("cut_mode", "close") == "abort":
                raise _Abort("scripted cut")
            return
        if stall_after is not None and n == int(stall_after):
            await asyncio.sleep(float(rule.get("stall_s", 30)))
        if hold_after is not None and n == int(hold_after):
            hold = str(rule.get("hold", "default"))
            await state.wait_released(hold, float(rule.get("hold_s", 60)))
        if delay:
            await asyncio.sleep(delay)
        choice: dict[str, Any] = {"index": 0, "delta": {key: piece}, "finish_reason": None}
        if key == "content":
            include, value = _logprobs_field(rule, body, piece)
            if include:
                choice["logprobs"] = value
        yield event([choice])
    yield event([{"index": 0, "delta": {}, "finish_reason": rule.get("finish_reason", "stop")}])
    wants_usage = (body.get("stream_options") or {}).get("include_usage")
    usage = _usage(rule, body, "".join(answer), reasoning)
    if wants_usage and usage is not None:
        yield event([], usage)
    yield b"data: [DONE]\n\n"


async def _watched(
    stream: AsyncIterator[bytes], state: ScriptState, entry: dict[str, Any]
) -> AsyncIterator[bytes]:
    """The stream, noting in its log entry whether it was sent whole or the client hung up
    (Starlette cancels the body when it sees the disconnect)."""
    try:
        async for chunk in stream:
            yield chunk
    except (asyncio.CancelledError, GeneratorExit):
        state.ended(entry, "disconnected")
        raise
    state.ended(entry, "complete")


def _whole(rule: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    answer = "".join(_answer_chunks(rule))
    reasoning = str(rule.get("reasoning", ""))
    message: dict[str, Any] = {"role": "assistant", "content": answer}
    if reasoning:
        message[str(rule.get("reasoning_field", "reasoning_content"))] = reasoning
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "finish_reason": rule.get("finish_reason", "stop"),
    }
    include, value = _logprobs_field(rule, body, answer)
    if include:
        choice["logprobs"] = value
    result: dict[str, Any] = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [choice],
    }
    usage = _usage(rule, body, answer, reasoning)
    if usage is not None:
        result["usage"] = usage
    return result


class ScriptedLLM(BackgroundServer):
    """The server in a background thread; a context manager (`with ScriptedLLM() as llm:`)."""

    def __init__(self, models: list[str] | None = None, host: str = "127.0.0.1") -> None:
        self.state = ScriptState(models)
        super().__init__(build_app(self.state), host)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    # --- scripting from the same process -----------------------------------------------

    def script(self, rules: list[dict[str, Any]], **switches: Any) -> None:
        self.state.configure({"rules": rules, **switches})

    def add(self, *rules: dict[str, Any]) -> None:
        self.state.configure({"rules": list(rules), "append": True})

    def reset(self) -> None:
        self.state.reset()

    def release(self, hold: str = "default") -> None:
        """Let streams held by a rule's `hold_after` under this name go on."""
        self.state.release(hold)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """JSON bodies of the chat requests received, oldest first."""
        with self.state.lock:
            return [r["body"] for r in self.state.requests]

    @property
    def log(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.requests)

    async def ended(self, n: int, timeout_s: float = 10.0) -> str | None:
        """How request `n`'s stream ended ("complete" or "disconnected") once the server has
        noticed; None if it has not within `timeout_s` (it is still streaming)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if how := self.log[n]["ended"]:
                return how
            await asyncio.sleep(0.02)
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Scripted OpenAI-compatible test server.")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated IDs")
    args = parser.parse_args(argv)
    state = ScriptState([m for m in args.models.split(",") if m])
    uvicorn.run(build_app(state), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
