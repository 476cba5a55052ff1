"""Grounded prompts: numbered context blocks, chat history, fitting to a token budget.

Everything here is pure: given hits, history and a budget it returns chat messages and a
record of what went in. The model is told to answer only from blocks `[1]..[k]`, to cite
them as `[n]`, and to reply with `NOT_FOUND_MARKER` when the blocks lack the answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.answering.options import Exchange
from app.retrieval.analyzer import analyze
from app.tokens import count_tokens

if TYPE_CHECKING:
    from app.retrieval.types import Hit

# A token sequence no document is likely to contain, so its presence means "refused".
NOT_FOUND_MARKER = "INSUFFICIENT_CONTEXT"

# Chat formats add a few tokens per message (role, separators). Counting them keeps the
# estimate on the safe side of the server's real context window.
MESSAGE_OVERHEAD_TOKENS = 4

Message = dict[str, str]


SYSTEM_PROMPT = f"""\
You are an assistant for internal staff. Answer the question using ONLY the numbered \
context blocks below; each block is labelled with the document it comes from.
Rules:
- Cite every fact with the number of the block it comes from, in square brackets, e.g. [1] \
or [2][3]. Cite only block numbers that exist.
- Do not use outside knowledge and do not guess.
- If the context blocks do not contain the answer, reply with exactly {NOT_FOUND_MARKER} \
and nothing else.
- Be concise and answer in the language of the question."""

_ESCALATION_HINT_INTRO = (
    "A smaller model wrote the draft below. It may be wrong, incomplete or badly cited. "
    "Use it only as a hint; answer from the context blocks yourself."
)


@dataclass(frozen=True, slots=True)
class ContextBlock:
    """One numbered block given to the model: `[n]` in the prompt refers to `hit`."""

    n: int
    hit: Hit

    @property
    def label(self) -> str:
        return source_label(self.hit)

    def render(self) -> str:
        return f"[{self.n}] {self.label}\n{self.hit.chunk.text.strip()}"


@dataclass(frozen=True, slots=True)
class Prompt:
    """Messages ready for the gateway, and what was fitted into them."""

    messages: list[Message]
    blocks: list[ContextBlock]
    dropped: list[Hit] = field(default_factory=list)  # hits left out to meet the budget
    history_used: int = 0  # chat turns included
    tokens: int = 0  # estimated prompt tokens (tokenizer count + per-message overhead)
    budget: int = 0
    fixed_tokens: int = 0  # the part that is never dropped: system prompt, question, hint


def source_label(hit: Hit) -> str:
    """`handbook.md · p. 3 · Leave policy`: the document, page and section of a hit."""
    chunk = hit.chunk
    parts = [chunk.source]
    if chunk.page is not None:
        parts.append(f"p. {chunk.page}")
    if chunk.section:
        parts.append(chunk.section)
    return " · ".join(parts)


def count_message_tokens(messages: Sequence[Message]) -> int:
    return sum(count_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages)


def _user_message(question: str, blocks: Sequence[ContextBlock], draft_hint: str | None) -> str:
    context = "\n\n".join(b.render() for b in blocks) if blocks else "(no context blocks)"
    parts = [f"Context blocks:\n\n{context}"]
    if draft_hint is not None:
        parts.append(f"{_ESCALATION_HINT_INTRO}\n<draft>\n{draft_hint.strip()}\n</draft>")
    parts.append(f"Question: {question.strip()}")
    return "\n\n".join(parts)


def _history_messages(turns: Sequence[Exchange]) -> list[Message]:
    messages: list[Message] = []
    for turn in turns:
        messages.append({"role": "user", "content": turn.question})
        messages.append({"role": "assistant", "content": turn.answer})
    return messages


def build_messages(
    question: str,
    blocks: Sequence[ContextBlock],
    history: Sequence[Exchange] = (),
    *,
    draft_hint: str | None = None,
) -> list[Message]:
    """System prompt, earlier turns (oldest first), then context + question in one message."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        *_history_messages(history),
        {"role": "user", "content": _user_message(question, blocks, draft_hint)},
    ]


def fit_prompt(
    question: str,
    hits: Sequence[Hit],
    history: Sequence[Exchange],
    *,
    budget: int,
    history_turns: int,
    draft_hint: str | None = None,
) -> Prompt:
    """Fit system prompt, history, context and question into `budget` tokens.

    Hits are taken in rank order and the lowest-ranked are dropped first; a chunk is kept
    whole or not at all. Up to `history_turns` recent turns are included, but the oldest
    turns give way when they would crowd out the top-ranked chunk, because an answer
    without context cannot be grounded. The system prompt, the question and the draft hint
    are always included, even when they alone exceed the budget.
    """
    fit = _Fitting(question, sorted(hits, key=lambda h: h.rank), history, history_turns, draft_hint)
    n_turns = fit.turns_beside_top_hit(budget)
    n_hits, n_turns, (messages, blocks, tokens) = fit.largest_prefix(n_turns, budget)
    return Prompt(
        messages=messages,
        blocks=blocks,
        dropped=list(fit.ranked[n_hits:]),
        history_used=n_turns,
        tokens=tokens,
        budget=budget,
        fixed_tokens=fit.measure(0, 0)[2],
    )


_Measured = tuple[list[Message], list[ContextBlock], int]


class _Fitting:
    """Prompts built from the top `n_hits` chunks and the last `n_turns` turns, measured."""

    def __init__(
        self,
        question: str,
        ranked: list[Hit],
        history: Sequence[Exchange],
        history_turns: int,
        draft_hint: str | None,
    ) -> None:
        self.question = question
        self.ranked = ranked
        self.turns = list(history[-history_turns:]) if history_turns > 0 else []
        self.draft_hint = draft_hint

    def measure(self, n_hits: int, n_turns: int) -> _Measured:
        blocks = [ContextBlock(i + 1, h) for i, h in enumerate(self.ranked[:n_hits])]
        kept = self.turns[len(self.turns) - n_turns :] if n_turns else []
        messages = build_messages(self.question, blocks, kept, draft_hint=self.draft_hint)
        return messages, blocks, count_message_tokens(messages)

    def turns_beside_top_hit(self, budget: int) -> int:
        """Drop history (oldest first) only as far as needed to fit the top chunk."""
        n_turns, top = len(self.turns), min(1, len(self.ranked))
        while n_turns > 0 and self.measure(top, n_turns)[2] > budget:
            n_turns -= 1
        return n_turns

    def largest_prefix(self, n_turns: int, budget: int) -> tuple[int, int, _Measured]:
        """The most top-ranked chunks that fit. Token counts grow with every block, so scan
        down from all hits; the lists are short (top_k ≤ 50)."""
        n_hits = len(self.ranked)
        measured = self.measure(n_hits, n_turns)
        while n_hits > 0 and measured[2] > budget:
            n_hits -= 1
            measured = self.measure(n_hits, n_turns)
        # Not even the top chunk fits: fall back to no history either, to leave the most room.
        while n_hits == 0 and n_turns > 0 and measured[2] > budget:
            n_turns -= 1
            measured = self.measure(0, n_turns)
        return n_hits, n_turns, measured


def shrink_budget(prompt: Prompt) -> int:
    """The budget for the one retry after the server said the context was too long.

    The server's window is evidently smaller than our estimate, so halve the part we can
    drop (context blocks and history); the system prompt and the question stay.
    """
    droppable = max(0, prompt.tokens - prompt.fixed_tokens)
    return prompt.fixed_tokens + droppable // 2


# --- Standalone-question rewrite for follow-ups --------------------------------------------

REWRITE_SYSTEM_PROMPT = """\
Rewrite the user's last question as one standalone question that can be understood without \
the conversation. Resolve pronouns and references using the conversation. Keep the user's \
language and wording where possible. Do not answer it. Reply with the question only."""

# Answers in history can be long; the rewrite only needs their gist.
_REWRITE_ANSWER_CHARS = 600
_MAX_REWRITE_CHARS = 200


def rewrite_messages(
    question: str,
    history: Sequence[Exchange],
    *,
    history_turns: int,
    budget: int | None = None,
) -> list[Message]:
    """The rewrite prompt; the oldest turns go first when it would exceed `budget` tokens."""
    turns = list(history[-history_turns:]) if history_turns > 0 else list(history[-1:])
    while True:
        messages = _rewrite_prompt(question, turns)
        if budget is None or not turns or count_message_tokens(messages) <= budget:
            return messages
        turns = turns[1:]


def _clip(text: str, limit: int = _REWRITE_ANSWER_CHARS) -> str:
    text = text.strip()
    return text[:limit] + "…" if len(text) > limit else text


def _rewrite_prompt(question: str, turns: Sequence[Exchange]) -> list[Message]:
    conversation = "\n\n".join(
        f"User: {_clip(turn.question)}\nAssistant: {_clip(turn.answer)}" for turn in turns
    )
    return [
        {"role": "system", "content": REWRITE_SYSTEM_PROMPT},
        {
            "role": "user",
            "content": f"Conversation:\n{conversation}\n\nLast question: {question.strip()}\n\n"
            "Standalone question:",
        },
    ]


# Words that point back into the conversation. A question with none of them (and more than a
# few words) already stands alone, and rewriting it can only lose the user's words.
_REFERS_BACK = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|this|that|these|those|there|he|him|his|she|her|"
    r"one|ones|former|latter|same|above|previous|else|also|too|either|neither|which one)\b",
    re.IGNORECASE,
)
_CONTINUES = re.compile(
    r"^\s*(and|but|or|so|then|also|what about|how about|why not|same for|and if)\b", re.IGNORECASE
)
_SHORT_QUESTION_WORDS = 4


def needs_context(question: str) -> bool:
    """Whether a follow-up can only be understood with the conversation before it."""
    words = re.findall(r"\w+", question)
    if len(words) < _SHORT_QUESTION_WORDS:
        return True
    return bool(_CONTINUES.search(question) or _REFERS_BACK.search(question))


_REWRITE_PREFIX = re.compile(
    r"^\s*(?:standalone question|rewritten question|question|user)\s*[:：-]\s*", re.IGNORECASE
)
# Signs that the model echoed the prompt instead of writing a question.
_ECHO = re.compile(r"^\s*assistant\s*:|<\/?draft>|context blocks|conversation:", re.IGNORECASE)


def clean_rewrite(text: str, original: str) -> str:
    """The model's rewrite, cleaned; the original question when the reply is unusable.

    A standalone question is about as long as the follow-up plus what it refers to; a reply
    much longer than that, or one that echoes the prompt, would make a worse search query
    than the user's own words.
    """
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return original
    candidate = _REWRITE_PREFIX.sub("", lines[0]).strip().strip("\"'“”‘’`").strip()
    too_long = len(candidate) > max(_MAX_REWRITE_CHARS, 3 * len(original.strip()))
    if not candidate or too_long or _ECHO.search(candidate) or NOT_FOUND_MARKER in candidate:
        return original
    return candidate


class FirstLineDone:
    """Fed a streamed rewrite piece by piece: true once it holds a whole first line (some
    text, then a newline). That line is all `clean_rewrite` reads, so the rest of the reply
    is not worth waiting for. One per stream: it remembers whether text has begun, so the
    reply read so far is never joined again to ask."""

    def __init__(self) -> None:
        self._begun = False  # a model may start with newlines: those end no line

    def __call__(self, piece: str) -> bool:
        if not self._begun:
            piece = piece.lstrip()
            self._begun = bool(piece)
        return "\n" in piece


@dataclass(frozen=True, slots=True)
class RewriteChoice:
    """What a rewrite reply adds to the search: `query` is searched beside the user's words
    (the question itself when the reply is not used, and `unused` says why)."""

    query: str
    unused: str | None = None


def choose_rewrite(reply: str, question: str, history: Sequence[Exchange]) -> RewriteChoice:
    """The rewrite to search beside the user's words, or why there is none.

    A rewrite that shares no content word with the question or the conversation (after the
    index's own analysis: stopwords out, stems compared) cannot be about either. Fused in by
    reciprocal rank it adds nothing and pushes what the user's words found down a place:
    "Not sure." did exactly that.
    """
    rewrite = clean_rewrite(reply, question)
    if rewrite.strip() == question.strip():
        return RewriteChoice(
            question, "the reply was empty, an echo of the prompt or the question itself"
        )
    said = set(analyze(question))
    for turn in history:
        said.update(analyze(turn.question), analyze(turn.answer))
    if said.isdisjoint(analyze(rewrite)):
        return RewriteChoice(question, f"“{rewrite}” shares no word with the conversation")
    return RewriteChoice(rewrite)
