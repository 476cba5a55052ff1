from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.retrieval.bench import main, mrr_at, ndcg_at, recall_at
from app.retrieval.bench_quality import VARIANTS

ROOT = Path(__file__).resolve().parents[2]


def write_beir(folder: Path) -> Path:
    docs = [
        ("d1", "Vitamin D", "Vitamin D deficiency is linked to bone fractures in older adults."),
        ("d2", "", "Aspirin lowers the risk of heart attacks in some patients."),
        ("d3", "", "Regular exercise improves sleep quality and mood."),
        ("d4", "", "Bone density declines with age, especially after menopause."),
    ]
    queries = [("q1", "vitamin D and bone fractures"), ("q2", "aspirin heart attack risk")]
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": i, "title": t, "text": x}) for i, t, x in docs)
    )
    (folder / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": i, "text": t}) for i, t in queries)
    )
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    return folder


def test_metrics():
    rel = {"a": 1, "b": 1}
    assert ndcg_at(["a", "b", "c"], rel) == 1.0
    assert 0 < ndcg_at(["c", "a"], rel) < 1
    assert recall_at(["c", "a"], rel) == 0.5
    assert mrr_at(["c", "a"], rel) == 0.5
    assert mrr_at(["c"], rel) == 0.0


def test_dataset_run_prints_a_table_then_one_json_line(tmp_path, capsys):
    assert main([str(write_beir(tmp_path / "beir"))]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    report = json.loads(lines[-1])
    assert any("ndcg@10" in line for line in lines[:-1])
    assert set(report["systems"]) == {
        "engine (stopwords+Snowball, inverted index)",
        "rank-bm25 BM25Okapi, whitespace tokens",
        "naive lexical count",
    }
    engine = report["systems"]["engine (stopwords+Snowball, inverted index)"]
    assert engine["ndcg@10"] == 1.0 and engine["recall@10"] == 1.0
    assert report["queries"] == 2 and report["documents"] == 4


def test_cli_entry_point_and_bad_folder(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "app.retrieval.bench", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "corpus.jsonl" in out.stderr


def test_variants_run_prints_a_table_then_one_json_line(tmp_path, capsys):
    assert main([str(write_beir(tmp_path / "beir")), "--variants"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    report = json.loads(lines[-1])
    names = [s["set"] for s in report["sets"]]
    assert names[-1] == "knowledge golden (chunks)"
    # Every query lands in exactly one half (a half with no query is left out).
    halves = [s for s in report["sets"] if s["set"].startswith("beir ")]
    assert {s["set"] for s in halves} <= {"beir A (tune)", "beir B (held out)"}
    assert sum(s["queries"] for s in halves) == 2
    golden = report["sets"][-1]
    assert golden["queries"] > 30  # answerable golden questions with a chunk holding a fact
    for s in report["sets"]:
        rows = s["rows"]
        assert "bm25s (reference, en stopwords + Snowball)" in rows
        assert rows[VARIANTS[0].name]["better/same/worse"][1] == s["queries"]
        assert all(0 <= r["ndcg@10"] <= 1 for r in rows.values())
    # The golden set has headings, so weighting them changes something there.
    heads = golden["rows"]["title + heading path weight 3 (BM25F)"]["better/same/worse"]
    assert heads[0] + heads[2] > 0
    assert any("nDCG@10" in line for line in lines[:-1])
