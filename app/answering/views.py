"""Pure renderings of an `AnswerResult` for the chat: the answer text and its source panels."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.answering.rendering import render_footer
from app.answering.result import AnswerResult, Route
from app.answering.safe_markdown import inert_markdown, literal
from app.retrieval.types import Hit

_KEEP_LINE = re.compile(r"^(#{1,6} |[-*+] |\d+[.)] |\|)")


@dataclass(frozen=True, slots=True)
class CitationView:
    """One clickable source. `name` is the `[n]` text the answer shows; Chainlit links every
    occurrence of an element's name in the message to that element."""

    name: str
    content: str


def cited_hits(result: AnswerResult) -> dict[int, Hit]:
    if result.citations:
        return dict(sorted(result.citations.items()))
    if result.route is Route.SOURCES_ONLY:
        # Sources-only answers number the passages themselves, in rank order.
        return {n: h for n, h in enumerate(sorted(result.hits, key=lambda h: h.rank), start=1)}
    return {}


def citation_views(result: AnswerResult) -> list[CitationView]:
    return [
        CitationView(name=f"[{n}]", content=source_panel(h, n))
        for n, h in cited_hits(result).items()
    ]


def source_panel(hit: Hit, n: int) -> str:
    """The side panel for citation `[n]`: where the passage comes from, its score, the passage.

    Chainlit also opens a panel stacking every source of the chat when an answer arrives, so
    each panel names its own number and the question's sources read as a list.
    """
    c = hit.chunk
    # Everything that came from the document is shown literally: a passage must not be able
    # to load an image, show a link or restyle the panel.
    facts = [f"**File:** {literal(c.source)}"]
    if c.page is not None:
        facts.append(f"**Page:** {c.page}")
    if c.section:
        facts.append(f"**Section:** {literal(c.section)}")
    facts.append(f"**BM25 score:** {hit.score:.2f} (rank {hit.rank})")
    heading = f"### [{n}] {literal(c.title)}"
    return heading + "\n\n" + "  \n".join(facts) + "\n\n" + _quote(c.text)


def _quote(text: str) -> str:
    """Block-quote a passage, re-flowing hard-wrapped lines (PDF text) into paragraphs.

    Lines keep their headings and lists but lose anything that could load, link or run."""
    paragraphs = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.strip() for ln in para.splitlines() if ln.strip()]
        # Headings and list items keep their own lines; ordinary wrapped lines are joined.
        out: list[str] = []
        for ln in lines:
            if out and not _KEEP_LINE.match(ln) and not _KEEP_LINE.match(out[-1]):
                out[-1] += " " + ln
            else:
                out.append(ln)
        paragraphs.append("\n".join("> " + inert_markdown(ln) for ln in out))
    return "\n>\n".join(paragraphs)


def answer_markdown(result: AnswerResult) -> str:
    """The answer message: the model's text, with nothing in it that loads, links or runs."""
    return inert_markdown(result.answer.strip()) or "_(no answer text)_"


def details_markdown(result: AnswerResult) -> str:
    """Notices and the footer line, shown in an element of their own under the answer so
    that no answer text can forge them."""
    parts = []
    if result.incomplete:
        parts.append("⚠️ _The answer was cut off before it finished; what arrived is shown._")
    parts.extend(f"⚠️ {inert_markdown(notice)}" for notice in result.notices)
    parts.append(f"*{literal(render_footer(result))}*")
    return "\n\n".join(parts)
