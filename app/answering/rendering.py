"""Plain-text and markdown renderings of a result and its steps, for the chat and reports."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.answering.result import AnswerResult, Route, StepRecord
from app.answering.safe_markdown import literal

if TYPE_CHECKING:
    from app.retrieval.types import Hit


def format_duration(seconds: float) -> str:
    """`4 ms`, `310 ms`, `1.9 s`, `12 s`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s"


def format_cost(value: float) -> str:
    if value == 0:
        return "$0"
    if value < 0.01:
        return f"${value:.4f}"
    return f"${value:.2f}"


def render_footer(result: AnswerResult) -> str:
    """One line under the answer: models, route, first token, total, tokens, emulated cost.

    `phi-4-mini → gpt-oss-20b · escalated · first token 180 ms · 6.4 s · 1,234 in / 210 out · $0`
    """
    # A model that was tried but never answered (sources only) is not "used".
    answered = result.models if result.route is not Route.SOURCES_ONLY else []
    parts = [" → ".join(answered) if answered else "no model answered"]
    parts.append(result.route.label)
    if result.incomplete:
        parts.append("incomplete")
    if result.ttft_s is not None:
        parts.append(f"first token {format_duration(result.ttft_s)}")
    parts.append(format_duration(result.total_s))
    if answered:
        parts.append(f"{result.prompt_tokens:,} in / {result.completion_tokens:,} out")
        parts.append(format_cost(result.total_cost))
    return " · ".join(parts)


def _hit_label(hit: Hit) -> str:
    """The passage's file, page and section, as literal markdown (names come from documents)."""
    from app.answering.prompting import source_label

    return literal(source_label(hit))


_MARKDOWN_HEADING = re.compile(r"(?m)^\s{0,3}#{1,6}\s+")


def _excerpt(text: str, limit: int) -> str:
    # Heading markers flattened into one line read as stray "###"; the words stay.
    flat = " ".join(_MARKDOWN_HEADING.sub("", text).split())
    if len(flat) <= limit:
        return literal(flat)
    cut = flat[:limit].rsplit(" ", 1)[0]
    return literal(cut) + " …"


def searched_description(searched_query: str, question: str, scope_label: str) -> str:
    if searched_query.strip() == question.strip():
        return f"Searched {scope_label} for “{literal(searched_query)}”."
    line = f"Searched {scope_label} for “{literal(question.strip())}”"
    line += f" and its standalone form “{literal(searched_query)}”"
    return line + "."


def render_not_found(
    question: str,
    searched_query: str,
    *,
    hits: Sequence[Hit] = (),
    scope_label: str = "the documents",
    limit: int = 3,
) -> str:
    """The friendly text shown instead of the insufficient-context marker."""
    lines = [
        "I couldn't find the answer to this in the documents.",
        "",
        searched_description(searched_query, question, scope_label),
    ]
    if hits:
        lines.append("The closest passages did not answer it:")
        for h in sorted(hits, key=lambda h: h.rank)[:limit]:
            lines.append(f"- {_hit_label(h)} (score {h.score:.2f})")
    else:
        lines.append("No passage matched any of its words.")
    lines += ["", "Try other words, or upload the document that covers it."]
    return "\n".join(lines)


def render_sources_only(hits: Sequence[Hit], *, excerpt_chars: int = 300) -> str:
    """The answer when no model could be used: the retrieved passages, numbered as citations."""
    if not hits:
        return "The language model is unavailable, and no passage in the documents matched."
    lines = [
        "The language model is unavailable, so here are the passages that best match "
        "your question:",
        "",
    ]
    for n, h in enumerate(sorted(hits, key=lambda h: h.rank), start=1):
        lines.append(f"[{n}] **{_hit_label(h)}**: {_excerpt(h.chunk.text, excerpt_chars)}")
        lines.append("")
    return "\n".join(lines).rstrip()


def _cell(markdown: str) -> str:
    # One line, and no bare "|" (document text arrives already escaped by `literal`).
    return re.sub(r"(?<!\\)\|", r"\\|", " ".join(markdown.split()))


def render_retrieval(
    queries: Sequence[str], hits: Sequence[Hit], *, excerpt_chars: int = 90
) -> str:
    """Markdown for the retrieve step: the queries as searched and the top chunks."""
    shown = " + ".join(f"`{q.replace('`', '')}`" for q in queries)
    head = f"**Query:** {shown}"
    if len(queries) > 1:
        head += " (your words and the standalone rewrite; the two rankings fused)"
    if not hits:
        return head + "\n\nNo chunk matched."
    rows = ["| # | source | score | excerpt |", "|---|---|---:|---|"]
    for h in sorted(hits, key=lambda h: h.rank):
        label, excerpt = _cell(_hit_label(h)), _cell(_excerpt(h.chunk.text, excerpt_chars))
        rows.append(f"| {h.rank} | {label} | {h.score:.2f} | {excerpt} |")
    return head + "\n\n" + "\n".join(rows)


def render_model_step(record: StepRecord, notes: Sequence[str] = ()) -> str:
    """Markdown for a draft, escalate or rewrite step: timings and tokens."""

    def maybe(v: float | None, fmt: str) -> str:
        return "—" if v is None else fmt.format(v)

    counted = "" if record.usage_reported else " (counted locally)"
    rows = [
        "| | |",
        "|---|---|",
        f"| model | {record.model} (`{record.model_id or '?'}`) |",
        f"| first token | {maybe(record.ttft_s, '{:.3f} s')} |",
        f"| total | {record.seconds:.3f} s |",
        f"| tokens in / out | {record.prompt_tokens:,} / {record.completion_tokens:,}{counted} |",
        f"| tokens/s | {maybe(record.tokens_per_s, '{:.1f}')} |",
        f"| finish reason | {record.finish_reason or '—'} |",
        f"| emulated cost | {format_cost(record.cost)} |",
    ]
    if record.attempts > 1:
        rows.append(f"| attempts | {record.attempts} |")
    out = "\n".join(rows)
    if record.error:
        out = f"**Failed:** {record.error}\n\n" + out
    if notes:
        out += "\n\n" + "\n".join(f"- {n}" for n in notes)
    return out


def render_route(
    decision_line: str, reasons: Sequence[str], rows: Sequence[tuple[str, str]]
) -> str:
    """Markdown for the route step: the decision, reasons in plain words, every signal."""
    out = [f"**{decision_line}**", ""]
    out += [f"- {r}" for r in reasons]
    if rows:
        out += ["", "| signal | value |", "|---|---|"]
        out += [f"| {_cell(k)} | {_cell(v)} |" for k, v in rows]
    return "\n".join(out)
