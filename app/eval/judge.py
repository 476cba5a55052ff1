"""An LLM judge: the escalation model grades an answer 1–5 on coherence, factuality and
concision. Its prompt is versioned; scores from different versions are not comparable."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from app.llm.errors import LLMError
from app.llm.gateway import LLMGateway
from app.llm.types import Completion

JUDGE_PROMPT_VERSION = "judge-v1"
CRITERIA = ("coherence", "factuality", "concision")
JUDGE_MAX_TOKENS = 384  # reasoning models think before the JSON; leave them room

JUDGE_SYSTEM = """\
You grade answers written by an assistant that must answer only from numbered context \
blocks. Score the answer from 1 (very poor) to 5 (excellent) on:
- coherence: is it clear, well-formed and on the question?
- factuality: is every claim supported by the context blocks (an honest "not found in the \
documents" is factual when the blocks do not answer the question)?
- concision: does it answer without padding or repetition?
Reply with one JSON object and nothing else, e.g. \
{"coherence": 4, "factuality": 5, "concision": 3}."""

_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)


def judge_messages(question: str, answer: str, blocks: Sequence[str]) -> list[dict[str, str]]:
    context = "\n\n".join(f"[{i}] {b.strip()}" for i, b in enumerate(blocks, 1)) or "(none)"
    user = f"Context blocks:\n\n{context}\n\nQuestion: {question}\n\nAnswer to grade:\n{answer}"
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def parse_grades(text: str) -> dict[str, int | None]:
    """The last JSON object in the reply that carries grades; a grade outside 1–5 or missing
    is None rather than guessed."""
    for match in reversed(_OBJECT.findall(text)):
        try:
            data = json.loads(match)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and any(k in data for k in CRITERIA):
            return {k: _grade(data.get(k)) for k in CRITERIA}
    return dict.fromkeys(CRITERIA)


def _grade(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        return None
    return int(value) if 1 <= value <= 5 else None


async def grade(
    gateway: LLMGateway, model: str, question: str, answer: str, blocks: Sequence[str]
) -> dict[str, int | None]:
    text = ""
    try:
        async for item in gateway.stream(
            model,
            judge_messages(question, answer, blocks),
            temperature=0.0,
            max_tokens=JUDGE_MAX_TOKENS,
        ):
            if isinstance(item, Completion):
                text = item.text
    except LLMError:
        return dict.fromkeys(CRITERIA)
    return parse_grades(text)
