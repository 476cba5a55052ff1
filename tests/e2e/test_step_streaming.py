"""What a step is sent while it streams, read off the app's socket as the browser gets it:
a step streams live only what the answer message is not streaming at that moment."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio

from app.chat.load_bench import ask, connect
from tests.e2e.conftest import AppServer
from tests.support.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.e2e

ANSWER = (
    "AutoMix first lets the small model answer, then asks the same small model to verify "
    "its own answer against the context [1]. If the self-verification score is low, the "
    "query is routed to a larger model, which answers from the same context [1]."
)
REASONING = "Wait, I should weigh the blocks again."


async def _turn(url: str, question: str) -> list[tuple[str, Any]]:
    """Every socket event of one question's turn, in order."""
    sio = socketio.AsyncClient(reconnection=False)
    ready, asked, done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    events: list[tuple[str, Any]] = []

    @sio.on("*")
    async def _any(event: str, data: Any = None) -> None:
        if event == "chat_settings":  # the last thing on_chat_start sends
            ready.set()
        elif asked.is_set():
            events.append((event, data))
            if event == "task_end" and ("task_start", {}) in events:
                done.set()

    await connect(sio, url)
    try:
        await asyncio.wait_for(ready.wait(), 60)
        asked.set()
        await ask(sio, question)
        await asyncio.wait_for(done.wait(), 60)
    finally:
        await sio.disconnect()
    return events


def _step_id(events: list[tuple[str, Any]], name: str) -> str:
    return next(d["id"] for e, d in events if e == "new_message" and d.get("name") == name)


def _live(events: list[tuple[str, Any]], step_id: str) -> list[str]:
    """The texts the step was sent while it streamed (each replaces the one before)."""
    texts = []
    for event, data in events:
        if event == "stream_start" and data["id"] == step_id:
            texts.append(data["output"])
        elif event == "stream_token" and data["id"] == step_id:
            texts.append(data["token"])
    return texts


async def test_reasoning_after_answer_text_does_not_resend_it_into_the_step(
    app: AppServer, scripted: ScriptedLLM
):
    # The draft streams into the answer message; after three pieces of it the model
    # reasons again. Chunks come further apart than a flush interval, so each reasoning
    # piece is due to be flushed into the Draft step.
    scripted.script(
        [
            {
                "model": "phi-4-mini",
                "text": ANSWER,
                "chunk_chars": 12,
                "delay_s": 0.05,
                "reasoning": REASONING,
                "reasoning_at": 3,
            }
        ]
    )
    events = await _turn(app.url, "How does AutoMix work?")
    draft = _step_id(events, "Draft")
    live = _live(events, draft)
    # The reasoning, shown nowhere else, streamed live into the step...
    assert any("Wait, I should" in text for text in live), live
    # ...but the answer text the message was streaming was not sent there again: only the
    # first piece, which arrived before the answer message existed.
    assert not any("lets the" in text for text in live), live
    # When the step ended it showed all of it.
    ended = [d["output"] for e, d in events if e == "update_message" and d["id"] == draft]
    assert "weigh the blocks again" in ended[-1] and "from the same context" in ended[-1]
