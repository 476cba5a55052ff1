"""The compare view: `/compare` sends one question, with the same retrieved context (this
chat's uploads included), to both models and streams their answers one after the other,
then shows their timings side by side in a chart."""

from __future__ import annotations

from typing import Any

import chainlit as cl
from chainlit.types import CommandDict

from app import compare
from app.answering import format_duration, inert_markdown, literal, source_panel
from app.chat.streaming import Throttled, show_events
from app.compare import ComparedAnswer
from app.retrieval.types import Hit
from app.services import Services

COMMAND = "Compare"
COMMANDS: list[CommandDict] = [
    {
        "id": COMMAND,
        "icon": "scale",
        "description": "Ask the draft and the escalation model the same question, "
        "with the same sources, and compare their speed",
        "button": True,
        "persistent": False,
        "selected": False,
    }
]
CHART_CAPTION = "First token and total time, per model (same prompt, temperature 0)."


def _facts(answer: ComparedAnswer) -> str:
    s = answer.sample
    if s is None:
        return "failed"
    first = format_duration(s.ttft_s) if s.ttft_s is not None else "none"
    return (
        f"first token {first} · {format_duration(s.total_s)} · "
        f"{s.tokens_in:,} in / {s.tokens_out:,} out · ${s.cost_usd:.4f}"
    )


def answer_text(answer: ComparedAnswer, streamed: str = "") -> str:
    """The finished answer: model, timings, the text (inert) and, when the model failed, why.
    `streamed` is what was shown while streaming (already inert): kept if the call failed."""
    s = answer.sample
    body = inert_markdown(s.text) if s is not None else streamed
    parts = [f"**{literal(answer.model)}** · {_facts(answer)}"]
    if body or not answer.error:
        parts.append(body or "_(empty)_")
    if answer.error:
        # The other model's answer is unaffected; this one says what happened to it.
        what = "stopped mid-answer, the text above is partial" if body else "failed"
        parts.append(f"⚠️ **{literal(answer.model)} {what}:** {inert_markdown(answer.error)}")
    return "\n\n".join(parts)


def _streaming_text(model: str, streamed: str | None) -> str:
    status = "streaming…" if streamed else "waiting for the first token…"
    return f"**{literal(model)}** · {status}\n\n{streamed or ''}".rstrip()


class CompareView:
    """Consumes the events of one comparison and shows them; it decides nothing about them."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.hits: list[Hit] = []
        self.message: cl.Message | None = None
        self.model = ""
        self.stream = Throttled()

    async def handle(self, event: compare.CompareEvent) -> None:
        match event:
            case compare.ContextReady(sources=sources, hits=hits):
                await self._context(sources, hits)
            case compare.ModelStarted(model=model):
                await self._start(model)
            case compare.ModelToken(text=text):
                if self.stream.add(text):
                    await self._flush()
            case ComparedAnswer() as answer:
                await self._finish(answer)
            case compare.Comparison() as comparison:
                chart = cl.Image(content=comparison.chart_png, name="latency.png", display="inline")
                await cl.Message(content=CHART_CAPTION, author="Compare", elements=[chart]).send()

    async def _context(self, sources: list[str], hits: list[Hit]) -> None:
        self.hits = hits
        async with cl.Step(name=self.title, type="tool") as step:
            listed = "\n".join(f"- {literal(label)}" for label in sources)
            step.output = "**Same sources for both models**\n\n" + (listed or "none found")

    async def _start(self, model: str) -> None:
        self.model, self.stream = model, Throttled()
        self.message = cl.Message(content="", author=model)
        await self.message.stream_token(_streaming_text(model, None), is_sequence=True)

    async def _flush(self) -> None:
        text = self.stream.take()
        if self.message is not None and text:
            await self.message.stream_token(_streaming_text(self.model, text), is_sequence=True)

    async def _finish(self, answer: ComparedAnswer) -> None:
        if self.message is None:
            return
        # Each answer's [n] opens the same source panel: both models saw the same blocks.
        panels: list[Any] = [
            cl.Text(name=f"[{n}]", content=source_panel(hit, n), display="side")
            for n, hit in enumerate(self.hits, start=1)
        ]
        self.message.elements = panels
        self.message.content = answer_text(answer, self.stream.inert())
        await self.message.update()
        self.message = None

    async def stopped(self) -> None:
        """The user pressed Stop: the answer being streamed keeps its text and says so."""
        if self.message is not None:
            streamed = self.stream.inert().rstrip()
            self.message.content = f"**{literal(self.model)}** · stopped\n\n{streamed}".rstrip()
            self.message.content += "\n\n*Stopped.*"
            await self.message.update()


async def show_comparison(question: str, scope: str | None, services: Services) -> None:
    settings = services.settings
    models = (settings.draft_model, settings.escalation_model)
    view = CompareView(f"Compare · {' vs '.join(models)}")
    events = compare.stream_comparison(
        question, services.library, services.gateway, settings, models, scope=scope
    )
    await show_events(events, view)
