"""Renders one answer's pipeline events as Chainlit steps and an answer message.

The pipeline knows nothing of Chainlit; this class is the only place that maps its events
onto `cl.Step` and `cl.Message`, so the order and look of a turn are decided here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import chainlit as cl
from chainlit.chat_context import chat_context
from chainlit.utils import utc_now

from app.answering import (
    STEP_OUTPUT_HEADINGS,
    STEP_TITLES,
    STEP_TYPES,
    AnswerReset,
    AnswerResult,
    AnswerToken,
    Done,
    Event,
    StepFinished,
    StepName,
    StepStarted,
    StepToken,
    answer_markdown,
    citation_views,
    details_markdown,
)
from app.chat.streaming import Throttled
from app.feedback.record import TURN_KEY, turn_record

DETAILS_ELEMENT = "Route, timing and cost"


@dataclass
class _StepText:
    """A step's streamed text, each kind in a throttled buffer of its own: the tokens are
    kept there once, and a flush of one kind never re-sends the other."""

    answer: Throttled = field(default_factory=Throttled)
    reasoning: Throttled = field(default_factory=Throttled)


class TurnView:
    """Consumes the events of one turn and shows them; it decides nothing about them."""

    def __init__(self) -> None:
        self.steps: dict[StepName, cl.Step] = {}
        self.texts: dict[StepName, _StepText] = {}
        self.answer: cl.Message | None = None
        self.result: AnswerResult | None = None
        self._steps_after_answer = False
        self._answer_stream = Throttled()

    async def handle(self, event: Event) -> None:
        match event:
            case StepStarted(step=name):
                await self._start(name)
            case StepToken(step=name, text=text, kind=kind):
                await self._step_token(name, text, kind)
            case AnswerToken(text=text):
                await self._answer_token(text)
            case AnswerReset():
                await self._reset_answer()
            case StepFinished(step=name, name=title, detail=detail):
                await self._finish(name, title, detail)
            case Done(result=result):
                await self._done(result)

    async def _start(self, name: StepName) -> None:
        # Steps sent without a context manager get no parent; attach them to this turn's run
        # so they render with it, above the answer, instead of after it at the root.
        parent = cl.context.current_step
        step = cl.Step(
            name=STEP_TITLES[name],
            type=STEP_TYPES[name],
            parent_id=parent.id if parent else None,
        )
        step.start = utc_now()
        self.steps[name] = step
        self.texts[name] = _StepText()
        if self.answer is not None:
            self._steps_after_answer = True
        await step.send()

    async def _step_token(self, name: StepName, text: str, kind: str) -> None:
        buf = self.texts.get(name)
        if buf is None:
            return
        stream = buf.reasoning if kind == "reasoning" else buf.answer
        # While the answer message streams this same text, a second live copy in the step
        # cost a socket event per flush; the step shows it when it ends. Reasoning, and text
        # the answer does not show (a rewrite, a draft with stream_draft off), stream.
        answer_live = self.answer is None
        if stream.add(text) and (kind == "reasoning" or answer_live):
            stream.mark()
            live = self._output(name, with_answer=answer_live)
            await self.steps[name].stream_token(live, is_sequence=True)

    async def _answer_token(self, text: str) -> None:
        if self.answer is None:
            self.answer = cl.Message(content="")
            self._answer_stream = Throttled()
            self._steps_after_answer = False  # a fresh message sits below every step so far
        if self._answer_stream.add(text):
            await self._flush_answer()

    async def _flush_answer(self) -> None:
        text = self._answer_stream.take()
        if self.answer is not None and text:
            await self.answer.stream_token(text, is_sequence=True)

    async def _reset_answer(self) -> None:
        # The escalation streams into a fresh message below its step; the draft stays
        # readable in the Draft step.
        if self.answer is not None:
            await _withdraw(self.answer)
            self.answer = None

    async def _finish(self, name: StepName, title: str, detail: str) -> None:
        step = self.steps.get(name)
        if step is None:
            return
        await self._flush_answer()  # the answer shows everything that arrived before the step ends
        await self._close(name, title, detail)

    async def _close(self, name: StepName, title: str, detail: str = "") -> None:
        step = self.steps[name]
        step.name = title
        step.output = self._output(name, detail)
        step.end = utc_now()
        await step.update()

    def _output(self, name: StepName, detail: str = "", *, with_answer: bool = True) -> str:
        """A step's text: its reasoning, its model output (unless the answer message is
        streaming it), then its detail line."""
        buf = self.texts[name]
        parts = []
        if buf.reasoning.parts:
            parts.append("**Reasoning**\n\n" + _quote(buf.reasoning.inert()))
        if with_answer and buf.answer.parts:
            heading = STEP_OUTPUT_HEADINGS.get(name)
            parts.append((f"**{heading}**\n\n" if heading else "") + buf.answer.inert())
        if detail:
            parts.append(detail)
        return "\n\n---\n\n".join(parts)

    async def _done(self, result: AnswerResult) -> None:
        self.result = result
        views = citation_views(result)
        elements: list[Any] = [
            cl.Text(name=v.name, content=v.content, display="side") for v in views
        ]
        # The footer and notices sit in an element of their own: answer text can imitate
        # their look but cannot put anything there.
        elements.append(
            cl.Text(name=DETAILS_ELEMENT, content=details_markdown(result), display="inline")
        )
        content = answer_markdown(result)
        if self.answer is not None and self._steps_after_answer:
            # A step (Route) was opened under the streamed answer; re-send the answer so the
            # finished turn reads top to bottom: steps, then the answer.
            await _withdraw(self.answer)
            self.answer = None
        # Kept with the answer so a later rating can be exported with its context.
        metadata = {TURN_KEY: turn_record(result)}
        if self.answer is None:
            self.answer = cl.Message(content=content, elements=elements, metadata=metadata)
            await self.answer.send()
        else:
            self.answer.content = content
            self.answer.elements = elements
            self.answer.metadata = metadata
            await self.answer.update()

    async def stopped(self) -> None:
        """The user pressed Stop: close every open step and the answer, saying so."""
        for name, step in self.steps.items():
            if step.end is None:  # it keeps what the model had said when stopped
                await self._close(name, f"{STEP_TITLES[name]} · stopped")
        if self.answer is not None:
            streamed = self._answer_stream.inert().rstrip()
            self.answer.content = (streamed + "\n\n*Stopped.*").lstrip()
            await self.answer.update()


async def _withdraw(message: cl.Message) -> None:
    """Take a message off the page. One that was only streamed was never stored (Chainlit
    stores a message when it is sent), so it costs the database nothing."""
    if message.persisted:
        await message.remove()
        return
    chat_context.remove(message)
    await cl.context.emitter.delete_step(message.to_dict())


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.strip().splitlines())
