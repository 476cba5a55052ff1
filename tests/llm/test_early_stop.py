"""Streams the caller stops reading: the gateway hangs up, so a server stops generating.

The scripted server holds the rest of each reply until the test releases it, so a client
that read on would wait for it (and get it); the server's log says whether the client
hung up first."""

from __future__ import annotations

from contextlib import aclosing

from app.answering.prompting import first_line_done
from app.llm import Completion, LLMGateway
from app.llm.gateway import STOPPED_EARLY
from tests.support.scripted_llm import ScriptedLLM

MESSAGES = [{"role": "user", "content": "Rewrite: and its default?"}]
RAMBLING = ["What is k1", "'s default?\nAnd then", " some", " rambling."]


async def test_stop_when_ends_the_stream_after_the_first_line_and_hangs_up(
    llm: ScriptedLLM, gateway: LLMGateway
) -> None:
    llm.script([{"chunks": RAMBLING, "hold_after": 2, "hold": "rest"}])
    try:
        items = [
            item
            async for item in gateway.stream(
                "phi-4-mini", MESSAGES, temperature=0.0, max_tokens=96, stop_when=first_line_done
            )
        ]
        assert await llm.ended(0) == "disconnected"
    finally:
        llm.release("rest")
    done = items[-1]
    assert isinstance(done, Completion)
    assert done.text.splitlines()[0] == "What is k1's default?"
    assert "rambling" not in done.text
    assert done.finish_reason == STOPPED_EARLY and not done.incomplete and done.error is None
    assert not done.usage_reported and done.completion_tokens > 0  # counted locally


async def test_a_stream_abandoned_by_its_reader_is_closed_at_once(
    llm: ScriptedLLM, gateway: LLMGateway
) -> None:
    llm.script([{"chunks": RAMBLING, "hold_after": 1, "hold": "rest", "times": 1}])
    try:
        stream = gateway.stream("phi-4-mini", MESSAGES, temperature=0.0, max_tokens=96)
        async with aclosing(stream):
            async for _ in stream:
                break  # e.g. the user pressed Stop
        assert await llm.ended(0) == "disconnected"
    finally:
        llm.release("rest")
    # The gateway goes on working after the abandoned stream.
    llm.script([{"text": "Fine."}])
    done = await gateway.complete("phi-4-mini", MESSAGES, temperature=0.0, max_tokens=8)
    assert done.text == "Fine." and done.finish_reason == "stop"
    assert await llm.ended(1) == "complete"
