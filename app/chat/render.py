"""Pure renderings of an `AnswerResult` for the chat: the answer text and its source panels."""

from __future__ import annotations

from dataclasses import dataclass

from app.answer import AnswerResult, render_footer
from app.retrieval.types import Hit


@dataclass(frozen=True, slots=True)
class CitationView:
    """One clickable source. `name` is the `[n]` text the answer shows; Chainlit links every
    occurrence of an element's name in the message to that element."""

    name: str
    content: str


def cited_hits(result: AnswerResult) -> dict[int, Hit]:
    if result.citations:
        return dict(sorted(result.citations.items()))
    if result.route == "sources_only":
        # Sources-only answers number the passages themselves, in rank order.
        return {n: h for n, h in enumerate(sorted(result.hits, key=lambda h: h.rank), start=1)}
    return {}


def citation_views(result: AnswerResult) -> list[CitationView]:
    return [
        CitationView(name=f"[{n}]", content=source_panel(h)) for n, h in cited_hits(result).items()
    ]


def source_panel(hit: Hit) -> str:
    """The side panel for a citation: where the passage comes from, its score, the passage."""
    c = hit.chunk
    facts = [f"**File:** `{c.source}`"]
    if c.page is not None:
        facts.append(f"**Page:** {c.page}")
    if c.section:
        facts.append(f"**Section:** {c.section}")
    facts.append(f"**BM25 score:** {hit.score:.2f} (rank {hit.rank})")
    quoted = "\n".join("> " + line if line.strip() else ">" for line in c.text.strip().splitlines())
    return f"### {c.title}\n\n" + "  \n".join(facts) + "\n\n" + quoted


def answer_markdown(result: AnswerResult) -> str:
    """The final answer message: text, any notices, then the footer line."""
    parts = [result.answer.strip() or "_(no answer text)_"]
    if result.incomplete:
        parts.append("⚠️ _The answer was cut off before it finished; what arrived is shown._")
    parts.extend(f"⚠️ {notice}" for notice in result.notices)
    parts.append(f"*{render_footer(result)}*")
    return "\n\n".join(parts)
