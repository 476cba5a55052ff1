"""The load benchmark's floor: bare Chainlit streaming one answer, nothing else.

`chainlit run app/chat/floor_app.py` with `FOUNDRY_LOCAL_ENDPOINT` set. Each message is
answered by streaming the scripted server's reply into one Chainlit message, flushed every
40 ms like the real app, with plain httpx: no retrieval, steps, routing, persistence, login
or openai client. What a turn costs here is what Chainlit itself costs, so the load
benchmark can show how much of the app's overhead is the framework's.
"""

from __future__ import annotations

import json
import os
import time

import chainlit as cl
import httpx

from app.chat.streaming import FLUSH_INTERVAL_S
from tests.support.scripted_llm import DRAFT_MODEL_ID

_FLUSH_S = FLUSH_INTERVAL_S
_client: httpx.AsyncClient | None = None


def _http() -> httpx.AsyncClient:
    global _client
    if _client is None:
        _client = httpx.AsyncClient(base_url=os.environ["FOUNDRY_LOCAL_ENDPOINT"], timeout=60)
    return _client


@cl.on_chat_start
async def _start() -> None:
    # The benchmark's clients take chat settings as "the chat is ready", as in the app.
    await cl.ChatSettings([]).send()


@cl.on_message
async def _answer(message: cl.Message) -> None:
    body = {
        "model": DRAFT_MODEL_ID,
        "messages": [{"role": "user", "content": message.content}],
        "stream": True,
    }
    reply = cl.Message(content="")
    pending, last = "", 0.0
    async with _http().stream("POST", "/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data:") or line.endswith("[DONE]"):
                continue
            delta = json.loads(line[5:])["choices"][0]["delta"].get("content") or ""
            pending += delta
            if pending and time.monotonic() - last >= _FLUSH_S:
                await reply.stream_token(pending)
                pending, last = "", time.monotonic()
    if pending:
        await reply.stream_token(pending)
    await reply.send()
