"""One row per rating, joined with the turn record kept on the rated answer.

Row shape (JSON Lines; CSV has the same columns, lists and objects as JSON text):
  feedback_id, thread_id, user, answered_at (ISO time of the answer), rating ("up"|"down"),
  value (1|0), comment, question, answer, route, models (list), confidence (0–1 or null),
  signals (object), sources (list of {n, source, title, page, section, score}),
  timings ({ttft_s, total_s, steps: {name: seconds}}).
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
    "timings",
]

# Chainlit's thumbs rate the turn's `run` step when the answer sits inside one, so the turn
# record is looked for on the rated step and on its assistant-message children.
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


def to_row(db: dict[str, Any]) -> dict[str, Any]:
    """A database row → an export row. Pure."""
    meta = db.get("metadata") or {}
    if isinstance(meta, str):
        meta = json.loads(meta or "{}")
    turn = meta.get(TURN_KEY) or {}
    value = int(db["value"])
    return {
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
        "sources": turn.get("sources", []),
        "timings": turn.get("timings", {}),
    }


async def fetch_rows(engine: AsyncEngine, since: str = "") -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(text(_QUERY), {"since": since})
        return [to_row(dict(r._mapping)) for r in result]


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
