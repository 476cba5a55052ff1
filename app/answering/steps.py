"""The steps of a turn: their titles (the latency is appended when they finish) and kinds."""

from __future__ import annotations

from typing import Literal

from app.answering.result import StepName

StepType = Literal["llm", "retrieval", "tool"]

STEP_TITLES: dict[StepName, str] = {
    "rewrite": "Rewrite",
    "retrieve": "Retrieve",
    "draft": "Draft",
    "route": "Route",
    "escalate": "Escalate",
}

# Chainlit's step types; they choose the icon.
STEP_TYPES: dict[StepName, StepType] = {
    "rewrite": "llm",
    "retrieve": "retrieval",
    "draft": "llm",
    "route": "tool",
    "escalate": "llm",
}


# Headings over a step's streamed answer text, where it needs one.
STEP_OUTPUT_HEADINGS: dict[StepName, str] = {"draft": "Draft"}


def step_title(step: StepName, *parts: str) -> str:
    """`Draft · phi-4-mini · first token 180 ms · 1.9 s`."""
    return " · ".join([STEP_TITLES[step], *parts])
