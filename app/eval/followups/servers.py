"""The servers that write the rewrites: the bundled Gemma, the scripted server with good
or bad rewrites, or the configured endpoint."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.bench_servers import free_port, serving
from app.config import Settings
from app.eval.golden import GoldenCase

ROOT = Path(__file__).resolve().parents[3]
REWRITERS = ("gemma", "good", "bad", "endpoint")
BAD_REWRITE = "Not sure."
# What a good rewriter would answer, per golden follow-up case.
GOOD_REWRITES = {
    "followup-01": "How do I install Foundry Local on macOS?",
    "followup-02": "What licence is phi-4-mini released under?",
    "followup-03": "What is the default value of k1 in BM25?",
    "followup-04": "How much memory does gpt-oss-20b need?",
    "followup-05": "Can Confidential documents be added to shared knowledge?",
    "followup-06": "How much did FrugalGPT cut costs in the best case?",
    "followup-07": "What does the Escalate step show?",
    "followup-08": "What do the application logs record?",
    "followup-09": "What happens when the confidence is below ESCALATE_BELOW?",
    "followup-10": "What is the default top-k?",
    # Standalone questions: a good rewriter changes little.
    "followup-11": "Which Foundry Local command frees the memory a loaded model uses?",
    "followup-12": "What cost savings does AutoMix report?",
    "followup-13": "How often does the Platform team review the application log settings?",
    "followup-14": "What is the context window of phi-4-mini?",
}


def script_for(name: str, cases: Sequence[GoldenCase]) -> list[dict]:
    """The scripted server's rules: one reply per case (matched on the rewrite prompt's
    "Last question:" line), or "Not sure." to everything."""
    if name == "bad":
        return [{"text": BAD_REWRITE}]
    # A case with no hand-written rewrite (a golden file of your own) gets its own words.
    return [
        {
            "contains": f"Last question: {c.question.strip()}",
            "text": GOOD_REWRITES.get(c.id, c.question),
        }
        for c in cases
    ]


@contextmanager
def rewriter_endpoint(
    name: str, settings: Settings, cases: Sequence[GoldenCase], work: Path
) -> Iterator[tuple[str, str]]:
    """(endpoint, what answers there) for one rewriter, its server running meanwhile."""
    if name == "endpoint":
        yield settings.endpoint, f"{settings.draft_model} at {settings.endpoint}"
        return
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    if name == "gemma":
        args = ["-m", "scripts.local_llm", "--port", str(port), "--names", settings.draft_model]
        what = f"Gemma 3 270M (llama-cpp-python) as {settings.draft_model}"
    else:
        args = ["-m", "tests.support.scripted_llm", "--port", str(port)]
        what = f"scripted server, {'hand-written rewrites' if name == 'good' else BAD_REWRITE!r}"
    log = work / f"{name}.log"
    with serving([sys.executable, *args], f"{url}/models", log, cwd=ROOT, timeout=180):
        if name != "gemma":
            rules = {"rules": script_for(name, cases)}
            httpx.post(f"{url[:-3]}/_script", json=rules, timeout=10).raise_for_status()
        yield url, what
