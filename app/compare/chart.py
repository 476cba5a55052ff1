"""A latency chart of compared models: first token and total, side by side."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from app.eval.charts import plt


def latency_chart(
    names: Sequence[str], ttft_ms: Sequence[float | None], total_ms: Sequence[float | None]
) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ys = range(len(names))
    ax.barh([y + 0.2 for y in ys], [t or 0 for t in total_ms], height=0.4, label="total")
    ax.barh([y - 0.2 for y in ys], [t or 0 for t in ttft_ms], height=0.4, label="first token")
    ax.set_yticks(list(ys), list(names))
    ax.set_xlabel("milliseconds")
    ax.set_title("Same question, same context")
    ax.legend(loc="best", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return fig
