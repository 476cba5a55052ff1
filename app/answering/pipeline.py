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
- escalation fails (before or during its answer): route `escalation_failed`, the draft is
  shown,
  `notices` says why;
- the server says the context is too long: the prompt is refitted to half its size and
  sent once more;
- a stream cut mid-answer keeps the partial text, with `incomplete=True` and a notice.

When retrieval finds nothing relevant (no hits, or a top score under `min_retrieval_score`)
no model is asked at all: the route is `nothing_found` and the answer says what was searched.
Asking the draft model would cost a call to produce the insufficient-context marker at
best and an ungrounded answer at worst, and the larger model would only hallucinate more
fluently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from app.answering.citations import check_citations, drop_citations, strip_citations
from app.answering.events import (
    AnswerReset,
    AnswerToken,
    Done,
    Event,
    StepFinished,
    StepStarted,
    StepToken,
)
from app.answering.model_calls import (
    MarkerGate,
    ModelCall,
    add_usage,
    record_call,
    stream_call,
)
from app.answering.options import AnswerConfig, AskOptions, Exchange
from app.answering.prompting import (
    FirstLineDone,
    Prompt,
    RewriteChoice,
    build_messages,
    choose_rewrite,
    count_message_tokens,
    fit_prompt,
    needs_context,
    rewrite_messages,
)
from app.answering.rendering import (
    format_duration,
    render_model_step,
    render_not_found,
    render_retrieval,
    render_route,
    render_sources_only,
)
from app.answering.result import AnswerResult, ModelUsage, Route, StepName, StepRecord
from app.answering.routing import (
    Signals,
    compute_signals,
    decide,
    is_not_found,
    nothing_relevant,
    signal_rows,
)
from app.answering.safe_markdown import literal
from app.answering.steps import step_title
from app.llm.errors import EndpointUnreachable
from app.llm.gateway import STOPPED_EARLY, LLMGateway
from app.llm.types import Completion, TokenEvent
from app.retrieval.fusion import fuse_rankings

if TYPE_CHECKING:
    from app.retrieval.types import Hit


REWRITE_MAX_TOKENS = 96


# --- inputs ---------------------------------------------------------------------------------


class SearchesLibrary(Protocol):
    def search(self, query: str, k: int, scope: str | None = None) -> list[Hit]: ...


def _history_for_prompt(history: Sequence[Exchange]) -> list[Exchange]:
    # Old answers cite old context blocks; their [n] would point at the wrong blocks now.
    return [Exchange(t.question, " ".join(strip_citations(t.answer).split())) for t in history]


def rewrite_prompt(question: str, history: Sequence[Exchange], config: AnswerConfig) -> Prompt:
    """The prompt that asks the draft model to make a follow-up standalone."""
    messages = rewrite_messages(
        question,
        _history_for_prompt(history),
        history_turns=config.history_turns,
        budget=config.context_token_budget,
    )
    return Prompt(messages=messages, blocks=[], tokens=count_message_tokens(messages))


def rewrite_call(
    gateway: LLMGateway, config: AnswerConfig, prompt: Prompt
) -> AsyncIterator[TokenEvent | ModelCall]:
    """The rewrite call, read only up to the end of the reply's first line: the one line
    `choose_rewrite` uses. At temperature 0 the rest cannot change it, and a slow model
    would spend seconds writing it."""
    return stream_call(
        gateway,
        config.draft_model,
        prompt,
        None,
        temperature=0.0,
        max_tokens=REWRITE_MAX_TOKENS,
        stop_when=FirstLineDone(),
    )


def rewrite_notes(question: str, choice: RewriteChoice, completion: Completion) -> list[str]:
    """What the Rewrite step says about the line it read and what was searched."""
    # The question and the model's line are untrusted: shown literally, never as markdown.
    if choice.unused is None:
        notes = [f"“{literal(question.strip())}” → “{literal(choice.query)}”"]
    else:
        notes = [f"Rewrite not used: {literal(choice.unused)}; searched the question as asked."]
    if completion.finish_reason == STOPPED_EARLY:
        notes.append("Read up to the end of the reply's first line, the only line used.")
    return notes


def search_with_rewrite(
    library: SearchesLibrary, question: str, rewrite: str, top_k: int, scope: str | None = None
) -> tuple[list[str], list[Hit]]:
    """The queries searched and the hits. The user's own words are always searched; a
    rewrite (when it differs) only adds to what they find, fused by reciprocal rank."""
    queries = list(dict.fromkeys([question, rewrite]))
    rankings = [library.search(q, top_k, scope=scope) for q in queries]
    return queries, fuse_rankings(rankings, top_k) if len(rankings) > 1 else rankings[0]


def _scope_label(scope: str | None) -> str:
    return (
        "the shared documents" if scope is None else "the shared documents and this chat's uploads"
    )


# --- the pipeline ---------------------------------------------------------------------------


async def ask(
    question: str,
    *,
    history: list[Exchange],
    scope: str | None,
    options: AskOptions,
    library: SearchesLibrary,
    gateway: LLMGateway,
    config: AnswerConfig,
) -> AsyncIterator[Event]:
    """Answer `question`; see the module docstring for the events and failure handling."""
    turn = _Run(question, history, scope, options, gateway, config)
    if history and options.rewrite and needs_context(question):
        async for event in turn.rewrite():
            yield event
    async for event in turn.retrieve(library):
        yield event
    if nothing_relevant(turn.hits, config.min_retrieval_score):
        for event in turn.abstain():
            yield event
        return
    draft_call: ModelCall | None = None
    async for item in turn.draft(turn.fit(turn.hits, config.context_token_budget)):
        if isinstance(item, ModelCall):
            draft_call = item
        else:
            yield item
    assert draft_call is not None
    if draft_call.completion is None:
        for event in turn.sources_only(draft_call):
            yield event
        return
    async for event in turn.route_and_answer(draft_call, draft_call.completion):
        yield event


class _Run:
    """The state one question accumulates as `ask` walks through its steps."""

    def __init__(
        self,
        question: str,
        history: Sequence[Exchange],
        scope: str | None,
        options: AskOptions,
        gateway: LLMGateway,
        config: AnswerConfig,
    ) -> None:
        self.question = question
        self.scope = scope
        self.options = options
        self.gateway = gateway
        self.config = config
        self.t_start = time.perf_counter()
        self.history = _history_for_prompt(history)
        self.searched_query = question
        self.hits: list[Hit] = []
        self.notices: list[str] = []
        self.steps: list[StepRecord] = []
        self.usage: dict[str, ModelUsage] = {}
        self.endpoint_down: EndpointUnreachable | None = None
        self.first_visible: float | None = None
        self.visible = ""  # what the answer message shows now

    # --- small helpers ----------------------------------------------------------------------
    def show(self, text: str) -> AnswerToken:
        if self.first_visible is None and text.strip():
            self.first_visible = time.perf_counter() - self.t_start
        self.visible += text
        return AnswerToken(text)

    def reset(self) -> AnswerReset:
        self.visible = ""
        return AnswerReset()

    def replace_answer(self, text: str) -> Iterator[Event]:
        """Make the visible answer exactly `text`, resetting only when it differs."""
        if self.visible.strip() != text.strip():
            if self.visible:
                yield self.reset()
            yield self.show(text)

    def fit(self, hits: Sequence[Hit], budget: int) -> Prompt:
        return fit_prompt(
            self.searched_query,
            hits,
            self.history,
            budget=budget,
            history_turns=self.config.history_turns,
        )

    def record(self, step: StepName, model: str, call: ModelCall, t0: float) -> StepFinished:
        c = self.config
        prices = c.escalation_prices if step == "escalate" else c.draft_prices
        record = record_call(step, model, call, time.perf_counter() - t0, prices)
        self.steps.append(record)
        add_usage(self.usage, record)
        return StepFinished(step, record.name, render_model_step(record, call.notes))

    def route_step(
        self, label: str, reasons: list[str], rows: list[tuple[str, str]]
    ) -> Iterator[Event]:
        name = step_title("route", label)
        self.steps.append(StepRecord(step="route", name=name, seconds=0.0))
        yield StepStarted("route")
        yield StepFinished("route", name, render_route(label, reasons, rows))

    def not_found_text(self) -> str:
        return render_not_found(
            self.question,
            self.searched_query,
            hits=self.hits,
            scope_label=_scope_label(self.scope),
        )

    def finish(self, **fields: object) -> Done:
        result = AnswerResult(
            question=self.question,
            searched_query=self.searched_query,
            scope=self.scope,
            steps=self.steps,
            usage=self.usage,
            hits=self.hits,
            notices=self.notices,
            ttft_s=self.first_visible,
            total_s=time.perf_counter() - self.t_start,
            **fields,  # type: ignore[arg-type]
        )
        return Done(result)

    # --- steps ------------------------------------------------------------------------------
    async def rewrite(self) -> AsyncIterator[Event]:
        yield StepStarted("rewrite")
        t0 = time.perf_counter()
        prompt = rewrite_prompt(self.question, self.history, self.config)
        call = ModelCall(prompt)
        async for ev in rewrite_call(self.gateway, self.config, prompt):
            if isinstance(ev, ModelCall):
                call = ev
            else:
                yield StepToken("rewrite", ev.text, ev.kind)
        if call.completion is not None and not call.completion.incomplete:
            choice = choose_rewrite(call.completion.text, self.question, self.history)
            self.searched_query = choice.query
            call.notes.extend(rewrite_notes(self.question, choice, call.completion))
        else:
            if isinstance(call.error, EndpointUnreachable):
                self.endpoint_down = call.error
            c = call.completion
            reason = call.error.user_message if call.error else (c and c.error) or "cut off"
            call.notes.append(f"Rewrite failed ({reason}); searched the question as asked.")
        yield self.record("rewrite", self.config.draft_model, call, t0)

    async def retrieve(self, library: SearchesLibrary) -> AsyncIterator[Event]:
        yield StepStarted("retrieve")
        t0 = time.perf_counter()
        # In a worker thread: a search hands the GIL over at each numpy call, and while the
        # index is being updated in another thread, winning it back on the event loop each
        # time stalled every other chat's stream (up to 170 ms in `make bench-live`).
        queries, self.hits = await asyncio.to_thread(
            search_with_rewrite,
            library,
            self.question,
            self.searched_query,
            self.options.top_k,
            self.scope,
        )
        seconds = time.perf_counter() - t0
        name = step_title("retrieve", format_duration(seconds))
        self.steps.append(StepRecord(step="retrieve", name=name, seconds=seconds))
        yield StepFinished("retrieve", name, render_retrieval(queries, self.hits))

    def abstain(self) -> Iterator[Event]:
        top = f"{self.hits[0].score:.2f}" if self.hits else "none"
        minimum = self.config.min_retrieval_score
        reasons = [
            "retrieval found nothing relevant, so no model was asked: a larger model would "
            "only guess more fluently",
            f"top score {top}, the minimum for relevance is {minimum:.2f}",
        ]
        rows = [("hits", str(len(self.hits))), ("top BM25 score", top)]
        yield from self.route_step("abstain", reasons, rows)
        answer = self.not_found_text()
        yield self.show(answer)
        yield self.finish(answer=answer, route=Route.NOTHING_FOUND, reasons=reasons, not_found=True)

    def answer_stream(
        self, step: StepName, prompt: Prompt, hits: Sequence[Hit]
    ) -> AsyncIterator[StepToken | str | ModelCall]:
        """A draft or escalation call: the step's model, refitted to `hits` if too long."""
        model = self.config.escalation_model if step == "escalate" else self.config.draft_model
        calls = stream_call(
            self.gateway,
            model,
            prompt,
            lambda budget: self.fit(hits, budget),
            temperature=self.options.temperature,
            max_tokens=self.config.max_answer_tokens,
        )
        return _stream_step(step, calls)

    async def draft(self, prompt: Prompt) -> AsyncIterator[Event | ModelCall]:
        """The draft step's events, then its ModelCall."""
        yield StepStarted("draft")
        t0 = time.perf_counter()
        # The rewrite just failed to connect: don't wait for the same timeout again.
        call = ModelCall(prompt, error=self.endpoint_down)
        if self.endpoint_down is None:
            async for item in self.answer_stream("draft", prompt, self.hits):
                if isinstance(item, ModelCall):
                    call = item
                elif isinstance(item, StepToken):
                    yield item
                elif self.options.stream_draft:  # otherwise the answer appears once routed
                    yield self.show(item)
        yield self.record("draft", self.config.draft_model, call, t0)
        self.notices.extend(call.notes)  # e.g. "the context was shrunk and retried"
        yield call

    def sources_only(self, call: ModelCall) -> Iterator[Event]:
        assert call.error is not None
        self.notices.append(call.error.user_message)
        reasons = ["the draft model could not be used, so the retrieved passages are shown"]
        yield from self.route_step("sources only", reasons, [("error", call.error.user_message)])
        answer = render_sources_only(self.hits)
        yield from self.replace_answer(answer)
        yield self.finish(
            answer=answer,
            route=Route.SOURCES_ONLY,
            reasons=reasons,
            blocks=[],
            citations={n: h for n, h in enumerate(self.hits, start=1)},
        )

    async def route_and_answer(
        self, draft_call: ModelCall, draft: Completion
    ) -> AsyncIterator[Event]:
        signals = compute_signals(
            draft.text,
            finish_reason=draft.finish_reason,
            incomplete=draft.incomplete,
            logprobs=draft.logprobs,
            blocks=draft_call.prompt.blocks,
            hits=self.hits,
            min_draft_tokens=self.config.min_draft_tokens,
        )
        decision = decide(signals, policy=self.options.policy, threshold=self.config.escalate_below)
        label = "escalate" if decision.escalate else "keep draft"
        for event in self.route_step(label, decision.reasons, signal_rows(signals, decision)):
            yield event
        final = _Final(draft, draft_call.prompt, Route.DRAFT_KEPT, list(decision.reasons))
        if decision.escalate:
            hint = draft.text if self.options.show_draft_hint and not signals.marker else None
            async for item in self.escalate_or_keep(draft_call.prompt, hint, final):
                if isinstance(item, _Final):
                    final = item
                else:
                    yield item
        for event in self.answer_with(final, draft.text, decision.confidence, signals):
            yield event

    async def escalate_or_keep(
        self, draft_prompt: Prompt, hint: str | None, kept: _Final
    ) -> AsyncIterator[Event | _Final]:
        """The escalation's events, then what answers: the escalation, or the draft kept."""
        prompt = _escalation_prompt(
            self.searched_query, draft_prompt, self.history, hint or None, self.config
        )
        call = ModelCall(prompt)
        async for item in self.escalate(prompt, [b.hit for b in draft_prompt.blocks]):
            if isinstance(item, ModelCall):
                call = item
            else:
                yield item
        why = _escalation_failure(call)
        if why is None:
            assert call.completion is not None
            yield _Final(call.completion, call.prompt, Route.ESCALATED, kept.reasons)
            return
        model = self.config.escalation_model
        self.notices.append(f"Escalation to {model} failed: {why} Showing the draft.")
        reasons = [*kept.reasons, f"escalation failed ({why.rstrip('.')}); the draft is shown"]
        yield _Final(kept.completion, kept.prompt, Route.ESCALATION_FAILED, reasons)

    def answer_with(
        self, final: _Final, draft_text: str, confidence: float, signals: Signals
    ) -> Iterator[Event]:
        """Check the final text's citations, show it, and finish the turn."""
        c = final.completion
        if c.incomplete:
            self.notices.append(
                f"The answer stopped early ({c.error}); what arrived is shown and may be "
                "incomplete."
            )
        not_found = is_not_found(c.text)
        citations: dict[int, Hit] = {}
        dropped: list[int] = []
        if not_found:
            answer = self.not_found_text()
        elif not c.text.strip():
            answer = "The model returned an empty answer."
            self.notices.append(f"{c.model} returned an empty answer.")
        else:
            check = check_citations(c.text, final.prompt.blocks)
            citations, dropped = dict(check.valid), list(check.invalid)
            answer = drop_citations(c.text, dropped)
        yield from self.replace_answer(answer)
        yield self.finish(
            answer=answer,
            route=final.route,
            reasons=final.reasons,
            confidence=confidence,
            signals=signals,
            blocks=list(final.prompt.blocks),
            citations=citations,
            dropped_citations=dropped,
            not_found=not_found,
            incomplete=c.incomplete,
            draft=draft_text,
        )

    async def escalate(
        self, prompt: Prompt, context_hits: list[Hit]
    ) -> AsyncIterator[Event | ModelCall]:
        """The escalation step's events, then its ModelCall."""
        yield StepStarted("escalate")
        t0 = time.perf_counter()
        call = ModelCall(prompt)
        replaced = False
        async for item in self.answer_stream("escalate", prompt, context_hits):
            if isinstance(item, ModelCall):
                call = item
            elif isinstance(item, StepToken):
                yield item
            else:
                if not replaced:  # the draft stays on screen until the escalation has words
                    replaced = True
                    yield self.reset()
                yield self.show(item)
        yield self.record("escalate", self.config.escalation_model, call, t0)
        self.notices.extend(call.notes)
        yield call


async def _stream_step(
    step: StepName, calls: AsyncIterator[TokenEvent | ModelCall]
) -> AsyncIterator[StepToken | str | ModelCall]:
    """A model call's tokens as the step's StepTokens, the answer text that is safe to show
    (as plain str; the insufficient-context marker is held back), and the ModelCall last."""
    gate = MarkerGate()
    call: ModelCall | None = None
    async for ev in calls:
        if isinstance(ev, ModelCall):
            call = ev
            continue
        yield StepToken(step, ev.text, ev.kind)
        if ev.kind == "answer" and (out := gate.feed(ev.text)):
            yield out
    if tail := gate.flush():
        yield tail
    assert call is not None
    yield call


@dataclass(frozen=True, slots=True)
class _Final:
    """What answers the question: a completion, the prompt it saw, how it was routed."""

    completion: Completion
    prompt: Prompt
    route: Route
    reasons: list[str]


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
    history: Sequence[Exchange],
    hint: str | None,
    config: AnswerConfig,
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
        if tokens <= max(config.context_token_budget, draft_prompt.tokens):
            return Prompt(
                messages=messages,
                blocks=draft_prompt.blocks,
                dropped=draft_prompt.dropped,
                history_used=draft_prompt.history_used,
                tokens=tokens,
                budget=draft_prompt.budget,
            )
    return draft_prompt
