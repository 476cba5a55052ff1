"""Retrieval benchmark.

    python -m app.retrieval.bench DATASET_DIR   # any BEIR folder: quality and speed
    python -m app.retrieval.bench DATASET_DIR --variants   # ranking variants, two sets
    python -m app.retrieval.bench --scale       # synthetic 10k/100k-chunk corpora: speed
                                                # (--sizes 1000000 for the million)
    python -m app.retrieval.bench --live        # chats' token gaps while the index changes
    python -m app.retrieval.bench --startup     # 20k-document start-up, memory over chats
    python -m app.retrieval.bench --restart N   # warm restart of an N-chunk library

Documents are chunked exactly as the app chunks them and a document scores as its best
chunk. Each run prints a table, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi

from app.config import Settings, load_settings
from app.retrieval.analyzer import analyze
from app.retrieval.bench_live import live_run, print_live
from app.retrieval.bench_restart import print_restart, restart_run
from app.retrieval.bench_scale import Synthetic, print_scale, scale_one, scale_run
from app.retrieval.bench_startup import print_startup, startup_run
from app.retrieval.bm25 import BM25Index, BM25Params
from app.retrieval.chunker import TAIL, chunk_document, index_text
from app.retrieval.library import Library
from app.retrieval.loaders import Block, Document, _paragraph_spans

CANDIDATE_CHUNKS = 100  # chunks fetched per query before collapsing them to documents


# --- dataset ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Beir:
    doc_ids: list[str]
    titles: list[str]
    texts: list[str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(folder: Path) -> Beir:
    doc_ids, titles, texts = [], [], []
    with (folder / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                doc_ids.append(str(d["_id"]))
                titles.append(d.get("title") or "")
                texts.append(d.get("text") or "")
    queries = {}
    with (folder / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                q = json.loads(line)
                queries[str(q["_id"])] = q["text"]
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with (folder / "qrels" / "test.tsv").open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if i == 0 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            if len(parts) >= 3 and int(parts[2]) > 0:
                qrels[parts[0]][parts[1]] = int(parts[2])
    judged = {q: r for q, r in qrels.items() if q in queries}
    return Beir(doc_ids, titles, texts, queries, judged)


def chunk_parts(
    data: Beir, size: int, overlap: int, tail: float = TAIL
) -> Iterator[tuple[str, str | None, str, int]]:
    """(title, heading path, text, document) of every chunk, chunked as the app does."""
    for i, (title, text) in enumerate(zip(data.titles, data.texts, strict=True)):
        doc = Document(title, text, tuple(Block(s, e) for s, e in _paragraph_spans(text)))
        for span in chunk_document(doc, size, overlap, tail):
            yield title, span.section, text[span.start : span.end], i


def chunk_corpus(data: Beir, size: int, overlap: int) -> tuple[list[str], list[int]]:
    """Texts to index (title and heading path included) and the document of each."""
    texts, owners = [], []
    for title, section, body, owner in chunk_parts(data, size, overlap):
        texts.append(index_text(title, section, body))
        owners.append(owner)
    return texts, owners


# --- metrics ------------------------------------------------------------------------------
def ndcg_at(ranked: Sequence[str], rel: dict[str, int], k: int = 10) -> float:
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rel.values(), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], rel: dict[str, int], k: int = 10) -> float:
    return len(set(ranked[:k]) & set(rel)) / len(rel) if rel else 0.0


def mrr_at(ranked: Sequence[str], rel: dict[str, int], k: int = 10) -> float:
    return next((1.0 / (i + 1) for i, d in enumerate(ranked[:k]) if d in rel), 0.0)


def best_chunk_per_doc(chunk_ids: Sequence[int], owners: Sequence[int], k: int) -> list[int]:
    seen: dict[int, None] = {}
    for c in chunk_ids:
        seen.setdefault(owners[c])
        if len(seen) == k:
            break
    return list(seen)


def percentile(xs: Sequence[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p)) if xs else 0.0


# --- systems ------------------------------------------------------------------------------
Searcher = Callable[[str], list[int]]  # query -> chunk ids, best first


def build_engine(texts: list[str], params: BM25Params) -> Searcher:
    index = BM25Index(params)
    index.add([analyze(t) for t in texts])

    def search(q: str) -> list[int]:
        return index.search(analyze(q), CANDIDATE_CHUNKS)[0].tolist()

    return search


def build_rank_bm25(texts: list[str], params: BM25Params) -> Searcher:
    bm25 = BM25Okapi([t.lower().split() for t in texts], k1=params.k1, b=params.b)

    def search(q: str) -> list[int]:
        scores = bm25.get_scores(q.lower().split())
        top = np.argsort(-scores, kind="stable")[:CANDIDATE_CHUNKS]
        return [int(i) for i in top if scores[i] > 0]

    return search


def build_naive(texts: list[str], params: BM25Params) -> Searcher:
    """The workshop baseline: how many of the query's words occur in the chunk."""
    bags = [set(t.lower().split()) for t in texts]

    def search(q: str) -> list[int]:
        words = set(q.lower().split())
        scores = [len(words & bag) for bag in bags]
        top = sorted(range(len(bags)), key=lambda i: -scores[i])[:CANDIDATE_CHUNKS]
        return [i for i in top if scores[i] > 0]

    return search


ENGINE = "engine (stopwords+Snowball, inverted index)"
RANK_BM25 = "rank-bm25 BM25Okapi, whitespace tokens"
SYSTEMS: dict[str, Callable[[list[str], BM25Params], Searcher]] = {
    ENGINE: build_engine,
    RANK_BM25: build_rank_bm25,
    "naive lexical count": build_naive,
}


def evaluate(folder: Path, params: BM25Params, size: int, overlap: int) -> dict:
    data = load_beir(folder)
    t0 = time.perf_counter()
    texts, owners = chunk_corpus(data, size, overlap)
    chunk_seconds = time.perf_counter() - t0
    results = {}
    for name, build in SYSTEMS.items():
        t0 = time.perf_counter()
        search = build(texts, params)
        build_s = time.perf_counter() - t0
        tracemalloc.start()
        build(texts, params)  # again, traced, for peak memory (tracing slows it down)
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        nd, rc, mr, ms = [], [], [], []
        for qid, rel in data.qrels.items():
            t0 = time.perf_counter()
            chunk_ids = search(data.queries[qid])
            ms.append((time.perf_counter() - t0) * 1e3)
            ranked = [data.doc_ids[d] for d in best_chunk_per_doc(chunk_ids, owners, 10)]
            nd.append(ndcg_at(ranked, rel))
            rc.append(recall_at(ranked, rel))
            mr.append(mrr_at(ranked, rel))
        results[name] = {
            "ndcg@10": round(statistics.fmean(nd), 4),
            "recall@10": round(statistics.fmean(rc), 4),
            "mrr@10": round(statistics.fmean(mr), 4),
            "p50_ms": round(percentile(ms, 50), 3),
            "p95_ms": round(percentile(ms, 95), 3),
            "build_s": round(build_s, 3),
            "peak_mb": round(peak_mb, 1),
        }
    engine, plain = results[ENGINE], results[RANK_BM25]
    return {
        "dataset": str(folder),
        # How many times faster the engine's median query is than plain rank-bm25's.
        "p50_speedup_vs_rank_bm25": round(plain["p50_ms"] / max(engine["p50_ms"], 1e-9), 1),
        "ndcg_gain_vs_rank_bm25": round(engine["ndcg@10"] - plain["ndcg@10"], 4),
        "documents": len(data.doc_ids),
        "chunks": len(texts),
        "queries": len(data.qrels),
        "chunk_tokens": size,
        "chunk_overlap": overlap,
        "chunking_s": round(chunk_seconds, 2),
        "k1": params.k1,
        "b": params.b,
        "systems": results,
    }


def print_quality(report: dict) -> None:
    print(
        f"{report['dataset']}: {report['documents']} documents -> {report['chunks']} chunks "
        f"({report['chunk_tokens']} tokens, {report['chunk_overlap']} overlap), "
        f"{report['queries']} queries, k1={report['k1']} b={report['b']}"
    )
    cols = ["ndcg@10", "recall@10", "mrr@10", "p50_ms", "p95_ms", "build_s", "peak_mb"]
    width = max(len(n) for n in report["systems"])
    print(f"{'system':<{width}}  " + "  ".join(f"{c:>9}" for c in cols))
    for name, r in report["systems"].items():
        print(f"{name:<{width}}  " + "  ".join(f"{r[c]:>9}" for c in cols))
    print(
        f"engine vs rank-bm25: {report['p50_speedup_vs_rank_bm25']}x faster p50 query, "
        f"nDCG@10 {report['ndcg_gain_vs_rank_bm25']:+.4f}"
    )


# --- scale ---------------------------------------------------------------------------------
def _warm_restart(gen: Synthetic, n_chunks: int) -> dict:
    """Cold and warm `Library.open` over Markdown files holding about `n_chunks` chunks."""
    with tempfile.TemporaryDirectory() as tmp:
        knowledge = Path(tmp) / "knowledge"
        knowledge.mkdir()
        per_file = 100
        for f in range(n_chunks // per_file):
            # Pseudo-words take ~3.5 tokens each, so ~60 words keep a section to one chunk.
            paras = gen.chunks(per_file, 60)
            body = "\n\n".join(f"## Part {i}\n\n{p}." for i, p in enumerate(paras))
            (knowledge / f"doc{f:04d}.md").write_text(f"# Document {f}\n\n{body}\n")
        settings = load_settings(knowledge_dir=knowledge)
        t0 = time.perf_counter()
        lib = Library.open(settings)
        cold = time.perf_counter() - t0
        chunks = lib.stats()["chunks"]
        del lib
        t0 = time.perf_counter()
        lib = Library.open(settings)
        warm = time.perf_counter() - t0
        assert lib.stats()["chunks"] == chunks
        return {"chunks": chunks, "cold_open_s": round(cold, 2), "warm_open_s": round(warm, 3)}


# --- CLI ----------------------------------------------------------------------------------
def _quality(dataset: Path, variants: bool, params: BM25Params, settings: Settings) -> dict:
    size, overlap = settings.chunk_tokens, settings.chunk_overlap
    if variants:
        from app.retrieval.bench_quality import print_variants, variants_run  # imports this module

        report = variants_run(dataset, params, size, overlap)
        print_variants(report)
    else:
        report = evaluate(dataset, params, size, overlap)
        print_quality(report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.retrieval.bench", description=__doc__)
    parser.add_argument("dataset", nargs="?", type=Path, help="BEIR-format folder")
    parser.add_argument("--scale", action="store_true", help="synthetic speed run")
    parser.add_argument("--sizes", default="10000,100000", help="chunk counts for --scale")
    parser.add_argument("--scale-one", type=int, help=argparse.SUPPRESS)  # one size, in a child
    parser.add_argument(
        "--variants", action="store_true", help="ranking variants on DATASET halves + golden"
    )
    parser.add_argument("--live", action="store_true", help="event-loop lag while writing")
    parser.add_argument("--startup", action="store_true", help="start-up time and memory")
    parser.add_argument("--restart", type=int, help="warm restart of a library of N chunks")
    parser.add_argument("--docs", type=int, help="knowledge files (--live 3000, --startup 20000)")
    parser.add_argument("--cycles", type=int, default=1000, help="chat add/drop (--startup)")
    parser.add_argument("--change", type=int, default=2000, help="files added/removed (--live)")
    parser.add_argument("--baseline", help="git ref to run the --live/--startup scenario on")
    parser.add_argument("--queries", type=int, default=200, help="queries per size (--scale)")
    parser.add_argument(
        "--rank-bm25-max", type=int, default=100_000, help="largest size to run rank-bm25 on"
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    params = BM25Params(settings.bm25_k1, settings.bm25_b, settings.bm25_epsilon)
    if args.live:
        report = live_run(args.docs or 3000, args.change, args.baseline)
        print_live(report)
    elif args.restart:
        report = restart_run(args.restart)
        print_restart(report)
    elif args.startup:
        report = startup_run(args.docs or 20_000, args.cycles, args.baseline)
        print_startup(report)
    elif args.scale_one:
        report = scale_one(args.scale_one, args.queries, params, args.rank_bm25_max)
    elif args.scale:
        sizes = sorted(int(s) for s in args.sizes.split(","))
        report = scale_run(sizes, args.queries, args.rank_bm25_max)
        report["warm_restart"] = _warm_restart(Synthetic(), 10_000)
        print_scale(report)
        w = report["warm_restart"]
        print(f"restart, {w['chunks']} chunks: cold {w['cold_open_s']} s, warm {w['warm_open_s']}")
    elif args.dataset is not None:
        if not (args.dataset / "corpus.jsonl").is_file():
            parser.error(f"{args.dataset} has no corpus.jsonl (expected a BEIR folder)")
        report = _quality(args.dataset, args.variants, params, settings)
    else:
        parser.error("give a DATASET_DIR or --scale")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
