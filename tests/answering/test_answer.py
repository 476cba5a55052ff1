from app.answering.model_calls import MarkerGate
from app.answering.prompting import NOT_FOUND_MARKER
from app.answering.rendering import (
    format_cost,
    format_duration,
    render_footer,
    render_not_found,
    render_retrieval,
    render_route,
    render_sources_only,
)
from app.answering.result import ModelUsage, Route, cost
from tests.answering.factories import answer_result as result
from tests.answering.factories import hit


def test_durations():
    assert format_duration(0.004) == "4 ms"
    assert format_duration(0.3104) == "310 ms"
    assert format_duration(1.94) == "1.9 s"
    assert format_duration(12.4) == "12 s"


def test_cost_and_its_format():
    assert cost(2000, 500, 0.5, 1.5) == 2000 / 1000 * 0.5 + 500 / 1000 * 1.5
    assert format_cost(0) == "$0"
    assert format_cost(0.00123) == "$0.0012"
    assert format_cost(1.5) == "$1.50"


def test_footer_for_an_escalated_answer():
    r = result(
        route=Route("escalated"),
        usage={
            "phi-4-mini": ModelUsage(1000, 20, 0.0),
            "gpt-oss-20b": ModelUsage(1234, 190, 0.0125),
        },
        ttft_s=0.18,
        total_s=6.43,
    )
    assert render_footer(r) == (
        "phi-4-mini → gpt-oss-20b · escalated · first token 180 ms · 6.4 s · "
        "2,234 in / 210 out · $0.01"
    )
    assert r.total_cost == 0.0125 and r.models == ["phi-4-mini", "gpt-oss-20b"]


def test_footer_without_a_model_and_when_incomplete():
    assert render_footer(result(route=Route("nothing_found"), ttft_s=0.002, total_s=0.002)) == (
        "no model answered · nothing found · first token 2 ms · 2 ms"
    )
    # The draft model was tried but never answered: it isn't listed as used.
    down = result(route=Route("sources_only"), usage={"phi-4-mini": ModelUsage()}, total_s=0.02)
    assert render_footer(down) == "no model answered · sources only · 20 ms"
    footer = render_footer(
        result(usage={"phi-4-mini": ModelUsage(10, 5)}, incomplete=True, total_s=1.0)
    )
    assert footer == "phi-4-mini · draft kept · incomplete · 1.0 s · 10 in / 5 out · $0"


def test_not_found_lists_what_was_searched():
    text = render_not_found(
        "And for contractors?",
        "How many leave days do contractors get?",
        hits=[
            hit("x", source="leave.md", section="Annual", score=1.234),
            hit("y", rank=2, source="hr.pdf", page=2, score=0.9),
        ],
        scope_label="the shared documents",
    )
    assert text.startswith("I couldn't find the answer to this in the documents.")
    assert (
        "Searched the shared documents for “And for contractors?” and its standalone form "
        "“How many leave days do contractors get?”."
    ) in text
    assert "- leave.md · Annual (score 1.23)" in text
    assert "- hr.pdf · p. 2 (score 0.90)" in text
    assert NOT_FOUND_MARKER not in text


def test_not_found_without_hits():
    text = render_not_found("Q?", "Q?")
    assert "Searched the documents for “Q?”." in text
    assert "No passage matched" in text


def test_sources_only_numbers_passages_in_rank_order():
    text = render_sources_only(
        [hit("second " * 100, rank=2, source="b.md"), hit("first passage", source="a.md", page=4)]
    )
    assert text.index("[1] **a.md · p. 4**: first passage") < text.index("[2] **b.md**")
    assert "…" in text  # long passages are excerpted
    assert "unavailable" in render_sources_only([])


def test_retrieval_and_route_markdown():
    md = render_retrieval(["leave | days"], [hit("a|b", score=3.5, section="S")])
    assert "**Query:** `leave | days`" in md
    assert "| 1 | handbook.md · S | 3.50 | a\\|b |" in md
    assert "No chunk matched" in render_retrieval(["q"], [])
    route = render_route("escalate", ["short"], [("draft tokens", "3")])
    assert route.splitlines()[0] == "**escalate**"
    assert "- short" in route and "| draft tokens | 3 |" in route


def test_marker_gate_hides_the_marker_but_not_other_text():
    gate = MarkerGate()
    out = "".join(gate.feed(p) for p in ["INSUFF", "ICIENT_", "CONTEXT"]) + gate.flush()
    assert out == ""
    gate = MarkerGate()
    pieces = ["In", "deed, 25 days [1]."]
    assert "".join(gate.feed(p) for p in pieces) + gate.flush() == "Indeed, 25 days [1]."
    gate = MarkerGate()
    assert gate.feed("Full") == "Full"  # ordinary text is not held back
    gate = MarkerGate()
    assert gate.feed("  ") == "" and gate.flush() == "  "


def test_sources_only_excerpts_drop_markdown_heading_markers():
    from app.answering.rendering import render_sources_only
    from app.retrieval.types import Chunk, Hit

    chunk = Chunk(
        "d:0", "d", "a.md", "A", "A › Port", None, 0, 10, "### The port\nIt moves. C# ok."
    )
    text = render_sources_only([Hit(chunk, 2.0, 1)])
    assert "The port It moves. C# ok." in text
    assert "###" not in text
