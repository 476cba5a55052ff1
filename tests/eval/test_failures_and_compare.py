"""An endpoint that goes down mid-run, the feedback converter, and app.compare, all against
real servers and files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import compare
from app.answering import Answerer
from app.compare.__main__ import main as compare_main
from app.config import load_settings
from app.eval.__main__ import write_outputs
from app.eval.feedback import convert_lines
from app.eval.golden import load_golden, parse_case
from app.eval.report import build_report
from app.eval.runner import run_all
from app.llm.gateway import LLMGateway
from app.retrieval.library import Library
from tests.eval.conftest import write_golden
from tests.eval.test_harness import CASES, RULES, USAGE
from tests.support.scripted_llm import ScriptedLLM


async def test_endpoint_down_mid_run_writes_a_partial_report(tmp_path: Path, knowledge: Path):
    server = ScriptedLLM().start()
    server.script(RULES)
    settings = load_settings(
        endpoint=server.base_url,
        knowledge_dir=knowledge,
        index_dir=tmp_path / "index",
        connect_timeout_s=2,
    )
    cases = load_golden(write_golden(tmp_path / "g.jsonl", CASES))
    gateway = LLMGateway(settings)

    def stop_after_first(done: int, total: int, label: str) -> None:
        if done == 1:
            server.stop()  # the server really goes away: connections are refused

    try:
        answerer = Answerer(Library.open(settings), gateway, settings)
        runs = await run_all(
            answerer, cases, ["never"], settings=settings, progress=stop_after_first
        )
    finally:
        await gateway.aclose()
    report = build_report(cases, runs, ["never"], k=5, meta=_meta(settings))
    write_outputs(tmp_path / "out", report, cases)
    # The first case ran; the capital case needs no model; the other two are marked failed.
    assert report["failed"] == ["parental", "passwords"]
    assert report["policies"]["never"]["overall"]["failed"] == 2
    assert report["policies"]["never"]["overall"]["fact_recall"] == 1.0
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Failed cases" in md and "passwords" in md


def _meta(settings) -> dict:
    return {
        "golden": "g",
        "knowledge": "k",
        "endpoint": settings.endpoint,
        "draft_model": "d",
        "escalation_model": "e",
        "machine": "m",
        "started": "s",
        "seconds": 0.0,
        "top_k": 5,
        "escalate_below": 0.55,
    }


def test_feedback_rows_become_golden_cases() -> None:
    rows = [
        {
            "question": "How much memory?",
            "answer": "About `16 GB` [1].",
            "rating": "up",
            "sources": ["models.html"],
            "route": "draft_kept",
        },
        {
            "question": "Wi-Fi password?",
            "answer": "Not found.",
            "rating": 1,
            "route": "nothing_found",
        },
        {
            "question": "And its licence?",
            "answer": "GPL",
            "rating": "down",
            "comment": "MIT!",
            "history": [{"question": "What is phi-4-mini?", "answer": "A small model."}],
        },
    ]
    cases = convert_lines(json.dumps(r) for r in rows)
    assert [c.category for c in cases] == ["single", "unanswerable", "followup"]
    assert cases[0].answer_facts == ("16 GB",) and cases[0].review
    assert cases[2].notes == "MIT!" and cases[2].review and not cases[2].answer_facts
    for case in cases:  # what the converter writes, the golden loader reads back
        assert parse_case(json.loads(json.dumps(case.to_json()))) == case
    with pytest.raises(ValueError, match="line 1"):
        convert_lines(['{"question": "q", "answer": "a", "rating": "meh"}'])


def test_compare_cli_against_the_scripted_server(llm, monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOUNDRY_LOCAL_ENDPOINT", llm.base_url)
    monkeypatch.setenv("ESCALATION_PRICE_IN_PER_1K", "10")
    monkeypatch.setenv("ESCALATION_PRICE_OUT_PER_1K", "20")
    llm.script([{"text": "Twenty-five days.", "usage": USAGE}])
    code = compare_main(["--prompt", "How many days?", "--repeats", "2"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    models = json.loads(out[-1])["models"]
    assert set(models) == {"phi-4-mini", "gpt-oss-20b"}
    assert models["gpt-oss-20b"]["cost_usd"] == pytest.approx(12.0)
    assert models["phi-4-mini"]["cost_usd"] == 0.0 and models["phi-4-mini"]["tokens_out_p50"] == 100
    assert len(llm.requests) == 2 * 3  # a warm-up and two measured calls per model
    assert all(r["temperature"] == 0 and r["stream"] for r in llm.requests)


async def test_compare_view_gives_both_models_the_same_context(llm, knowledge, tmp_path):
    settings = load_settings(
        endpoint=llm.base_url, knowledge_dir=knowledge, index_dir=tmp_path / "index"
    )
    gateway = LLMGateway(settings)
    try:
        events = compare.stream_comparison(
            "How often are passwords rotated?", Library.open(settings), gateway, settings
        )
        result = await compare.final_comparison(events)
    finally:
        await gateway.aclose()
    assert [a.model for a in result.answers] == ["phi-4-mini", "gpt-oss-20b"]
    assert all(a.sample and a.sample.text for a in result.answers)
    assert result.sources[0].startswith("security.md")
    bodies = [r["messages"] for r in llm.requests]
    assert bodies[0] == bodies[1]
    assert result.chart_png[:8] == b"\x89PNG\r\n\x1a\n"


async def test_compare_streams_each_answer_and_keeps_one_when_the_other_breaks_mid_stream(
    llm, knowledge, tmp_path
):
    llm.script(
        [
            {
                "model": "phi",
                "chunks": ["Passwords are ", "rotated every ", "ninety days [1]."],
                "cut_after": 2,
                "cut_mode": "abort",
            },
            {"model": "gpt-oss", "chunks": ["Every 90 ", "days [1]."]},
        ]
    )
    settings = load_settings(
        endpoint=llm.base_url, knowledge_dir=knowledge, index_dir=tmp_path / "index"
    )
    gateway = LLMGateway(settings)
    try:
        events = [
            e
            async for e in compare.stream_comparison(
                "How often are passwords rotated?", Library.open(settings), gateway, settings
            )
        ]
    finally:
        await gateway.aclose()
    assert isinstance(events[0], compare.ContextReady) and events[0].sources[0].startswith(
        "security.md"
    )
    shape = [
        (type(e).__name__, getattr(e, "model", None) or getattr(e, "text", None)) for e in events
    ]
    tokens = [(e.model, e.text) for e in events if isinstance(e, compare.ModelToken)]
    # Each model's tokens arrive between its start and its finish, one model after the other.
    assert [type(e) for e in events[1:]] == [
        compare.ModelStarted,
        compare.ModelToken,
        compare.ModelToken,
        compare.ComparedAnswer,
        compare.ModelStarted,
        compare.ModelToken,
        compare.ModelToken,
        compare.ComparedAnswer,
        compare.Comparison,
    ], shape
    assert tokens == [
        ("phi-4-mini", "Passwords are "),
        ("phi-4-mini", "rotated every "),
        ("gpt-oss-20b", "Every 90 "),
        ("gpt-oss-20b", "days [1]."),
    ]
    broken, whole = events[-1].answers
    assert broken.sample is not None and broken.sample.text == "Passwords are rotated every"
    assert broken.error and "connection" in broken.error
    assert whole.error is None and whole.sample and whole.sample.text == "Every 90 days [1]."
    assert events[-1].chart_png[:8] == b"\x89PNG\r\n\x1a\n"
