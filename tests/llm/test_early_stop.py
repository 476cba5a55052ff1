"""A stream its caller has read enough of (`stop_when`): the gateway hangs up at once, so
a server stops generating, and the connection is free for the next request.

The scripted server holds the rest of the reply until the test releases it, so a client
that read on would wait for it (and get it); its log says whether the client hung up."""

from __future__ import annotations

import httpx2
import openai

from app.answering.prompting import FirstLineDone
from app.llm import Completion
from app.llm.gateway import STOPPED_EARLY
from tests.support.scripted_llm import ScriptedLLM

MESSAGES = [{"role": "user", "content": "Rewrite: and its default?"}]
RAMBLING = ["What is k1", "'s default?\nAnd then", " some", " rambling."]


async def test_stop_when_ends_the_stream_after_the_first_line_and_hangs_up(
    llm: ScriptedLLM, make_gateway
) -> None:
    # One connection in the pool: if the stopped response stayed open, the next request
    # would wait for it and fail with a (pool) timeout instead of answering.
    client = openai.DefaultAsyncHttpxClient(limits=httpx2.Limits(max_connections=1))
    gateway = make_gateway(llm.base_url, read_timeout_s=3, connect_timeout_s=2, http_client=client)
    llm.script([{"times": 1, "chunks": RAMBLING, "hold_after": 2, "hold": "rest"}])
    try:
        stream = gateway.stream(
            "phi-4-mini", MESSAGES, temperature=0.0, max_tokens=96, stop_when=FirstLineDone()
        )
        items = [item async for item in stream]
        assert await llm.ended(0) == "disconnected"
    finally:
        llm.release("rest")
    done = items[-1]
    assert isinstance(done, Completion)
    assert done.text.splitlines()[0] == "What is k1's default?"
    assert "rambling" not in done.text
    assert done.finish_reason == STOPPED_EARLY and not done.incomplete and done.error is None
    assert not done.usage_reported and done.completion_tokens > 0  # counted locally

    llm.script([{"text": "Fine."}])
    again = await gateway.complete("phi-4-mini", MESSAGES, temperature=0.0, max_tokens=8)
    assert again.text == "Fine." and again.finish_reason == "stop"
    assert await llm.ended(1) == "complete"
