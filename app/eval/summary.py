"""Aggregate the per-case scores of one policy (overall and per category)."""

from __future__ import annotations

from collections.abc import Sequence

from app.eval.golden import CATEGORIES, GoldenCase
from app.eval.metrics import (
    case_quality,
    citation_counts,
    fact_recall,
    latency_ms,
    mean,
    reciprocal_rank,
    retrieval_hit,
)
from app.eval.records import CaseRun


def _citation_precision(pairs: Sequence[tuple[GoldenCase, CaseRun]]) -> float | None:
    supported = total = 0
    for case, run in pairs:
        s, t = citation_counts(run.answer, run.blocks, case.answer_facts, run.dropped_citations)
        supported, total = supported + s, total + t
    return supported / total if total else None


def _judge_means(runs: Sequence[CaseRun]) -> dict[str, float | None] | None:
    graded = [r.judge for r in runs if r.judge]
    if not graded:
        return None
    keys = ("coherence", "factuality", "concision")
    return {k: _round(mean(g.get(k) for g in graded)) for k in keys}


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def scores(pairs: Sequence[tuple[GoldenCase, CaseRun]], k: int) -> dict:
    """Every figure for a group of cases; failed cases are counted and left out."""
    ok = [(c, r) for c, r in pairs if not r.failed]
    answerable = [(c, r) for c, r in ok if c.answerable]
    unanswerable = [r for c, r in ok if not c.answerable]
    return {
        "cases": len(pairs),
        "failed": len(pairs) - len(ok),
        "retrieval_hit_at_k": _round(
            mean(retrieval_hit(r.hit_sources, c.sources, k) for c, r in ok)
        ),
        "mrr": _round(mean(reciprocal_rank(r.hit_sources, c.sources) for c, r in ok)),
        "fact_recall": _round(
            mean(
                0.0 if r.abstained and c.answer_facts else fact_recall(r.answer, c.answer_facts)
                for c, r in answerable
            )
        ),
        "citation_precision": _round(_citation_precision(ok)),
        "abstention_accuracy": _round(mean(r.abstained for r in unanswerable)),
        "false_abstention_rate": _round(mean(r.abstained for _, r in answerable)),
        "quality": _round(mean(case_quality(c, r) for c, r in ok)),
        "escalation_rate": _round(mean(r.large_calls for _, r in ok)),
        "large_model_calls": sum(r.large_calls for _, r in ok),
        "cost_usd": round(sum(r.cost_usd for _, r in ok), 6),
        "tokens_in": sum(r.tokens_in for _, r in ok),
        "tokens_out": sum(r.tokens_out for _, r in ok),
        "latency_ms": latency_ms([r for _, r in ok]),
        "judge": _judge_means([r for _, r in ok]),
    }


def policy_scores(cases: Sequence[GoldenCase], runs: Sequence[CaseRun], k: int) -> dict:
    """{"overall": scores, "by_category": {category: scores}} for one policy's runs."""
    by_id = {c.id: c for c in cases}
    pairs = [(by_id[r.case_id], r) for r in runs]
    return {
        "overall": scores(pairs, k),
        "by_category": {
            cat: scores([p for p in pairs if p[0].category == cat], k)
            for cat in CATEGORIES
            if any(p[0].category == cat for p in pairs)
        },
    }
