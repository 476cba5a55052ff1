"""Draft → escalate routing: evidence about the draft, one confidence value, one decision.

Pure functions only. `compute_signals` measures the draft; `decide` turns the signals into a
confidence in [0, 1] and, under the `auto` policy, escalates below a threshold.

The confidence rule
-------------------
Five components, each in [0, 1]:

    citation   share of cited numbers that exist, 0 when nothing valid is cited
    support    share of the draft's content words found in the cited blocks
    length     draft tokens / min_draft_tokens, capped at 1
    retrieval  0.7 · top/(top + RETRIEVAL_SCALE) + 0.3 · (top − second)/top
    logprob    exp(mean token logprob): the geometric-mean token probability

Their weighted geometric mean, Π cᵢ^wᵢ with the weights (`WEIGHTS`) summing to one, is the
base confidence. Geometric rather than arithmetic so that a failing component cannot be bought
back by the others: a draft that cites nothing, or whose words are not in the blocks it cites,
is not rescued by being long or by a strong retrieval score. A component that cannot be
measured (no logprobs from the server; no context blocks, so nothing to cite) is left out and
the other weights renormalise. Then three overrides, because they are direct evidence that
the draft does not answer:

    empty answer or the insufficient-context marker   → 0
    a refusal phrase ("the context does not mention…") → × REFUSAL_FACTOR
    cut off (finish_reason "length", or stream cut)    → × TRUNCATED_FACTOR

Length weighs less than citations and support on purpose: a grounded answer is often short
and right ("30 days [1]."), and the workshop rule "escalate when short" alone would send it
to the large model for nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.answering.citations import check_citations, strip_citations
from app.config import RoutingPolicy
from app.retrieval.analyzer import analyze  # the analyzer BM25 indexes with
from app.tokens import count_tokens

if TYPE_CHECKING:
    from app.answering.prompting import ContextBlock
    from app.retrieval.types import Hit

WEIGHTS = {"citation": 0.30, "support": 0.30, "length": 0.20, "retrieval": 0.10, "logprob": 0.10}
REFUSAL_FACTOR = 0.25
TRUNCATED_FACTOR = 0.5
# BM25 score at which the retrieval term's saturation reaches one half. BM25 scores are not
# normalised; 5 is typical of a query whose two or three key terms all match one chunk.
RETRIEVAL_SCALE = 5.0
# Thresholds for calling a signal out in the reasons (not part of the confidence).
LOW_SUPPORT = 0.5
LOW_MEAN_LOGPROB = -1.0

_MARKER = re.compile(r"INSUFFICIENT[\s_-]*CONTEXT", re.IGNORECASE)

# Phrases with which models decline instead of answering. Kept specific ("the context does
# not mention") so that an answer that merely contains "not" is not taken for a refusal.
_REFUSALS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bI\s+(?:do\s+not|don't|cannot|can't|could\s+not|couldn't|am\s+(?:not\s+able|unable))"
        r"(?:\s+to)?\s+(?:know|find|answer|determine|tell|say|provide|locate|see)\b",
        r"\b(?:provided\s+)?(?:context|documents?|context\s+blocks?|blocks?|sources?|passages?)"
        r"\s+(?:do(?:es)?\s+not|don't|doesn't)\s+(?:contain|provide|mention|include|specify|"
        r"say|cover|address|have|state)\b",
        r"\bnot\s+(?:mentioned|covered|specified|found|provided|stated|available)\s+in\s+the\s+"
        r"(?:provided\s+)?(?:context|documents?|blocks?|sources?|passages?)",
        r"\bno\s+(?:relevant\s+)?information\s+(?:about|on|regarding|is\s+(?:given|provided))",
        r"\binsufficient\s+information\b",
        r"\bas\s+an\s+AI\b",
    )
]


def has_marker(text: str) -> bool:
    return _MARKER.search(text) is not None


def is_not_found(text: str) -> bool:
    """The answer is the insufficient-context reply: the marker, and nothing cited beside it."""
    return has_marker(text) and not re.search(r"\[\d+\]", text)


def refusal_phrase(text: str) -> str | None:
    for pattern in _REFUSALS:
        m = pattern.search(text)
        if m:
            return m.group(0)
    return None


@dataclass(frozen=True, slots=True)
class Signals:
    """Everything measured about one draft. All values are recorded on the result."""

    draft_tokens: int  # answer tokens by the project's tokenizer; reasoning excluded
    min_draft_tokens: int  # the "short answer" threshold in force
    empty: bool
    marker: bool  # the insufficient-context marker appears
    refusal: str | None  # the refusal phrase found, if any
    finish_reason: str | None
    truncated: bool  # finish_reason "length", or the stream was cut
    context_blocks: int
    cited_valid: list[int]
    cited_invalid: list[int]
    lexical_support: float | None  # None when the draft has no content words
    mean_logprob: float | None  # None when the server sent no logprobs
    min_logprob: float | None
    top_score: float | None  # None when nothing was retrieved
    score_margin: float | None  # top minus second score; None with fewer than two hits

    @property
    def short(self) -> bool:
        return self.draft_tokens < self.min_draft_tokens


def lexical_support(
    answer: str, blocks: Sequence[ContextBlock], cited: Sequence[int]
) -> float | None:
    """Share of the answer's distinct content words (stemmed) found in the cited blocks.

    Falls back to all blocks when nothing valid is cited; the citation component already
    penalises that, and an uncited answer can still be well supported.
    """
    words = set(analyze(strip_citations(_MARKER.sub(" ", answer))))
    if not words:
        return None
    wanted = set(cited)
    sources = [b for b in blocks if b.n in wanted] or list(blocks)
    if not sources:
        return 0.0
    vocabulary: set[str] = set()
    for b in sources:
        vocabulary.update(analyze(b.hit.chunk.text))
    return len(words & vocabulary) / len(words)


def compute_signals(
    answer: str,
    *,
    finish_reason: str | None,
    incomplete: bool,
    logprobs: Sequence[float] | None,
    blocks: Sequence[ContextBlock],
    hits: Sequence[Hit],
    min_draft_tokens: int,
) -> Signals:
    text = answer.strip()
    check = check_citations(text, blocks)
    ranked = sorted(hits, key=lambda h: h.rank)
    top = ranked[0].score if ranked else None
    margin = ranked[0].score - ranked[1].score if len(ranked) > 1 else None
    finite = [lp for lp in (logprobs or []) if math.isfinite(lp)]
    return Signals(
        draft_tokens=count_tokens(text) if text else 0,
        min_draft_tokens=min_draft_tokens,
        empty=not text,
        marker=has_marker(text),
        refusal=refusal_phrase(text),
        finish_reason=finish_reason,
        truncated=finish_reason == "length" or incomplete,
        context_blocks=len(blocks),
        cited_valid=sorted(check.valid),
        cited_invalid=sorted(check.invalid),
        lexical_support=lexical_support(text, blocks, list(check.valid)) if text else None,
        mean_logprob=sum(finite) / len(finite) if finite else None,
        min_logprob=min(finite) if finite else None,
        top_score=top,
        score_margin=margin,
    )


def components(s: Signals) -> dict[str, float]:
    """The measurable components of the confidence rule, each in [0, 1]."""
    out: dict[str, float] = {}
    if s.context_blocks:
        total = len(s.cited_valid) + len(s.cited_invalid)
        out["citation"] = len(s.cited_valid) / total if s.cited_valid else 0.0
    out["support"] = s.lexical_support or 0.0
    out["length"] = (
        1.0 if s.min_draft_tokens <= 0 else min(1.0, s.draft_tokens / s.min_draft_tokens)
    )
    if s.top_score is not None and s.top_score > 0:
        saturation = s.top_score / (s.top_score + RETRIEVAL_SCALE)
        margin = (s.score_margin / s.top_score) if s.score_margin is not None else 1.0
        out["retrieval"] = 0.7 * saturation + 0.3 * min(1.0, max(0.0, margin))
    elif s.top_score is not None:
        out["retrieval"] = 0.0
    if s.mean_logprob is not None:
        out["logprob"] = math.exp(min(0.0, s.mean_logprob))
    return out


def confidence(s: Signals) -> float:
    """The documented rule (module docstring): weighted geometric mean, then overrides."""
    if s.empty or s.marker:
        return 0.0
    parts = components(s)
    weight = sum(WEIGHTS[k] for k in parts)
    if not weight or min(parts.values()) <= 0.0:
        return 0.0
    value = math.exp(sum(WEIGHTS[k] * math.log(v) for k, v in parts.items()) / weight)
    if s.refusal:
        value *= REFUSAL_FACTOR
    if s.truncated:
        value *= TRUNCATED_FACTOR
    return max(0.0, min(1.0, value))


@dataclass(frozen=True, slots=True)
class Decision:
    escalate: bool
    confidence: float
    policy: RoutingPolicy
    threshold: float
    reasons: list[str] = field(default_factory=list)  # plain words, most important first


def _findings(s: Signals) -> tuple[list[str], list[str]]:
    """(concerns, strengths) in plain words."""
    concerns: list[str] = []
    strengths: list[str] = []
    if s.empty:
        concerns.append("the draft is empty")
    if s.marker:
        concerns.append("the draft says the documents don't contain the answer")
    if s.refusal:
        concerns.append(f"the draft declines to answer (“{s.refusal}”)")
    if s.finish_reason == "length":
        concerns.append("the draft was cut off at the token limit")
    elif s.truncated:
        concerns.append("the draft's stream was cut before it finished")
    if s.empty or s.marker:
        return concerns, strengths
    if s.short:
        concerns.append(f"the draft is short ({s.draft_tokens} tokens, under {s.min_draft_tokens})")
    else:
        strengths.append(f"the draft is {s.draft_tokens} tokens long")
    if s.context_blocks and not s.cited_valid:
        concerns.append("the draft cites none of the context blocks")
    elif s.cited_valid:
        strengths.append("it cites " + ", ".join(f"[{n}]" for n in s.cited_valid))
    if s.cited_invalid:
        listing = ", ".join(f"[{n}]" for n in s.cited_invalid)
        concerns.append(
            f"it cites {listing}, which {'does' if len(s.cited_invalid) == 1 else 'do'} not exist"
        )
    if s.lexical_support is not None:
        pct = round(s.lexical_support * 100)
        where = "the cited blocks" if s.cited_valid else "the context"
        if s.lexical_support < LOW_SUPPORT:
            concerns.append(f"only {pct}% of its content words appear in {where}")
        else:
            strengths.append(f"{pct}% of its content words appear in {where}")
    if s.mean_logprob is not None and s.mean_logprob < LOW_MEAN_LOGPROB:
        concerns.append(f"the model was unsure of its words (mean logprob {s.mean_logprob:.2f})")
    if s.top_score is not None and s.top_score < RETRIEVAL_SCALE / 2:
        concerns.append(f"retrieval matched weakly (top score {s.top_score:.2f})")
    return concerns, strengths


def decide(s: Signals, *, policy: RoutingPolicy, threshold: float) -> Decision:
    value = confidence(s)
    concerns, strengths = _findings(s)
    if policy is RoutingPolicy.ALWAYS:
        head = "routing policy is 'always': every question goes to the larger model"
        return Decision(True, value, policy, threshold, [head, *concerns])
    if policy is RoutingPolicy.NEVER:
        head = "routing policy is 'never': the draft is always kept"
        return Decision(False, value, policy, threshold, [head, *concerns])
    if value < threshold:
        head = f"confidence {value:.2f} is below the threshold {threshold:.2f}"
        return Decision(True, value, policy, threshold, [head, *concerns])
    head = f"confidence {value:.2f} meets the threshold {threshold:.2f}"
    return Decision(False, value, policy, threshold, [head, *strengths, *concerns])


def nothing_relevant(hits: Sequence[Hit], min_score: float) -> bool:
    """Retrieval found nothing worth answering from: escalating would only hallucinate."""
    return not hits or max(h.score for h in hits) < min_score


def signal_rows(s: Signals, decision: Decision | None = None) -> list[tuple[str, str]]:
    """(signal, value) for every signal, formatted for a table."""

    def num(v: float | None, fmt: str = ".2f") -> str:
        return "—" if v is None else format(v, fmt)

    def nums(ns: Sequence[int]) -> str:
        return ", ".join(f"[{n}]" for n in ns) if ns else "none"

    rows = [
        ("draft tokens", f"{s.draft_tokens} (short under {s.min_draft_tokens})"),
        ("empty", "yes" if s.empty else "no"),
        ("insufficient-context marker", "yes" if s.marker else "no"),
        ("refusal phrase", f"“{s.refusal}”" if s.refusal else "none"),
        ("finish reason", s.finish_reason or ("— (stream cut)" if s.truncated else "—")),
        ("cut off", "yes" if s.truncated else "no"),
        ("context blocks", str(s.context_blocks)),
        ("valid citations", nums(s.cited_valid)),
        ("invalid citations", nums(s.cited_invalid)),
        ("lexical support", "—" if s.lexical_support is None else f"{s.lexical_support:.0%}"),
        ("mean logprob", num(s.mean_logprob)),
        ("min logprob", num(s.min_logprob)),
        ("top BM25 score", num(s.top_score)),
        ("margin 1st − 2nd", num(s.score_margin)),
    ]
    if decision is not None:
        for name, value in components(s).items():
            rows.append((f"component: {name} (weight {WEIGHTS[name]:.2f})", f"{value:.2f}"))
        rows.append(("confidence", f"{decision.confidence:.2f}"))
        rows.append(("threshold", f"{decision.threshold:.2f}"))
        rows.append(("policy", decision.policy.value))
    return rows
