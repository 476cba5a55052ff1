"""The pipeline latency benchmark runs end to end against a real (scripted) server."""

import json

from app.answering.bench import QUESTIONS, main
from tests.support.processes import ROOT


def test_pipeline_bench_prints_a_table_and_a_json_line(llm, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KNOWLEDGE_DIR", str(ROOT / "knowledge"))
    monkeypatch.setenv("INDEX_DIR", str(tmp_path / "index"))
    assert main(["--endpoint", llm.base_url, "--max-tokens", "32"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    report = json.loads(out[-1])
    assert report["runs"] == len(QUESTIONS)
    assert report["ttft_ratio"] > 0 and report["total_ratio"] > 0
    assert sum(report["routes"].values()) == len(QUESTIONS)
    assert any(line.startswith("median first token: pipeline") for line in out)
    # Each question was asked twice per run (bare, then through the pipeline) plus a warm-up.
    bare = [r for r in llm.requests if r["messages"][0]["role"] == "user"]
    assert len(bare) == len(QUESTIONS) + 1


def test_pipeline_bench_reports_an_unreachable_endpoint_in_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KNOWLEDGE_DIR", str(tmp_path))
    assert main(["--endpoint", "http://127.0.0.1:9/v1"]) == 1
    err = capsys.readouterr().err
    assert "Could not reach the language model server at http://127.0.0.1:9/v1" in err
