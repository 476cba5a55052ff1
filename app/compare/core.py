"""One timed model call and the statistics over repeated calls."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from app.answering.result import cost
from app.config import Settings
from app.eval.metrics import percentile
from app.llm.gateway import LLMGateway
from app.llm.types import Completion, TokenEvent


@dataclass(frozen=True, slots=True)
class CallSample:
    text: str
    ttft_s: float | None  # None when no token arrived
    total_s: float
    tokens_in: int
    tokens_out: int
    tokens_per_s: float | None
    cost_usd: float
    error: str | None = None  # set when the stream broke after output began: `text` is partial


@dataclass(frozen=True, slots=True)
class ModelStats:
    model: str
    runs: int
    ttft_ms_p50: float | None
    ttft_ms_p95: float | None
    total_ms_p50: float | None
    total_ms_p95: float | None
    tokens_in_p50: float | None
    tokens_out_p50: float | None
    tokens_per_s_p50: float | None
    cost_usd: float | None  # emulated, per call (mean)
    error: str | None = None

    def to_json(self) -> dict:
        keys = ("ttft_ms_p50", "ttft_ms_p95", "total_ms_p50", "tokens_out_p50")
        out = {k: getattr(self, k) for k in keys}
        out |= {"tokens_per_s_p50": self.tokens_per_s_p50, "cost_usd": self.cost_usd}
        if self.error:
            out["error"] = self.error
        return out


def prices_for(model: str, settings: Settings) -> tuple[float, float]:
    """The configured prices of a model; a model that is neither configured one costs 0."""
    if model == settings.draft_model:
        return settings.draft_price_in_per_1k, settings.draft_price_out_per_1k
    if model == settings.escalation_model:
        return settings.escalation_price_in_per_1k, settings.escalation_price_out_per_1k
    return 0.0, 0.0


async def stream_measured_call(
    gateway: LLMGateway,
    model: str,
    messages: list[dict[str, str]],
    *,
    max_tokens: int,
    prices: tuple[float, float],
    stream: bool = True,
) -> AsyncIterator[TokenEvent | CallSample]:
    """Time one call at temperature 0: its token events as they arrive, then its
    `CallSample` last. Not streaming, the whole answer arrives at once, so the first token
    is the total: that is what a non-streaming client waits. Errors before the first token
    raise `LLMError`; a stream cut later ends with a sample whose `error` says why."""
    t0 = time.perf_counter()
    done: Completion | None = None
    async for item in gateway.stream(model, messages, temperature=0.0, max_tokens=max_tokens):
        if isinstance(item, Completion):
            done = item
        else:
            yield item
    total = time.perf_counter() - t0
    assert done is not None, "the gateway always ends a stream with a Completion"
    yield CallSample(
        text=done.text,
        ttft_s=done.timing.ttft_s if stream else total,
        total_s=total,
        tokens_in=done.prompt_tokens,
        tokens_out=done.completion_tokens,
        tokens_per_s=done.timing.tokens_per_s,
        cost_usd=cost(done.prompt_tokens, done.completion_tokens, *prices),
        error=done.error if done.incomplete else None,
    )


async def final_sample(events: AsyncIterator[TokenEvent | CallSample]) -> CallSample:
    """The sample that ends a `stream_measured_call`, its tokens passed over."""
    async for item in events:
        if isinstance(item, CallSample):
            return item
    raise AssertionError("stream_measured_call always ends with a CallSample")


def _p(values: Sequence[float | None], q: float, scale: float = 1.0) -> float | None:
    v = percentile([x * scale for x in values if x is not None], q)
    return None if v is None else round(v, 2)


def summarise(model: str, samples: Sequence[CallSample], error: str | None = None) -> ModelStats:
    costs = [s.cost_usd for s in samples]
    return ModelStats(
        model=model,
        runs=len(samples),
        ttft_ms_p50=_p([s.ttft_s for s in samples], 50, 1000),
        ttft_ms_p95=_p([s.ttft_s for s in samples], 95, 1000),
        total_ms_p50=_p([s.total_s for s in samples], 50, 1000),
        total_ms_p95=_p([s.total_s for s in samples], 95, 1000),
        tokens_in_p50=_p([s.tokens_in for s in samples], 50),
        tokens_out_p50=_p([s.tokens_out for s in samples], 50),
        tokens_per_s_p50=_p([s.tokens_per_s for s in samples], 50),
        cost_usd=round(sum(costs) / len(costs), 8) if costs else None,
        error=error,
    )
