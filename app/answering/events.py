"""The typed events `ask()` yields, in the order the module docstring of `pipeline` gives."""

from __future__ import annotations

from dataclasses import dataclass

from app.answering.result import AnswerResult, StepName
from app.llm.types import TokenKind

# The events are part of the package's public surface as they are (app/answering/__init__).
__all__ = [
    "AnswerReset",
    "AnswerToken",
    "Done",
    "Event",
    "StepFinished",
    "StepStarted",
    "StepToken",
]


@dataclass(frozen=True, slots=True)
class StepEvent:
    """Something about one step, which it names first."""

    step: StepName


@dataclass(frozen=True, slots=True)
class StepStarted(StepEvent):
    """The step begins."""


@dataclass(frozen=True, slots=True)
class StepToken(StepEvent):
    """Model output shown inside its step only (the draft, the reasoning, the rewrite)."""

    text: str
    kind: TokenKind


@dataclass(frozen=True, slots=True)
class AnswerToken:
    """Text appended to the visible answer. The pipeline alone decides what is shown: the
    draft only when `AskOptions.stream_draft`, the escalation always."""

    text: str


@dataclass(frozen=True, slots=True)
class AnswerReset:
    """Clear the visible answer (an escalation replaces the draft)."""


@dataclass(frozen=True, slots=True)
class StepFinished(StepEvent):
    """The step ended."""

    name: str  # its title, latency included: "Draft · phi-4-mini · first token 180 ms · 1.9 s"
    detail: str  # what the step shows when opened, as markdown


@dataclass(frozen=True, slots=True)
class Done:
    result: AnswerResult


Event = StepStarted | StepToken | AnswerToken | AnswerReset | StepFinished | Done
