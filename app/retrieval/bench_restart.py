"""Warm restart of a library holding a million chunks.

    python -m app.retrieval.bench --restart 1000000

A child process builds a `Library` whose shared knowledge is N synthetic chunks (as
shared uploads, 100 chunks a document, so no folder of a million files is needed) and
saves it; a second, fresh child times `Library.open` on that cache and its first
searches. The parent reads both children's peak RSS.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

PER_DOC = 100


def _settings(tmp: str):
    from app.config import load_settings

    return load_settings(knowledge_dir=Path(tmp) / "knowledge", index_dir=Path(tmp) / "index")


def child_build(tmp: str, n: int) -> dict:
    from app.retrieval import Library
    from app.retrieval.bench_scale import Synthetic
    from app.retrieval.cache import CachedDoc
    from app.retrieval.library import Pending

    (Path(tmp) / "knowledge").mkdir(exist_ok=True)
    lib = Library(_settings(tmp))
    gen = Synthetic()
    t0 = time.perf_counter()
    for start in range(0, n, 10_000):
        texts = gen.chunks(min(10_000, n - start))
        pending: list[Pending] = []
        for d in range(0, len(texts), PER_DOC):
            part = texts[d : d + PER_DOC]
            doc_id, name = f"syn{start + d:08d}", f"syn{start + d:08d}.md"
            chunks = [(0, len(t), None, None, t) for t in part]
            # The synthetic words are already lower-case index terms; analysing a million
            # chunks would only make this set-up slower, not the restart it measures.
            terms = part
            doc = CachedDoc(doc_id, name, "Synthetic", chunks, terms)  # type: ignore[arg-type]
            pending.append((doc, name, None))
            lib._manifest.extra[doc_id] = name  # shared uploads: no folder file behind them
        with lib._write:
            lib._apply([], pending)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    with lib._write:
        lib._save()
    return {
        "chunks": lib.stats()["chunks"],
        "build_s": round(build, 1),
        "save_s": round(time.perf_counter() - t0, 1),
    }


def child_open(tmp: str) -> dict:
    from app.retrieval import Library
    from app.retrieval.bench_scale import Synthetic

    t0 = time.perf_counter()
    lib = Library.open(_settings(tmp))
    opened = time.perf_counter() - t0
    queries = Synthetic().queries(20)
    t0 = time.perf_counter()
    hits = [lib.search(q, 5) for q in queries]
    first = (time.perf_counter() - t0) / len(queries)
    return {
        "warm_open_s": round(opened, 2),
        "chunks": lib.stats()["chunks"],
        "first_20_queries_mean_ms": round(first * 1e3, 1),
        "hits": sum(len(h) for h in hits),
    }


def restart_run(n: int) -> dict:
    from app.retrieval.bench_child import HERE, run_script

    script = Path(__file__)
    with tempfile.TemporaryDirectory() as tmp:
        built, build_rss = run_script(HERE, script, ["build", tmp, str(n)])
        opened, open_rss = run_script(HERE, script, ["open", tmp])
    return {
        **built,
        **opened,
        "build_peak_rss_mb": round(build_rss, 1),
        "open_peak_rss_mb": round(open_rss, 1),
    }


def print_restart(report: dict) -> None:
    print(
        f"library of {report['chunks']} chunks: built in {report['build_s']} s, saved in "
        f"{report['save_s']} s (peak RSS {report['build_peak_rss_mb']} MB); warm open "
        f"{report['warm_open_s']} s (peak RSS {report['open_peak_rss_mb']} MB), first "
        f"queries {report['first_20_queries_mean_ms']} ms each"
    )


def main(argv: list[str]) -> int:
    """Child entry (run by bench_child.run_script): build TMP N | open TMP."""
    report = child_build(argv[1], int(argv[2])) if argv[0] == "build" else child_open(argv[1])
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
