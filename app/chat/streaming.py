"""Throttled, inert streaming of untrusted model text into a Chainlit message or step.

Streamed text is re-sent whole (made inert) at most every `FLUSH_INTERVAL_S`: one socket
event per ~40 ms instead of one per token, which still reads as smooth streaming. The
normal answer (`view.TurnView`) and the compare view (`compare_view`) both stream this way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Protocol, TypeVar

from app.answering import inert_markdown

E = TypeVar("E", contravariant=True)

FLUSH_INTERVAL_S = 0.04


class Throttled:
    """Accumulates streamed tokens; flushes the whole text, sanitised, every interval."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self._last = 0.0
        self._pending = False

    def add(self, text: str) -> bool:
        """Add text; True when it is time to flush."""
        self.parts.append(text)
        self._pending = True
        return time.monotonic() - self._last >= FLUSH_INTERVAL_S

    def take(self) -> str | None:
        """The text to send now, or None when nothing arrived since the last flush."""
        if not self._pending:
            return None
        self.mark()
        return self.inert()

    def mark(self) -> None:
        """Note that everything received so far has been sent (by a caller that builds the
        text it sends itself, as a step that shows its reasoning and answer together)."""
        self._pending = False
        self._last = time.monotonic()

    def inert(self) -> str:
        """Everything received so far, made inert (for a final or stopped message)."""
        return inert_markdown("".join(self.parts))


class ShowsEvents(Protocol[E]):
    async def handle(self, event: E) -> None: ...

    async def stopped(self) -> None: ...


async def show_events(events: AsyncIterator[E], view: ShowsEvents[E]) -> None:
    """Feed a turn's events to its view. On Stop (the task is cancelled) the view closes
    what is open, keeping the partial text, and the cancellation goes on."""
    try:
        async for event in events:
            await view.handle(event)
    except asyncio.CancelledError:
        await view.stopped()
        raise
