"""The pure part of the chat's compare view: one question, the same retrieved context for
every model, each model's answer and timings, and a latency chart as PNG bytes. Nothing
here imports Chainlit; the chat only renders the returned `Comparison`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.answering.model_calls import StreamsCompletions
from app.answering.pipeline import SearchesLibrary
from app.answering.prompting import Prompt, fit_prompt
from app.compare.chart import latency_chart
from app.compare.core import CallSample, measure_call, prices_for
from app.config import Settings
from app.eval.charts import png_bytes
from app.llm.errors import LLMError
from app.retrieval.types import Hit


@dataclass(frozen=True, slots=True)
class ComparedAnswer:
    model: str
    sample: CallSample | None  # None when the call failed
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    question: str
    sources: list[str]  # labels of the context blocks every model saw, in block order
    answers: list[ComparedAnswer]
    chart_png: bytes
    hits: list[Hit] = field(default_factory=list)  # the block behind each [n], in order


def grounded_prompt(
    question: str, library: SearchesLibrary, settings: Settings, scope: str | None = None
) -> Prompt:
    """The prompt the pipeline's draft would get: top-k hits (the chat's uploads included
    when `scope` names the chat) fitted to the token budget."""
    hits = library.search(question, settings.top_k, scope=scope)
    return fit_prompt(question, hits, [], budget=settings.context_token_budget, history_turns=0)


async def compare_question(
    question: str,
    library: SearchesLibrary,
    gateway: StreamsCompletions,
    settings: Settings,
    models: Sequence[str] | None = None,
    scope: str | None = None,
) -> Comparison:
    prompt = grounded_prompt(question, library, settings, scope)
    answers = []
    for model in models or (settings.draft_model, settings.escalation_model):
        try:
            sample = await measure_call(
                gateway,
                model,
                prompt.messages,
                max_tokens=settings.max_answer_tokens,
                prices=prices_for(model, settings),
            )
            answers.append(ComparedAnswer(model, sample))
        except LLMError as e:
            answers.append(ComparedAnswer(model, None, e.user_message))
    fig = latency_chart(
        [a.model for a in answers],
        [_ms(a.sample, "ttft_s") for a in answers],
        [_ms(a.sample, "total_s") for a in answers],
    )
    labels = [b.label for b in prompt.blocks]
    return Comparison(question, labels, answers, png_bytes(fig), [b.hit for b in prompt.blocks])


def _ms(sample: CallSample | None, attr: str) -> float | None:
    value = None if sample is None else getattr(sample, attr)
    return None if value is None else value * 1000
