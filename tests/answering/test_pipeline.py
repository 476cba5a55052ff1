"""The pipeline against the real scripted server (HTTP/SSE on 127.0.0.1) and a real Library."""

from __future__ import annotations

import socket
from dataclasses import replace
from functools import partial

import pytest

from app.answering import (
    Answerer,
    AnswerReset,
    AnswerToken,
    AskOptions,
    Done,
    Event,
    Exchange,
    StepFinished,
    StepStarted,
    StepToken,
)
from app.answering.prompting import NOT_FOUND_MARKER
from app.config import RoutingPolicy
from tests.answering.conftest import make_settings

QUESTION = "How many days of annual leave do full-time employees get?"
GOOD = (
    "Full-time employees receive 25 days of paid annual leave per calendar year [1]. Up to 5 "
    "unused days may be carried over into the first quarter of the next year, and leave "
    "requests must be approved by the line manager at least two weeks in advance [1]."
)
ESCALATED = "Full-time employees receive 25 days of paid annual leave per calendar year [1]."


class Run:
    def __init__(self, events: list[Event]) -> None:
        self.events = events
        done = events[-1]
        assert isinstance(done, Done)
        self.result = done.result

    @property
    def visible(self) -> str:
        """The answer message as the UI would show it after the last event."""
        text = ""
        for ev in self.events:
            if isinstance(ev, AnswerReset):
                text = ""
            elif isinstance(ev, AnswerToken):
                text += ev.text
        return text

    def finished(self, step: str) -> StepFinished:
        return next(e for e in self.events if isinstance(e, StepFinished) and e.step == step)

    def started(self) -> list[str]:
        return [e.step for e in self.events if isinstance(e, StepStarted)]


async def run(question=QUESTION, *, settings, library, gateway, history=(), **opts) -> Run:
    options = replace(AskOptions.from_settings(settings), **opts)
    answerer = Answerer(library, gateway, settings)
    events = [ev async for ev in answerer.ask(question, history=history, options=options)]
    return Run(events)


def draft_rule(**kw):
    return {"model": "phi", **kw}


def escalation_rule(**kw):
    return {"model": "gpt-oss", **kw}


async def test_long_well_cited_supported_draft_is_kept(llm, settings, library, gateway):
    llm.script([draft_rule(text=GOOD)])
    r = await run(settings=settings, library=library, gateway=gateway)
    res = r.result
    assert res.route == "draft_kept"
    assert r.started() == ["retrieve", "draft", "route"]
    assert len(llm.requests) == 1
    assert res.answer == GOOD == r.visible
    assert list(res.citations) == [1]
    assert res.citations[1].chunk.source == "leave.md"
    assert res.confidence is not None and res.confidence >= settings.escalate_below
    assert res.signals is not None and res.signals.cited_valid == [1]
    assert res.ttft_s is not None and res.ttft_s <= res.total_s
    # The first visible token arrives while the draft streams, before its step finishes.
    first_answer = next(i for i, e in enumerate(r.events) if isinstance(e, AnswerToken))
    draft_done = r.events.index(r.finished("draft"))
    assert first_answer < draft_done
    assert r.finished("draft").name.startswith("Draft · phi-4-mini · first token ")
    assert r.finished("route").name == "Route · keep draft"
    assert "| valid citations | [1] |" in r.finished("route").detail
    assert "leave.md" in r.finished("retrieve").detail


async def test_insufficient_context_draft_escalates_from_same_context(
    llm, settings, library, gateway
):
    llm.script(
        [draft_rule(text=NOT_FOUND_MARKER), escalation_rule(text=ESCALATED, reasoning="Think.")]
    )
    r = await run(settings=settings, library=library, gateway=gateway)
    res = r.result
    assert res.route == "escalated"
    assert r.started() == ["retrieve", "draft", "route", "escalate"]
    assert res.answer == ESCALATED == r.visible
    assert NOT_FOUND_MARKER not in "".join(e.text for e in r.events if isinstance(e, AnswerToken))
    assert any("don't contain the answer" in reason for reason in res.reasons)
    draft_req, esc_req = llm.requests
    assert "gpt-oss" in esc_req["model"]
    # Same context: the escalation's user message carries the same blocks as the draft's.
    draft_user, esc_user = draft_req["messages"][-1]["content"], esc_req["messages"][-1]["content"]
    assert draft_user.split("Question:")[0] == esc_user.split("Question:")[0]
    assert "<draft>" not in esc_user  # the marker is no hint worth giving
    # Reasoning is shown in the step, never in the answer.
    assert any(isinstance(e, StepToken) and e.kind == "reasoning" for e in r.events)
    assert "Think" not in r.visible
    assert set(res.usage) == {"phi-4-mini", "gpt-oss-20b"}
    assert r.finished("escalate").name.startswith("Escalate · gpt-oss-20b · first token ")


async def test_weak_draft_is_given_to_escalation_as_a_hint(llm, settings, library, gateway):
    llm.script([draft_rule(text="25 days."), escalation_rule(text=ESCALATED)])
    r = await run(settings=settings, library=library, gateway=gateway)
    assert r.result.route == "escalated"
    esc_user = llm.requests[1]["messages"][-1]["content"]
    assert "<draft>\n25 days.\n</draft>" in esc_user
    assert r.result.draft == "25 days."
    # The draft was on screen, then replaced by the escalation.
    resets = [i for i, e in enumerate(r.events) if isinstance(e, AnswerReset)]
    assert resets and resets[0] > r.events.index(r.finished("route"))

    llm.script([draft_rule(text="25 days."), escalation_rule(text=ESCALATED)])
    await run(settings=settings, library=library, gateway=gateway, show_draft_hint=False)
    assert "<draft>" not in llm.requests[-1]["messages"][-1]["content"]


async def test_no_relevant_retrieval_abstains_without_calling_a_model(
    llm, settings, library, gateway
):
    r = await run(
        "quantum chromodynamics lattice", settings=settings, library=library, gateway=gateway
    )
    res = r.result
    assert res.route == "nothing_found"
    assert res.not_found
    assert llm.requests == []
    assert r.started() == ["retrieve", "route"]
    assert "couldn't find" in res.answer and "“quantum chromodynamics lattice”" in res.answer
    assert r.visible == res.answer
    assert res.usage == {}


async def test_weak_scores_count_as_nothing_relevant(llm, knowledge, library, gateway):
    strict = make_settings(llm.base_url, knowledge, min_retrieval_score=1000)
    r = await run(settings=strict, library=library, gateway=gateway)
    assert r.result.route == "nothing_found"
    assert "The closest passages did not answer it" in r.result.answer
    assert "leave.md" in r.result.answer
    assert llm.requests == []


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_unreachable_endpoint_gives_sources_only(knowledge, library, make_gateway):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    down = make_settings(url, knowledge)
    r = await run(settings=down, library=library, gateway=make_gateway(down))
    res = r.result
    assert res.route == "sources_only"
    assert any(url in n and "make local-llm" in n for n in res.notices)
    assert "[1] **leave.md · Leave policy" in res.answer
    assert "25 days of paid annual leave" in res.answer
    assert res.citations[1].chunk.source == "leave.md"
    assert r.visible == res.answer
    assert r.finished("draft").name.startswith("Draft · phi-4-mini · failed · ")
    assert r.finished("route").name == "Route · sources only"


async def test_unreachable_endpoint_during_rewrite_skips_the_draft_call(
    knowledge, library, make_gateway
):
    down = make_settings(f"http://127.0.0.1:{closed_port()}/v1", knowledge)
    r = await run(
        settings=down,
        library=library,
        gateway=make_gateway(down),
        history=[Exchange("What about leave?", "25 days [1].")],
    )
    assert r.result.route == "sources_only"
    assert r.result.searched_query == QUESTION
    assert len(r.result.notices) == 1  # said once, not once per call


async def test_escalation_failure_keeps_the_draft(llm, settings, library, gateway):
    llm.script([draft_rule(text="25 days."), escalation_rule(status=500, error="GPU on fire")])
    r = await run(settings=settings, library=library, gateway=gateway)
    res = r.result
    assert res.route == "escalation_failed"
    assert res.answer == "25 days." == r.visible
    assert not any(isinstance(e, AnswerReset) for e in r.events)
    assert any("Escalation to gpt-oss-20b failed" in n and "GPU on fire" in n for n in res.notices)
    assert any("escalation failed" in reason for reason in res.reasons)
    assert r.finished("escalate").name.startswith("Escalate · gpt-oss-20b · failed")


async def test_escalation_cut_mid_answer_restores_the_draft(llm, settings, library, gateway):
    llm.script(
        [draft_rule(text="25 days."), escalation_rule(text=ESCALATED, chunk_chars=4, cut_after=3)]
    )
    r = await run(settings=settings, library=library, gateway=gateway)
    res = r.result
    assert res.route == "escalation_failed"
    assert r.visible == res.answer == "25 days."
    assert not res.incomplete  # the draft shown is whole
    assert any("cut off" in n for n in res.notices)


async def test_escalation_spent_on_reasoning_keeps_the_draft(llm, settings, library, gateway):
    llm.script(
        [
            draft_rule(text="25 days."),
            escalation_rule(reasoning="Hmm " * 50, finish_reason="length"),
        ]
    )
    r = await run(settings=settings, library=library, gateway=gateway)
    assert r.result.route == "escalation_failed"
    assert r.visible == r.result.answer == "25 days."
    assert any("returned no answer (finish reason: length)" in n for n in r.result.notices)


async def test_unknown_draft_model_lists_available_models(llm, knowledge, library, make_gateway):
    s = make_settings(llm.base_url, knowledge, draft_model="mistral-7b")
    r = await run(settings=s, library=library, gateway=make_gateway(s))
    assert r.result.route == "sources_only"
    assert any(
        "Phi-4-mini-instruct-generic-cpu" in n and "mistral-7b" in n for n in r.result.notices
    )


async def test_unknown_escalation_model_keeps_the_draft(llm, knowledge, library, make_gateway):
    s = make_settings(llm.base_url, knowledge, escalation_model="llama-70b")
    llm.script([draft_rule(text="25 days.")])
    r = await run(settings=s, library=library, gateway=make_gateway(s))
    assert r.result.route == "escalation_failed"
    assert any(
        "Escalation to llama-70b failed" in n and "gpt-oss-20b-generic-cpu" in n
        for n in r.result.notices
    )


@pytest.mark.parametrize(("mode", "expected"), [("present", -0.1), ("null", None)])
async def test_logprobs_reach_the_router_when_the_server_sends_them(
    llm, settings, library, gateway, mode, expected
):
    llm.script([draft_rule(text=GOOD, logprobs=mode, logprob=-0.1)])
    r = await run(settings=settings, library=library, gateway=gateway)
    signals = r.result.signals
    assert signals is not None
    if expected is None:
        assert signals.mean_logprob is None
        assert "component: logprob" not in r.finished("route").detail
    else:
        assert signals.mean_logprob == pytest.approx(expected)
        assert "component: logprob" in r.finished("route").detail


async def test_context_too_long_shrinks_once_and_retries(llm, settings, library, gateway):
    llm.script(
        [
            draft_rule(
                times=1, status=400, error="This model's maximum context length is 512 tokens."
            ),
            draft_rule(text=GOOD),
        ]
    )
    r = await run(settings=settings, library=library, gateway=gateway)
    res = r.result
    assert res.route == "draft_kept", (res.reasons, [b.hit.chunk.text for b in res.blocks])
    first, second = llm.requests
    assert len(second["messages"][-1]["content"]) < len(first["messages"][-1]["content"])
    draft_step = next(s for s in res.steps if s.step == "draft")
    assert draft_step.attempts == 2
    assert any("context was too long" in n for n in res.notices)
    assert "| attempts | 2 |" in r.finished("draft").detail
    assert len(res.blocks) < settings.top_k


async def test_context_too_long_twice_gives_up_after_one_retry(llm, settings, library, gateway):
    llm.script([draft_rule(status=400, error="maximum context length exceeded")])
    r = await run(settings=settings, library=library, gateway=gateway)
    assert len(llm.requests) == 2
    assert r.result.route == "sources_only"
    assert any("too long" in n for n in r.result.notices)


async def test_stream_cut_keeps_partial_answer_marked_incomplete(llm, settings, library, gateway):
    llm.script([draft_rule(text=GOOD, chunk_chars=10, cut_after=5)])
    r = await run(settings=settings, library=library, gateway=gateway, policy=RoutingPolicy.NEVER)
    res = r.result
    assert res.incomplete
    assert res.route == "draft_kept"
    assert res.answer == GOOD[:50].strip() == r.visible.strip()
    assert any("stopped early" in n for n in res.notices)
    assert res.signals is not None and res.signals.truncated
    assert "cut off" in r.finished("draft").name


async def test_stream_cut_in_auto_escalates(llm, settings, library, gateway):
    llm.script(
        [draft_rule(text=GOOD, chunk_chars=10, cut_after=12), escalation_rule(text=ESCALATED)]
    )
    r = await run(settings=settings, library=library, gateway=gateway)
    assert r.result.route == "escalated"
    assert not r.result.incomplete
    assert any("stream was cut" in reason for reason in r.result.reasons)


async def test_rewrite_only_with_history_and_its_cost_is_recorded(
    llm, knowledge, library, make_gateway
):
    priced = make_settings(
        llm.base_url, knowledge, draft_price_in_per_1k=1.0, draft_price_out_per_1k=2.0
    )
    ask = partial(run, settings=priced, library=library, gateway=make_gateway(priced))
    follow_up = "And how many days?"
    history = [Exchange("What does the leave policy say?", "Employees get annual leave [1].")]
    # No history: no rewrite.
    llm.script([draft_rule(text=GOOD)])
    r = await ask()
    assert "rewrite" not in r.started()
    assert len(llm.requests) == 1

    # History but switched off: no rewrite.
    llm.reset()
    llm.script([draft_rule(text=GOOD)])
    r = await ask(follow_up, history=history, rewrite=False)
    assert "rewrite" not in r.started()
    assert r.result.searched_query == follow_up

    # History and on: the draft model rewrites first, and the step is measured and priced.
    llm.reset()
    llm.script(
        [
            draft_rule(system_contains="standalone", text=QUESTION),
            draft_rule(text=GOOD),
        ]
    )
    r = await ask(follow_up, history=history)
    res = r.result
    assert r.started() == ["rewrite", "retrieve", "draft", "route"]
    assert res.searched_query == QUESTION
    rewrite_req, draft_req = llm.requests
    assert "What does the leave policy say?" in rewrite_req["messages"][-1]["content"]
    assert "phi" in rewrite_req["model"].lower()
    step = res.steps[0]
    assert step.step == "rewrite" and step.prompt_tokens > 0 and step.completion_tokens > 0
    assert step.cost == pytest.approx(step.prompt_tokens / 1000 + 2 * step.completion_tokens / 1000)
    assert res.usage["phi-4-mini"].cost > step.cost  # rewrite plus draft
    assert r.finished("rewrite").name.startswith("Rewrite · ")
    assert "“And how many days?” → “" in r.finished("rewrite").detail
    # History reaches the draft prompt without its stale citations.
    contents = [m["content"] for m in draft_req["messages"]]
    assert "Employees get annual leave." in contents


async def test_invalid_citations_are_dropped_from_the_final_answer(llm, settings, library, gateway):
    llm.script([draft_rule(text=GOOD.replace("advance [1]", "advance [1][9]"))])
    r = await run(settings=settings, library=library, gateway=gateway, policy=RoutingPolicy.NEVER)
    res = r.result
    assert res.dropped_citations == [9]
    assert "[9]" not in res.answer and res.answer == GOOD
    assert r.visible == res.answer


async def test_marker_kept_under_never_becomes_friendly_not_found(llm, settings, library, gateway):
    llm.script([draft_rule(text=NOT_FOUND_MARKER)])
    r = await run(settings=settings, library=library, gateway=gateway, policy=RoutingPolicy.NEVER)
    res = r.result
    assert res.not_found and res.route == "draft_kept"
    assert "couldn't find" in res.answer
    assert r.visible == res.answer
    assert all(NOT_FOUND_MARKER not in e.text for e in r.events if isinstance(e, AnswerToken))


async def test_policy_always_escalates_a_good_draft(llm, settings, library, gateway):
    llm.script([draft_rule(text=GOOD), escalation_rule(text=ESCALATED)])
    r = await run(settings=settings, library=library, gateway=gateway, policy=RoutingPolicy.ALWAYS)
    assert r.result.route == "escalated"
    assert "'always'" in r.result.reasons[0]


async def test_a_poor_rewrite_never_loses_what_the_users_words_find(
    llm, settings, library, gateway
):
    # Seen in use: the rewrite of a follow-up came back as "Not sure." and became the
    # search query, so the passage the user's own words pointed at was never found.
    history = [Exchange("What does the leave policy say?", "Employees get annual leave [1].")]
    llm.script([draft_rule(system_contains="standalone", text="Not sure."), draft_rule(text=GOOD)])
    r = await run(
        "And how are meals during business travel reimbursed?",
        settings=settings,
        library=library,
        gateway=gateway,
        history=history,
    )
    assert r.started()[:2] == ["rewrite", "retrieve"]
    assert r.result.hits and r.result.hits[0].chunk.source == "expenses.md"
    draft_req = llm.requests[-1]
    assert "40 euros per day" in draft_req["messages"][-1]["content"]
    # It shares no word with the conversation, so it is not searched at all (fused in, it
    # would only push what the user's words found down a place), and the step says why.
    assert r.result.searched_query == "And how are meals during business travel reimbursed?"
    assert "Not sure." not in r.finished("retrieve").detail
    assert "Rewrite not used: “Not sure.” shares no word" in r.finished("rewrite").detail
    assert (
        "Question: And how are meals during business travel reimbursed?"
        in (draft_req["messages"][-1]["content"])
    )


async def test_a_rambling_rewrite_is_read_to_its_first_line_only(llm, settings, library, gateway):
    # A slow model's whole reply would cost tens of seconds; only its first line is used.
    # The server holds the rest of the reply: reading on would wait for it.
    history = [Exchange("What does the leave policy say?", "Employees get annual leave [1].")]
    reply = ["How many days of ", "annual leave do full-time employees get?\n", "Also, "]
    reply += ["the policy says", " more.\n"] * 30
    rewrite = draft_rule(system_contains="standalone", chunks=reply, hold_after=2, hold="rest")
    llm.script([rewrite, draft_rule(text=GOOD)])
    try:
        r = await run(
            "And how many days?",
            settings=settings,
            library=library,
            gateway=gateway,
            history=history,
        )
        # Hung up before the held rest was sent.
        assert await llm.ended(0) == "disconnected"
    finally:
        llm.release("rest")
    assert r.result.searched_query == QUESTION
    assert r.result.route == "draft_kept" and r.visible == GOOD  # the answer still comes
    step = r.finished("rewrite")
    assert f"“And how many days?” → “{QUESTION}”" in step.detail  # the line used
    assert "first line" in step.detail and "stopped_early" in step.detail
    streamed = "".join(e.text for e in r.events if isinstance(e, StepToken) and e.step == "rewrite")
    assert QUESTION in streamed and "the policy says" not in streamed


async def test_a_standalone_follow_up_is_not_rewritten(llm, settings, library, gateway):
    history = [Exchange("What does the leave policy say?", "Employees get annual leave [1].")]
    llm.script([draft_rule(text=GOOD)])
    r = await run(
        "How many weeks of paid parental leave do parents receive?",
        settings=settings,
        library=library,
        gateway=gateway,
        history=history,
    )
    assert "rewrite" not in r.started()
    assert not any("standalone" in req["messages"][0]["content"] for req in llm.requests)


async def test_the_search_runs_off_the_event_loops_thread(llm, settings, library, gateway):
    # A search on the loop traded the GIL with the index updater thread at each numpy call
    # and stalled every other chat's stream; it must run in a worker thread.
    import threading

    searched_on: list[threading.Thread] = []
    search = library.search

    def recording_search(*args, **kwargs):
        searched_on.append(threading.current_thread())
        return search(*args, **kwargs)

    library.search = recording_search  # the real search, only noting which thread ran it
    llm.script([draft_rule(text=GOOD)])
    await run(settings=settings, library=library, gateway=gateway)
    assert searched_on and threading.main_thread() not in searched_on
