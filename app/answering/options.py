"""What a question is asked with: the per-chat options, and the fixed answering config.

They are separate types on purpose. A per-chat value (temperature, top-k, policy) exists
only in `AskOptions`, so code inside the pipeline cannot read the server-wide default by
mistake and silently ignore what the user chose.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.config import RoutingPolicy, Settings


@dataclass(frozen=True, slots=True)
class AskOptions:
    """Per-chat settings the user can change in the UI."""

    top_k: int
    policy: RoutingPolicy
    rewrite: bool
    temperature: float
    show_draft_hint: bool
    stream_draft: bool = True  # show the draft as it streams, before routing decides

    @classmethod
    def from_settings(cls, settings: Settings) -> AskOptions:
        return cls(
            top_k=settings.top_k,
            policy=settings.routing_policy,
            rewrite=settings.rewrite_followups,
            temperature=settings.temperature,
            show_draft_hint=settings.show_draft_hint,
        )


@dataclass(frozen=True, slots=True)
class AnswerConfig:
    """Server-wide answering settings: models, budgets, router thresholds, prices."""

    draft_model: str
    escalation_model: str
    max_answer_tokens: int
    context_token_budget: int
    history_turns: int
    min_draft_tokens: int
    escalate_below: float
    min_retrieval_score: float
    draft_prices: tuple[float, float]  # $ per 1k tokens in, out
    escalation_prices: tuple[float, float]

    @classmethod
    def from_settings(cls, s: Settings) -> AnswerConfig:
        return cls(
            draft_model=s.draft_model,
            escalation_model=s.escalation_model,
            max_answer_tokens=s.max_answer_tokens,
            context_token_budget=s.context_token_budget,
            history_turns=s.history_turns,
            min_draft_tokens=s.min_draft_tokens,
            escalate_below=s.escalate_below,
            min_retrieval_score=s.min_retrieval_score,
            draft_prices=(s.draft_price_in_per_1k, s.draft_price_out_per_1k),
            escalation_prices=(s.escalation_price_in_per_1k, s.escalation_price_out_per_1k),
        )


@dataclass(frozen=True, slots=True)
class Exchange:
    """One earlier question and the answer shown for it."""

    question: str
    answer: str
