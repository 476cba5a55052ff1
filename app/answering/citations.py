"""`[n]` citations in an answer: find them, check them against the context blocks, and drop
the ones that point at no block (a model inventing `[7]` out of five blocks)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.answering.prompting import ContextBlock
    from app.retrieval.types import Hit

# `[1]`, `[1, 2]`, `[1,2; 3]`, `[1-3]`. Ranges are expanded. Markdown links `[1](url)` are
# not citations, so a group followed by `(` is ignored.
_GROUP = re.compile(r"\[(\s*\d+(?:\s*[-–]\s*\d+)?(?:\s*[,;]\s*\d+(?:\s*[-–]\s*\d+)?)*\s*)\](?!\()")
_SPACED_GROUP = re.compile(r"([ \t]*)" + _GROUP.pattern)
_ITEM = re.compile(r"(\d+)(?:\s*[-–]\s*(\d+))?")
_MAX_RANGE = 50  # "[1-999]" is not a citation worth expanding


def _numbers(group: str) -> list[int]:
    out: list[int] = []
    for m in _ITEM.finditer(group):
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if hi < lo or hi - lo > _MAX_RANGE:
            out.append(lo)
        else:
            out.extend(range(lo, hi + 1))
    return out


def find_citations(text: str) -> list[int]:
    """Cited block numbers in order of first appearance, without repeats."""
    seen: dict[int, None] = {}
    for m in _GROUP.finditer(text):
        for n in _numbers(m.group(1)):
            seen.setdefault(n, None)
    return list(seen)


def strip_citations(text: str) -> str:
    """The text with every citation group, and the spaces before it, removed."""
    return _SPACED_GROUP.sub("", text)


@dataclass(frozen=True, slots=True)
class CitationCheck:
    valid: dict[int, Hit] = field(default_factory=dict)  # n -> the hit block [n] holds
    invalid: list[int] = field(default_factory=list)  # cited numbers with no block

    @property
    def total(self) -> int:
        return len(self.valid) + len(self.invalid)


def check_citations(text: str, blocks: Sequence[ContextBlock]) -> CitationCheck:
    by_n = {b.n: b.hit for b in blocks}
    valid: dict[int, Hit] = {}
    invalid: list[int] = []
    for n in find_citations(text):
        if n in by_n:
            valid[n] = by_n[n]
        else:
            invalid.append(n)
    return CitationCheck(valid=valid, invalid=invalid)


def drop_citations(text: str, invalid: Sequence[int]) -> str:
    """Remove the invalid numbers from citation groups; remove groups left empty."""
    if not invalid:
        return text
    bad = set(invalid)

    def fix(m: re.Match[str]) -> str:
        kept = [n for n in _numbers(m.group(2)) if n not in bad]
        # An emptied group takes the spaces before it along, so "fact [7]." becomes "fact.".
        return m.group(1) + "[" + ", ".join(str(n) for n in kept) + "]" if kept else ""

    return _SPACED_GROUP.sub(fix, text)
