"""Pure metric functions on hand-made inputs whose right answers are worked out by hand."""

from __future__ import annotations

import pytest

from app.eval.calibrate import choose_threshold, cross_validate, folds
from app.eval.golden import GoldenCase, fact_found
from app.eval.metrics import (
    citation_counts,
    fact_recall,
    percentile,
    reciprocal_rank,
    retrieval_hit,
)
from app.eval.records import CaseRun
from app.eval.router_figures import Paired, auroc, draft_auroc, replay, sweep


def test_facts_match_whole_words_ignoring_case_punctuation_and_citations() -> None:
    assert fact_found("16 GB|16gb", "It needs about 16gb of memory [2].")
    assert fact_found("gpt-oss-20b", "Use GPT OSS 20B.")
    assert not fact_found("5", "It takes 15 days [5].")  # whole words; citations ignored
    assert fact_recall("25 days, 5 carried over", ["25 days", "5", "90"]) == pytest.approx(2 / 3)
    assert fact_recall("anything", []) is None


def test_retrieval_hit_and_reciprocal_rank() -> None:
    ranked = ["a.md", "b.md", "c.md"]
    assert retrieval_hit(ranked, ["c.md"], k=3) is True
    assert retrieval_hit(ranked, ["c.md"], k=2) is False
    assert reciprocal_rank(ranked, ["b.md", "c.md"]) == 0.5
    assert reciprocal_rank(ranked, ["z.md"]) == 0.0
    assert retrieval_hit(ranked, [], k=3) is None and reciprocal_rank(ranked, []) is None


def test_citation_precision_counts_each_citation_in_its_sentence() -> None:
    blocks = {1: "Passwords are rotated every 90 days.", 2: "Lost badges go to the desk."}
    answer = "Passwords are rotated every 90 days [1]. Employees get free lunch [2]."
    # [1] supports its sentence; [2] does not; the dropped [7] counts against.
    assert citation_counts(answer, blocks, ["90 days"], dropped=1) == (1, 3)


def test_auroc_on_a_constructed_case() -> None:
    assert auroc([0.9, 0.8, 0.3, 0.1], [True, True, False, False]) == 1.0
    assert auroc([0.9, 0.8, 0.3, 0.1], [False, False, True, True]) == 0.0
    # One tie between a correct and an incorrect draft: (3 wins + 0.5) / 4.
    assert auroc([0.9, 0.5, 0.5, 0.1], [True, True, False, False]) == pytest.approx(3.5 / 4)
    assert auroc([0.9, 0.8], [True, True]) is None  # undefined with one class


def test_draft_auroc_reads_the_never_run() -> None:
    cases = [GoldenCase(f"c{i}", "single", "q", answer_facts=("yes",)) for i in range(3)]
    runs = [
        CaseRun("c0", "single", "never", answer="yes", confidence=0.9),
        CaseRun("c1", "single", "never", answer="no", confidence=0.2),
        CaseRun("c2", "single", "never", failed="down", confidence=0.1),  # left out
    ]
    assert draft_auroc(cases, runs) == 1.0


PAIRED = [  # confidence, quality kept / escalated, cost kept / escalated
    Paired(0.9, 1.0, 1.0, 1.0, 11.0),
    Paired(0.7, 1.0, 1.0, 1.0, 11.0),
    Paired(0.4, 0.0, 1.0, 1.0, 11.0),
    Paired(None, 1.0, 1.0, 0.0, 0.0),  # nothing found: never escalated
]


def test_replay_escalates_below_the_threshold() -> None:
    point = replay(PAIRED, 0.5)
    assert point["escalation_rate"] == 0.25
    assert point["quality"] == 1.0
    assert point["cost_usd"] == 1 + 1 + 11 + 0
    points = sweep(PAIRED, steps=4)
    assert [p["escalation_rate"] for p in points] == [0.0, 0.0, 0.25, 0.5, 0.75]
    assert points[0]["quality"] == 0.75


def test_calibration_picks_the_cheapest_threshold_that_keeps_quality() -> None:
    assert choose_threshold(PAIRED) == 0.45  # first sweep point above 0.4
    assert folds(5, 2) == [[0, 2, 4], [1, 3]]
    result = cross_validate(PAIRED * 3, k=3)
    assert result["threshold"] == 0.45 and result["k"] == 3
    assert result["held_out_quality_retained"] == 1.0


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10.0], 95) == 10.0
    assert percentile([], 50) is None
