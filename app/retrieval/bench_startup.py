"""Start-up time and memory at ~20,000 documents, and memory over chat add/drop cycles.

    python -m app.retrieval.bench --startup [--docs 20000 --cycles 1000] [--baseline main]

The parent writes a knowledge folder of small Markdown files (2-3 sections each, Zipf
words), then for each version of the code (this checkout, and a git ref as baseline)
runs, each in a fresh child process: cold `Library.open`s (empty index folder; two per
version, alternating between the versions, the best one reported), a warm one (the cache
a cold one left), and a churn run: warm open, then `cycles` times a chat uploads a file,
searches and is dropped. The parent reads each child's peak RSS
with `os.wait4`; the churn child reports its current RSS after a warm-up and at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARMUP_CYCLES = 100


def write_knowledge(folder: Path, n_docs: int) -> None:
    from app.retrieval.bench_scale import Synthetic

    gen = Synthetic(seed=11)
    folder.mkdir(parents=True)
    for start in range(0, n_docs, 1000):
        count = min(1000, n_docs - start)
        paras = iter(gen.chunks(3 * count, 60))
        for i in range(start, start + count):
            sections = 2 + i % 2
            body = "\n\n".join(f"## Part {s}\n\n{next(paras)}." for s in range(sections))
            (folder / f"doc{i:05d}.md").write_text(f"# Document {i}\n\n{body}\n")
            if sections == 2:
                next(paras)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def _settings(knowledge: str, index: str):
    from app.config import load_settings

    return load_settings(knowledge_dir=Path(knowledge), index_dir=Path(index))


def child_open(knowledge: str, index: str) -> dict:
    from app.retrieval import Library

    t0 = time.perf_counter()
    lib = Library.open(_settings(knowledge, index))
    seconds = time.perf_counter() - t0
    stats = lib.stats()
    return {"open_s": round(seconds, 2), "documents": stats["documents"], "chunks": stats["chunks"]}


def child_churn(knowledge: str, index: str, cycles: int, tmp: str) -> dict:
    import random

    from app.retrieval import Library

    lib = Library.open(_settings(knowledge, index))
    upload = Path(tmp) / "upload.md"
    rss = {}
    t0 = time.perf_counter()
    # Typical uploads: words the corpus knows (this child may run another version's code,
    # so it takes them from the folder, not from bench_scale), plus one of the chat's own.
    text = " ".join(p.read_text() for p in sorted(Path(knowledge).glob("doc000*.md")))
    pool = [w for w in text.split() if w.isalnum()]  # no "##" that would start a heading
    rng = random.Random(99)
    for i in range(cycles):
        one, two = (" ".join(rng.choices(pool, k=60)) for _ in range(2))
        upload.write_text(f"# Upload {i}\n\n## One\n\n{one} topic{i}w3\n\n## Two\n\n{two}\n")
        lib.add_file(upload, scope=f"chat-{i}")
        assert lib.search(f"topic{i}w3", 3, scope=f"chat-{i}")
        lib.drop_scope(f"chat-{i}")
        if i + 1 == WARMUP_CYCLES:
            rss["after_warmup"] = _rss_mb()
    rss["end"] = _rss_mb()
    growth = 100 * (rss["end"] - rss["after_warmup"]) / rss["after_warmup"]
    return {
        "cycles": cycles,
        "rss_after_warmup_mb": round(rss["after_warmup"], 1),
        "rss_end_mb": round(rss["end"], 1),
        "rss_growth_pct": round(growth, 1),
        "cycle_ms": round((time.perf_counter() - t0) / cycles * 1e3, 2),
    }


def startup_run(n_docs: int, cycles: int, baseline: str | None, rounds: int = 2) -> dict:
    from app.retrieval.bench_child import source_tree

    report: dict = {"docs": n_docs, "load_average": {"start": _load()}}
    tmp = tempfile.mkdtemp()
    try:
        knowledge = Path(tmp) / "knowledge"
        write_knowledge(knowledge, n_docs)
        os.sync()  # the folder's writeback must not slow whichever version opens it first
        names = ["this", *([baseline] if baseline else [])]
        roots = {
            name: source_tree(None if name == "this" else name, Path(tmp) / "src") for name in names
        }
        # Cold opens alternate between the versions, `rounds` times, and the best of each
        # is reported: on a shared machine the load moves within a run.
        cold: dict[str, list[dict]] = {name: [] for name in names}
        for r in range(rounds):
            for name in names:
                index = str(Path(tmp) / f"index-{name}-{r}")
                cold[name].append(_run(roots[name], ["open", str(knowledge), index]))
        for name in names:
            index = str(Path(tmp) / f"index-{name}-{rounds - 1}")
            report[name] = _warm_and_churn(
                roots[name], cold[name], [str(knowledge), index], cycles, tmp
            )
        report["load_average"]["end"] = _load()
        if baseline:  # the same-run ratios: how many times faster this is than the baseline
            this, base = report["this"], report[baseline]
            report["speedup"] = {
                k: round(base[f"{k}_s"] / max(this[f"{k}_s"], 1e-9), 2)
                for k in ("cold_open", "warm_open")
            }
    finally:
        # Deleting tens of thousands of files can take minutes on a disk that discards
        # every freed block; let `rm` do it after the report is out.
        subprocess.Popen(["rm", "-rf", tmp], start_new_session=True)
    return report


def _run(root: Path, args: list[str]) -> dict:
    """This script's child entry on the code at `root`: its report plus its peak RSS."""
    from app.retrieval.bench_child import run_script

    out, rss = run_script(root, Path(__file__), args)
    return {**out, "peak_rss_mb": round(rss, 1)}


def _warm_and_churn(root: Path, colds: list[dict], args: list[str], cycles: int, tmp: str) -> dict:
    warm = _run(root, ["open", *args])
    churn = _run(root, ["churn", *args, str(cycles), tmp])
    del churn["peak_rss_mb"]
    return {
        "cold_open_s": min(c["open_s"] for c in colds),
        "cold_open_runs_s": [c["open_s"] for c in colds],
        "warm_open_s": warm["open_s"],
        "cold_peak_rss_mb": max(c["peak_rss_mb"] for c in colds),
        "warm_peak_rss_mb": warm["peak_rss_mb"],
        "documents": warm["documents"],
        "chunks": warm["chunks"],
        **churn,
    }


def _load() -> list[float]:
    """The 1-, 5- and 15-minute load averages: on a shared machine, part of every figure."""
    return [round(x, 2) for x in os.getloadavg()]


def print_startup(report: dict) -> None:
    versions = [v for v, r in report.items() if isinstance(r, dict) and "cold_open_s" in r]
    cols = ["documents", "chunks", "cold_open_s", "warm_open_s", "warm_peak_rss_mb"]
    cols += ["rss_after_warmup_mb", "rss_end_mb", "rss_growth_pct"]
    print(f"{'version':<10}" + "".join(f"{c:>20}" for c in cols))
    for v in versions:
        print(f"{v:<10}" + "".join(f"{report[v][c]!s:>20}" for c in cols))
    if "speedup" in report:
        ratio = report["speedup"]
        print(
            f"cold start {ratio['cold_open']:.2f}x faster, warm start "
            f"{ratio['warm_open']:.2f}x faster than {versions[1]}"
        )
    load = report["load_average"]
    print(f"load average {load['start']} at the start, {load['end']} at the end")


def main(argv: list[str]) -> int:
    """Child entry (run by bench_child.run_script): open|churn KNOWLEDGE INDEX [...]."""
    if argv[0] == "open":
        report = child_open(argv[1], argv[2])
    else:
        report = child_churn(argv[1], argv[2], int(argv[3]), argv[4])
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
