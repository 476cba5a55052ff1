import math

import pytest

from app.answering.prompting import NOT_FOUND_MARKER, ContextBlock
from app.answering.routing import (
    REFUSAL_FACTOR,
    TRUNCATED_FACTOR,
    WEIGHTS,
    components,
    compute_signals,
    confidence,
    decide,
    is_not_found,
    lexical_support,
    nothing_relevant,
    refusal_phrase,
    signal_rows,
)
from app.config import RoutingPolicy
from tests.answering.factories import hit

LEAVE = (
    "Annual leave: full-time employees receive 25 days of paid annual leave per calendar "
    "year. Unused leave up to 5 days may be carried over into the first quarter of the next "
    "year. Requests must be approved by the line manager at least two weeks in advance."
)
EXPENSES = (
    "Expenses: receipts must be submitted within 30 days through the finance portal. "
    "Meals during travel are reimbursed up to 40 euros per day."
)
BLOCKS = [
    ContextBlock(1, hit(LEAVE, rank=1, score=9.0)),
    ContextBlock(2, hit(EXPENSES, rank=2, score=3.0)),
]
HITS = [b.hit for b in BLOCKS]

GOOD = (
    "Full-time employees receive 25 days of paid annual leave per calendar year [1]. Up to 5 "
    "unused days may be carried over into the first quarter of the next year, and requests "
    "must be approved by the line manager two weeks in advance [1]."
)


def signals(
    text, *, finish="stop", incomplete=False, logprobs=None, blocks=BLOCKS, hits=HITS, min_tokens=12
):
    return compute_signals(
        text,
        finish_reason=finish,
        incomplete=incomplete,
        logprobs=logprobs,
        blocks=blocks,
        hits=hits,
        min_draft_tokens=min_tokens,
    )


def auto(s, threshold=0.55):
    return decide(s, policy=RoutingPolicy.AUTO, threshold=threshold)


def test_long_well_cited_supported_draft_is_kept():
    s = signals(GOOD)
    assert s.cited_valid == [1] and s.cited_invalid == []
    assert s.lexical_support is not None and s.lexical_support > 0.9
    assert not s.short and not s.marker and s.refusal is None
    d = auto(s)
    assert not d.escalate
    assert d.confidence > 0.8
    assert "meets the threshold" in d.reasons[0]
    assert any("cites [1]" in r for r in d.reasons)


def test_short_but_grounded_answer_is_kept():
    s = signals("25 days per year [1].")
    assert s.short
    d = auto(s)
    assert not d.escalate, d.reasons
    assert any("short" in r for r in d.reasons)


def test_insufficient_context_marker_escalates_with_zero_confidence():
    s = signals(NOT_FOUND_MARKER)
    assert s.marker
    d = auto(s)
    assert d.escalate and d.confidence == 0.0
    assert any("don't contain the answer" in r for r in d.reasons)


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I cannot find that in the documents.",
        "The provided context does not mention parental leave.",
        "This is not mentioned in the context blocks.",
        "There is no information about parental leave [1].",
    ],
)
def test_refusal_phrases_escalate(text):
    s = signals(text)
    assert s.refusal is not None
    assert auto(s).escalate


def test_refusal_phrase_scales_confidence():
    plain = signals(GOOD)
    refused = signals(GOOD + " The context does not mention part-time staff.")
    assert refused.refusal == "context does not mention"
    assert confidence(refused) == pytest.approx(confidence(plain) * REFUSAL_FACTOR, rel=0.05)


def test_ordinary_negation_is_not_a_refusal():
    assert refusal_phrase("Leave does not carry over beyond 5 days [1].") is None
    assert refusal_phrase("You cannot take more than 25 days [1].") is None


def test_empty_answer_escalates():
    s = signals("   ")
    assert s.empty and s.draft_tokens == 0
    assert auto(s).escalate and confidence(s) == 0.0


def test_length_finish_halves_confidence_and_is_named():
    cut = signals(GOOD, finish="length")
    assert cut.truncated
    assert confidence(cut) == pytest.approx(confidence(signals(GOOD)) * TRUNCATED_FACTOR)
    assert any("token limit" in r for r in auto(cut, threshold=0.9).reasons)


def test_stream_cut_counts_as_truncated():
    s = signals(GOOD, finish=None, incomplete=True)
    assert s.truncated
    assert any("stream was cut" in r for r in auto(s, threshold=0.99).reasons)


def test_uncited_draft_escalates_even_when_long():
    uncited = GOOD.replace("[1]", "")
    s = signals(uncited)
    assert s.cited_valid == []
    d = auto(s)
    assert d.escalate
    assert any("cites none" in r for r in d.reasons)


def test_invalid_citations_are_recorded_and_lower_confidence():
    s = signals(GOOD.replace("advance [1]", "advance [9]"))
    assert s.cited_valid == [1] and s.cited_invalid == [9]
    assert components(s)["citation"] == 0.5
    assert confidence(s) < confidence(signals(GOOD))
    assert any("[9], which does not exist" in r for r in auto(s).reasons)


def test_unsupported_answer_escalates():
    s = signals("Employees get unlimited sabbaticals, stock options and a company car [1].")
    assert s.lexical_support is not None and s.lexical_support < 0.3
    d = auto(s)
    assert d.escalate
    assert any("content words appear" in r for r in d.reasons)


def test_lexical_support_uses_cited_blocks_only():
    # Words from block 2 cited as block 1 are not supported.
    assert lexical_support("Receipts finance portal [1]", BLOCKS, [1]) == 0.0
    assert lexical_support("Receipts finance portal [2]", BLOCKS, [2]) == 1.0
    # Nothing cited: all blocks count.
    assert lexical_support("Receipts finance portal", BLOCKS, []) == 1.0
    assert lexical_support("the of and [1]", BLOCKS, [1]) is None


def test_logprobs_enter_confidence_only_when_present():
    s_none = signals(GOOD)
    assert s_none.mean_logprob is None and "logprob" not in components(s_none)
    sure = signals(GOOD, logprobs=[-0.01, -0.02, -0.03])
    unsure = signals(GOOD, logprobs=[-3.0, -2.5, -4.0, -float("inf")])
    assert sure.mean_logprob == pytest.approx(-0.02)
    assert unsure.min_logprob == -4.0  # -inf from a server is ignored
    assert components(sure)["logprob"] == pytest.approx(math.exp(-0.02))
    assert confidence(sure) > confidence(unsure)
    assert any("unsure" in r for r in auto(unsure).reasons)


def test_retrieval_component_rewards_score_and_margin():
    strong = signals(GOOD, hits=[hit("a", score=20.0), hit("b", rank=2, score=2.0)])
    flat = signals(GOOD, hits=[hit("a", score=2.0), hit("b", rank=2, score=2.0)])
    assert strong.top_score == 20.0 and strong.score_margin == 18.0
    assert components(strong)["retrieval"] > components(flat)["retrieval"]
    assert any("retrieval matched weakly" in r for r in auto(flat).reasons)


def test_confidence_is_the_documented_weighted_geometric_mean():
    s = signals(GOOD)
    parts = components(s)
    total = sum(WEIGHTS[k] for k in parts)
    expected = math.prod(v ** (WEIGHTS[k] / total) for k, v in parts.items())
    assert confidence(s) == pytest.approx(expected)
    assert set(parts) == {"citation", "support", "length", "retrieval"}


def test_a_zero_component_cannot_be_bought_back():
    uncited = signals(GOOD.replace("[1]", ""))
    assert components(uncited)["citation"] == 0.0
    assert confidence(uncited) == 0.0


def test_policies_override_confidence():
    weak, strong = signals(NOT_FOUND_MARKER), signals(GOOD)
    assert decide(strong, policy=RoutingPolicy.ALWAYS, threshold=0.55).escalate
    assert not decide(weak, policy=RoutingPolicy.NEVER, threshold=0.55).escalate
    assert "'never'" in decide(weak, policy=RoutingPolicy.NEVER, threshold=0.55).reasons[0]


def test_threshold_is_respected():
    s = signals(GOOD)
    c = confidence(s)
    assert auto(s, threshold=c + 0.01).escalate
    assert not auto(s, threshold=c).escalate


def test_nothing_relevant_gate():
    assert nothing_relevant([], 0.5)
    assert nothing_relevant([hit("a", score=0.3)], 0.5)
    assert not nothing_relevant([hit("a", score=0.6)], 0.5)


def test_not_found_needs_marker_without_citations():
    assert is_not_found(f" {NOT_FOUND_MARKER}.")
    assert is_not_found("insufficient context")
    assert not is_not_found(f"25 days [1]. {NOT_FOUND_MARKER} for contractors")
    assert not is_not_found("25 days [1].")


def test_signal_rows_cover_every_signal_and_the_decision():
    s = signals(GOOD, logprobs=[-0.1])
    d = auto(s)
    rows = dict(signal_rows(s, d))
    for name in (
        "draft tokens",
        "insufficient-context marker",
        "refusal phrase",
        "finish reason",
        "valid citations",
        "invalid citations",
        "lexical support",
        "mean logprob",
        "min logprob",
        "top BM25 score",
        "margin 1st − 2nd",
        "confidence",
        "policy",
    ):
        assert name in rows
    assert rows["valid citations"] == "[1]"
    assert rows["policy"] == "auto"
