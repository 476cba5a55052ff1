"""python -m app.eval: run the golden set through the real pipeline and report.

    python -m app.eval [--golden eval/golden.jsonl] [--knowledge DIR] [--policies auto,never,always]
                       [--judge] [--calibrate] [--out eval/out] [--limit N]
    python -m app.eval --from-feedback export.jsonl > new-cases.jsonl

Endpoint and models come from the usual settings (FOUNDRY_LOCAL_ENDPOINT, DRAFT_MODEL,
ESCALATION_MODEL, prices…). Exit status: 0 all cases ran, 1 some failed (the partial report
is still written and the failed cases are marked), 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from app.answering import Answerer
from app.config import RoutingPolicy, Settings, SettingsError, load_settings
from app.eval.calibrate import env_lines
from app.eval.charts import latency_figure, png_bytes, sweep_figure
from app.eval.feedback import convert_lines
from app.eval.golden import GoldenCase, GoldenError, load_golden
from app.eval.judge import JUDGE_PROMPT_VERSION
from app.eval.markdown import render
from app.eval.records import CaseRun
from app.eval.report import build_report, summary_line, write_cases_csv
from app.eval.runner import progress_bar, run_all
from app.llm.gateway import LLMGateway
from app.retrieval.library import Library


class BadInput(Exception):
    """Input the run cannot start with; the message is the one line printed."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m app.eval", description=__doc__.split("\n")[0])
    p.add_argument("--golden", type=Path, default=Path("eval/golden.jsonl"))
    p.add_argument("--knowledge", type=Path, help="documents to index (default KNOWLEDGE_DIR)")
    p.add_argument("--policies", default="auto,never,always", help="comma-separated")
    p.add_argument("--judge", action="store_true", help="grade answers with the escalation model")
    p.add_argument("--calibrate", action="store_true", help="cross-validate ESCALATE_BELOW")
    p.add_argument("--out", type=Path, default=Path("eval/out"), help="report folder")
    p.add_argument("--limit", type=int, help="only the first N cases (smoke runs)")
    p.add_argument(
        "--from-feedback",
        type=Path,
        metavar="EXPORT",
        help="convert a feedback export to golden lines on stdout, then exit",
    )
    return p.parse_args(argv)


def _policies(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    allowed = [p.value for p in RoutingPolicy]
    bad = [p for p in names if p not in allowed]
    if bad or not names:
        raise BadInput(
            f"unknown policy {', '.join(bad) or '(none)'}; allowed: {', '.join(allowed)}"
        )
    return list(dict.fromkeys(names))


def prepare(args: argparse.Namespace) -> tuple[Settings, list[GoldenCase], list[str]]:
    policies = _policies(args.policies)
    cases = load_golden(args.golden)[: args.limit] if args.limit else load_golden(args.golden)
    overrides: dict[str, object] = {}
    if args.knowledge is not None:
        overrides["knowledge_dir"] = args.knowledge
    # The index cache goes with the report, so an evaluation never writes into the folder
    # it reads.
    overrides["index_dir"] = args.out / ".index"
    settings = load_settings(**overrides)
    if not Path(settings.knowledge_dir).is_dir():
        raise BadInput(f"knowledge folder not found: {settings.knowledge_dir}")
    return settings, cases, policies


def _meta(args: argparse.Namespace, settings: Settings, started: float) -> dict:
    return {
        "golden": str(args.golden),
        "knowledge": str(settings.knowledge_dir),
        "endpoint": settings.endpoint,
        "draft_model": settings.draft_model,
        "escalation_model": settings.escalation_model,
        "top_k": settings.top_k,
        "escalate_below": settings.escalate_below,
        "temperature": 0.0,
        "judge_prompt_version": JUDGE_PROMPT_VERSION if args.judge else None,
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "started": datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": time.time() - started,
    }


async def evaluate(args: argparse.Namespace, settings: Settings, cases, policies) -> dict:
    started = time.time()
    library = await asyncio.to_thread(Library.open, settings)
    gateway = LLMGateway(settings)
    try:
        runs = await run_all(
            Answerer(library, gateway, settings),
            cases,
            policies,
            settings=settings,
            judge=args.judge,
            progress=progress_bar(),
        )
    finally:
        await gateway.aclose()
    meta = _meta(args, settings, started)
    return build_report(
        cases, runs, policies, k=settings.top_k, meta=meta, calibrate=args.calibrate
    )


def write_outputs(out: Path, report: dict, cases: list[GoldenCase]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    charts = []
    if report["router"]["threshold_sweep"]:
        fig = sweep_figure(report["router"]["threshold_sweep"], report["meta"]["escalate_below"])
        (out / "threshold_sweep.png").write_bytes(png_bytes(fig))
        charts.append("threshold_sweep.png")
    latency = {p: s["overall"]["latency_ms"] for p, s in report["policies"].items()}
    (out / "latency.png").write_bytes(png_bytes(latency_figure(latency)))
    charts.append("latency.png")
    (out / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (out / "report.md").write_text(render(report, charts), encoding="utf-8")
    runs = report["runs"]
    write_cases_csv(
        out / "cases.csv", cases, [CaseRun.from_json(r) for r in runs], report["meta"]["top_k"]
    )


def convert_feedback(path: Path) -> int:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        for case in convert_lines(lines):
            print(json.dumps(case.to_json(), ensure_ascii=False))
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_feedback is not None:
        return convert_feedback(args.from_feedback)
    try:
        settings, cases, policies = prepare(args)
    except (GoldenError, BadInput) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SettingsError as e:
        print(e.message, file=sys.stderr)
        return 2
    report = asyncio.run(evaluate(args, settings, cases, policies))
    write_outputs(args.out, report, cases)
    if args.calibrate:
        print("\n".join(env_lines(report["router"]["calibration"])))
    if report["failed"]:
        print(
            f"{len(report['failed'])} case(s) failed: {', '.join(report['failed'][:10])}; "
            f"see {args.out / 'report.md'}",
            file=sys.stderr,
        )
    print(f"report: {args.out / 'report.md'}", file=sys.stderr)
    print(json.dumps(summary_line(report)))
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
