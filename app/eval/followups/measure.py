"""Measuring one rewriter on the follow-up cases: the rewrite as the pipeline would get
it, the files each retrieval strategy ranks, and hit@k / MRR per strategy."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from app.answering.model_calls import ModelCall
from app.answering.options import AnswerConfig, Exchange
from app.answering.pipeline import rewrite_call, rewrite_prompt, search_with_rewrite
from app.answering.prompting import choose_rewrite, clean_rewrite, needs_context
from app.config import Settings
from app.eval.golden import GoldenCase
from app.eval.metrics import mean, reciprocal_rank, retrieval_hit
from app.llm.gateway import LLMGateway
from app.retrieval.library import Library

STRATEGIES = {
    "words": "user's words only",
    "rewrite": "rewrite only (before)",
    "fused": "words + rewrite, RRF (now)",
}


@dataclass(slots=True)
class CaseRow:
    case: GoldenCase
    rewrite: str  # after clean_rewrite: what replaced the question before (itself if unusable)
    reply: str = ""  # the model's first line, as it came
    seconds: float | None = None  # the rewrite call; None when it failed
    error: str | None = None
    skipped: bool = False  # now: the question stands alone, so no rewrite is asked for
    unused: str | None = None  # now: why the reply is not searched (choose_rewrite)
    ranked: dict[str, list[str]] = field(default_factory=dict)  # strategy -> files by rank

    @property
    def searched_now(self) -> bool:
        """Whether the pipeline now searches a rewrite beside the user's words."""
        return not self.skipped and self.unused is None and self.error is None


def ranked_sources(library: Library, row: CaseRow, k: int) -> dict[str, list[str]]:
    """The files each strategy puts in the top k, best first; `unskipped` is `fused` as if
    standalone questions were rewritten too, to show what skipping them costs."""

    def names(hits) -> list[str]:
        return [PurePath(h.chunk.source).name for h in hits]

    question = row.case.question
    chosen = row.rewrite if row.unused is None and row.error is None else question
    return {
        "words": names(library.search(question, k)),
        "rewrite": names(library.search(row.rewrite, k)),
        "fused": names(
            search_with_rewrite(library, question, question if row.skipped else chosen, k)[1]
        ),
        "unskipped": names(search_with_rewrite(library, question, chosen, k)[1]),
    }


def first_rank(files: Sequence[str], sources: Sequence[str]) -> int | None:
    return next((i for i, f in enumerate(files, start=1) if f in sources), None)


def score(rows: Sequence[CaseRow], k: int, strategies: Sequence[str] = tuple(STRATEGIES)) -> dict:
    """hit@k and MRR per strategy over the rows (the eval's own metric functions)."""
    out = {}
    for strategy in strategies:
        pairs = [(r.ranked[strategy], r.case.sources) for r in rows]
        out[strategy] = {
            "hit_at_k": _round(mean(retrieval_hit(f, s, k) for f, s in pairs)),
            "mrr": _round(mean(reciprocal_rank(f, s) for f, s in pairs)),
        }
    return out


def rewrite_counts(rows: Sequence[CaseRow]) -> dict[str, dict[str, int]]:
    """Per strategy, how many cases searched a rewrite and how many did not, and why."""
    skipped = sum(r.skipped for r in rows)
    searched = sum(r.searched_now for r in rows)
    return {
        "words": {"searched": 0, "skipped": len(rows), "dropped": 0},
        "rewrite": {"searched": len(rows), "skipped": 0, "dropped": 0},
        "fused": {
            "searched": searched,
            "skipped": skipped,
            "dropped": len(rows) - searched - skipped,
        },
    }


def skipping_cost(rows: Sequence[CaseRow], k: int) -> dict:
    """On the standalone cases: retrieval as it is (no rewrite) against the rewrite fused in."""
    alone = [r for r in rows if r.skipped]
    figures = score(alone, k, ("fused", "unskipped")) if alone else {}
    return {"cases": len(alone), **figures}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


async def rewrite_case(gateway: LLMGateway, config: AnswerConfig, case: GoldenCase) -> CaseRow:
    """The rewrite as the pipeline gets it (`rewrite_call`: its prompt, temperature 0, read
    to the end of the first line) and what the pipeline now makes of it. It is asked for
    standalone questions too, to score the rewrite-only strategy on them."""
    history = [Exchange(q, a) for q, a in case.history]
    prompt = rewrite_prompt(case.question, history, config)
    skipped = not needs_context(case.question)
    t0 = time.perf_counter()
    call = ModelCall(prompt)
    async for item in rewrite_call(gateway, config, prompt):
        if isinstance(item, ModelCall):
            call = item
    seconds = time.perf_counter() - t0
    c = call.completion
    if call.error is not None or c is None or c.incomplete:
        error = call.error.user_message if call.error else (c and c.error) or "cut off"
        return CaseRow(case, case.question, error=error, skipped=skipped)
    reply = c.text.strip().split("\n")[0].strip()
    choice = choose_rewrite(c.text, case.question, history)
    rewrite = clean_rewrite(c.text, case.question)
    return CaseRow(case, rewrite, reply, seconds, skipped=skipped, unused=choice.unused)


async def run_rewriter(
    settings: Settings, library: Library, cases: Sequence[GoldenCase]
) -> list[CaseRow]:
    config = AnswerConfig.from_settings(settings)
    gateway = LLMGateway(settings)
    rows = []
    try:
        for case in cases:
            row = await rewrite_case(gateway, config, case)
            row.ranked = ranked_sources(library, row, settings.top_k)
            rows.append(row)
    finally:
        await gateway.aclose()
    return rows
