"""Per-case scores and their aggregation. Pure functions of the golden case and its run.

A value that cannot be measured is None (no sources to find, no facts to recall, no
citations to check) and is left out of averages rather than counted as 0 or 1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from app.answering.citations import find_citations, strip_citations
from app.eval.golden import GoldenCase, fact_found
from app.eval.records import LATENCY_PARTS, CaseRun
from app.retrieval.analyzer import analyze

# A cited sentence counts as supported by its block when this share of its content words
# (stemmed, stopwords removed) is in the block, even if it states no golden fact.
SENTENCE_SUPPORT = 0.6
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def retrieval_hit(hit_sources: Sequence[str], sources: Sequence[str], k: int) -> bool | None:
    if not sources:
        return None
    return any(s in sources for s in hit_sources[:k])


def reciprocal_rank(hit_sources: Sequence[str], sources: Sequence[str]) -> float | None:
    if not sources:
        return None
    for rank, source in enumerate(hit_sources, start=1):
        if source in sources:
            return 1.0 / rank
    return 0.0


def fact_recall(answer: str, facts: Sequence[str]) -> float | None:
    if not facts:
        return None
    return sum(fact_found(f, answer) for f in facts) / len(facts)


def sentence_supported(sentence: str, block: str, facts: Sequence[str]) -> bool:
    if any(fact_found(f, sentence) and fact_found(f, block) for f in facts):
        return True
    words = set(analyze(strip_citations(sentence)))
    return bool(words) and len(words & set(analyze(block))) / len(words) >= SENTENCE_SUPPORT


def citation_counts(
    answer: str, blocks: dict[int, str], facts: Sequence[str], dropped: int = 0
) -> tuple[int, int]:
    """(supported, total) citations. Each [n] is judged in the sentence that carries it;
    citations dropped for pointing at no block count as unsupported."""
    supported, total = 0, dropped
    for sentence in _SENTENCE_END.split(answer):
        for n in find_citations(sentence):
            total += 1
            supported += n in blocks and sentence_supported(sentence, blocks[n], facts)
    return supported, total


def case_quality(case: GoldenCase, run: CaseRun) -> float | None:
    """One number per case for comparing policies: fact recall when answerable (0 when it
    abstained), 1 or 0 for abstaining when unanswerable."""
    if run.failed:
        return None
    if not case.answerable:
        return 1.0 if run.abstained else 0.0
    if run.abstained:
        return 0.0 if case.answer_facts else None
    return fact_recall(run.answer, case.answer_facts)


def case_correct(case: GoldenCase, run: CaseRun) -> bool | None:
    quality = case_quality(case, run)
    return None if quality is None else quality >= 1.0


def mean(values: Iterable[float | bool | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def latency_ms(runs: Sequence[CaseRun]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for part in LATENCY_PARTS:
        values = [r.latency_s[part] * 1000 for r in runs if part in r.latency_s]
        p50, p95 = percentile(values, 50), percentile(values, 95)
        out[part] = {
            "p50": None if p50 is None else round(p50, 1),
            "p95": None if p95 is None else round(p95, 1),
            "n": len(values),
        }
    return out
