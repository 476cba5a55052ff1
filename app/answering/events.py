"""The typed events `ask()` yields, in the order the module docstring of `pipeline` gives."""

from __future__ import annotations

from dataclasses import dataclass

from app.answering.result import AnswerResult, StepName
from app.llm.types import TokenKind


@dataclass(frozen=True, slots=True)
class StepStarted:
    step: StepName


@dataclass(frozen=True, slots=True)
class StepToken:
    """Model output shown inside its step only (the draft, the reasoning, the rewrite)."""

    step: StepName
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
class StepFinished:
    step: StepName
    name: str
    detail: str


@dataclass(frozen=True, slots=True)
class Done:
    result: AnswerResult


Event = StepStarted | StepToken | AnswerToken | AnswerReset | StepFinished | Done
