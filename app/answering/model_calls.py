"""One model call inside the pipeline: streaming it with a single shrink-and-retry when the
context is too long, recording its timings, tokens and cost, and holding back the
insufficient-context marker so it never flashes up in the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from app.answering.prompting import NOT_FOUND_MARKER, Prompt, shrink_budget
from app.answering.rendering import format_duration
from app.answering.result import ModelUsage, StepName, StepRecord, cost
from app.answering.steps import step_title
from app.llm.errors import ContextTooLong, LLMError
from app.llm.gateway import LLMGateway
from app.llm.types import Completion, TokenEvent


class MarkerGate:
    """Holds back streamed answer text while it could still be the insufficient-context
    marker, so the user never sees `INSUFFICIENT_CONTEXT` flash by before the friendly text."""

    def __init__(self) -> None:
        self._held = ""
        self._open = False

    def feed(self, text: str) -> str:
        if self._open:
            return text
        self._held += text
        probe = self._held.strip().upper()
        if NOT_FOUND_MARKER.startswith(probe) or probe.startswith(NOT_FOUND_MARKER):
            return ""
        self._open = True
        out, self._held = self._held, ""
        return out

    def flush(self) -> str:
        """What is still held at the end: the marker itself is dropped, anything else kept."""
        out, self._held = self._held, ""
        return "" if out.strip().upper().startswith(NOT_FOUND_MARKER) else out


@dataclass(slots=True)
class ModelCall:
    """The outcome of one model call with its single shrink-and-retry."""

    prompt: Prompt
    completion: Completion | None = None
    error: LLMError | None = None
    attempts: int = 0
    notes: list[str] = field(default_factory=list)


async def stream_call(
    gateway: LLMGateway,
    model: str,
    prompt: Prompt,
    refit: Callable[[int], Prompt] | None,
    *,
    temperature: float,
    max_tokens: int,
    stop_when: Callable[[str], bool] | None = None,
) -> AsyncIterator[TokenEvent | ModelCall]:
    """Stream one call: its token events, then its `ModelCall` record last (as the gateway
    yields its `Completion` last). On ContextTooLong (always raised before the first token)
    refit the prompt to `shrink_budget` and try exactly once more. `stop_when` as in
    `LLMGateway.stream`; the refused attempt fed it nothing, so the retry can share it."""
    call = ModelCall(prompt)
    while True:
        call.attempts += 1
        try:
            async for item in gateway.stream(
                model,
                call.prompt.messages,
                temperature=temperature,
                max_tokens=max_tokens,
                stop_when=stop_when,
            ):
                if isinstance(item, Completion):
                    call.completion = item
                else:
                    yield item
            break
        except ContextTooLong as e:
            if refit is None or call.attempts > 1:
                call.error = e
                break
            before = call.prompt
            call.prompt = refit(shrink_budget(before))
            call.notes.append(
                f"The server said the context was too long; retried with "
                f"{len(call.prompt.blocks)} of {len(before.blocks)} passages "
                f"(~{call.prompt.tokens:,} instead of ~{before.tokens:,} tokens)."
            )
        except LLMError as e:
            call.error = e
            break
    yield call


def record_call(
    step: StepName,
    model: str,
    call: ModelCall,
    seconds: float,
    prices: tuple[float, float],
) -> StepRecord:
    c = call.completion
    record = StepRecord(
        step=step,
        name="",
        seconds=seconds,
        model=model,
        attempts=max(1, call.attempts),
        error=call.error.user_message if call.error else (c.error if c else None),
    )
    if c is not None:
        record.model_id = c.model_id
        record.ttft_s = c.timing.ttft_s
        record.prompt_tokens = c.prompt_tokens
        record.completion_tokens = c.completion_tokens
        record.tokens_per_s = c.timing.tokens_per_s
        record.usage_reported = c.usage_reported
        record.finish_reason = c.finish_reason
        record.cost = cost(c.prompt_tokens, c.completion_tokens, *prices)
    parts = [] if step == "rewrite" else [model]
    if c is None:
        parts.append("failed")
    elif c.timing.ttft_s is not None and step != "rewrite":
        parts.append(f"first token {format_duration(c.timing.ttft_s)}")
    if c is not None and c.incomplete:
        parts.append("cut off")
    parts.append(format_duration(seconds))
    record.name = step_title(step, *parts)
    return record


def add_usage(usage: dict[str, ModelUsage], record: StepRecord) -> None:
    if record.model is None or (record.prompt_tokens == 0 and record.completion_tokens == 0):
        if record.model is not None:
            usage.setdefault(record.model, ModelUsage())
        return
    u = usage.setdefault(record.model, ModelUsage())
    u.prompt_tokens += record.prompt_tokens
    u.completion_tokens += record.completion_tokens
    u.cost += record.cost
