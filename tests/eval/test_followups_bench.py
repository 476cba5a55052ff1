"""The follow-up retrieval benchmark against real servers: the scripted server's good and
bad rewrites over the shipped golden set and knowledge folder."""

from __future__ import annotations

import json
from pathlib import Path

from app.eval.followups.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def test_good_rewrites_help_and_a_bad_one_never_loses_the_users_words(capsys):
    code = main(["--rewriters", "good,bad", "--knowledge", str(ROOT / "knowledge")])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    summary = json.loads(out[-1])
    assert summary["benchmark"] == "followups" and summary["cases"] == 14
    good, bad = summary["rewriters"]["good"], summary["rewriters"]["bad"]
    for run in (good, bad):
        assert run["failed_rewrites"] == 0 and run["unchanged_rewrites"] == 0
    g, b = good["strategies"], bad["strategies"]
    assert g["words"] == b["words"]  # the user's words don't depend on the rewriter
    assert g["rewrite"]["mrr"] > g["words"]["mrr"] and g["fused"]["mrr"] > g["words"]["mrr"]
    # "Not sure." as the only query loses almost everything; it shares no word with any
    # conversation, so it is dropped and the user's words are searched alone.
    assert b["rewrite"]["hit_at_k"] < 0.5
    assert b["fused"] == b["words"]
    assert "| followup-03 | yes | Not sure. | dropped |" in "\n".join(out)
    # Four golden follow-ups stand alone: no rewrite is asked for them, and that costs
    # nothing against fusing their rewrite in.
    assert good["rewrites"]["fused"] == {"searched": 10, "skipped": 4, "dropped": 0}
    assert bad["rewrites"]["fused"] == {"searched": 0, "skipped": 4, "dropped": 10}
    for run in (good, bad):
        alone = run["standalone"]
        assert alone["cases"] == 4 and alone["fused"] == alone["unskipped"]
    assert "| followup-11 | no |" in "\n".join(out)
