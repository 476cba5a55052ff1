"""Turn rows of the chat's feedback export into golden cases for review.

Accepted row (one JSON object per line; unknown fields are ignored, so the export may
carry more):

    {"question": str,                       required
     "answer": str,                         required: the answer that was rated
     "rating": "up" | "down" | 1 | -1 | 1–5 | true | false,   required (≥ 4 of 5 is up)
     "comment": str,                        optional: kept in `notes`
     "route": "draft_kept" | "escalated" | "nothing_found" | …,  optional
     "history": [{"question": str, "answer": str}],  optional: earlier turns
     "sources": [str],                      optional: file names of the cited passages
     "expected": str | [str],               optional: facts the rater says a right answer has
     "id": str}                             optional

Rules: a thumbs-up on a "nothing found" answer is an `unanswerable` case; any other row is
`followup` when it has history, else `single`. Facts come from `expected`; failing that,
from a thumbs-up answer's numbers and `code` spans; a row whose facts were guessed, or that
has none, is marked `"review": true`, because only a person can say what the right answer
contains.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from app.answering.citations import strip_citations
from app.eval.golden import GoldenCase

_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?(?:\s?(?:%|GB|MB|ms|s|days|tokens))?")
_CODE = re.compile(r"`([^`\n]{2,60})`")


def positive(rating: object) -> bool | None:
    if isinstance(rating, bool):
        return rating
    if isinstance(rating, int | float):
        return rating >= 4 if rating > 1 else rating > 0
    if isinstance(rating, str):
        r = rating.strip().lower()
        if r in ("up", "+1", "1", "good", "thumbs_up", "positive"):
            return True
        if r in ("down", "-1", "0", "bad", "thumbs_down", "negative"):
            return False
    return None


def salient_facts(answer: str) -> list[str]:
    text = strip_citations(answer)
    found = [m.group(1) for m in _CODE.finditer(text)] + [
        m.group(0) for m in _NUMBER.finditer(text)
    ]
    return list(dict.fromkeys(f.strip() for f in found if f.strip()))


def row_to_case(row: dict, number: int) -> GoldenCase:
    """One golden case from one export row; ValueError names what is missing."""
    for key in ("question", "answer"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise ValueError(f"`{key}` must be a non-empty string")
    up = positive(row.get("rating"))
    if up is None:
        raise ValueError(f"unknown rating {row.get('rating')!r}")
    history = tuple((t["question"], t["answer"]) for t in row.get("history") or [])
    expected = row.get("expected")
    facts = [expected] if isinstance(expected, str) else list(expected or [])
    if up and row.get("route") == "nothing_found":
        category, facts, sources = "unanswerable", [], []
    else:
        category = "followup" if history else "single"
        sources = [s for s in row.get("sources") or [] if isinstance(s, str)]
    guessed = not facts and up and category != "unanswerable"
    if guessed:
        facts = salient_facts(row["answer"])
    return GoldenCase(
        id=str(row.get("id") or f"feedback-{number:03d}"),
        category=category,
        question=row["question"].strip(),
        history=history,
        answer_facts=tuple(facts),
        sources=tuple(sources),
        notes=str(row.get("comment") or ""),
        review=guessed or (category != "unanswerable" and not facts) or not up,
    )


def convert_lines(lines: Iterable[str]) -> list[GoldenCase]:
    cases = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            cases.append(row_to_case(json.loads(line), number))
        except (json.JSONDecodeError, ValueError, TypeError, KeyError) as e:
            raise ValueError(f"feedback line {number}: {e}") from None
    return cases
