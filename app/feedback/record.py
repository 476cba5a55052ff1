"""The record kept on each answer message (`metadata["turn"]`), so a later thumbs up/down
can be exported with the question, the route, the models, the router's view and the
sources, without re-running anything."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from app.answering import AnswerResult

TURN_KEY = "turn"


def source_of(n: int, hit: Any) -> dict[str, Any]:
    chunk = hit.chunk
    return {
        "n": n,
        "source": chunk.source,
        "title": chunk.title,
        "page": chunk.page,
        "section": chunk.section,
        "score": round(hit.score, 4),
    }


def turn_record(result: AnswerResult) -> dict[str, Any]:
    """Plain JSON (Chainlit stores step metadata as JSON text)."""
    return {
        "question": result.question,
        "searched_query": result.searched_query,
        "answer": result.answer,
        "route": result.route.value,
        "models": result.models,
        "confidence": result.confidence,
        "signals": asdict(result.signals) if result.signals is not None else None,
        "reasons": list(result.reasons),
        "sources": [source_of(n, hit) for n, hit in sorted(result.citations.items())],
        "timings": {
            "ttft_s": result.ttft_s,
            "total_s": result.total_s,
            "steps": {s.step: round(s.seconds, 4) for s in result.steps},
        },
        "tokens": {"prompt": result.prompt_tokens, "completion": result.completion_tokens},
    }
