"""Small builders for retrieval hits and answer results used across the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.answering.result import AnswerResult, Route
from app.retrieval.types import Chunk, Hit


def write_folder(folder: Path, files: dict[str, str]) -> Path:
    """`folder`, created, holding `files` (name -> text)."""
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def answer_result(**fields: Any) -> AnswerResult:
    """A drafted answer to "Q?"; `fields` override any part of it."""
    base: dict[str, Any] = dict(
        question="Q?",
        searched_query="Q?",
        scope=None,
        answer="An answer [1].",
        route=Route.DRAFT_KEPT,
        reasons=[],
    )
    return AnswerResult(**{**base, **fields})


def hit(
    text: str,
    *,
    rank: int = 1,
    score: float = 8.0,
    source: str = "handbook.md",
    section: str | None = None,
    page: int | None = None,
) -> Hit:
    chunk = Chunk(
        id=f"doc:{rank}",
        doc_id="doc",
        source=source,
        title=source.rsplit(".", 1)[0],
        section=section,
        page=page,
        start=0,
        end=len(text),
        text=text,
    )
    return Hit(chunk=chunk, score=score, rank=rank)
