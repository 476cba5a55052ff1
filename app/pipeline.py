"""One question, start to finish: (rewrite) → retrieve → draft → route → (escalate).

`ask()` is an async generator of typed events the UI renders as they come, ending with
`Done(result)`. Order and meaning:

- `StepStarted(step)` / `StepFinished(step, name, detail)` bracket every step; `name` carries
  the latency ("Draft · phi-4-mini · first token 180 ms · 1.9 s"), `detail` is markdown.
- `StepToken(step, text, kind)` streams model output into its step (answer and reasoning).
- `AnswerToken(text)` appends to the visible answer. Draft answer tokens go there as they
  arrive, so the user sees text at the draft's first token. `AnswerReset()` clears it; it is
  sent when the escalation's first answer token arrives (not before, so a failed escalation
  leaves the draft on screen), and at the end whenever the final text differs from what
  was streamed (the not-found message, removed citations). After the last event the visible
  answer always equals `result.answer`.

Failure handling, each ending in a normal `Done`:
- the endpoint is unreachable, or the draft model fails before answering: route
  `sources_only`, the answer lists the retrieved passages, the error is in `notices`;
- escalation fails (before or during its answer): route `draft_kept`, the draft is shown,
  `notices` says why;
- the server says the context is too long: the prompt is refitted to half its size and
  sent once more;
- a stream cut mid-answer keeps the partial text, with `incomplete=True` and a notice.

When retrieval finds nothing relevant (no hits, or a top score under `min_retrieval_score`)
no model is asked at all: the route is `abstained` and the answer says what was searched.
Asking the draft model would cost a call to produce the insufficient-context marker at
best and an ungrounded answer at worst, and the larger model would only hallucinate more
fluently.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from app.answer import (
    AnswerResult,
    ModelUsage,
    Route,
    StepName,
    StepRecord,
    format_duration,
    render_footer,
    render_model_step,
    render_not_found,
    render_retrieval,
    render_route,
    render_sources_only,
)
from app.citations import check_citations, drop_citations, strip_citations
from app.config import RoutingPolicy, Settings
from app.llm.errors import EndpointUnreachable
from app.llm.types import TokenKind
from app.model_calls import (
    MarkerGate,
    ModelCall,
    StreamsCompletions,
    add_usage,
    record_call,
    stream_call,
)
from app.prompting import (
    Prompt,
    build_messages,
    clean_rewrite,
    count_message_tokens,
    fit_prompt,
    rewrite_messages,
)
from app.router import compute_signals, decide, is_not_found, nothing_relevant, signal_rows

if TYPE_CHECKING:
    from app.retrieval.types import Hit

__all__ = [
    "AnswerReset",
    "AnswerResult",
    "AnswerToken",
    "AskOptions",
    "Done",
    "Event",
    "StepFinished",
    "StepStarted",
    "StepToken",
    "Turn",
    "ask",
    "render_footer",
    "render_not_found",
]

REWRITE_MAX_TOKENS = 96


# --- inputs ---------------------------------------------------------------------------------


@dataclass(slots=True)
class AskOptions:
    """Per-chat settings the user can change in the UI."""

    top_k: int
    policy: RoutingPolicy
    rewrite: bool
    temperature: float
    show_draft_hint: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> AskOptions:
        return cls(
            top_k=settings.top_k,
            policy=settings.routing_policy,
            rewrite=settings.rewrite_followups,
            temperature=settings.temperature,
            show_draft_hint=settings.show_draft_hint,
        )


@dataclass(slots=True)
class Turn:
    """One earlier question and the answer shown for it."""

    question: str
    answer: str


class SearchesLibrary(Protocol):
    def search(self, query: str, k: int, scope: str | None = None) -> list[Hit]: ...


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepStarted:
    step: StepName


@dataclass(frozen=True, slots=True)
class StepToken:
    step: StepName
    text: str
    kind: TokenKind


@dataclass(frozen=True, slots=True)
class AnswerToken:
    text: str


@dataclass(frozen=True, slots=True)
class AnswerReset:
    pass


@dataclass(frozen=True, slots=True)
class StepFinished:
    step: StepName
    name: str
    detail: str


@dataclass(frozen=True, slots=True)
class Done:
    result: AnswerResult


Event = StepStarted | StepToken | AnswerToken | AnswerReset | StepFinished | Done


def _history_for_prompt(history: Sequence[Turn]) -> list[Turn]:
    # Old answers cite old context blocks; their [n] would point at the wrong blocks now.
    return [Turn(t.question, " ".join(strip_citations(t.answer).split())) for t in history]


def _scope_label(scope: str | None) -> str:
    return (
        "the shared documents" if scope is None else "the shared documents and this chat's uploads"
    )


# --- the pipeline ---------------------------------------------------------------------------


async def ask(
    question: str,
    *,
    history: list[Turn],
    scope: str | None,
    options: AskOptions,
    library: SearchesLibrary,
    gateway: StreamsCompletions,
    settings: Settings,
) -> AsyncIterator[Event]:
    """Answer `question`; see the module docstring for the events and failure handling."""
    t_start = time.perf_counter()
    notices: list[str] = []
    steps: list[StepRecord] = []
    usage: dict[str, ModelUsage] = {}
    draft_prices = (settings.draft_price_in_per_1k, settings.draft_price_out_per_1k)
    escalation_prices = (settings.escalation_price_in_per_1k, settings.escalation_price_out_per_1k)
    prompt_history = _history_for_prompt(history)
    endpoint_down: EndpointUnreachable | None = None
    first_visible: float | None = None
    visible = ""  # what the answer message shows now

    def show(text: str) -> AnswerToken:
        nonlocal first_visible, visible
        if first_visible is None and text.strip():
            first_visible = time.perf_counter() - t_start
        visible += text
        return AnswerToken(text)

    def reset() -> AnswerReset:
        nonlocal visible
        visible = ""
        return AnswerReset()

    # --- rewrite ------------------------------------------------------------------------
    searched_query = question
    if history and options.rewrite:
        yield StepStarted("rewrite")
        t0 = time.perf_counter()
        messages = rewrite_messages(question, prompt_history, history_turns=settings.history_turns)
        call = ModelCall(
            Prompt(messages=messages, blocks=[], tokens=count_message_tokens(messages))
        )
        async for ev in stream_call(
            gateway,
            settings.draft_model,
            call,
            None,
            temperature=0.0,
            max_tokens=REWRITE_MAX_TOKENS,
        ):
            yield StepToken("rewrite", ev.text, ev.kind)
        record = record_call(
            "rewrite", settings.draft_model, call, time.perf_counter() - t0, draft_prices
        )
        steps.append(record)
        add_usage(usage, record)
        notes: list[str] = []
        if call.completion is not None and not call.completion.incomplete:
            searched_query = clean_rewrite(call.completion.text, question)
            notes.append(f"“{question.strip()}” → “{searched_query}”")
        else:
            if isinstance(call.error, EndpointUnreachable):
                endpoint_down = call.error
            reason = call.error.user_message if call.error else (record.error or "cut off")
            notes.append(f"Rewrite failed ({reason}); searched the question as asked.")
        yield StepFinished("rewrite", record.name, render_model_step(record, notes))

    # --- retrieve -----------------------------------------------------------------------
    yield StepStarted("retrieve")
    t0 = time.perf_counter()
    hits = sorted(library.search(searched_query, options.top_k, scope=scope), key=lambda h: h.rank)
    seconds = time.perf_counter() - t0
    name = f"Retrieve · {format_duration(seconds)}"
    steps.append(StepRecord(step="retrieve", name=name, seconds=seconds))
    yield StepFinished("retrieve", name, render_retrieval(searched_query, hits))

    def finish(**fields: object) -> Done:
        result = AnswerResult(
            question=question,
            searched_query=searched_query,
            scope=scope,
            steps=steps,
            usage=usage,
            hits=hits,
            notices=notices,
            ttft_s=first_visible,
            total_s=time.perf_counter() - t_start,
            **fields,  # type: ignore[arg-type]
        )
        return Done(result)

    def route_step(label: str, reasons: list[str], rows: list[tuple[str, str]]) -> StepFinished:
        name = f"Route · {label}"
        steps.append(StepRecord(step="route", name=name, seconds=0.0))
        return StepFinished("route", name, render_route(label, reasons, rows))

    scope_label = _scope_label(scope)

    # --- nothing relevant: abstain --------------------------------------------------------
    if nothing_relevant(hits, settings.min_retrieval_score):
        top = f"{hits[0].score:.2f}" if hits else "none"
        reasons = [
            "retrieval found nothing relevant, so no model was asked: a larger model would "
            "only guess more fluently",
            f"top score {top}, the minimum for relevance is {settings.min_retrieval_score:.2f}",
        ]
        yield StepStarted("route")
        yield route_step("abstain", reasons, [("hits", str(len(hits))), ("top BM25 score", top)])
        answer = render_not_found(question, searched_query, hits=hits, scope_label=scope_label)
        yield show(answer)
        yield finish(answer=answer, route="abstained", reasons=reasons, not_found=True)
        return

    def refit_draft(budget: int) -> Prompt:
        return fit_prompt(
            searched_query,
            hits,
            prompt_history,
            budget=budget,
            history_turns=settings.history_turns,
        )

    prompt = refit_draft(settings.context_token_budget)

    # --- draft ----------------------------------------------------------------------------
    yield StepStarted("draft")
    t0 = time.perf_counter()
    draft_call = ModelCall(prompt)
    if endpoint_down is not None:
        draft_call.error = endpoint_down  # the rewrite just failed to connect; don't wait again
    else:
        async for item in _stream_step(
            "draft",
            gateway,
            settings.draft_model,
            draft_call,
            refit_draft,
            temperature=options.temperature,
            max_tokens=settings.max_answer_tokens,
        ):
            yield item if isinstance(item, StepToken) else show(item)
    draft_record = record_call(
        "draft", settings.draft_model, draft_call, time.perf_counter() - t0, draft_prices
    )
    steps.append(draft_record)
    add_usage(usage, draft_record)
    yield StepFinished(
        "draft", draft_record.name, render_model_step(draft_record, draft_call.notes)
    )
    notices.extend(draft_call.notes)

    draft = draft_call.completion
    if draft is None:
        assert draft_call.error is not None
        notices.append(draft_call.error.user_message)
        reasons = ["the draft model could not be used, so the retrieved passages are shown"]
        yield StepStarted("route")
        yield route_step("sources only", reasons, [("error", draft_call.error.user_message)])
        answer = render_sources_only(hits)
        if visible:
            yield reset()
        yield show(answer)
        yield finish(
            answer=answer,
            route="sources_only",
            reasons=reasons,
            blocks=[],
            citations={n: h for n, h in enumerate(hits, start=1)},
        )
        return

    # --- route ----------------------------------------------------------------------------
    yield StepStarted("route")
    signals = compute_signals(
        draft.text,
        finish_reason=draft.finish_reason,
        incomplete=draft.incomplete,
        logprobs=draft.logprobs,
        blocks=draft_call.prompt.blocks,
        hits=hits,
        min_draft_tokens=settings.min_draft_tokens,
    )
    decision = decide(signals, policy=options.policy, threshold=settings.escalate_below)
    rows = signal_rows(signals, decision)
    yield route_step("escalate" if decision.escalate else "keep draft", decision.reasons, rows)

    final = draft
    final_prompt = draft_call.prompt
    route: Route = "draft"
    reasons = list(decision.reasons)

    # --- escalate -------------------------------------------------------------------------
    if decision.escalate:
        yield StepStarted("escalate")
        t0 = time.perf_counter()
        context_hits = [b.hit for b in draft_call.prompt.blocks]
        hint = draft.text if options.show_draft_hint and draft.text and not signals.marker else None
        esc_prompt = _escalation_prompt(
            searched_query, draft_call.prompt, prompt_history, hint, settings
        )

        def refit_escalation(budget: int) -> Prompt:
            return fit_prompt(
                searched_query,
                context_hits,
                prompt_history,
                budget=budget,
                history_turns=settings.history_turns,
            )

        esc_call = ModelCall(esc_prompt)
        replaced = False
        async for item in _stream_step(
            "escalate",
            gateway,
            settings.escalation_model,
            esc_call,
            refit_escalation,
            temperature=options.temperature,
            max_tokens=settings.max_answer_tokens,
        ):
            if isinstance(item, StepToken):
                yield item
                continue
            if not replaced:  # the draft stays on screen until the escalation has words
                replaced = True
                yield reset()
            yield show(item)
        esc_record = record_call(
            "escalate",
            settings.escalation_model,
            esc_call,
            time.perf_counter() - t0,
            escalation_prices,
        )
        steps.append(esc_record)
        add_usage(usage, esc_record)
        yield StepFinished(
            "escalate", esc_record.name, render_model_step(esc_record, esc_call.notes)
        )
        notices.extend(esc_call.notes)
        why = _escalation_failure(esc_call)
        if why is None:
            assert esc_call.completion is not None
            final, final_prompt, route = esc_call.completion, esc_call.prompt, "escalated"
        else:
            notices.append(
                f"Escalation to {settings.escalation_model} failed: {why} Showing the draft."
            )
            reasons.append(f"escalation failed ({why.rstrip('.')}); the draft is shown")
            route = "draft_kept"

    # --- final answer ---------------------------------------------------------------------
    if final.incomplete:
        notices.append(
            f"The answer stopped early ({final.error}); what arrived is shown and may be "
            "incomplete."
        )
    not_found = is_not_found(final.text)
    citations: dict[int, Hit] = {}
    dropped: list[int] = []
    if not_found:
        answer = render_not_found(question, searched_query, hits=hits, scope_label=scope_label)
    elif not final.text.strip():
        answer = "The model returned an empty answer."
        notices.append(f"{final.model} returned an empty answer.")
    else:
        check = check_citations(final.text, final_prompt.blocks)
        citations, dropped = dict(check.valid), list(check.invalid)
        answer = drop_citations(final.text, dropped)
    if visible.strip() != answer.strip():
        if visible:
            yield reset()
        yield show(answer)
    yield finish(
        answer=answer,
        route=route,
        reasons=reasons,
        confidence=decision.confidence,
        signals=signals,
        decision=decision,
        signal_table=rows,
        blocks=list(final_prompt.blocks),
        citations=citations,
        dropped_citations=dropped,
        not_found=not_found,
        incomplete=final.incomplete,
        draft=draft.text,
    )


async def _stream_step(
    step: StepName,
    gateway: StreamsCompletions,
    model: str,
    call: ModelCall,
    refit: Callable[[int], Prompt] | None,
    *,
    temperature: float,
    max_tokens: int,
) -> AsyncIterator[StepToken | str]:
    """A model step's tokens as StepTokens, plus (as plain str) the answer text that is safe
    to show: the insufficient-context marker is held back."""
    gate = MarkerGate()
    async for ev in stream_call(
        gateway, model, call, refit, temperature=temperature, max_tokens=max_tokens
    ):
        yield StepToken(step, ev.text, ev.kind)
        if ev.kind == "answer" and (out := gate.feed(ev.text)):
            yield out
    if tail := gate.flush():
        yield tail


def _escalation_failure(call: ModelCall) -> str | None:
    """Why the escalation cannot replace the draft, or None when it can."""
    if call.error is not None:
        return call.error.user_message
    c = call.completion
    assert c is not None
    if c.incomplete:
        return f"its answer was cut off ({c.error})."
    if not c.text.strip():
        # gpt-oss can spend the whole token allowance reasoning and never answer.
        return f"it returned no answer (finish reason: {c.finish_reason or 'none'})."
    return None


def _escalation_prompt(
    question: str,
    draft_prompt: Prompt,
    history: Sequence[Turn],
    hint: str | None,
    settings: Settings,
) -> Prompt:
    """The draft's context, unchanged, with the draft as a hint when it fits the budget.

    The hint is dropped rather than any block: the escalation model must answer from the
    same context, and the hint is the least important part.
    """
    turns = (
        list(history[len(history) - draft_prompt.history_used :])
        if draft_prompt.history_used
        else []
    )
    if hint is not None:
        messages = build_messages(question, draft_prompt.blocks, turns, draft_hint=hint)
        tokens = count_message_tokens(messages)
        if tokens <= max(settings.context_token_budget, draft_prompt.tokens):
            return Prompt(
                messages=messages,
                blocks=draft_prompt.blocks,
                dropped=draft_prompt.dropped,
                history_used=draft_prompt.history_used,
                tokens=tokens,
                budget=draft_prompt.budget,
            )
    return draft_prompt
