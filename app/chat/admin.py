"""The admin-only `/stats` chat command: thumbs-up rate per route and per model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.accounts.roles import is_admin
from app.feedback.export import fetch_rows
from app.feedback.summary import summary_markdown

STATS_COMMAND = "/stats"
STATS_DAYS = 30


def is_stats_command(text: str) -> bool:
    return text.strip().lower() == STATS_COMMAND


async def stats_reply(user: Any, engine: AsyncEngine, days: int = STATS_DAYS) -> str:
    if not is_admin(user):
        return "Only admins can see the rating summary."
    since = (datetime.now(UTC) - timedelta(days=days)).date().isoformat()
    return summary_markdown(await fetch_rows(engine, since), days)
