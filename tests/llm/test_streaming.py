"""Streaming against the scripted server: tokens, timing, usage, logprobs, reasoning."""

from __future__ import annotations

import time

import pytest

from app.llm import Completion, LLMGateway, TokenEvent
from app.llm.gateway import estimate_prompt_tokens
from app.llm.thinking import ThinkSplitter
from app.tokens import count_tokens
from tests.support.scripted_llm import ScriptedLLM

MESSAGES = [
    {"role": "system", "content": "Answer only from the context."},
    {"role": "user", "content": "How many days of leave do staff get?"},
]
ANSWER = "Staff get 25 days of annual leave [1]."


async def collect(gateway: LLMGateway, model: str = "phi-4-mini", **kw: object):
    events: list[TokenEvent] = []
    final: list[Completion] = []
    async for item in gateway.stream(
        model, MESSAGES, temperature=kw.pop("temperature", 0.2), max_tokens=64
    ):
        assert not final, "nothing may follow the Completion"
        (final if isinstance(item, Completion) else events).append(item)
    assert len(final) == 1
    return events, final[0]


async def test_tokens_stream_with_timing_and_reported_usage(
    llm: ScriptedLLM, gateway: LLMGateway
) -> None:
    llm.script([{"text": ANSWER, "chunk_chars": 5, "delay_s": 0.05}])
    before = time.time()
    events, done = await collect(gateway)

    assert len(events) == len(ANSWER) // 5 + 1
    assert "".join(e.text for e in events) == ANSWER
    assert {e.kind for e in events} == {"answer"}
    assert [e.t for e in events] == sorted(e.t for e in events)
    assert events[-1].t - events[0].t >= 0.05 * (len(events) - 1) * 0.8  # really streamed

    assert done.text == ANSWER and done.reasoning == ""
    assert done.finish_reason == "stop" and not done.incomplete and done.error is None
    assert before <= done.timing.sent_at <= time.time()
    assert done.timing.ttft_s == pytest.approx(events[0].t)
    assert done.timing.total_s == pytest.approx(events[-1].t)
    assert done.timing.ttft_s >= 0.04  # the first chunk also waited delay_s
    # The server counts exactly these (its prompt count has no template overhead).
    assert done.usage_reported
    assert done.prompt_tokens == sum(count_tokens(m["content"]) for m in MESSAGES)
    assert done.completion_tokens == count_tokens(ANSWER)
    expected_rate = (done.completion_tokens - 1) / (events[-1].t - events[0].t)
    assert done.timing.tokens_per_s == pytest.approx(expected_rate)

    sent = llm.requests[0]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["logprobs"] is True
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 64
    assert sent["messages"] == MESSAGES


async def test_server_usage_numbers_are_used_as_given(
    llm: ScriptedLLM, gateway: LLMGateway
) -> None:
    llm.script([{"text": ANSWER, "usage": {"prompt_tokens": 321, "completion_tokens": 17}}])
    _, done = await collect(gateway)
    assert (done.prompt_tokens, done.completion_tokens, done.usage_reported) == (321, 17, True)


async def test_missing_usage_is_counted_with_the_tokenizer(
    llm: ScriptedLLM, gateway: LLMGateway
) -> None:
    llm.script([{"text": ANSWER, "reasoning": "They ask about leave.", "usage": False}])
    _, done = await collect(gateway)
    assert not done.usage_reported
    assert done.prompt_tokens == estimate_prompt_tokens(MESSAGES)
    assert done.prompt_tokens > sum(count_tokens(m["content"]) for m in MESSAGES)
    assert done.completion_tokens == count_tokens(ANSWER) + count_tokens("They ask about leave.")


async def test_logprobs_kept_per_answer_token(llm: ScriptedLLM, gateway: LLMGateway) -> None:
    llm.script([{"text": ANSWER, "chunk_chars": 4, "logprob": -0.25}])
    events, done = await collect(gateway)
    assert done.logprobs == [-0.25] * len(events)
    assert all(e.logprob == -0.25 for e in events)
    assert gateway.capabilities.logprobs is not False


async def test_logprobs_null_gives_none_and_keeps_asking(
    llm: ScriptedLLM, gateway: LLMGateway
) -> None:
    # Foundry Local accepts `logprobs` and sends `"logprobs": null`.
    llm.script([{"text": ANSWER, "logprobs": "null"}, {"text": ANSWER, "logprobs": "absent"}])
    events, done = await collect(gateway)
    assert done.logprobs is None and all(e.logprob is None for e in events)
    _, done = await collect(gateway)
    assert done.logprobs is None
    assert [r["logprobs"] for r in llm.requests] == [True, True]


@pytest.mark.parametrize("parameter", ["logprobs", "stream_options"])
async def test_a_refused_parameter_is_dropped_and_remembered(
    llm: ScriptedLLM, gateway: LLMGateway, parameter: str
) -> None:
    llm.script([{"text": ANSWER}], **{f"reject_{parameter}": True})
    _, first = await collect(gateway)
    _, second = await collect(gateway)
    assert first.text == second.text == ANSWER
    assert [(parameter in r["body"], r["status"]) for r in llm.log] == [
        (True, 400),
        (False, 200),
        (False, 200),  # remembered: no second refusal
    ]
    assert getattr(gateway.capabilities, parameter) is False
    if parameter == "logprobs":
        assert first.logprobs is None
    else:  # usage is only sent when asked for: counted with the tokenizer instead
        assert not first.usage_reported
        assert first.completion_tokens == count_tokens(ANSWER)


async def test_both_refused_still_answers(llm: ScriptedLLM, gateway: LLMGateway) -> None:
    llm.script([{"text": ANSWER}], reject_stream_options=True, reject_logprobs=True)
    _, done = await collect(gateway)
    assert done.text == ANSWER
    assert [r["status"] for r in llm.log] == [400, 400, 200]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_deltas_are_kept_apart(
    llm: ScriptedLLM, gateway: LLMGateway, field: str
) -> None:
    thought = "The user asks about leave; block [1] says 25 days."
    llm.script([{"text": ANSWER, "reasoning": thought, "reasoning_field": field}])
    events, done = await collect(gateway, model="gpt-oss-20b")
    assert done.reasoning == thought
    assert done.text == ANSWER
    kinds = [e.kind for e in events]
    assert kinds == sorted(kinds, key=lambda k: k == "answer")  # reasoning first
    assert "".join(e.text for e in events if e.kind == "reasoning") == thought
    assert done.timing.ttft_s == pytest.approx(events[0].t)  # reasoning counts as first token
    # Reasoning tokens carry no answer logprobs.
    assert done.logprobs is not None
    assert len(done.logprobs) == len([e for e in events if e.kind == "answer"])


async def test_inline_think_text_split_across_chunks(llm: ScriptedLLM, gateway: LLMGateway) -> None:
    chunks = ["<thi", "nk>Check block", " [1].</th", "ink>\n\nStaff get", " 25 days [1]."]
    llm.script([{"chunks": chunks, "logprobs": "absent", "usage": False}])
    events, done = await collect(gateway)
    assert done.reasoning == "Check block [1]."
    assert done.text == "Staff get 25 days [1]."
    assert "<" not in "".join(e.text for e in events)
    assert done.completion_tokens == count_tokens(done.text) + count_tokens(done.reasoning)


async def test_think_text_logprobs_go_to_answer_tokens_only(
    llm: ScriptedLLM, gateway: LLMGateway
) -> None:
    # One token per chunk, as llama.cpp streams: only the answer's tokens keep logprobs.
    chunks = ["<think>", "hmm", "</think>", "Yes", " [1]."]
    llm.script([{"chunks": chunks, "logprob": -0.5}])
    _, done = await collect(gateway)
    assert done.text == "Yes [1]." and done.reasoning == "hmm"
    assert done.logprobs == [-0.5, -0.5]


def test_think_splitter_holds_partial_tags_only() -> None:
    s = ThinkSplitter()
    assert s.feed("a < b and <") == [("answer", "a < b and ")]
    assert s.feed("b>") == [("answer", "<b>")]
    assert s.feed("<think>x</thi") == [("reasoning", "x")]
    assert s.feed("nk>y<") == [("answer", "y")]
    assert s.flush() == [("answer", "<")]


async def test_finish_reason_length_is_reported(llm: ScriptedLLM, gateway: LLMGateway) -> None:
    llm.script([{"text": "Staff get 25", "finish_reason": "length"}])
    _, done = await collect(gateway)
    assert done.finish_reason == "length" and not done.incomplete


async def test_rules_match_model_and_question(llm: ScriptedLLM, gateway: LLMGateway) -> None:
    llm.script(
        [
            {"model": "gpt-oss", "text": "big model"},
            {"contains": "LEAVE", "text": "leave answer"},
        ]
    )
    _, draft = await collect(gateway)
    _, big = await collect(gateway, model="gpt-oss-20b")
    assert (draft.text, big.text) == ("leave answer", "big model")


async def test_default_answer_cites_first_context_block(
    llm: ScriptedLLM, gateway: LLMGateway
) -> None:
    messages = [
        {"role": "system", "content": "Context:\n[1] handbook.md\nStaff get 25 days of leave."},
        {"role": "user", "content": "How much leave?"},
    ]
    done = await gateway.complete("phi-4-mini", messages, temperature=0, max_tokens=64)
    assert "Staff get 25 days of leave" in done.text and done.text.endswith("[1].")
