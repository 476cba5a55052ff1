"""Follow-up retrieval benchmark: the golden set's follow-up cases, searched three ways.

    python -m app.eval.followups [--golden eval/golden.jsonl] [--rewriters gemma,good,bad]

For every `followup` case the draft model is asked for a standalone rewrite exactly as the
pipeline asks it (`rewrite_call`: `rewrite_prompt`, temperature 0, read to the end of the
first line), and retrieval is scored (hit@k and MRR against the case's `sources`) for
three strategies:

- `words`: the user's own words only (no rewrite at all);
- `rewrite`: the rewrite only, as the pipeline did before (the rewrite replaced the question);
- `fused`: what the pipeline does now (`search_with_rewrite`): the user's words always, the
  rewrite fused in by reciprocal rank unless `choose_rewrite` drops it (empty, an echo, or
  no word shared with the conversation), and no rewrite at all when `needs_context` says
  the question stands alone.

It counts the rewrites each strategy searched, skipped (standalone) and dropped, and
scores the standalone cases both as they are searched and as if their rewrite had been
fused in, which shows what skipping them costs.

Rewriters, each a real OpenAI-compatible server over HTTP:
- `gemma`: the bundled Gemma 3 270M (`scripts.local_llm`, started here), whose rewrites
  are poor: the stress case;
- `good`: the scripted test server answering each case with a hand-written rewrite;
- `bad`: the scripted test server answering "Not sure." to every rewrite;
- `endpoint`: whatever FOUNDRY_LOCAL_ENDPOINT and DRAFT_MODEL point at (a real phi-4-mini).

Prints a table per rewriter and a summary table, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from app.config import Settings, SettingsError, load_settings
from app.eval.followups.measure import (
    STRATEGIES,
    CaseRow,
    first_rank,
    rewrite_counts,
    run_rewriter,
    score,
    skipping_cost,
)
from app.eval.followups.servers import REWRITERS, ROOT, rewriter_endpoint
from app.eval.golden import GoldenCase, GoldenError, load_golden
from app.retrieval.library import Library


def _clip(text: str, limit: int = 48) -> str:
    text = text.replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rank(n: int | None) -> str:
    return "–" if n is None else str(n)


def _now(r: CaseRow) -> str:
    """What the pipeline now does with the case's rewrite."""
    if r.skipped:
        return "skipped (standalone)"
    if r.error:
        return f"failed: {_clip(r.error)}"
    return "searched" if r.unused is None else "dropped"


def print_cases(name: str, what: str, rows: Sequence[CaseRow]) -> None:
    print(f"\n{name}: {what}")
    print("| case | needs context | rewrite (reply) | now | rank words / rewrite / fused |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        ranks = " / ".join(_rank(first_rank(r.ranked[s], r.case.sources)) for s in STRATEGIES)
        shown = _clip(r.rewrite)
        if not r.error and r.rewrite != r.reply:
            shown += f" (reply: {_clip(r.reply) or 'empty'})"
        needs = "no" if r.skipped else "yes"
        print(f"| {r.case.id} | {needs} | {shown} | {_now(r)} | {ranks} |")


def summarise(what: str, rows: Sequence[CaseRow], k: int) -> dict:
    times = [r.seconds * 1000 for r in rows if r.seconds is not None]
    return {
        "rewriter": what,
        "rewrite_ms_p50": round(statistics.median(times), 1) if times else None,
        "failed_rewrites": sum(r.error is not None for r in rows),
        "unchanged_rewrites": sum(r.rewrite == r.case.question for r in rows),
        "strategies": score(rows, k),
        "rewrites": rewrite_counts(rows),
        "standalone": skipping_cost(rows, k),
    }


def print_summary(results: dict[str, dict], k: int) -> None:
    print(
        "\n| rewriter | rewrite p50 | "
        + " | ".join(f"{label}: hit@{k} / MRR" for label in STRATEGIES.values())
        + " | now: rewrites searched / skipped / dropped |"
    )
    print("| --- | --- |" + " --- |" * (len(STRATEGIES) + 1))
    for name, res in results.items():
        p50 = res["rewrite_ms_p50"]
        cells = [
            f"{res['strategies'][s]['hit_at_k']:.2f} / {res['strategies'][s]['mrr']:.3f}"
            for s in STRATEGIES
        ]
        n = res["rewrites"]["fused"]
        cells.append(f"{n['searched']} / {n['skipped']} / {n['dropped']}")
        print(f"| {name} | {'–' if p50 is None else f'{p50:.0f} ms'} | " + " | ".join(cells) + " |")
    print(f"\nStandalone cases (no rewrite asked now), hit@{k} / MRR:")
    print("| rewriter | cases | now (user's words) | if the rewrite were fused in |")
    print("| --- | --- | --- | --- |")
    for name, res in results.items():
        alone = res["standalone"]
        if alone["cases"]:
            now, fused = alone["fused"], alone["unskipped"]
            print(
                f"| {name} | {alone['cases']} | {now['hit_at_k']:.2f} / {now['mrr']:.3f} | "
                f"{fused['hit_at_k']:.2f} / {fused['mrr']:.3f} |"
            )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m app.eval.followups", description=__doc__.split("\n")[0]
    )
    p.add_argument("--golden", type=Path, default=ROOT / "eval" / "golden.jsonl")
    p.add_argument("--knowledge", type=Path, help="documents to index (default KNOWLEDGE_DIR)")
    p.add_argument(
        "--rewriters", default="gemma,good,bad", help=f"comma-separated: {', '.join(REWRITERS)}"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [n.strip() for n in args.rewriters.split(",") if n.strip()]
    if not names or any(n not in REWRITERS for n in names):
        print(f"--rewriters: choose from {', '.join(REWRITERS)}", file=sys.stderr)
        return 2
    try:
        cases = [c for c in load_golden(args.golden) if c.category == "followup"]
        with tempfile.TemporaryDirectory(prefix="followups-") as tmp:
            overrides: dict[str, object] = {"index_dir": Path(tmp) / "index"}
            if args.knowledge is not None:
                overrides["knowledge_dir"] = args.knowledge
            settings = load_settings(**overrides)
            if not Path(settings.knowledge_dir).is_dir():
                print(f"knowledge folder not found: {settings.knowledge_dir}", file=sys.stderr)
                return 2
            results = run_all(names, settings, cases, Path(tmp))
    except (GoldenError, SettingsError) as e:
        print(str(e), file=sys.stderr)
        return 2
    except RuntimeError as e:  # a rewriter's server did not come up; its log is quoted
        print(f"a rewriter's server failed: {e}", file=sys.stderr)
        return 1
    k = settings.top_k
    print_summary(results, k)
    load = os.getloadavg()
    print(
        json.dumps(
            {
                "benchmark": "followups",
                "cases": len(cases),
                "k": k,
                "loadavg": [round(x, 2) for x in load],
                "rewriters": results,
            }
        )
    )
    return 0


def run_all(
    names: Sequence[str], settings: Settings, cases: Sequence[GoldenCase], work: Path
) -> dict[str, dict]:
    library = Library.open(settings)
    results = {}
    for name in names:
        with rewriter_endpoint(name, settings, cases, work) as (endpoint, what):
            rewriter_settings = settings.model_copy(update={"endpoint": endpoint})
            rows = asyncio.run(run_rewriter(rewriter_settings, library, cases))
        print_cases(name, what, rows)
        results[name] = summarise(what, rows, settings.top_k)
    return results


if __name__ == "__main__":
    raise SystemExit(main())
