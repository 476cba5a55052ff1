"""The answer record (`AnswerResult`) and the pure text renderings the UI shows around it.

`AnswerResult` is what one question produced: the final text, how it was routed and why,
every signal, each step's timings and tokens, the emulated cost, the context given to the
model, and the citations. The Chainlit UI and the evaluation both read it; nothing in it
refers to the UI.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from app.safe_markdown import literal

if TYPE_CHECKING:
    from app.prompting import ContextBlock
    from app.retrieval.types import Hit
    from app.router import Decision, Signals

Route = Literal["draft", "escalated", "abstained", "sources_only", "draft_kept"]
"""How the answer was produced.

draft         the draft model's answer was kept (confident enough, or policy `never`)
escalated     the escalation model answered from the same context
abstained     retrieval found nothing relevant; no model was asked (see `pipeline.ask`)
sources_only  the draft model could not be used; the answer lists the retrieved passages
draft_kept    escalation was wanted but failed; the draft is shown instead
"""

StepName = Literal["rewrite", "retrieve", "draft", "route", "escalate"]


@dataclass(slots=True)
class StepRecord:
    """One step's timing and, for model calls, tokens and cost."""

    step: StepName
    name: (
        str  # the label shown, latency included: "Draft · phi-4-mini · first token 180 ms · 1.9 s"
    )
    seconds: float  # wall-clock duration of the step
    model: str | None = None  # configured name, for model calls
    model_id: str | None = None  # the server's ID it resolved to
    ttft_s: float | None = None  # from the request being sent to the first token
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_per_s: float | None = None
    usage_reported: bool | None = None  # False: token counts come from the project tokenizer
    finish_reason: str | None = None
    cost: float = 0.0  # emulated, from the configured price per 1k tokens
    attempts: int = 1  # 2 when the context was too long and was shrunk once
    error: str | None = None  # user-facing message when the call failed


@dataclass(slots=True)
class ModelUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0


@dataclass(slots=True)
class AnswerResult:
    """Everything one question produced. Read by the UI (footer, steps, citations) and the
    evaluation (route, signals, timings, cost)."""

    question: str  # as the user asked it
    searched_query: str  # what retrieval searched: the standalone rewrite, or the question
    scope: str | None  # retrieval scope passed to `Library.search`
    answer: str  # the final text shown; invalid citations already removed
    route: Route
    reasons: list[str]  # plain words, most important first
    confidence: float | None = None  # the router's confidence in the draft; None if no draft
    signals: Signals | None = None  # every measured signal of the draft
    decision: Decision | None = None
    signal_table: list[tuple[str, str]] = field(default_factory=list)  # (signal, value) rows
    steps: list[StepRecord] = field(default_factory=list)  # in the order they ran
    usage: dict[str, ModelUsage] = field(default_factory=dict)  # per configured model name
    hits: list[Hit] = field(default_factory=list)  # everything retrieval returned, by rank
    blocks: list[ContextBlock] = field(default_factory=list)  # context given to the final model
    citations: dict[int, Hit] = field(default_factory=dict)  # valid [n] in `answer` -> hit
    dropped_citations: list[int] = field(default_factory=list)  # [n] removed: no such block
    not_found: bool = False  # the model replied with the insufficient-context marker
    incomplete: bool = False  # the answer's stream was cut; `answer` is partial
    notices: list[str] = field(default_factory=list)  # warnings and errors for the user
    draft: str | None = None  # the draft model's answer text, if there was one
    ttft_s: float | None = None  # question to first visible answer text
    total_s: float = 0.0  # question to final answer

    @property
    def total_cost(self) -> float:
        return sum(u.cost for u in self.usage.values())

    @property
    def prompt_tokens(self) -> int:
        return sum(u.prompt_tokens for u in self.usage.values())

    @property
    def completion_tokens(self) -> int:
        return sum(u.completion_tokens for u in self.usage.values())

    @property
    def models(self) -> list[str]:
        """Models called, in the order first used."""
        return list(self.usage)


def cost(prompt_tokens: int, completion_tokens: int, price_in: float, price_out: float) -> float:
    """Emulated cost from prices per 1k tokens."""
    return prompt_tokens / 1000 * price_in + completion_tokens / 1000 * price_out


# --- formatting ---------------------------------------------------------------------------


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


ROUTE_LABELS: dict[str, str] = {
    "draft": "draft kept",
    "escalated": "escalated",
    "abstained": "not found",
    "sources_only": "sources only",
    "draft_kept": "escalation failed, draft kept",
}


def render_footer(result: AnswerResult) -> str:
    """One line under the answer: models, route, first token, total, tokens, emulated cost.

    `phi-4-mini → gpt-oss-20b · escalated · first token 180 ms · 6.4 s · 1,234 in / 210 out · $0`
    """
    # A model that was tried but never answered (sources only) is not "used".
    answered = result.models if result.route != "sources_only" else []
    parts = [" → ".join(answered) if answered else "no model answered"]
    parts.append(ROUTE_LABELS.get(result.route, result.route))
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
    from app.prompting import source_label

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
