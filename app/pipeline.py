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
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from app.answer import (
    AnswerResult,
    ModelUsage,
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
from app.llm.types import Completion, TokenKind
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
    needs_context,
    rewrite_messages,
)
from app.retrieval.fusion import fuse_rankings
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
    turn = _Turn(question, history, scope, options, gateway, settings)
    if history and options.rewrite and needs_context(question):
        async for event in turn.rewrite():
            yield event
    for event in turn.retrieve(library):
        yield event
    if nothing_relevant(turn.hits, settings.min_retrieval_score):
        for event in turn.abstain():
            yield event
        return
    draft_call = ModelCall(turn.fit(turn.hits, settings.context_token_budget))
    async for event in turn.draft(draft_call):
        yield event
    if draft_call.completion is None:
        for event in turn.sources_only(draft_call):
            yield event
        return
    async for event in turn.route_and_answer(draft_call, draft_call.completion):
        yield event


class _Turn:
    """The state one question accumulates as `ask` walks through its steps."""

    def __init__(
        self,
        question: str,
        history: Sequence[Turn],
        scope: str | None,
        options: AskOptions,
        gateway: StreamsCompletions,
        settings: Settings,
    ) -> None:
        self.question = question
        self.scope = scope
        self.options = options
        self.gateway = gateway
        self.settings = settings
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
            history_turns=self.settings.history_turns,
        )

    def record(self, step: StepName, model: str, call: ModelCall, t0: float) -> StepFinished:
        s = self.settings
        prices = (
            (s.escalation_price_in_per_1k, s.escalation_price_out_per_1k)
            if step == "escalate"
            else (s.draft_price_in_per_1k, s.draft_price_out_per_1k)
        )
        record = record_call(step, model, call, time.perf_counter() - t0, prices)
        self.steps.append(record)
        add_usage(self.usage, record)
        return StepFinished(step, record.name, render_model_step(record, call.notes))

    def route_step(
        self, label: str, reasons: list[str], rows: list[tuple[str, str]]
    ) -> Iterator[Event]:
        name = f"Route · {label}"
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
        messages = rewrite_messages(
            self.question,
            self.history,
            history_turns=self.settings.history_turns,
            budget=self.settings.context_token_budget,
        )
        tokens = count_message_tokens(messages)
        call = ModelCall(Prompt(messages=messages, blocks=[], tokens=tokens))
        async for ev in stream_call(
            self.gateway,
            self.settings.draft_model,
            call,
            None,
            temperature=0.0,
            max_tokens=REWRITE_MAX_TOKENS,
        ):
            yield StepToken("rewrite", ev.text, ev.kind)
        if call.completion is not None and not call.completion.incomplete:
            self.searched_query = clean_rewrite(call.completion.text, self.question)
            call.notes.append(f"“{self.question.strip()}” → “{self.searched_query}”")
        else:
            if isinstance(call.error, EndpointUnreachable):
                self.endpoint_down = call.error
            c = call.completion
            reason = call.error.user_message if call.error else (c and c.error) or "cut off"
            call.notes.append(f"Rewrite failed ({reason}); searched the question as asked.")
        yield self.record("rewrite", self.settings.draft_model, call, t0)

    def retrieve(self, library: SearchesLibrary) -> Iterator[Event]:
        yield StepStarted("retrieve")
        t0 = time.perf_counter()
        top_k, scope = self.options.top_k, self.scope
        queries = list(dict.fromkeys([self.question, self.searched_query]))
        # The user's own words are always searched; a rewrite only adds to what they find.
        rankings = [library.search(q, top_k, scope=scope) for q in queries]
        self.hits = fuse_rankings(rankings, top_k) if len(rankings) > 1 else rankings[0]
        seconds = time.perf_counter() - t0
        name = f"Retrieve · {format_duration(seconds)}"
        self.steps.append(StepRecord(step="retrieve", name=name, seconds=seconds))
        yield StepFinished("retrieve", name, render_retrieval(queries, self.hits))

    def abstain(self) -> Iterator[Event]:
        top = f"{self.hits[0].score:.2f}" if self.hits else "none"
        minimum = self.settings.min_retrieval_score
        reasons = [
            "retrieval found nothing relevant, so no model was asked: a larger model would "
            "only guess more fluently",
            f"top score {top}, the minimum for relevance is {minimum:.2f}",
        ]
        rows = [("hits", str(len(self.hits))), ("top BM25 score", top)]
        yield from self.route_step("abstain", reasons, rows)
        answer = self.not_found_text()
        yield self.show(answer)
        yield self.finish(answer=answer, route="abstained", reasons=reasons, not_found=True)

    async def draft(self, call: ModelCall) -> AsyncIterator[Event]:
        yield StepStarted("draft")
        t0 = time.perf_counter()
        if self.endpoint_down is not None:
            call.error = self.endpoint_down  # the rewrite just failed to connect; don't wait
        else:
            async for item in _stream_step(
                "draft",
                self.gateway,
                self.settings.draft_model,
                call,
                lambda budget: self.fit(self.hits, budget),
                temperature=self.options.temperature,
                max_tokens=self.settings.max_answer_tokens,
            ):
                yield item if isinstance(item, StepToken) else self.show(item)
        yield self.record("draft", self.settings.draft_model, call, t0)
        self.notices.extend(call.notes)  # e.g. "the context was shrunk and retried"

    def sources_only(self, call: ModelCall) -> Iterator[Event]:
        assert call.error is not None
        self.notices.append(call.error.user_message)
        reasons = ["the draft model could not be used, so the retrieved passages are shown"]
        yield from self.route_step("sources only", reasons, [("error", call.error.user_message)])
        answer = render_sources_only(self.hits)
        yield from self.replace_answer(answer)
        yield self.finish(
            answer=answer,
            route="sources_only",
            reasons=reasons,
            blocks=[],
            citations={n: h for n, h in enumerate(self.hits, start=1)},
        )

    async def route_and_answer(
        self, draft_call: ModelCall, draft: Completion
    ) -> AsyncIterator[Event]:
        settings = self.settings
        signals = compute_signals(
            draft.text,
            finish_reason=draft.finish_reason,
            incomplete=draft.incomplete,
            logprobs=draft.logprobs,
            blocks=draft_call.prompt.blocks,
            hits=self.hits,
            min_draft_tokens=settings.min_draft_tokens,
        )
        decision = decide(signals, policy=self.options.policy, threshold=settings.escalate_below)
        rows = signal_rows(signals, decision)
        label = "escalate" if decision.escalate else "keep draft"
        for event in self.route_step(label, decision.reasons, rows):
            yield event

        final, final_prompt, route = draft, draft_call.prompt, "draft"
        reasons = list(decision.reasons)
        if decision.escalate:
            show_hint = self.options.show_draft_hint and draft.text and not signals.marker
            esc_call = ModelCall(
                _escalation_prompt(
                    self.searched_query,
                    draft_call.prompt,
                    self.history,
                    draft.text if show_hint else None,
                    settings,
                )
            )
            async for event in self.escalate(esc_call, [b.hit for b in draft_call.prompt.blocks]):
                yield event
            why = _escalation_failure(esc_call)
            if why is None:
                assert esc_call.completion is not None
                final, final_prompt, route = esc_call.completion, esc_call.prompt, "escalated"
            else:
                self.notices.append(
                    f"Escalation to {settings.escalation_model} failed: {why} Showing the draft."
                )
                reasons.append(f"escalation failed ({why.rstrip('.')}); the draft is shown")
                route = "draft_kept"

        if final.incomplete:
            self.notices.append(
                f"The answer stopped early ({final.error}); what arrived is shown and may be "
                "incomplete."
            )
        not_found = is_not_found(final.text)
        citations: dict[int, Hit] = {}
        dropped: list[int] = []
        if not_found:
            answer = self.not_found_text()
        elif not final.text.strip():
            answer = "The model returned an empty answer."
            self.notices.append(f"{final.model} returned an empty answer.")
        else:
            check = check_citations(final.text, final_prompt.blocks)
            citations, dropped = dict(check.valid), list(check.invalid)
            answer = drop_citations(final.text, dropped)
        for event in self.replace_answer(answer):
            yield event
        yield self.finish(
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

    async def escalate(self, call: ModelCall, context_hits: list[Hit]) -> AsyncIterator[Event]:
        yield StepStarted("escalate")
        t0 = time.perf_counter()
        replaced = False
        async for item in _stream_step(
            "escalate",
            self.gateway,
            self.settings.escalation_model,
            call,
            lambda budget: self.fit(context_hits, budget),
            temperature=self.options.temperature,
            max_tokens=self.settings.max_answer_tokens,
        ):
            if isinstance(item, StepToken):
                yield item
                continue
            if not replaced:  # the draft stays on screen until the escalation has words
                replaced = True
                yield self.reset()
            yield self.show(item)
        yield self.record("escalate", self.settings.escalation_model, call, t0)
        self.notices.extend(call.notes)


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
