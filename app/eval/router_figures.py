"""How good the router is, from the `never` and `always` runs alone (no extra model calls).

Under `auto` a case's outcome is the `never` outcome when its draft is kept and the
`always` outcome when it is escalated; the draft and its confidence are the same in all
three runs at temperature 0. So any threshold can be replayed offline: escalate when the
draft's confidence is below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.eval.golden import GoldenCase
from app.eval.metrics import case_correct, case_quality, mean
from app.eval.records import CaseRun

SWEEP_STEPS = 20  # 0, 0.05, …, 1
KEEP_QUALITY = 0.95  # the calibration target: share of always-large quality to keep


@dataclass(frozen=True, slots=True)
class Paired:
    """One case's outcomes in the `never` and `always` runs."""

    confidence: float | None  # None: no draft (nothing found), so never escalated
    quality_never: float | None
    quality_always: float | None
    cost_never: float
    cost_always: float


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Probability that a correct draft scores above an incorrect one (ties count half);
    None when either class is empty, since the figure is then undefined."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def draft_auroc(cases: Sequence[GoldenCase], never: Sequence[CaseRun]) -> float | None:
    by_id = {c.id: c for c in cases}
    pairs = [
        (r.confidence, case_correct(by_id[r.case_id], r))
        for r in never
        if r.confidence is not None and not r.failed
    ]
    known = [(s, y) for s, y in pairs if y is not None]
    return auroc([s for s, _ in known], [y for _, y in known])


def pair_runs(
    cases: Sequence[GoldenCase], never: Sequence[CaseRun], always: Sequence[CaseRun]
) -> list[Paired]:
    """Cases measured in both runs, in golden order."""
    n_by, a_by = {r.case_id: r for r in never}, {r.case_id: r for r in always}
    out = []
    for case in cases:
        n, a = n_by.get(case.id), a_by.get(case.id)
        if n is None or a is None or n.failed or a.failed:
            continue
        out.append(
            Paired(
                n.confidence, case_quality(case, n), case_quality(case, a), n.cost_usd, a.cost_usd
            )
        )
    return out


def replay(paired: Sequence[Paired], threshold: float) -> dict[str, float | None]:
    """Escalation rate, quality and cost of `auto` at `threshold`, replayed."""
    up = [(p, p.confidence is not None and p.confidence < threshold) for p in paired]
    return {
        "threshold": round(threshold, 4),
        "escalation_rate": mean(e for _, e in up),
        "quality": mean(p.quality_always if e else p.quality_never for p, e in up),
        "cost_usd": round(sum(p.cost_always if e else p.cost_never for p, e in up), 6),
    }


def sweep(paired: Sequence[Paired], steps: int = SWEEP_STEPS) -> list[dict[str, float | None]]:
    return [replay(paired, i / steps) for i in range(steps + 1)]


def always_quality(paired: Sequence[Paired]) -> float | None:
    return mean(p.quality_always for p in paired)


def ratio(part: float | None, whole: float | None) -> float | None:
    """part / whole, or None when it is undefined (a zero cost, a missing run)."""
    if part is None or whole is None or whole == 0:
        return None
    return part / whole
