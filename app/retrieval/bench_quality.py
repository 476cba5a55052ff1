"""Ranking variants on two query sets (`python -m app.retrieval.bench --variants`).

Sets:
- a BEIR folder (default: the SciFact subset), its queries split by a hash of their id
  into a half to tune on (A) and a held-out half (B) to confirm on. No package registry
  reachable here ships a BEIR corpus, so the held-out half is the second BEIR set.
- the golden set over `knowledge/` (eval/golden.jsonl, answerable questions without
  history), judged per chunk: a chunk of a cited source that holds an answer fact is
  relevant. It is the only set with titles and heading paths, which field weighting needs.

Every variant is the engine with one change; `bm25s` is the reference (its own tokens:
English stopwords and the same Snowball stemmer, over the same chunks, best chunk).
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import Stemmer

from app.eval.golden import fact_found, load_golden
from app.retrieval.analyzer import analyze, words
from app.retrieval.bench import Beir, chunk_parts, load_beir, mrr_at, ndcg_at, recall_at
from app.retrieval.bm25 import BM25Index, BM25Params, Snapshot, search
from app.retrieval.chunker import TAIL, chunk_document, index_text
from app.retrieval.expansion import RM3, rm3_search
from app.retrieval.fields import chunk_terms
from app.retrieval.loaders import parse_document

CANDIDATES = 200  # chunks fetched per query before collapsing them to documents
ROOT = Path(__file__).resolve().parents[2]


# --- query sets ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Chunks:
    """A corpus chunked as the app chunks it; `owners[i]` is chunk i's document."""

    titles: list[str]
    sections: list[str | None]
    bodies: list[str]
    owners: list[int]
    doc_ids: list[str]


@dataclass(frozen=True, slots=True)
class QuerySet:
    name: str
    corpus: Chunks
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class Chunking:
    size: int
    overlap: int
    tail: float = TAIL


def beir_chunks(data: Beir, c: Chunking) -> Chunks:
    chunks = Chunks([], [], [], [], data.doc_ids)
    for title, section, body, owner in chunk_parts(data, c.size, c.overlap, c.tail):
        _append(chunks, title, section, body, owner)
    return chunks


def _append(c: Chunks, title: str, section: str | None, body: str, owner: int) -> None:
    c.titles.append(title)
    c.sections.append(section)
    c.bodies.append(body)
    c.owners.append(owner)


def _half(qid: str) -> int:
    return hashlib.sha1(qid.encode()).digest()[0] & 1


def beir_halves(folder: Path, c: Chunking) -> list[QuerySet]:
    data = load_beir(folder)
    chunks = beir_chunks(data, c)
    out = []
    for half, label in ((0, "A (tune)"), (1, "B (held out)")):
        qrels = {q: r for q, r in data.qrels.items() if _half(q) == half}
        queries = {q: data.queries[q] for q in qrels}
        out.append(QuerySet(f"{folder.name} {label}", chunks, queries, qrels))
    return out


def golden_set(knowledge: Path, golden: Path, c: Chunking) -> QuerySet:
    """Each chunk is its own document, relevant when it holds an answer fact."""
    chunks = Chunks([], [], [], [], [])
    source_of: list[str] = []
    for path in sorted(p for p in knowledge.iterdir() if p.is_file()):
        doc = parse_document(path.read_bytes(), path.name, 50 * 2**20)
        for span in chunk_document(doc, c.size, c.overlap, c.tail):
            n = len(chunks.doc_ids)
            _append(chunks, doc.title, span.section, doc.text[span.start : span.end], n)
            chunks.doc_ids.append(f"{path.name}#{n}")
            source_of.append(path.name)
    queries, qrels = {}, {}
    for case in load_golden(golden):
        if not case.answerable or case.history:
            continue
        rel = {
            chunks.doc_ids[i]: 1
            for i, body in enumerate(chunks.bodies)
            if source_of[i] in case.sources and any(fact_found(f, body) for f in case.answer_facts)
        }
        if rel:
            queries[case.id], qrels[case.id] = case.question, rel
    return QuerySet("knowledge golden (chunks)", chunks, queries, qrels)


# --- variants -----------------------------------------------------------------------------
Ranker = Callable[[str], list[int]]  # query -> documents, best first


def lucene_analyze(text: str) -> list[str]:
    """The engine's tokens and stemmer with Lucene's 33 English stopwords (bm25s's list)."""
    return _stemmer.stemWords([w for w in words(text) if w not in LUCENE_STOPWORDS])


_LUCENE = """a an and are as at be but by for if in into is it no not of on or such that the
    their then there these they this to was will with"""
LUCENE_STOPWORDS = frozenset(_LUCENE.split())
_stemmer = Stemmer.Stemmer("english")


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    head_weight: int = 1  # title and heading path terms counted this many times
    rm3: RM3 | None = None
    others: float = 0.0  # a document scores best chunk + this x its other chunks
    tail: float = TAIL  # chunker: a section's last chunk may hold size x this tokens
    analyzer: Callable[[str], list[str]] = field(default=analyze, compare=False)


def collapse(slots: Sequence[int], scores: Sequence[float], owners: Sequence[int], others: float):
    """Documents, best first: best chunk's score plus `others` times the rest's."""
    best: dict[int, float] = {}
    rest: dict[int, float] = {}
    for slot, score in zip(slots, scores, strict=True):
        d = owners[slot]
        if d in best:
            rest[d] = rest.get(d, 0.0) + score
        else:
            best[d] = score
    total = {d: s + others * rest.get(d, 0.0) for d, s in best.items()}
    return sorted(total, key=lambda d: (-total[d], d))


def engine_ranker(corpus: Chunks, v: Variant, params: BM25Params) -> Ranker:
    if v.analyzer is analyze:
        terms = [chunk_terms(t, s, b, v.head_weight) for t, s, b in _parts(corpus)]
    else:
        terms = [v.analyzer(index_text(t, s, b)) for t, s, b in _parts(corpus)]
    index = BM25Index(params)
    index.add(terms)
    snap: Snapshot = index.snapshot()

    def rank(q: str) -> list[int]:
        qt = v.analyzer(q)
        if v.rm3 is None:
            slots, scores = search(snap, qt, CANDIDATES)
        else:
            slots, scores = rm3_search(snap, qt, CANDIDATES, _terms_of(terms), v.rm3)
        return collapse(slots.tolist(), scores.tolist(), corpus.owners, v.others)

    return rank


def _parts(c: Chunks):
    return zip(c.titles, c.sections, c.bodies, strict=True)


def _terms_of(terms: list[list[str]]) -> Callable[[np.ndarray], list[list[str]]]:
    return lambda slots: [terms[i] for i in slots.tolist()]


def bm25s_ranker(corpus: Chunks, params: BM25Params) -> Ranker:
    import bm25s  # a benchmark-only dependency (the `test` extra)

    def tokens(texts: list[str]):
        return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer, show_progress=False)

    retriever = bm25s.BM25(k1=params.k1, b=params.b)
    texts = [index_text(t, s, b) for t, s, b in _parts(corpus)]
    retriever.index(tokens(texts), show_progress=False)
    k = min(CANDIDATES, len(corpus.bodies))

    def rank(q: str) -> list[int]:
        found, scores = retriever.retrieve(tokens([q]), k=k, show_progress=False)
        keep = scores[0] > 0
        return collapse(found[0][keep].tolist(), scores[0][keep].tolist(), corpus.owners, 0.0)

    return rank


VARIANTS = (
    Variant("engine (default: best chunk, tail 1.25)"),
    Variant("tail 1.0: every chunk <= CHUNK_TOKENS (before)", tail=1.0),
    Variant("tail 1.5", tail=1.5),
    Variant("document = best chunk + 0.1 x its other chunks", others=0.1),
    Variant("Lucene's 33 stopwords instead of ours", analyzer=lucene_analyze),
    Variant("title + heading path weight 2 (BM25F)", head_weight=2),
    Variant("title + heading path weight 3 (BM25F)", head_weight=3),
    Variant("RM3 5 chunks, 20 terms, 0.7 original (best on A)", rm3=RM3(5, 20, 0.7)),
    Variant("RM3 3 chunks, 10 terms, 0.8 original (QUERY_EXPANSION=rm3)", rm3=RM3(3, 10, 0.8)),
    Variant("RM3 5 chunks, 10 terms, 0.5 original", rm3=RM3(5, 10, 0.5)),
)
BM25S = "bm25s (reference, en stopwords + Snowball)"


def score(qs: QuerySet, rank: Ranker) -> dict:
    per_query = {}
    nd, rc, mr = [], [], []
    for qid, rel in qs.qrels.items():
        ranked = [qs.corpus.doc_ids[d] for d in rank(qs.queries[qid])[:10]]
        nd.append(ndcg_at(ranked, rel))
        rc.append(recall_at(ranked, rel))
        mr.append(mrr_at(ranked, rel))
        per_query[qid] = nd[-1]
    figures = {
        "ndcg@10": round(statistics.fmean(nd), 4),
        "recall@10": round(statistics.fmean(rc), 4),
        "mrr@10": round(statistics.fmean(mr), 4),
    }
    return {"figures": figures, "per_query": per_query}


def _versus(mine: dict[str, float], base: dict[str, float]) -> list[int]:
    """Queries whose nDCG@10 is better / equal / worse than the baseline's."""
    d = [mine[q] - base[q] for q in base if q in mine]
    return [sum(x > 1e-9 for x in d), sum(abs(x) <= 1e-9 for x in d), sum(x < -1e-9 for x in d)]


Rankers = dict[tuple[int, object], Ranker]  # per corpus and variant; the halves share them


def _row(qs: QuerySet, key: object, build: Callable[[], Ranker], rankers: Rankers) -> dict:
    if (id(qs.corpus), key) not in rankers:
        rankers[id(qs.corpus), key] = build()
    return score(qs, rankers[id(qs.corpus), key])


def run_set(by_tail: dict[float, QuerySet], params: BM25Params, rankers: Rankers) -> dict:
    """Every variant on one query set, chunked with the variant's tail."""
    rows: dict[str, dict] = {}
    base: dict[str, float] = {}
    for v in VARIANTS:
        qs = by_tail[v.tail]
        result = _row(qs, v, partial(engine_ranker, qs.corpus, v, params), rankers)
        base = base or result["per_query"]
        rows[v.name] = result["figures"] | {"better/same/worse": _versus(result["per_query"], base)}
    qs = by_tail[TAIL]
    result = _row(qs, BM25S, partial(bm25s_ranker, qs.corpus, params), rankers)
    rows[BM25S] = result["figures"] | {"better/same/worse": _versus(result["per_query"], base)}
    return {"set": qs.name, "queries": len(qs.qrels), "chunks": len(qs.corpus.bodies), "rows": rows}


def _sets(dataset: Path, c: Chunking) -> list[QuerySet]:
    golden = golden_set(ROOT / "knowledge", ROOT / "eval" / "golden.jsonl", c)
    return [*beir_halves(dataset, c), golden]


def variants_run(dataset: Path, params: BM25Params, size: int, overlap: int) -> dict:
    tails = sorted({v.tail for v in VARIANTS})
    chunked = {t: _sets(dataset, Chunking(size, overlap, t)) for t in tails}
    rankers: Rankers = {}
    sets = []
    for i, qs in enumerate(chunked[TAIL]):
        if qs.qrels:
            sets.append(run_set({t: chunked[t][i] for t in tails}, params, rankers))
    return {
        "k1": params.k1,
        "b": params.b,
        "chunk_tokens": size,
        "chunk_overlap": overlap,
        "tail": TAIL,
        "sets": sets,
    }


def print_variants(report: dict) -> None:
    """One row per variant; per set nDCG@10 / Recall@10 / MRR@10 and queries +/=/-."""
    sets = report["sets"]
    for s in sets:
        print(f"{s['set']}: {s['queries']} queries, {s['chunks']} chunks")
    names = list(sets[0]["rows"])
    width = max(len(n) for n in names)
    head = "  ".join(f"{s['set'][:34]:>34}" for s in sets)
    print(f"{'variant':<{width}}  {head}")
    for name in names:
        cells = []
        for s in sets:
            r = s["rows"][name]
            b, _, w = r["better/same/worse"]
            cells.append(f"{r['ndcg@10']:.4f} {r['recall@10']:.4f} {r['mrr@10']:.4f} +{b}/-{w}")
        print(f"{name:<{width}}  " + "  ".join(f"{c:>34}" for c in cells))
    print("cells: nDCG@10 Recall@10 MRR@10, queries better/worse than the default's nDCG@10")
