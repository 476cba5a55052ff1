"""End to end against the real llama.cpp server with Gemma 3 270M. Quality is not asserted."""

from __future__ import annotations

import pytest

from app.llm import Completion, LLMGateway, TokenEvent
from app.tokens import count_tokens
from tests.llm.conftest import settings_for

pytestmark = pytest.mark.real_llm


async def test_real_server_streams_with_timing_and_usage(local_llm: str, make_gateway) -> None:
    gateway = make_gateway(local_llm, read_timeout_s=120)
    assert set(await gateway.list_models()) >= {"phi-4-mini", "gpt-oss-20b"}
    events: list[TokenEvent] = []
    done: Completion | None = None
    async for item in gateway.stream(
        "phi-4-mini",
        [{"role": "user", "content": "Name three colours."}],
        temperature=0,
        max_tokens=24,
    ):
        if isinstance(item, Completion):
            done = item
        else:
            events.append(item)

    assert done is not None
    assert len(events) >= 2, "tokens should arrive as a stream, not in one piece"
    assert done.text
    assert not done.incomplete and done.finish_reason in {"stop", "length"}
    assert done.timing.ttft_s is not None and 0 < done.timing.ttft_s <= done.timing.total_s
    assert done.timing.tokens_per_s is not None and done.timing.tokens_per_s > 0
    # llama-cpp-python accepts stream_options but sends no usage in streams; then the counts
    # come from our tokenizer (o200k, so not capped by Gemma's own count of 24).
    assert done.prompt_tokens > 0 and done.completion_tokens > 0
    assert done.usage_reported or done.completion_tokens == count_tokens(done.text)
    # llama-cpp-python ignores `logprobs` without `top_logprobs` (see the next test).
    assert done.logprobs is None
    print(
        f"\nreal llama.cpp: ttft {done.timing.ttft_s:.3f}s, total {done.timing.total_s:.3f}s, "
        f"{done.timing.tokens_per_s:.1f} tok/s, {done.completion_tokens} tokens, "
        f"usage reported {done.usage_reported}, "
        f"capabilities {gateway.capabilities}"
    )


async def test_real_server_logprobs_when_top_logprobs_is_asked(
    local_llm: str, make_gateway
) -> None:
    # Opt-in because llama-cpp-python computes them slowly: keep the answer to a few tokens.
    gateway = make_gateway(local_llm, read_timeout_s=120, top_logprobs=1)
    done = await gateway.complete(
        "gpt-oss-20b",
        [{"role": "user", "content": "Say yes."}],
        temperature=0,
        max_tokens=4,
    )
    assert done.model_id == "gpt-oss-20b"
    assert done.logprobs is not None and 1 <= len(done.logprobs) <= 4
    assert all(lp <= 0 for lp in done.logprobs)


async def test_real_pipeline_streams_measures_and_records_a_route(local_llm: str, tmp_path) -> None:
    import asyncio

    from app.answering import Answerer, AnswerToken, Done, StepFinished
    from app.retrieval.library import Library
    from tests.support.processes import ROOT

    settings = settings_for(
        local_llm,
        read_timeout_s=120,
        knowledge_dir=ROOT / "knowledge",
        index_dir=tmp_path / "index",
        max_answer_tokens=32,
        context_token_budget=1200,
        top_k=3,
    )
    library = await asyncio.to_thread(Library.open, settings)
    gateway = LLMGateway(settings)
    try:
        answerer = Answerer(library, gateway, settings)
        question = "How do I find the port Foundry Local is using?"
        events = [e async for e in answerer.ask(question)]
    finally:
        await gateway.aclose()
    result = events[-1].result
    assert isinstance(events[-1], Done)
    assert sum(isinstance(e, AnswerToken) for e in events) > 1  # streamed, not one blob
    assert result.route in {"draft_kept", "escalated", "escalation_failed"}
    assert result.reasons and result.signals is not None
    draft = next(s for s in result.steps if s.step == "draft")
    assert draft.ttft_s is not None and 0 < draft.ttft_s <= draft.seconds
    assert draft.completion_tokens > 0 and draft.prompt_tokens > 0
    names = [e.name for e in events if isinstance(e, StepFinished)]
    assert any(n.startswith("Draft · phi-4-mini · first token") for n in names), names
