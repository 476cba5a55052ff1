"""What one case produced under one policy, as plain data: the metrics, the report and the
JSON read this, never the pipeline's own objects, so a report can be rebuilt from JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING

from app.answering.routing import refusal_phrase

if TYPE_CHECKING:
    from app.answering import AnswerResult

# Latency parts, in the order a turn runs them.
LATENCY_PARTS = (
    "preparation",
    "rewrite",
    "retrieval",
    "draft_ttft",
    "draft_total",
    "route",
    "escalation_ttft",
    "escalation_total",
    "answer_ttft",
    "answer_total",
)
ESCALATION_ROUTES = ("escalated", "escalation_failed")


@dataclass(slots=True)
class CaseRun:
    case_id: str
    category: str
    policy: str
    failed: str | None = None  # why the case could not be measured; None when it ran
    route: str | None = None
    answer: str = ""
    draft: str | None = None
    confidence: float | None = None
    abstained: bool = False
    hit_sources: list[str] = field(default_factory=list)  # file names by rank
    blocks: dict[int, str] = field(default_factory=dict)  # [n] -> text given to the model
    dropped_citations: int = 0
    latency_s: dict[str, float] = field(default_factory=dict)  # LATENCY_PARTS that ran
    cost_usd: float = 0.0
    large_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    judge: dict[str, int | None] | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> CaseRun:
        data = dict(data)
        data["blocks"] = {int(k): v for k, v in data.get("blocks", {}).items()}
        return cls(**data)


def _latency(result: AnswerResult) -> dict[str, float]:
    out: dict[str, float] = {}
    names = {"retrieve": "retrieval", "rewrite": "rewrite", "route": "route"}
    for step in result.steps:
        if step.step in names:
            out[names[step.step]] = out.get(names[step.step], 0.0) + step.seconds
        else:
            part = "draft" if step.step == "draft" else "escalation"
            out[f"{part}_total"] = step.seconds
            if step.ttft_s is not None:
                out[f"{part}_ttft"] = step.ttft_s
    # Whatever the steps don't account for: prompt fitting, routing maths, citation checks.
    out["preparation"] = max(0.0, result.total_s - sum(s.seconds for s in result.steps))
    if result.ttft_s is not None:
        out["answer_ttft"] = result.ttft_s
    out["answer_total"] = result.total_s
    return out


def _failure(result: AnswerResult) -> str | None:
    # No model answered: the endpoint was down or refused. Nothing about quality is known.
    if result.route.value == "sources_only":
        return "; ".join(result.notices) or "no model could answer"
    if result.route.value == "escalation_failed":
        return "escalation failed: " + "; ".join(result.notices)
    return None


def from_result(case_id: str, category: str, policy: str, result: AnswerResult) -> CaseRun:
    refused = bool(refusal_phrase(result.answer)) and not result.citations
    return CaseRun(
        case_id=case_id,
        category=category,
        policy=policy,
        failed=_failure(result),
        route=result.route.value,
        answer=result.answer,
        draft=result.draft,
        confidence=result.confidence,
        abstained=result.not_found or refused,
        hit_sources=[PurePath(h.chunk.source).name for h in result.hits],
        blocks={b.n: b.hit.chunk.text for b in result.blocks},
        dropped_citations=len(result.dropped_citations),
        latency_s=_latency(result),
        cost_usd=result.total_cost,
        large_calls=int(any(s.step == "escalate" for s in result.steps)),
        tokens_in=result.prompt_tokens,
        tokens_out=result.completion_tokens,
    )
