"""Failures before and during the answer, each with the message staff will see."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx2
import openai
import pytest

from app.llm import (
    Completion,
    ContextTooLong,
    EndpointUnreachable,
    LLMError,
    LLMGateway,
    LLMServerError,
    LLMTimeout,
    TokenEvent,
)
from tests.support.scripted_llm import ScriptedLLM

MESSAGES = [{"role": "user", "content": "What is the refund policy?"}]
ANSWER = "Refunds are issued within 14 days of a request [1]."


async def run(gateway: LLMGateway) -> tuple[list[TokenEvent], Completion]:
    events: list[TokenEvent] = []
    done: Completion | None = None
    async for item in gateway.stream("phi-4-mini", MESSAGES, temperature=0, max_tokens=64):
        if isinstance(item, Completion):
            done = item
        else:
            events.append(item)
    assert done is not None
    return events, done


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A port that never completes a TCP handshake: listening, backlog full, never accepting."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    # Linux queues backlog+1 connections; once full, new SYNs are dropped and connect() hangs.
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/v1"
    for c in fillers:
        c.close()
    server.close()


async def test_unreachable_endpoint_names_url_and_how_to_start(
    make_gateway: Callable[..., LLMGateway],
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    gateway = make_gateway(url, connect_timeout_s=2)
    started = time.perf_counter()
    with pytest.raises(EndpointUnreachable) as info:
        await run(gateway)
    assert time.perf_counter() - started < 2  # refused at once, no retry loop
    err = info.value
    assert err.url == url
    assert url in err.user_message
    assert "foundry service start" in err.user_message
    assert "foundry model run phi-4-mini" in err.user_message
    assert "make local-llm" in err.user_message


async def test_unreachable_when_listing_models_too(
    make_gateway: Callable[..., LLMGateway],
) -> None:
    gateway = make_gateway(f"http://127.0.0.1:{closed_port()}/v1")
    with pytest.raises(EndpointUnreachable):
        await gateway.list_models()


async def test_connect_timeout(make_gateway: Callable[..., LLMGateway], blackhole: str) -> None:
    gateway = make_gateway(blackhole, connect_timeout_s=0.5, read_timeout_s=30)
    started = time.perf_counter()
    with pytest.raises(LLMTimeout) as info:
        await gateway.list_models()
    elapsed = time.perf_counter() - started
    assert 0.4 < elapsed < 5
    assert info.value.phase == "connect"
    assert "CONNECT_TIMEOUT_S" in info.value.user_message
    assert blackhole in info.value.user_message


async def test_read_timeout_before_first_token(
    llm: ScriptedLLM, make_gateway: Callable[..., LLMGateway]
) -> None:
    gateway = make_gateway(llm.base_url, read_timeout_s=0.5)
    llm.script([{"text": ANSWER, "first_delay_s": 3}])
    started = time.perf_counter()
    with pytest.raises(LLMTimeout) as info:
        await run(gateway)
    assert time.perf_counter() - started < 2.5
    assert info.value.phase == "read"
    assert "READ_TIMEOUT_S" in info.value.user_message


async def test_read_timeout_mid_answer_keeps_partial_text(
    llm: ScriptedLLM, make_gateway: Callable[..., LLMGateway]
) -> None:
    gateway = make_gateway(llm.base_url, read_timeout_s=0.5)
    llm.script([{"text": ANSWER, "chunk_chars": 10, "stall_after": 2, "stall_s": 3}])
    events, done = await run(gateway)
    assert done.text == ANSWER[:20]
    assert "".join(e.text for e in events) == ANSWER[:20]
    assert done.incomplete and done.finish_reason is None
    assert done.error is not None and "read timeout" in done.error
    assert done.timing.ttft_s is not None


@pytest.mark.parametrize("mode", ["close", "abort"])
async def test_stream_cut_mid_answer_keeps_partial_text(
    llm: ScriptedLLM, gateway: LLMGateway, mode: str
) -> None:
    llm.script([{"text": ANSWER, "chunk_chars": 10, "cut_after": 3, "cut_mode": mode}])
    events, done = await run(gateway)
    assert done.text == ANSWER[:30]
    assert len(events) == 3
    assert done.incomplete and done.finish_reason is None and done.error
    assert not done.usage_reported
    assert done.completion_tokens > 0  # counted locally from what arrived
    if mode == "abort":
        assert "connection" in done.error
    else:
        assert "closed the stream" in done.error


async def test_a_stream_its_reader_abandons_gives_its_connection_back(
    llm: ScriptedLLM, make_gateway
) -> None:
    # One connection in the pool: if the abandoned response stayed open, the next request
    # would wait for it and fail with a (pool) timeout instead of answering.
    client = openai.DefaultAsyncHttpxClient(limits=httpx2.Limits(max_connections=1))
    gateway = make_gateway(llm.base_url, read_timeout_s=3, connect_timeout_s=2, http_client=client)
    llm.script(
        [
            {"times": 1, "text": ANSWER, "chunk_chars": 10, "stall_after": 1},
            {"text": ANSWER},
        ]
    )
    stream = gateway.stream("phi-4-mini", MESSAGES, temperature=0, max_tokens=64)
    first = await anext(stream)
    assert isinstance(first, TokenEvent) and first.text == ANSWER[:10]
    await stream.aclose()  # the reader stops listening mid-answer
    _, done = await run(gateway)
    assert done.text == ANSWER and not done.incomplete


async def test_stream_cut_before_any_token_raises(llm: ScriptedLLM, gateway: LLMGateway) -> None:
    llm.script([{"text": ANSWER, "cut_after": 0}])
    with pytest.raises(LLMServerError) as info:
        await run(gateway)
    assert info.value.status is None
    assert "no answer was received" in info.value.user_message


@pytest.mark.parametrize(
    "server_text",
    [
        "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens",
        "Requested tokens (5000) exceed context window of 4096",
        "the request exceeds the available context size, try increasing it",
    ],
)
async def test_context_too_long(llm: ScriptedLLM, gateway: LLMGateway, server_text: str) -> None:
    llm.script([{"status": 400, "error": server_text}])
    with pytest.raises(ContextTooLong) as info:
        await run(gateway)
    assert "too long" in info.value.user_message
    assert len(llm.log) == 1  # the caller shrinks the context; the gateway does not retry


async def test_other_http_errors_carry_status_and_server_text(
    llm: ScriptedLLM, gateway: LLMGateway
) -> None:
    llm.script([{"status": 500, "error": "CUDA out of memory"}])
    with pytest.raises(LLMServerError) as info:
        await run(gateway)
    assert info.value.status == 500
    assert "HTTP 500" in info.value.user_message
    assert "CUDA out of memory" in info.value.user_message


async def test_a_plain_400_is_not_mistaken_for_a_refused_parameter(
    llm: ScriptedLLM, gateway: LLMGateway
) -> None:
    llm.script([{"status": 400, "error": "temperature must be at most 2"}])
    with pytest.raises(LLMServerError):
        await run(gateway)
    assert len(llm.log) == 1
    assert gateway.capabilities.stream_options is None


def test_every_error_has_a_user_message() -> None:
    errors: list[LLMError] = [
        EndpointUnreachable("http://x:1/v1"),
        LLMTimeout("http://x:1/v1", "read", 3),
        ContextTooLong("m", "too long"),
        LLMServerError(503, "busy"),
    ]
    for e in errors:
        assert e.user_message and str(e) == e.user_message


async def test_endpoint_without_v1_says_so(
    llm: ScriptedLLM, make_gateway: Callable[..., LLMGateway]
) -> None:
    gateway = make_gateway(llm.base_url.removesuffix("/v1"))
    with pytest.raises(LLMServerError) as info:
        await gateway.list_models()
    assert info.value.status == 404
    assert "/v1" in info.value.user_message
