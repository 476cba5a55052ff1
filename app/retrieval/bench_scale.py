"""Scale benchmark on synthetic Zipf corpora: streamed build, pruned vs exhaustive queries.

Each size runs in its own child process so its peak RSS can be read from outside
(`os.wait4` returns the child's own rusage) and no size inherits another's heap. The
child streams chunks in batches straight into term ids, so it never holds all texts or
all term lists at once. In the same child the exhaustive scorer answers every query too
(the baseline for the MaxScore speed-up, and a check that the top-k is identical), and
up to `rank_bm25_max` chunks plain rank-bm25 is timed as a second baseline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

from app.retrieval.analyzer import analyze
from app.retrieval.bm25 import BM25Index, BM25Params

BATCH = 20_000  # chunks analysed and indexed per step


class Synthetic:
    """Zipf-distributed pseudo-words, so postings lengths look like real text."""

    def __init__(self, seed: int = 7, vocab: int = 60_000):
        self.rng = np.random.default_rng(seed)
        syllables = ["ka", "lo", "mi", "ter", "su", "ran", "vo", "de", "pix", "gul", "ne", "bo"]
        words: set[str] = set()
        while len(words) < vocab:
            n = int(self.rng.integers(2, 5))
            words.add("".join(self.rng.choice(syllables, n)) + str(int(self.rng.integers(0, 9))))
        self.words = np.array(sorted(words))
        ranks = np.arange(1, vocab + 1, dtype=np.float64)
        p = 1 / ranks**1.05
        self.cdf = np.cumsum(p / p.sum())

    def _sample(self, n: int) -> np.ndarray:
        return np.minimum(np.searchsorted(self.cdf, self.rng.random(n)), len(self.words) - 1)

    def chunks(self, n: int, mean_words: int = 200) -> list[str]:
        lengths = self.rng.integers(mean_words // 2, mean_words * 3 // 2, n)
        flat = self.words[self._sample(int(lengths.sum()))].tolist()
        out, pos = [], 0
        for length in lengths.tolist():
            out.append(" ".join(flat[pos : pos + length]))
            pos += length
        return out

    def queries(self, n: int) -> list[str]:
        # Queries mix mid-frequency words (the informative ones) with a frequent one.
        out = []
        for _ in range(n):
            k = int(self.rng.integers(2, 6))
            mid = self.rng.integers(30, 20_000, k)
            common = self.rng.integers(0, 30, 1)
            out.append(" ".join(self.words[np.concatenate([mid, common])].tolist()))
        return out

    def document(self, pages: int, words_per_page: int = 500) -> str:
        parts = []
        for p in range(pages):
            parts.append(f"## Page {p + 1}")
            for para in self.chunks(5, words_per_page // 5):
                parts.append(para + ".")
        return "# Synthetic report\n\n" + "\n\n".join(parts) + "\n"


def percentile(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p)) if xs else 0.0


def timed(fn: Callable[[str], object], queries: list[str]) -> tuple[list[float], list[object]]:
    ms, out = [], []
    for q in queries:
        t0 = time.perf_counter()
        out.append(fn(q))
        ms.append((time.perf_counter() - t0) * 1e3)
    return ms, out


def build_streamed(n: int, params: BM25Params, gen: Synthetic) -> tuple[BM25Index, dict]:
    """The index of n synthetic chunks, and the build's wall and CPU (user + sys) seconds:
    CPU time is the figure to compare on a shared machine, where wall time follows load."""
    index = BM25Index(params)
    wall = {"analyze": 0.0, "index": 0.0}
    cpu = {"analyze": 0.0, "index": 0.0}
    for start in range(0, n, BATCH):
        texts = gen.chunks(min(BATCH, n - start))  # generating is not part of the build
        t0, c0 = time.perf_counter(), time.process_time()
        ids, lengths = index.encoder.encode(texts)
        t1, c1 = time.perf_counter(), time.process_time()
        index.add_ids(ids, lengths)
        wall["analyze"] += t1 - t0
        cpu["analyze"] += c1 - c0
        wall["index"] += time.perf_counter() - t1
        cpu["index"] += time.process_time() - c1
        del texts, ids, lengths
    return index, {
        "engine_build_s": round(sum(wall.values()), 2),
        "engine_analyze_s": round(wall["analyze"], 2),
        "engine_index_s": round(wall["index"], 2),
        "engine_build_cpu_s": round(sum(cpu.values()), 2),
        "engine_analyze_cpu_s": round(cpu["analyze"], 2),
    }


def _rank_bm25(n: int, params: BM25Params, queries: list[str]) -> dict:
    from rank_bm25 import BM25Okapi

    gen = Synthetic()
    gen.queries(len(queries))  # same random stream as the engine's corpus
    terms = [analyze(t) for start in range(0, n, BATCH) for t in gen.chunks(min(BATCH, n - start))]
    t0 = time.perf_counter()
    bm25 = BM25Okapi(terms, k1=params.k1, b=params.b, epsilon=params.epsilon)
    build = time.perf_counter() - t0
    sample = queries[: max(10, min(len(queries), 2_000_000 // n))]
    ms, _ = timed(lambda q: bm25.get_scores(analyze(q)), sample)
    return {
        "rank_bm25_build_s": round(build, 2),
        "rank_bm25_p50_ms": round(percentile(ms, 50), 2),
        "rank_bm25_p95_ms": round(percentile(ms, 95), 2),
    }


def scale_one(n: int, n_queries: int, params: BM25Params, rank_bm25_max: int) -> dict:
    """One size, in this process."""
    gen = Synthetic()
    qs = gen.queries(n_queries)
    index, row = build_streamed(n, params, gen)
    # Default arguments bind the index now: it is deleted below, before the baseline runs.
    pruned_ms, pruned = timed(lambda q, ix=index: ix.search(analyze(q), 10), qs)  # type: ignore[misc]
    full_ms, full = timed(lambda q, ix=index: ix.search(analyze(q), 10, prune=False), qs)  # type: ignore[misc]
    same = all(
        np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1], rtol=1e-9)  # type: ignore[index]
        for a, b in zip(pruned, full, strict=True)
    )
    row.update(
        chunks=n,
        postings=index.postings,
        vocabulary=index.vocabulary_size,
        segments=len(index.snapshot().segments),
        engine_p50_ms=round(percentile(pruned_ms, 50), 3),
        engine_p95_ms=round(percentile(pruned_ms, 95), 3),
        exhaustive_p50_ms=round(percentile(full_ms, 50), 3),
        exhaustive_p95_ms=round(percentile(full_ms, 95), 3),
        pruning_p50_speedup=round(
            percentile(full_ms, 50) / max(percentile(pruned_ms, 50), 1e-9), 1
        ),
        pruned_topk_identical=same,
    )
    del index
    if n <= rank_bm25_max:
        row.update(_rank_bm25(n, params, qs))
        row["p50_speedup"] = round(row["rank_bm25_p50_ms"] / max(row["engine_p50_ms"], 1e-9), 1)
    return row


def in_child(args: list[str]) -> tuple[dict, float, float]:
    """Run `python -m app.retrieval.bench ARGS` in a child; (its JSON line, its peak RSS MB,
    its CPU seconds, user + sys)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.retrieval.bench", *args], stdout=subprocess.PIPE, text=True
    )
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child {args} exited with {proc.returncode}")
    cpu = usage.ru_utime + usage.ru_stime
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024, cpu


def scale_run(sizes: list[int], n_queries: int, rank_bm25_max: int) -> dict:
    rows = []
    for n in sizes:
        args = ["--scale-one", str(n), "--queries", str(n_queries)]
        row, rss, cpu = in_child([*args, "--rank-bm25-max", str(rank_bm25_max)])
        row["peak_rss_mb"] = round(rss, 1)
        row["child_cpu_s"] = round(cpu, 1)  # the whole child: build, queries, baselines
        row["load_avg_1m"] = round(os.getloadavg()[0], 2)  # wall times follow the load
        rows.append(row)
    return {"scale": rows}


COLUMNS = [
    "chunks",
    "engine_build_s",
    "engine_build_cpu_s",
    "peak_rss_mb",
    "engine_p50_ms",
    "engine_p95_ms",
    "exhaustive_p50_ms",
    "exhaustive_p95_ms",
    "rank_bm25_p50_ms",
    "p50_speedup",
]


def print_scale(report: dict) -> None:
    print("  ".join(f"{c:>17}" for c in COLUMNS))
    for row in report["scale"]:
        print("  ".join(f"{row.get(c, '-')!s:>17}" for c in COLUMNS))
    for row in report["scale"]:
        print(
            f"{row['chunks']} chunks: build {row['engine_build_s']} s "
            f"(analysis {row['engine_analyze_s']} s), CPU {row['engine_build_cpu_s']} s "
            f"(analysis {row['engine_analyze_cpu_s']} s), peak RSS {row['peak_rss_mb']} MB, "
            f"MaxScore {row['pruning_p50_speedup']}x faster p50 than exhaustive, "
            f"top-10 identical: {row['pruned_topk_identical']}, load {row['load_avg_1m']}"
        )
