"""Run golden cases through the real pipeline (`Answerer`) under each routing policy."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from app.answering import Answerer, AskOptions, Done, Exchange
from app.config import RoutingPolicy, Settings
from app.eval.golden import GoldenCase
from app.eval.judge import grade
from app.eval.records import CaseRun, from_result

Progress = Callable[[int, int, str], None]


def eval_options(settings: Settings, policy: str) -> AskOptions:
    # Temperature 0 so that the draft is the same under every policy: the router figures
    # replay `auto` from the `never` and `always` runs, which needs identical drafts.
    return AskOptions(
        top_k=settings.top_k,
        policy=RoutingPolicy(policy),
        rewrite=settings.rewrite_followups,
        temperature=0.0,
        show_draft_hint=settings.show_draft_hint,
        stream_draft=False,
    )


async def run_case(
    answerer: Answerer, case: GoldenCase, policy: str, options: AskOptions
) -> CaseRun:
    history = [Exchange(q, a) for q, a in case.history]
    try:
        async for event in answerer.ask(case.question, history=history, options=options):
            if isinstance(event, Done):
                return from_result(case.id, case.category, policy, event.result)
    except Exception as e:  # a bug or an unexpected server reply must not lose the run
        return CaseRun(case.id, case.category, policy, failed=f"{type(e).__name__}: {e}")
    return CaseRun(case.id, case.category, policy, failed="the pipeline ended without a result")


async def run_all(
    answerer: Answerer,
    cases: Sequence[GoldenCase],
    policies: Sequence[str],
    *,
    settings: Settings,
    judge: bool = False,
    progress: Progress | None = None,
) -> list[CaseRun]:
    runs: list[CaseRun] = []
    total = len(cases) * len(policies)
    for policy in policies:
        options = eval_options(settings, policy)
        for case in cases:
            if progress:
                progress(len(runs), total, f"{policy} {case.id}")
            run = await run_case(answerer, case, policy, options)
            if judge and not run.failed:
                blocks = [run.blocks[n] for n in sorted(run.blocks)]
                run.judge = await grade(
                    answerer.gateway, settings.escalation_model, case.question, run.answer, blocks
                )
            runs.append(run)
    if progress:
        progress(total, total, "done")
    return runs


def progress_bar(stream: TextIO | None = None, width: int = 30) -> Progress:
    """A one-line bar on stderr, so stdout stays clean for the final JSON line."""
    started = time.perf_counter()
    stream = stream or sys.stderr

    def show(done: int, total: int, label: str) -> None:
        filled = int(width * done / total) if total else width
        elapsed = time.perf_counter() - started
        stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
            f"{elapsed:5.0f}s {label[:40]:<40}"
        )
        if done == total:
            stream.write("\n")
        stream.flush()

    return show
