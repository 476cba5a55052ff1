"""Measuring one rewriter on the follow-up cases: the rewrite as the pipeline would get
it, the files each retrieval strategy ranks, and hit@k / MRR per strategy."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import cast

from app.answering.options import AnswerConfig, Exchange
from app.answering.pipeline import REWRITE_MAX_TOKENS, rewrite_prompt, search_with_rewrite
from app.answering.prompting import clean_rewrite, needs_context
from app.config import Settings
from app.eval.golden import GoldenCase
from app.eval.metrics import mean, reciprocal_rank, retrieval_hit
from app.llm.errors import LLMError
from app.llm.gateway import LLMGateway
from app.llm.types import Completion, TokenEvent
from app.retrieval.library import Library

STRATEGIES = {
    "words": "user's words only",
    "rewrite": "rewrite only (before)",
    "fused": "words + rewrite, RRF (now)",
}


@dataclass(slots=True)
class CaseRow:
    case: GoldenCase
    rewrite: str  # after clean_rewrite: the question itself when the reply was unusable
    reply: str = ""  # the model's first line, as it came
    seconds: float | None = None  # the rewrite call; None when it failed
    error: str | None = None
    ranked: dict[str, list[str]] = field(default_factory=dict)  # strategy -> files by rank


def ranked_sources(library: Library, question: str, rewrite: str, k: int) -> dict[str, list[str]]:
    """The files each strategy puts in the top k, best first."""

    def names(hits) -> list[str]:
        return [PurePath(h.chunk.source).name for h in hits]

    current = rewrite if needs_context(question) else question
    return {
        "words": names(library.search(question, k)),
        "rewrite": names(library.search(rewrite, k)),
        "fused": names(search_with_rewrite(library, question, current, k)[1]),
    }


def first_rank(files: Sequence[str], sources: Sequence[str]) -> int | None:
    return next((i for i, f in enumerate(files, start=1) if f in sources), None)


def score(rows: Sequence[CaseRow], k: int) -> dict[str, dict[str, float | None]]:
    """hit@k and MRR per strategy over the rows (the eval's own metric functions)."""
    out = {}
    for strategy in STRATEGIES:
        pairs = [(r.ranked[strategy], r.case.sources) for r in rows]
        out[strategy] = {
            "hit_at_k": _round(mean(retrieval_hit(f, s, k) for f, s in pairs)),
            "mrr": _round(mean(reciprocal_rank(f, s) for f, s in pairs)),
        }
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


async def first_line_reply(
    gateway: LLMGateway, model: str, messages: list[dict[str, str]]
) -> tuple[str, str | None]:
    """(reply, error): the reply read up to the end of its first non-empty line, then the
    stream is closed (llama.cpp stops generating when the client hangs up). That line is
    all `clean_rewrite` reads, and at temperature 0 the tokens after it cannot change it,
    so this is the pipeline's rewrite without waiting for the rest of a rambling reply."""
    text = ""
    stream = cast(
        AsyncGenerator[TokenEvent | Completion, None],
        gateway.stream(model, messages, temperature=0.0, max_tokens=REWRITE_MAX_TOKENS),
    )
    async with aclosing(stream):
        async for item in stream:
            if isinstance(item, Completion):
                return item.text, item.error if item.incomplete else None
            if item.kind == "answer":
                text += item.text
                if "\n" in text.lstrip():
                    break
    return text, None


async def rewrite_case(gateway: LLMGateway, config: AnswerConfig, case: GoldenCase) -> CaseRow:
    """The rewrite as the pipeline would get it; a failed call searches the question as
    asked, as the pipeline does."""
    history = [Exchange(q, a) for q, a in case.history]
    prompt = rewrite_prompt(case.question, history, config)
    t0 = time.perf_counter()
    try:
        text, error = await first_line_reply(gateway, config.draft_model, prompt.messages)
    except LLMError as e:
        return CaseRow(case, case.question, error=e.user_message)
    seconds = time.perf_counter() - t0
    reply = text.strip().split("\n")[0].strip()
    if error:
        return CaseRow(case, case.question, reply, seconds, error)
    return CaseRow(case, clean_rewrite(text, case.question), reply, seconds)


async def run_rewriter(
    settings: Settings, library: Library, cases: Sequence[GoldenCase]
) -> list[CaseRow]:
    config = AnswerConfig.from_settings(settings)
    gateway = LLMGateway(settings)
    rows = []
    try:
        for case in cases:
            row = await rewrite_case(gateway, config, case)
            row.ranked = ranked_sources(library, case.question, row.rewrite, settings.top_k)
            rows.append(row)
    finally:
        await gateway.aclose()
    return rows
