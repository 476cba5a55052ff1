"""PNG charts of a report: the threshold sweep and the latency decomposition."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on servers and in tests; set before pyplot is imported
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

# Stacked in the order a turn spends them; answer totals are not parts, so left out.
STACK = ("preparation", "rewrite", "retrieval", "draft_total", "route", "escalation_total")


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def sweep_figure(sweep: list[dict], current: float | None = None) -> Figure:
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    xs = [p["threshold"] for p in sweep]
    for key, label in (("escalation_rate", "escalation rate"), ("quality", "quality")):
        ys = [p[key] if p[key] is not None else float("nan") for p in sweep]
        ax.plot(xs, ys, marker="o", markersize=3, label=label)
    if current is not None:
        ax.axvline(current, color="grey", linestyle="--", label=f"ESCALATE_BELOW={current:.2f}")
    ax.set_xlabel("ESCALATE_BELOW (escalate when draft confidence is below)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Threshold sweep (replayed from the never and always runs)")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def latency_figure(latency_by_policy: dict[str, dict]) -> Figure:
    """One stacked bar per policy of the p50 of each step, in milliseconds."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    names = list(latency_by_policy)
    bottoms = [0.0] * len(names)
    for part in STACK:
        heights = [(latency_by_policy[n].get(part, {}).get("p50") or 0.0) for n in names]
        if any(heights):
            ax.bar(names, heights, bottom=bottoms, label=part)
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    ax.set_ylabel("milliseconds (p50 per step)")
    ax.set_title("Latency decomposition per policy")
    ax.legend(loc="best", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig
