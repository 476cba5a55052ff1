"""app.eval and app.compare against the bundled Gemma 3 270M server. Plumbing only: its
answers are not graded here, only that every figure is produced or honestly null."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.compare.__main__ import main as compare_main
from app.eval.__main__ import main as eval_main

pytestmark = pytest.mark.real_llm
REPO = Path(__file__).resolve().parents[2]
FIVE = ("single-01", "numeric-10", "multi-02", "followup-01", "unanswerable-01")


@pytest.fixture
def env(local_llm: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOUNDRY_LOCAL_ENDPOINT", local_llm)
    monkeypatch.setenv("MAX_ANSWER_TOKENS", "32")
    monkeypatch.setenv("READ_TIMEOUT_S", "300")
    monkeypatch.setenv("KNOWLEDGE_DIR", str(REPO / "knowledge"))
    monkeypatch.setenv("INDEX_DIR", str(tmp_path / "index"))
    return tmp_path


def test_eval_on_five_cases(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = (REPO / "eval" / "golden.jsonl").read_text().splitlines()
    golden = env / "five.jsonl"
    golden.write_text("\n".join(ln for ln in lines if json.loads(ln)["id"] in FIVE) + "\n")
    code = eval_main(
        [
            "--golden",
            str(golden),
            "--knowledge",
            str(REPO / "knowledge"),
            "--out",
            str(env / "out"),
            "--policies",
            "never,always",
        ]
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["cases"] == 5
    assert summary["policies"]["never"]["retrieval_hit_at_k"] is not None
    assert summary["policies"]["always"]["escalation_rate"] > 0
    assert (env / "out" / "report.md").exists()


def test_compare_with_context(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = compare_main(["--with-context", "--repeats", "1", "--max-tokens", "16"])
    models = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["models"]
    assert code == 0
    assert all(m["ttft_ms_p50"] and m["ttft_ms_p50"] > 0 for m in models.values())
