"""The answer record (`AnswerResult`): what one question produced.

`AnswerResult` is what one question produced: the final text, how it was routed and why,
every signal, each step's timings and tokens, the emulated cost, the context given to the
model, and the citations. The Chainlit UI and the evaluation both read it; nothing in it
refers to the UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from app.answering.prompting import ContextBlock
    from app.answering.routing import Signals
    from app.retrieval.types import Hit


class Route(StrEnum):
    """How the answer was produced. The footer shows `label`, which is the name in words."""

    DRAFT_KEPT = "draft_kept"  # the draft model's answer was kept
    ESCALATED = "escalated"  # the escalation model answered from the same context
    NOTHING_FOUND = "nothing_found"  # retrieval found nothing relevant; no model was asked
    SOURCES_ONLY = "sources_only"  # no model could be used; the answer lists the passages
    ESCALATION_FAILED = "escalation_failed"  # escalation was wanted but failed; draft shown

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")

    @property
    def model_answered(self) -> bool:
        return self in (Route.DRAFT_KEPT, Route.ESCALATED, Route.ESCALATION_FAILED)


StepName = Literal["rewrite", "retrieve", "draft", "route", "escalate"]


@dataclass(slots=True)
class StepRecord:
    """One step's timing and, for model calls, tokens and cost."""

    step: StepName
    name: (
        str  # the label shown, latency included: "Draft · phi-4-mini · first token 180 ms · 1.9 s"
    )
    seconds: float  # wall-clock duration of the step
    model: str | None = None  # configured name, for model calls
    model_id: str | None = None  # the server's ID it resolved to
    ttft_s: float | None = None  # from the request being sent to the first token
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_per_s: float | None = None
    usage_reported: bool | None = None  # False: token counts come from the project tokenizer
    finish_reason: str | None = None
    cost: float = 0.0  # emulated, from the configured price per 1k tokens
    attempts: int = 1  # 2 when the context was too long and was shrunk once
    error: str | None = None  # user-facing message when the call failed


@dataclass(slots=True)
class ModelUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0


@dataclass(slots=True)
class AnswerResult:
    """Everything one question produced. Read by the UI (footer, steps, citations) and the
    evaluation (route, signals, timings, cost)."""

    question: str  # as the user asked it
    searched_query: str  # what retrieval searched: the standalone rewrite, or the question
    scope: str | None  # retrieval scope passed to `Library.search`
    answer: str  # the final text shown; invalid citations already removed
    route: Route
    reasons: list[str]  # plain words, most important first
    confidence: float | None = None  # the router's confidence in the draft; None if no draft
    signals: Signals | None = None  # every measured signal of the draft
    steps: list[StepRecord] = field(default_factory=list)  # in the order they ran
    usage: dict[str, ModelUsage] = field(default_factory=dict)  # per configured model name
    hits: list[Hit] = field(default_factory=list)  # everything retrieval returned, by rank
    blocks: list[ContextBlock] = field(default_factory=list)  # context given to the final model
    citations: dict[int, Hit] = field(default_factory=dict)  # valid [n] in `answer` -> hit
    dropped_citations: list[int] = field(default_factory=list)  # [n] removed: no such block
    not_found: bool = False  # the model replied with the insufficient-context marker
    incomplete: bool = False  # the answer's stream was cut; `answer` is partial
    notices: list[str] = field(default_factory=list)  # warnings and errors for the user
    draft: str | None = None  # the draft model's answer text, if there was one
    ttft_s: float | None = None  # question to first visible answer text
    total_s: float = 0.0  # question to final answer

    @property
    def enters_history(self) -> bool:
        """Only model answers are remembered for follow-ups: a list of sources or a
        "not found" note would only mislead the next rewrite and prompt."""
        return self.route.model_answered and not self.not_found

    @property
    def total_cost(self) -> float:
        return sum(u.cost for u in self.usage.values())

    @property
    def prompt_tokens(self) -> int:
        return sum(u.prompt_tokens for u in self.usage.values())

    @property
    def completion_tokens(self) -> int:
        return sum(u.completion_tokens for u in self.usage.values())

    @property
    def models(self) -> list[str]:
        """Models called, in the order first used."""
        return list(self.usage)


def cost(prompt_tokens: int, completion_tokens: int, price_in: float, price_out: float) -> float:
    """Emulated cost from prices per 1k tokens."""
    return prompt_tokens / 1000 * price_in + completion_tokens / 1000 * price_out
