"""Chainlit's 1 ms sleep per Step and Message is replaced by a wait for the next microsecond:
nothing blocks the event loop, and stamps made back to back stay distinct and ordered."""

from __future__ import annotations

import time
from datetime import datetime

import chainlit as cl
from chainlit.context import init_http_context

from app.chat import step_clock


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.rstrip("Z"))


async def test_steps_and_messages_made_back_to_back_never_sleep_and_keep_their_order(monkeypatch):
    step_clock.install()
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    init_http_context()
    stamps = []
    for i in range(100):
        stamps.append(cl.Step(name=f"step {i}").created_at)
        cl.Message(content=f"message {i}")  # stamped when sent; it slept here all the same
    assert slept == []
    times = [_when(s) for s in stamps if s]
    assert len(times) == 100
    assert times == sorted(times) and len(set(times)) == len(times)


def test_next_microsecond_returns_in_a_later_microsecond():
    before = time.time_ns() // 1000
    step_clock.next_microsecond(0.001)
    assert time.time_ns() // 1000 > before
