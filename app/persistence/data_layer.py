"""Chainlit's SQLAlchemy data layer, adapted: JSON-safe writes, a sidebar page that costs one
page, thread activity for ordering, and a hook when a chat is deleted."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.data.storage_clients.base import BaseStorageClient
from chainlit.data.utils import queue_until_user_message
from chainlit.types import PageInfo, PaginatedResponse, Pagination, ThreadDict, ThreadFilter
from sqlalchemy import event, text

log = logging.getLogger(__name__)

# SQLite can't bind lists (thread and step tags); store them as JSON text instead.
sqlite3.register_adapter(list, json.dumps)

ThreadDeleted = Callable[[str], Awaitable[None]]


def tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL with synchronous=NORMAL: a commit no longer waits for the disk (a crash can lose
    the last moments of a chat, never corrupt the file), and readers don't block the writer.
    busy_timeout lets a second process wait for the lock instead of failing."""
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def jsonable_step(step: dict[str, Any]) -> dict[str, Any]:
    """Chainlit passes non-empty dicts (modes, …) straight to the driver, which can't bind
    them; serialise every dict the base class doesn't already serialise."""
    return {
        k: json.dumps(v) if isinstance(v, dict) and k not in ("metadata", "generation") else v
        for k, v in step.items()
    }


def page_query(filters: ThreadFilter, pagination: Pagination) -> tuple[str, dict[str, Any]]:
    """One SQL statement for one sidebar page, newest activity first (keyset pagination)."""
    where = ['t."userId" = :user_id']
    params: dict[str, Any] = {"user_id": filters.userId, "limit": pagination.first + 1}
    if pagination.cursor:
        where.append(
            '(COALESCE(t."updatedAt", t."createdAt"), t."id") < '
            '(SELECT COALESCE(c."updatedAt", c."createdAt"), c."id" FROM threads c '
            'WHERE c."id" = :cursor)'
        )
        params["cursor"] = pagination.cursor
    if filters.search:
        where.append(
            '(LOWER(t."name") LIKE :search OR EXISTS (SELECT 1 FROM steps s '
            'WHERE s."threadId" = t."id" AND LOWER(s."output") LIKE :search))'
        )
        params["search"] = f"%{filters.search.lower()}%"
    if filters.feedback is not None:
        where.append(
            'EXISTS (SELECT 1 FROM feedbacks f JOIN steps s ON f."forId" = s."id" '
            'WHERE s."threadId" = t."id" AND f."value" = :feedback)'
        )
        params["feedback"] = int(filters.feedback)
    sql = (
        'SELECT t."id", t."createdAt", t."name", t."userId", t."userIdentifier", '
        'COALESCE(t."updatedAt", t."createdAt") AS activity FROM threads t '
        f"WHERE {' AND '.join(where)} "
        'ORDER BY activity DESC, t."id" DESC LIMIT :limit'
    )
    return sql, params


def to_page(rows: list[dict[str, Any]], first: int) -> PaginatedResponse:
    page = rows[:first]
    threads = [
        ThreadDict(
            id=r["id"],
            createdAt=r["createdAt"],
            name=r["name"],
            userId=r["userId"],
            userIdentifier=r["userIdentifier"],
            tags=None,
            metadata={},  # the sidebar needs none of it; it holds the chat's session
            steps=[],
            elements=[],
        )
        for r in page
    ]
    return PaginatedResponse(
        pageInfo=PageInfo(
            hasNextPage=len(rows) > first,
            startCursor=threads[0]["id"] if threads else None,
            endCursor=threads[-1]["id"] if threads else None,
        ),
        data=threads,
    )


class AppDataLayer(SQLAlchemyDataLayer):
    def __init__(
        self,
        url: str,
        storage: BaseStorageClient | None,
        on_thread_deleted: ThreadDeleted | None = None,
    ) -> None:
        super().__init__(conninfo=url, storage_provider=storage, user_thread_limit=1000)
        self.on_thread_deleted = on_thread_deleted
        # Threads known to exist: Chainlit "touches" the thread before every step write,
        # a query per step that changes nothing once the thread is there.
        self._known_threads: set[str] = set()
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", tune_sqlite)

    async def execute_sql(self, query: str, parameters: dict) -> list[dict[str, Any]] | int | None:
        """Chainlit's, on a bare connection instead of an ORM session (half the cost per
        statement), and a failed write is logged as an error, not a warning."""
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(text(query), parameters)
                if result.returns_rows:
                    return self.clean_result([dict(row._mapping) for row in result.fetchall()])
                return result.rowcount
        except Exception as e:  # Chainlit's contract: never raise into the chat
            log.error("Database statement failed: %s", str(e).splitlines()[0])
            return None

    async def list_threads(
        self, pagination: Pagination, filters: ThreadFilter
    ) -> PaginatedResponse:
        if not filters.userId:
            raise ValueError("userId is required")
        sql, params = page_query(filters, pagination)
        rows = await self.execute_sql(sql, params)
        return to_page(rows if isinstance(rows, list) else [], pagination.first)

    async def update_thread(self, thread_id: str, *args: Any, **kwargs: Any) -> None:
        touch_only = not args and all(v is None for v in kwargs.values())
        if touch_only and thread_id in self._known_threads:
            return
        await super().update_thread(thread_id, *args, **kwargs)
        if len(self._known_threads) > 100_000:  # bounded: forgetting only costs a query
            self._known_threads.clear()
        self._known_threads.add(thread_id)

    @queue_until_user_message()
    async def create_step(self, step_dict):  # type: ignore[override]
        step = jsonable_step(dict(step_dict))
        await SQLAlchemyDataLayer.create_step.__wrapped__(self, step)  # type: ignore[attr-defined]
        if step.get("type") == "user_message":
            # Each question moves its chat to the top of the sidebar.
            await self.execute_sql(
                'UPDATE threads SET "updatedAt" = :ts WHERE "id" = :id',
                {
                    "ts": step.get("createdAt") or await self.get_current_timestamp(),
                    "id": step["threadId"],
                },
            )

    @queue_until_user_message()
    async def update_step(self, step_dict):  # type: ignore[override]
        await AppDataLayer.create_step.__wrapped__(self, step_dict)  # type: ignore[attr-defined]

    async def delete_thread(self, thread_id: str) -> None:
        self._known_threads.discard(thread_id)
        await super().delete_thread(thread_id)
        if self.on_thread_deleted is not None:
            await self.on_thread_deleted(thread_id)

    async def get_thread_author(self, thread_id: str) -> str:
        """ "" for an unknown thread: Chainlit's access check then answers 404, where the
        base class's ValueError became a 500."""
        try:
            return await super().get_thread_author(thread_id)
        except ValueError:
            return ""
