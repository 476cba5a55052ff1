"""One row per rating, joined with the turn record kept on the rated answer.

Row shape (JSON Lines; CSV has the same columns, lists and objects as JSON text):
  id and feedback_id (the rating's id), thread_id, user, answered_at (ISO time of the turn),
  rating ("up"|"down"), value (1|0), comment, question, answer, route, models (list),
  confidence (0–1 or null), signals (object), sources (list of cited file names, in [n]
  order), citations (list of {n, source, title, page, section, score}), history (earlier
  turns of the chat as [{question, answer}]), timings ({ttft_s, total_s, steps: {…}}).
It is the row `python -m app.eval --from-feedback` reads (app/eval/feedback.py).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.feedback.record import TURN_KEY

COLUMNS = [
    "id",
    "feedback_id",
    "thread_id",
    "user",
    "answered_at",
    "rating",
    "value",
    "comment",
    "question",
    "answer",
    "route",
    "models",
    "confidence",
    "signals",
    "sources",
    "citations",
    "history",
    "timings",
]

# Chainlit's thumbs rate the turn's `run` step when the answer sits inside one, so the turn
# record is looked for on the rated step and on its assistant-message children.
_TURNS = """
SELECT s."threadId" AS thread_id, s."createdAt" AS at, s."metadata" AS metadata
FROM steps s
WHERE s."type" = 'assistant_message' AND s."metadata" LIKE '%"turn"%'
  AND s."threadId" IN (SELECT s2."threadId" FROM feedbacks f2
                       JOIN steps s2 ON s2."id" = f2."forId")
ORDER BY s."createdAt"
"""

_QUERY = """
SELECT f."id" AS feedback_id, f."value" AS value, f."comment" AS comment,
       s."threadId" AS thread_id, s."createdAt" AS answered_at,
       COALESCE(a."output", s."output") AS output,
       COALESCE(a."metadata", s."metadata") AS metadata,
       t."userIdentifier" AS user_identifier
FROM feedbacks f
JOIN steps s ON s."id" = f."forId"
LEFT JOIN steps a ON a."parentId" = s."id" AND a."type" = 'assistant_message'
     AND a."metadata" LIKE '%"turn"%'
LEFT JOIN threads t ON t."id" = s."threadId"
WHERE s."createdAt" >= :since
ORDER BY s."createdAt", f."id"
"""


def _turn(metadata: Any) -> dict[str, Any]:
    meta = json.loads(metadata or "{}") if isinstance(metadata, str) else (metadata or {})
    return meta.get(TURN_KEY) or {}


def history_before(turns: list[dict[str, Any]], thread_id: str, at: str) -> list[dict]:
    """Earlier turns of the same chat, oldest first, as {question, answer}. Pure."""
    return [
        {"question": t["turn"].get("question", ""), "answer": t["turn"].get("answer", "")}
        for t in turns
        if t["thread_id"] == thread_id and (t["at"] or "") < (at or "")
    ]


def to_row(db: dict[str, Any], history: list[dict] | None = None) -> dict[str, Any]:
    """A database row → an export row. Pure."""
    turn = _turn(db.get("metadata"))
    value = int(db["value"])
    citations = turn.get("sources", [])
    return {
        "id": db["feedback_id"],
        "feedback_id": db["feedback_id"],
        "thread_id": db["thread_id"],
        "user": db.get("user_identifier"),
        "answered_at": db.get("answered_at"),
        "rating": "up" if value == 1 else "down",
        "value": value,
        "comment": db.get("comment") or "",
        "question": turn.get("question", ""),
        "answer": turn.get("answer", db.get("output") or ""),
        "route": turn.get("route"),
        "models": turn.get("models", []),
        "confidence": turn.get("confidence"),
        "signals": turn.get("signals"),
        "sources": [c.get("source") for c in citations if isinstance(c, dict)],
        "citations": citations,
        "history": history or [],
        "timings": turn.get("timings", {}),
    }


async def fetch_rows(engine: AsyncEngine, since: str = "") -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rated = [dict(r._mapping) for r in await conn.execute(text(_QUERY), {"since": since})]
        turns = [
            {"thread_id": r.thread_id, "at": r.at, "turn": _turn(r.metadata)}
            for r in await conn.execute(text(_TURNS))
        ]
    return [to_row(r, history_before(turns, r["thread_id"], r["answered_at"])) for r in rated]


def as_jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def as_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in row.items()}
        )
    return out.getvalue()
