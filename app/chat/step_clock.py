"""Chainlit's Step and Message constructors sleep 1 ms (`time.sleep(0.001)`) so that steps
made one after another get different `created_at` stamps, which order a resumed chat. The
sleep blocks the event loop, so every chat on the server stalls for each step any chat
opens: 6–8 times a turn, and far longer than 1 ms once the CPU is busy (a sleeping thread
waits its turn to wake up). Waiting for the clock to pass the next microsecond, the stamps'
resolution, keeps them distinct and ordered without giving the loop away."""

from __future__ import annotations

import importlib
import time
from types import ModuleType
from typing import Any


def next_microsecond(_seconds: float = 0.0) -> None:
    """Return once the wall clock has moved on to another microsecond (a few µs at most)."""
    start = time.time_ns() // 1000
    while time.time_ns() // 1000 == start:
        pass


class _Clock:
    """Stands in for the `time` module inside chainlit.step and chainlit.message."""

    sleep = staticmethod(next_microsecond)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def install() -> None:
    # By module path: `chainlit.step` the attribute is the @step decorator, not the module.
    for name in ("chainlit.step", "chainlit.message"):
        module: ModuleType = importlib.import_module(name)
        if getattr(module, "time", None) is time:  # leaves a changed Chainlit alone
            module.time = _Clock()  # type: ignore[attr-defined]
