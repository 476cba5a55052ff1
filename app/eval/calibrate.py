"""Pick ESCALATE_BELOW: the lowest escalation rate that keeps ≥ 95% of always-large quality.

The threshold is chosen on k − 1 folds and scored on the held-out fold, so the reported
escalation rate and quality retained are never measured on the cases that chose them.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.eval.metrics import mean
from app.eval.router_figures import KEEP_QUALITY, SWEEP_STEPS, Paired, always_quality, replay


def choose_threshold(paired: Sequence[Paired], keep: float = KEEP_QUALITY) -> float | None:
    """Lowest-escalation threshold meeting `keep` × always quality; None without a target."""
    target = always_quality(paired)
    if target is None:
        return None
    best: tuple[float, float] | None = None  # (escalation rate, threshold)
    for i in range(SWEEP_STEPS + 1):
        point = replay(paired, i / SWEEP_STEPS)
        q, rate = point["quality"], point["escalation_rate"]
        if q is None or rate is None or q < keep * target - 1e-12:
            continue
        if best is None or rate < best[0]:
            best = (rate, i / SWEEP_STEPS)
    return None if best is None else best[1]


def folds(n: int, k: int) -> list[list[int]]:
    """Deterministic round-robin folds over the golden order (which mixes categories)."""
    k = max(2, min(k, n))
    return [list(range(i, n, k)) for i in range(k)]


def cross_validate(paired: Sequence[Paired], k: int = 5) -> dict:
    """Held-out escalation rate and quality retained, plus the threshold fitted on all cases
    (the value to deploy; the held-out figures say what to expect from it)."""
    if len(paired) < 4:
        return {"k": None, "threshold": None, "folds": [], "note": "too few paired cases"}
    rows = []
    for held in folds(len(paired), k):
        train = [p for i, p in enumerate(paired) if i not in held]
        test = [paired[i] for i in held]
        t = choose_threshold(train)
        point = replay(test, t) if t is not None else None
        retained = None
        if point and point["quality"] is not None and (aq := always_quality(test)):
            retained = point["quality"] / aq
        rows.append(
            {
                "threshold": t,
                "escalation_rate": point and point["escalation_rate"],
                "quality_retained": retained,
            }
        )
    return {
        "k": len(rows),
        "threshold": choose_threshold(paired),
        "held_out_escalation_rate": mean(_num(r["escalation_rate"]) for r in rows),
        "held_out_quality_retained": mean(_num(r["quality_retained"]) for r in rows),
        "folds": rows,
    }


def env_lines(result: dict) -> list[str]:
    if result.get("threshold") is None:
        return ["# no threshold keeps the quality target on these cases; ESCALATE_BELOW unchanged"]
    return [
        f"# cross-validated ({result['k']}-fold): held-out escalation rate "
        f"{_pct(result['held_out_escalation_rate'])}, quality retained "
        f"{_pct(result['held_out_quality_retained'])}",
        f"ESCALATE_BELOW={result['threshold']:.2f}",
    ]


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.0f}%"


def _num(value: object) -> float | None:
    return value if isinstance(value, int | float) else None
