"""The compare view: `/compare` sends one question, with the same retrieved context (this
chat's uploads included), to both models and shows their answers, timings and a chart."""

from __future__ import annotations

import chainlit as cl
from chainlit.types import CommandDict

from app.answering import format_duration, inert_markdown, literal, source_panel
from app.compare.view import ComparedAnswer, compare_question
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


def _answer_text(answer: ComparedAnswer) -> str:
    s = answer.sample
    if s is None:
        return f"**{literal(answer.model)}** failed: {inert_markdown(answer.error or 'no answer')}"
    first = format_duration(s.ttft_s) if s.ttft_s is not None else "none"
    facts = (
        f"first token {first} · {format_duration(s.total_s)} · "
        f"{s.tokens_in:,} in / {s.tokens_out:,} out · ${s.cost_usd:.4f}"
    )
    return f"**{literal(answer.model)}** · {facts}\n\n{inert_markdown(s.text) or '_(empty)_'}"


async def show_comparison(question: str, scope: str | None, services: Services) -> None:
    settings = services.settings
    models = (settings.draft_model, settings.escalation_model)
    async with cl.Step(name=f"Compare · {' vs '.join(models)}", type="tool") as step:
        result = await compare_question(
            question, services.library, services.gateway, settings, models, scope=scope
        )
        sources = "\n".join(f"- {literal(label)}" for label in result.sources)
        step.output = "**Same sources for both models**\n\n" + (sources or "none found")
    for answer in result.answers:
        # Each answer's [n] opens the same source panel: both models saw the same blocks.
        panels = [
            cl.Text(name=f"[{n}]", content=source_panel(hit, n), display="side")
            for n, hit in enumerate(result.hits, start=1)
        ]
        await cl.Message(content=_answer_text(answer), author=answer.model, elements=panels).send()
    chart = cl.Image(content=result.chart_png, name="latency.png", display="inline")
    await cl.Message(
        content="First token and total time, per model (same prompt, temperature 0).",
        author="Compare",
        elements=[chart],
    ).send()
