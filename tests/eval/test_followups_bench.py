"""The follow-up retrieval benchmark against real servers: the scripted server's good and
bad rewrites over the shipped golden set and knowledge folder."""

from __future__ import annotations

import json
from pathlib import Path

from app.answering.options import AnswerConfig
from app.answering.prompting import clean_rewrite
from app.config import load_settings
from app.eval.followups.__main__ import main
from app.eval.followups.measure import first_line_reply
from app.llm.gateway import LLMGateway

ROOT = Path(__file__).resolve().parents[2]


def test_good_rewrites_help_and_a_bad_one_never_loses_the_users_words(capsys):
    code = main(["--rewriters", "good,bad", "--knowledge", str(ROOT / "knowledge")])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    summary = json.loads(out[-1])
    assert summary["benchmark"] == "followups" and summary["cases"] == 10
    good, bad = summary["rewriters"]["good"], summary["rewriters"]["bad"]
    for run in (good, bad):
        assert run["failed_rewrites"] == 0 and run["unchanged_rewrites"] == 0
    g, b = good["strategies"], bad["strategies"]
    assert g["words"] == b["words"]  # the user's words don't depend on the rewriter
    assert g["rewrite"]["mrr"] > g["words"]["mrr"] and g["fused"]["mrr"] > g["words"]["mrr"]
    # "Not sure." as the only query loses almost everything; fused with the user's words,
    # every case still finds its file in the top k.
    assert b["rewrite"]["hit_at_k"] < 0.5
    assert b["fused"]["hit_at_k"] == b["words"]["hit_at_k"] == 1.0
    assert "| followup-03 | yes | Not sure. |" in "\n".join(out)


async def test_first_line_reply_hangs_up_after_the_first_line(llm):
    # The rest of the reply is held by the server: reading on would wait for it and return it.
    chunks = ["\n", "Standalone question: What ", "is k1?\n", "And then some", " rambling."]
    llm.script([{"chunks": chunks, "hold_after": 3, "hold": "rest"}])
    settings = load_settings(endpoint=llm.base_url)
    gateway = LLMGateway(settings)
    try:
        model = AnswerConfig.from_settings(settings).draft_model
        text, error = await first_line_reply(gateway, model, [{"role": "user", "content": "q"}])
    finally:
        await gateway.aclose()
        llm.release("rest")
    assert error is None and "rambling" not in text and "And then" not in text
    assert clean_rewrite(text, "q") == "What is k1?"
