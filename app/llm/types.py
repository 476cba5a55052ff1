"""What the gateway hands back: token events while streaming, then one finished Completion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TokenKind = Literal["answer", "reasoning"]


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """One streamed piece of text.

    `kind` is "reasoning" for gpt-oss `reasoning_content` deltas and for text inside
    `<think>…</think>`; such text is shown apart and never counted as the answer.
    """

    text: str
    kind: TokenKind
    logprob: float | None
    t: float  # seconds since the request was sent


@dataclass(frozen=True, slots=True)
class Timing:
    sent_at: float  # wall clock (time.time()) when the request was sent
    ttft_s: float | None  # to the first answer-or-reasoning token; None if none arrived
    total_s: float  # to the last token (or to the end of the stream)
    tokens_per_s: float | None  # completion tokens after the first one / time after it


@dataclass(frozen=True, slots=True)
class Completion:
    model: str  # the configured name (alias or ID)
    model_id: str  # the server's ID it resolved to
    text: str  # the answer, reasoning excluded
    reasoning: str
    finish_reason: str | None  # "stop", "length", …; None when the stream was cut
    incomplete: bool  # True when the stream was cut after some output: `text` is partial
    error: str | None  # what went wrong when incomplete
    prompt_tokens: int
    completion_tokens: int
    usage_reported: bool  # False: both counts come from app.tokens, not the server
    logprobs: list[float] | None  # one per answer token; None when the server gives none
    timing: Timing
