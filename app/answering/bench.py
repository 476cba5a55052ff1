"""What grounding costs in latency: the full pipeline against a bare model call, same server.

    python -m app.answering.bench [--endpoint URL] [--repeat N]

For each question it measures, in the same run and against the same endpoint:
- baseline: the draft model streaming an answer to the bare question (no retrieval, no
  context), time to first token and total;
- pipeline: `ask()` as the chat runs it (retrieve, prompt with context, draft, route and,
  when the router decides so, escalate), time to the first visible answer token and total.
It prints a table, the median ratios pipeline/baseline, and one final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

from app.answering.answerer import Answerer
from app.answering.events import AnswerToken, Done
from app.answering.options import AskOptions
from app.config import SettingsError, load_settings
from app.llm.errors import LLMError
from app.llm.gateway import LLMGateway
from app.llm.types import Completion
from app.retrieval.library import Library

QUESTIONS = [
    "How do I find the port Foundry Local is using?",
    "How much memory does gpt-oss-20b need?",
    "How does AutoMix work?",
    "Who can see a file I upload?",
    "What do k1 and b do in BM25?",
]


async def _baseline(gateway: LLMGateway, model: str, question: str, max_tokens: int) -> dict:
    t0 = time.perf_counter()
    first = None
    async for item in gateway.stream(
        model, [{"role": "user", "content": question}], temperature=0.0, max_tokens=max_tokens
    ):
        if first is None and not isinstance(item, Completion) and item.text.strip():
            first = time.perf_counter() - t0
    return {"ttft_s": first, "total_s": time.perf_counter() - t0}


async def _pipeline(question: str, answerer: Answerer, options: AskOptions) -> dict:
    t0 = time.perf_counter()
    first = None
    route = None
    async for event in answerer.ask(question, options=options):
        if first is None and isinstance(event, AnswerToken) and event.text.strip():
            first = time.perf_counter() - t0
        if isinstance(event, Done):
            route = event.result.route
    return {"ttft_s": first, "total_s": time.perf_counter() - t0, "route": route}


def _median(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


async def run(endpoint: str | None, repeat: int, max_tokens: int) -> dict:
    overrides = {"endpoint": endpoint} if endpoint else {}
    settings = load_settings(max_answer_tokens=max_tokens, rewrite_followups=False, **overrides)
    library = await asyncio.to_thread(Library.open, settings)
    gateway = LLMGateway(settings)
    options = AskOptions.from_settings(settings)
    answerer = Answerer(library, gateway, settings)
    rows: list[dict[str, Any]] = []
    try:
        # One warm-up call so model loading is not billed to the first question.
        await _baseline(gateway, settings.draft_model, "Hello.", 8)
        for question in QUESTIONS:
            for _ in range(repeat):
                base = await _baseline(gateway, settings.draft_model, question, max_tokens)
                pipe = await _pipeline(question, answerer, options)
                rows.append({"question": question, "baseline": base, "pipeline": pipe})
    finally:
        await gateway.aclose()
    b_ttft = _median([r["baseline"]["ttft_s"] for r in rows])
    p_ttft = _median([r["pipeline"]["ttft_s"] for r in rows])
    b_total = _median([r["baseline"]["total_s"] for r in rows])
    p_total = _median([r["pipeline"]["total_s"] for r in rows])
    routes: dict[str, int] = {}
    for r in rows:
        routes[r["pipeline"]["route"]] = routes.get(r["pipeline"]["route"], 0) + 1
    return {
        "endpoint": settings.endpoint,
        "draft_model": settings.draft_model,
        "escalation_model": settings.escalation_model,
        "max_answer_tokens": max_tokens,
        "runs": len(rows),
        "baseline_ttft_p50_s": _round(b_ttft),
        "pipeline_ttft_p50_s": _round(p_ttft),
        "ttft_ratio": _round(p_ttft / b_ttft if p_ttft and b_ttft else None, 2),
        "baseline_total_p50_s": _round(b_total),
        "pipeline_total_p50_s": _round(p_total),
        "total_ratio": _round(p_total / b_total if p_total and b_total else None, 2),
        "routes": routes,
        "rows": rows,
    }


def _round(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 0.01:
        return f"{x * 1000:.1f} ms"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def print_report(report: dict) -> None:
    print(f"endpoint {report['endpoint']}, draft {report['draft_model']}, {report['runs']} runs")
    head = f"{'question':<48} {'base ttft':>10} {'pipe ttft':>10} {'base total':>11} "
    print(head + f"{'pipe total':>11}  route")
    for r in report["rows"]:
        b, p = r["baseline"], r["pipeline"]
        print(
            f"{r['question'][:48]:<48} {_fmt(b['ttft_s']):>10} {_fmt(p['ttft_s']):>10} "
            f"{_fmt(b['total_s']):>11} {_fmt(p['total_s']):>11}  {p['route']}"
        )
    print(
        f"median first token: pipeline {_fmt(report['pipeline_ttft_p50_s'])} vs bare "
        f"{_fmt(report['baseline_ttft_p50_s'])} (x{report['ttft_ratio']}); median total: "
        f"{_fmt(report['pipeline_total_p50_s'])} vs {_fmt(report['baseline_total_p50_s'])} "
        f"(x{report['total_ratio']}); routes {report['routes']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.answering.bench", description=__doc__)
    parser.add_argument("--endpoint", help="OpenAI-compatible base URL (default: settings)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per question")
    parser.add_argument("--max-tokens", type=int, default=64, help="answer tokens per call")
    args = parser.parse_args(argv)
    try:
        report = asyncio.run(run(args.endpoint, args.repeat, args.max_tokens))
    except SettingsError as e:
        print(e.message, file=sys.stderr)
        return 2
    except LLMError as e:
        print(e.user_message, file=sys.stderr)
        return 1
    print_report(report)
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
