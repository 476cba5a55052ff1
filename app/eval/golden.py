"""The golden set: one JSON object per line, each a question with what a correct answer holds.

Fields (unknown fields are rejected, so a typo such as `answer_fact` fails loudly):

- `id` (str, unique), `category` (one of `CATEGORIES`), `question` (str);
- `history` (optional): earlier turns `[{"question": …, "answer": …}]`, oldest first;
- `answer_facts`: short strings a correct answer contains. A fact may list alternatives
  separated by `|` ("16 GB|16gb"); any one counts. Matching ignores case, whitespace and
  punctuation and needs whole words, so "5" does not match "15". Empty for unanswerable
  cases; an answerable case with no facts (e.g. fresh from feedback) has no fact recall;
- `sources`: file names in the knowledge folder that hold the answer (empty for
  unanswerable cases);
- `notes` (optional, free text), `review` (optional bool): left by the feedback converter.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from app.answering.citations import strip_citations

CATEGORIES = ("single", "numeric", "multi", "followup", "unanswerable")
_FIELDS = {"id", "category", "question", "history", "answer_facts", "sources", "notes", "review"}
_NON_WORD = re.compile(r"[^\w]+")


class GoldenError(ValueError):
    """A golden file that cannot be used; the message names the line."""


@dataclass(frozen=True, slots=True)
class GoldenCase:
    id: str
    category: str
    question: str
    history: tuple[tuple[str, str], ...] = ()
    answer_facts: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    notes: str = ""
    review: bool = False

    @property
    def answerable(self) -> bool:
        return self.category != "unanswerable"

    def to_json(self) -> dict:
        out: dict = {"id": self.id, "category": self.category, "question": self.question}
        if self.history:
            out["history"] = [{"question": q, "answer": a} for q, a in self.history]
        out["answer_facts"] = list(self.answer_facts)
        out["sources"] = list(self.sources)
        if self.notes:
            out["notes"] = self.notes
        if self.review:
            out["review"] = True
        return out


def normalise(text: str) -> str:
    """Lower case, punctuation to spaces, single spaces, padded: ' 16 gb '."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("_", " ")
    return " " + " ".join(_NON_WORD.sub(" ", folded).split()) + " "


def fact_found(fact: str, answer: str) -> bool:
    """Whether any alternative of `fact` is in `answer` as whole words; citations ignored."""
    haystack = normalise(strip_citations(answer))
    return any(
        (alt := normalise(a)).strip() and alt in haystack for a in fact.split("|") if a.strip()
    )


def _strings(value: object, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"`{name}` must be a list of non-empty strings")
    return tuple(value)


def _history(value: object) -> tuple[tuple[str, str], ...]:
    ok = isinstance(value, list) and all(
        isinstance(t, dict)
        and set(t) == {"question", "answer"}
        and all(isinstance(v, str) for v in t.values())
        for t in value
    )
    if not ok:
        raise ValueError('`history` must be a list of {"question": str, "answer": str}')
    turns: list[dict[str, str]] = value  # type: ignore[assignment]  # checked just above
    return tuple((t["question"], t["answer"]) for t in turns)


def parse_case(obj: object) -> GoldenCase:
    """One case from its decoded JSON; ValueError says what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError("each line must be a JSON object")
    unknown = set(obj) - _FIELDS
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
    for key in ("id", "category", "question"):
        if not isinstance(obj.get(key), str) or not obj[key].strip():
            raise ValueError(f"`{key}` must be a non-empty string")
    if obj["category"] not in CATEGORIES:
        raise ValueError(f"unknown category {obj['category']!r} (allowed: {', '.join(CATEGORIES)})")
    case = GoldenCase(
        id=obj["id"],
        category=obj["category"],
        question=obj["question"],
        history=_history(obj.get("history", [])),
        answer_facts=_strings(obj.get("answer_facts", []), "answer_facts"),
        sources=_strings(obj.get("sources", []), "sources"),
        notes=str(obj.get("notes", "")),
        review=bool(obj.get("review", False)),
    )
    if not case.answerable and (case.answer_facts or case.sources):
        raise ValueError("an unanswerable case has no `answer_facts` and no `sources`")
    return case


def parse_golden(lines: list[str], name: str = "golden file") -> list[GoldenCase]:
    cases: list[GoldenCase] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            case = parse_case(json.loads(line))
        except json.JSONDecodeError as e:
            raise GoldenError(f"{name}, line {number}: not valid JSON ({e.msg})") from None
        except ValueError as e:
            raise GoldenError(f"{name}, line {number}: {e}") from None
        if case.id in seen:
            raise GoldenError(f"{name}, line {number}: duplicate id {case.id!r}")
        seen.add(case.id)
        cases.append(case)
    if not cases:
        raise GoldenError(f"{name}: no cases")
    return cases


def load_golden(path: Path) -> list[GoldenCase]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise GoldenError(f"cannot read golden file {path}: {e.strerror or e}") from None
    return parse_golden(text.splitlines(), str(path))
