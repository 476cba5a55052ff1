"""python -m app.compare: the same prompt to each model, timed, at temperature 0.

    python -m app.compare [--prompt TEXT] [--models A,B] [--repeats N] [--with-context]

The prompt comes from --prompt or COMPARE_PROMPT; the models from --models or BENCH_MODELS
(default: DRAFT_MODEL and ESCALATION_MODEL). One warm-up call per model is not counted.
Streaming unless BENCH_STREAM=0. With --with-context the prompt is first run through
retrieval, so every model sees the same grounded prompt the pipeline would build. Prints a
table per model, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable

from app.answering.prompting import Message
from app.compare.core import (
    CallSample,
    ModelStats,
    final_sample,
    prices_for,
    stream_measured_call,
    summarise,
)
from app.compare.view import grounded_prompt
from app.config import Settings, SettingsError, load_settings
from app.llm.errors import LLMError
from app.llm.gateway import LLMGateway
from app.retrieval.library import Library

DEFAULT_PROMPT = "How much memory does gpt-oss-20b need?"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m app.compare", description=__doc__.split("\n")[0])
    p.add_argument("--prompt", default=os.environ.get("COMPARE_PROMPT") or DEFAULT_PROMPT)
    p.add_argument("--models", default=os.environ.get("BENCH_MODELS"), help="comma-separated")
    p.add_argument("--repeats", type=int, default=3, help="measured calls per model")
    p.add_argument("--max-tokens", type=int, help="default MAX_ANSWER_TOKENS")
    p.add_argument("--with-context", action="store_true", help="retrieve first, same prompt")
    return p.parse_args(argv)


def build_messages_for(args: argparse.Namespace, settings: Settings) -> list[Message]:
    if not args.with_context:
        return [{"role": "user", "content": args.prompt}]
    library = Library.open(settings)
    return grounded_prompt(args.prompt, library, settings).messages


async def bench_model(
    gateway: LLMGateway,
    model: str,
    messages: list[Message],
    args: argparse.Namespace,
    settings: Settings,
) -> ModelStats:
    max_tokens = args.max_tokens or settings.max_answer_tokens
    prices = prices_for(model, settings)
    stream = os.environ.get("BENCH_STREAM", "1") != "0"

    def call() -> Awaitable[CallSample]:
        return final_sample(
            stream_measured_call(
                gateway, model, messages, max_tokens=max_tokens, prices=prices, stream=stream
            )
        )

    samples: list[CallSample] = []
    try:
        await call()  # warm-up: loading, caches
        for _ in range(max(1, args.repeats)):
            samples.append(await call())
    except LLMError as e:
        return summarise(model, samples, e.user_message)
    return summarise(model, samples)


def _fmt(x: float | None, unit: str = "") -> str:
    return "—" if x is None else f"{x:,.1f}{unit}"


def print_table(stats: list[ModelStats]) -> None:
    head = (
        "model",
        "runs",
        "ttft p50",
        "ttft p95",
        "total p50",
        "total p95",
        "in",
        "out",
        "tok/s",
        "cost $",
    )
    print(f"{head[0]:<28}" + "".join(f"{h:>13}" for h in head[1:]))
    for s in stats:
        cells = [
            str(s.runs),
            _fmt(s.ttft_ms_p50, " ms"),
            _fmt(s.ttft_ms_p95, " ms"),
            _fmt(s.total_ms_p50, " ms"),
            _fmt(s.total_ms_p95, " ms"),
            _fmt(s.tokens_in_p50),
            _fmt(s.tokens_out_p50),
            _fmt(s.tokens_per_s_p50),
            "—" if s.cost_usd is None else f"{s.cost_usd:.6f}",
        ]
        print(f"{s.model[:28]:<28}" + "".join(f"{c:>13}" for c in cells))
        if s.error:
            print(f"  {s.model}: {s.error}")


async def run(args: argparse.Namespace, settings: Settings) -> list[ModelStats]:
    models = [m.strip() for m in (args.models or "").split(",") if m.strip()] or [
        settings.draft_model,
        settings.escalation_model,
    ]
    messages = await asyncio.to_thread(build_messages_for, args, settings)
    gateway = LLMGateway(settings)
    try:
        return [await bench_model(gateway, m, messages, args, settings) for m in models]
    finally:
        await gateway.aclose()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as e:
        print(e.message, file=sys.stderr)
        return 2
    stats = asyncio.run(run(args, settings))
    print(
        f"endpoint {settings.endpoint}; prompt {args.prompt!r}"
        f"{' with retrieved context' if args.with_context else ''}"
    )
    print_table(stats)
    print(json.dumps({"models": {s.model: s.to_json() for s in stats}}))
    return 1 if any(s.error for s in stats) else 0


if __name__ == "__main__":
    raise SystemExit(main())
