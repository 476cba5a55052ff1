"""Admin summary: thumbs-up rate per route and per model over the last N days. Pure."""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def rates(rows: list[dict[str, Any]], key: str) -> list[tuple[str, int, int, float]]:
    """(group, ratings, thumbs up, up rate) per value of `key` (a model row counts once per
    model it used), most-rated first."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        groups = row.get(key) or ["(none)"]
        for group in groups if isinstance(groups, list) else [groups]:
            counts[str(group)][0] += 1
            counts[str(group)][1] += row["value"] == 1
    table = [(g, n, up, up / n) for g, (n, up) in counts.items()]
    return sorted(table, key=lambda r: (-r[1], r[0]))


def summary_markdown(rows: list[dict[str, Any]], days: int) -> str:
    if not rows:
        return f"No ratings in the last {days} days."
    parts = [f"**Ratings, last {days} days:** {len(rows)}"]
    for key, title in (("route", "Route"), ("models", "Model")):
        lines = [f"| {title} | ratings | 👍 | 👍 rate |", "| --- | --- | --- | --- |"]
        lines += [f"| {g} | {n} | {up} | {rate:.0%} |" for g, n, up, rate in rates(rows, key)]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
