"""The evaluation report: one dict (written as JSON), the stdout summary line, and the
per-case table. Markdown rendering is in `markdown.py`, charts in `charts.py`."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from app.eval.calibrate import cross_validate
from app.eval.golden import GoldenCase
from app.eval.metrics import (
    case_quality,
    citation_counts,
    fact_recall,
    reciprocal_rank,
)
from app.eval.records import CaseRun
from app.eval.router_figures import draft_auroc, pair_runs, ratio, sweep
from app.eval.summary import policy_scores

SUMMARY_KEYS = (
    "retrieval_hit_at_k",
    "mrr",
    "fact_recall",
    "citation_precision",
    "abstention_accuracy",
    "escalation_rate",
    "cost_usd",
)


def _runs_of(runs: Sequence[CaseRun], policy: str) -> list[CaseRun]:
    return [r for r in runs if r.policy == policy]


def router_report(
    cases: Sequence[GoldenCase], runs: Sequence[CaseRun], policies: dict, calibrate: bool
) -> dict:
    """Router figures; every one that needs a run that is missing is None."""
    never, always = _runs_of(runs, "never"), _runs_of(runs, "always")
    paired = pair_runs(cases, never, always) if never and always else []
    auto, big = policies.get("auto", {}).get("overall"), policies.get("always", {}).get("overall")
    get = lambda d, k: None if d is None else d.get(k)  # noqa: E731
    out: dict[str, object] = {
        "auroc": draft_auroc(cases, never) if never else None,
        "quality_retained": ratio(get(auto, "quality"), get(big, "quality")),
        "cost_ratio_vs_always": ratio(get(auto, "cost_usd"), get(big, "cost_usd")),
        "large_calls_ratio_vs_always": ratio(
            get(auto, "large_model_calls"), get(big, "large_model_calls")
        ),
        "paired_cases": len(paired),
        "threshold_sweep": sweep(paired) if paired else [],
    }
    if calibrate:
        out["calibration"] = cross_validate(paired)
    return out


def build_report(
    cases: Sequence[GoldenCase],
    runs: Sequence[CaseRun],
    policies: Sequence[str],
    *,
    k: int,
    meta: dict,
    calibrate: bool = False,
) -> dict:
    scores = {p: policy_scores(cases, _runs_of(runs, p), k) for p in policies}
    return {
        "meta": meta,
        "cases": len(cases),
        "failed": sorted({r.case_id for r in runs if r.failed}),
        "policies": scores,
        "router": router_report(cases, runs, scores, calibrate),
        "runs": [r.to_json() for r in runs],
    }


def summary_line(report: dict) -> dict:
    """The last stdout line: the headline figures per policy and the router's."""
    policies = {}
    for name, s in report["policies"].items():
        o = s["overall"]
        entry = {k: o[k] for k in SUMMARY_KEYS}
        entry["latency_ms"] = {
            part: {"p50": v["p50"], "p95": v["p95"]} for part, v in o["latency_ms"].items()
        }
        policies[name] = entry
    r = report["router"]
    router = {
        k: r[k] for k in ("auroc", "quality_retained", "cost_ratio_vs_always", "threshold_sweep")
    }
    return {"cases": report["cases"], "policies": policies, "router": router}


def _case_row(case: GoldenCase, run: CaseRun, k: int) -> dict:
    supported, total = citation_counts(
        run.answer, run.blocks, case.answer_facts, run.dropped_citations
    )
    judge = run.judge or {}
    return {
        "id": case.id,
        "category": case.category,
        "policy": run.policy,
        "failed": run.failed or "",
        "route": run.route or "",
        "hit_at_k": ""
        if not case.sources
        else int(any(s in case.sources for s in run.hit_sources[:k])),
        "reciprocal_rank": _fmt(reciprocal_rank(run.hit_sources, case.sources)),
        "fact_recall": _fmt(fact_recall(run.answer, case.answer_facts)),
        "citations_supported": f"{supported}/{total}",
        "abstained": int(run.abstained),
        "quality": _fmt(case_quality(case, run)),
        "confidence": _fmt(run.confidence),
        "escalated": run.large_calls,
        "cost_usd": f"{run.cost_usd:.6f}",
        "total_ms": _fmt(run.latency_s.get("answer_total", 0) * 1000, 0),
        **{
            f"judge_{c}": "" if judge.get(c) is None else judge[c]
            for c in ("coherence", "factuality", "concision")
        },
        "answer": " ".join(run.answer.split())[:300],
    }


def _fmt(x: float | None, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def write_cases_csv(
    path: Path, cases: Sequence[GoldenCase], runs: Sequence[CaseRun], k: int
) -> None:
    by_id = {c.id: c for c in cases}
    rows = [_case_row(by_id[r.case_id], r, k) for r in runs]
    with path.open("w", newline="", encoding="utf-8") as f:
        if not rows:
            return
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
