"""Do chats keep streaming while the shared index changes? An event-loop lag benchmark.

    python -m app.retrieval.bench --live [--docs 3000 --change 2000] [--baseline main]

Eight simulated chats run on one asyncio loop, as in the app: each searches the library
on the loop (as the pipeline does), then "streams" 30 tokens 5 ms apart, and records the
gap between consecutive tokens. Meanwhile a writer, in a worker thread as the app runs
it, adds thousands of files to the knowledge folder and syncs, removes them and syncs,
uploads a large file to a chat and drops that chat, and shares a file with everyone.
The first phase has no writer: its largest gap is the baseline.

Only the public `Library` API is used, so `--baseline REF` runs the same scenario on the
code of a git ref (extracted with `git archive`) in its own child process, in the same
run, for a before/after comparison.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CHATS = 8
TOKENS = 30
TOKEN_DELAY_S = 0.005
_TOPICS = """leave policy travel expense laptop badge vpn printer canteen parking budget
    report quarter revenue training security password onboarding payroll holiday contract
    invoice supplier meeting office desk network backup incident audit"""
WORDS = _TOPICS.split()


def write_docs(folder: Path, start: int, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        words = [WORDS[(i * 7 + j * 13) % len(WORDS)] for j in range(160)]
        body = " ".join(words)
        text = f"# Note {i}\n\n## Part A\n\n{body} item{i}.\n\n## Part B\n\n{body} ref{i}.\n"
        (folder / f"note{i:05d}.md").write_text(text)


class Probe:
    """Chats that search and stream until stopped, recording inter-token gaps."""

    def __init__(self, library) -> None:
        self.library = library
        self.gaps: list[float] = []
        self.searches = 0
        self.running = True

    async def chat(self, n: int) -> None:
        i = 0
        while self.running:
            query = f"{WORDS[(n + i) % len(WORDS)]} {WORDS[(n * 3 + i) % len(WORDS)]}"
            # In a worker thread, as the pipeline searches.
            await asyncio.to_thread(self.library.search, query, 5, scope=f"probe-{n}")
            self.searches += 1
            last = time.perf_counter()
            for _ in range(TOKENS):
                await asyncio.sleep(TOKEN_DELAY_S)
                now = time.perf_counter()
                self.gaps.append(now - last)
                last = now
            i += 1

    def report(self, seconds: float) -> dict:
        gaps = sorted(self.gaps) or [0.0]
        return {
            "max_gap_ms": round(gaps[-1] * 1e3, 1),
            "p99_gap_ms": round(gaps[int(0.99 * (len(gaps) - 1))] * 1e3, 1),
            "median_gap_ms": round(statistics.median(gaps) * 1e3, 1),
            "searches": self.searches,
            "seconds": round(seconds, 2),
        }


async def measure(library, change) -> dict:
    """Run the chats while `change()` runs in a worker thread (or for 2 s if None)."""
    probe = Probe(library)
    chats = [asyncio.create_task(probe.chat(n)) for n in range(CHATS)]
    await asyncio.sleep(0.2)  # chats under way before the writer starts
    probe.gaps.clear()
    t0 = time.perf_counter()
    if change is None:
        await asyncio.sleep(2.0)
    else:
        await asyncio.to_thread(change)
    seconds = time.perf_counter() - t0
    probe.running = False
    await asyncio.gather(*chats)
    return probe.report(seconds)


async def scenario(n_docs: int, n_change: int) -> dict:
    from app.config import load_settings
    from app.retrieval import Library

    with tempfile.TemporaryDirectory() as tmp:
        knowledge = Path(tmp) / "knowledge"
        write_docs(knowledge, 0, n_docs)
        lib = Library.open(load_settings(knowledge_dir=knowledge))
        gc.collect()
        gc.freeze()  # as app.services.start_services does after loading
        big = Path(tmp) / "big.md"
        write_docs(Path(tmp) / "bigparts", 0, 1)
        big.write_text("\n\n".join(f"## S{i}\n\n" + " ".join(WORDS) * 8 for i in range(400)))
        shared = Path(tmp) / "handbook.md"
        shared.write_text("# Handbook\n\n" + " ".join(WORDS) * 20)

        def refresh() -> None:
            write_docs(knowledge, n_docs, n_change)
            lib.sync()

        def removal() -> None:
            for i in range(n_docs, n_docs + n_change):
                (knowledge / f"note{i:05d}.md").unlink()
            lib.sync()

        def upload() -> None:
            lib.add_file(big, scope="uploader")
            lib.drop_scope("uploader")

        phases: dict[str, Callable[[], object] | None] = {
            "idle (baseline)": None,
            "refresh": refresh,
            "removal": removal,
        }
        phases.update({"chat upload + drop": upload, "shared upload": lambda: lib.add_file(shared)})
        out = {}
        for name, change in phases.items():
            out[name] = await measure(lib, change)
        out["documents"] = lib.stats()["documents"]
        return out


def live_run(n_docs: int, n_change: int, baseline: str | None) -> dict:
    # Imported here: the child runs this file against another ref's `app`, which may
    # predate bench_child.
    from app.retrieval.bench_child import run_script, source_tree

    args = [str(n_docs), str(n_change)]
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, ref in [("this", None), *([(baseline, baseline)] if baseline else [])]:
            report[name], _ = run_script(source_tree(ref, Path(tmp)), Path(__file__), args)
    return report


def print_live(report: dict) -> None:
    versions = list(report)
    phases = [p for p in report[versions[0]] if p != "documents"]
    print(f"{'phase':<22}" + "".join(f"{v + ' max / p99 gap ms':>32}" for v in versions))
    for phase in phases:
        cells = [
            f"{report[v][phase]['max_gap_ms']} / {report[v][phase]['p99_gap_ms']}"
            f" ({report[v][phase]['seconds']} s)"
            for v in versions
        ]
        print(f"{phase:<22}" + "".join(f"{c:>32}" for c in cells))


def main(argv: list[str]) -> int:
    """Child entry (run by bench_child.run_script): bench_live.py DOCS CHANGE."""
    n_docs, n_change = int(argv[0]), int(argv[1])
    report = asyncio.run(scenario(n_docs, n_change))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
