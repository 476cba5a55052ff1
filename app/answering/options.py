"""What a question is asked with: the per-chat options, and the fixed answering config.

They are separate types on purpose. A per-chat value (temperature, top-k, policy) exists
only in `AskOptions`, so code inside the pipeline cannot read the server-wide default by
mistake and silently ignore what the user chose.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar

from app.config import RoutingPolicy, Settings

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def _from_settings(cls: type[T], settings: Settings, **differ: Any) -> T:
    """`cls` with each required field read from the setting of the same name, except the
    fields in `differ`, whose values are given."""
    required = [
        f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
    ]
    same = {name: getattr(settings, name) for name in required if name not in differ}
    return cls(**same, **differ)


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
    def from_settings(cls, s: Settings) -> AskOptions:
        return _from_settings(cls, s, policy=s.routing_policy, rewrite=s.rewrite_followups)


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
        return _from_settings(
            cls,
            s,
            draft_prices=(s.draft_price_in_per_1k, s.draft_price_out_per_1k),
            escalation_prices=(s.escalation_price_in_per_1k, s.escalation_price_out_per_1k),
        )


@dataclass(frozen=True, slots=True)
class Exchange:
    """One earlier question and the answer shown for it."""

    question: str
    answer: str
