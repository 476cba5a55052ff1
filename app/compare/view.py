"""The pure part of the chat's compare view: one question, the same retrieved context for
every model, each model's answer streamed and timed, and a latency chart as PNG bytes.
Nothing here imports Chainlit; the chat renders the events of `stream_comparison`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from app.answering.pipeline import SearchesLibrary
from app.answering.prompting import Prompt, fit_prompt
from app.compare.chart import latency_chart
from app.compare.core import CallSample, prices_for, stream_measured_call
from app.config import Settings
from app.eval.charts import png_bytes
from app.llm.errors import LLMError
from app.llm.gateway import LLMGateway
from app.retrieval.types import Hit


@dataclass(frozen=True, slots=True)
class ComparedAnswer:
    model: str
    sample: CallSample | None  # None when the call failed before any answer arrived
    error: str | None = None  # why it failed; with a sample, the sample's text is partial


@dataclass(frozen=True, slots=True)
class Comparison:
    question: str
    sources: list[str]  # labels of the context blocks every model saw, in block order
    answers: list[ComparedAnswer]
    chart_png: bytes
    hits: list[Hit] = field(default_factory=list)  # the block behind each [n], in order


@dataclass(frozen=True, slots=True)
class ContextReady:
    """Retrieval is done: every model will see these blocks."""

    sources: list[str]
    hits: list[Hit]


@dataclass(frozen=True, slots=True)
class ModelStarted:
    model: str


@dataclass(frozen=True, slots=True)
class ModelToken:
    """A piece of a model's answer (reasoning is not forwarded: it is not the answer)."""

    model: str
    text: str


# A model's finished answer is its `ComparedAnswer`, and the whole `Comparison` comes last:
# final records are yielded as themselves, as `stream_call` yields its `ModelCall`.
CompareEvent = ContextReady | ModelStarted | ModelToken | ComparedAnswer | Comparison


def grounded_prompt(
    question: str, library: SearchesLibrary, settings: Settings, scope: str | None = None
) -> Prompt:
    """The prompt the pipeline's draft would get: top-k hits (the chat's uploads included
    when `scope` names the chat) fitted to the token budget."""
    hits = library.search(question, settings.top_k, scope=scope)
    return fit_prompt(question, hits, [], budget=settings.context_token_budget, history_turns=0)


async def stream_comparison(
    question: str,
    library: SearchesLibrary,
    gateway: LLMGateway,
    settings: Settings,
    models: Sequence[str] | None = None,
    scope: str | None = None,
) -> AsyncIterator[CompareEvent]:
    """Ask each model in turn (one after the other, so neither slows the other's timings)
    and stream its answer; a model that fails, before or during its answer, is reported in
    its `ComparedAnswer` and the next model is still asked. The `Comparison` comes last."""
    # Off the event loop, like the pipeline's search (see `_Run.retrieve`).
    prompt = await asyncio.to_thread(grounded_prompt, question, library, settings, scope)
    labels, hits = [b.label for b in prompt.blocks], [b.hit for b in prompt.blocks]
    yield ContextReady(labels, hits)
    answers = []
    for model in models or (settings.draft_model, settings.escalation_model):
        yield ModelStarted(model)
        answer = None
        try:
            async for item in stream_measured_call(
                gateway,
                model,
                prompt.messages,
                max_tokens=settings.max_answer_tokens,
                prices=prices_for(model, settings),
            ):
                if isinstance(item, CallSample):
                    answer = ComparedAnswer(model, item, item.error)
                elif item.kind == "answer":
                    yield ModelToken(model, item.text)
        except LLMError as e:
            answer = ComparedAnswer(model, None, e.user_message)
        assert answer is not None, "a measured call always ends with a sample"
        answers.append(answer)
        yield answer
    yield Comparison(question, labels, answers, _chart(answers), hits)


async def final_comparison(events: AsyncIterator[CompareEvent]) -> Comparison:
    """The comparison that ends a `stream_comparison`, the events before it passed over."""
    async for event in events:
        if isinstance(event, Comparison):
            return event
    raise AssertionError("stream_comparison always ends with its Comparison")


def _chart(answers: Sequence[ComparedAnswer]) -> bytes:
    fig = latency_chart(
        [a.model for a in answers],
        [_ms(a.sample, "ttft_s") for a in answers],
        [_ms(a.sample, "total_s") for a in answers],
    )
    return png_bytes(fig)


def _ms(sample: CallSample | None, attr: str) -> float | None:
    value = None if sample is None else getattr(sample, attr)
    return None if value is None else value * 1000
