"""Chainlit's SQLAlchemy data layer, adapted: JSON-safe writes, step and element writes
batched per turn (write_queue.py), a sidebar page that costs one page, thread activity for
ordering, and a hook when a chat is deleted."""

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
from chainlit.user import PersistedUser, User
from sqlalchemy import event

from app.persistence.batch_writer import tune_sqlite
from app.persistence.elements import element_content, element_row, object_key
from app.persistence.write_queue import WriteQueue

log = logging.getLogger(__name__)

_ACTIVITY_SQL = 'UPDATE threads SET "updatedAt" = :ts WHERE "id" = :id'
# What Chainlit's update_thread writes for a thread it has not seen, and nothing otherwise.
_NEW_THREAD_SQL = (
    'INSERT INTO threads ("id", "createdAt", "metadata") VALUES (:id, :ts, \'{}\') '
    'ON CONFLICT ("id") DO NOTHING'
)

# SQLite can't bind lists (thread and step tags); store them as JSON text instead.
sqlite3.register_adapter(list, json.dumps)

ThreadDeleted = Callable[[str], Awaitable[None]]


def jsonable_step(step: dict[str, Any]) -> dict[str, Any]:
    """Chainlit passes non-empty dicts (modes, …) straight to the driver, which can't bind
    them; serialise every dict the base class doesn't already serialise."""
    return {
        k: json.dumps(v) if isinstance(v, dict) and k not in ("metadata", "generation") else v
        for k, v in step.items()
    }


def step_row(step_dict: dict[str, Any]) -> dict[str, Any]:
    """The columns Chainlit's create_step writes for a step, computed the same way."""
    step = jsonable_step(step_dict)
    step["showInput"] = str(step.get("showInput", "")).lower() if "showInput" in step else None
    row = {k: v for k, v in step.items() if v is not None and not (isinstance(v, dict) and not v)}
    row["metadata"] = json.dumps(step.get("metadata", {}))
    row["generation"] = json.dumps(step.get("generation", {}))
    return row


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
        # A thread's owner never changes; Chainlit looks it up for every element it writes.
        self._thread_users: dict[str, str] = {}
        self._user_names: dict[str, str] = {}
        self.writes = WriteQueue(self.engine)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", tune_sqlite)
        # Whoever disposes of the engine (start-up check, tests) ends the writer with it.
        event.listen(self.engine.sync_engine, "engine_disposed", lambda _: self.writes.close())

    async def flush_writes(self) -> None:
        await self.writes.flush()

    async def execute_sql(self, query: str, parameters: dict) -> list[dict[str, Any]] | int | None:
        """Chainlit's, on a bare connection instead of an ORM session (on SQLite, the write
        queue's own thread and driver), and a failed write is logged as an error, not a
        warning. Queued writes go first, so every read sees them."""
        if self.writes.pending:
            await self.writes.flush()
        try:
            result = await self.writes.writer.execute(query, parameters)
            return self.clean_result(result) if isinstance(result, list) else result
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
        if touch_only:
            # Chainlit "touches" the thread before every step write: two queries, and a
            # write only the first time. Queued with the steps instead, once per thread.
            if thread_id not in self._known_threads:
                params = {"id": thread_id, "ts": await self.get_current_timestamp()}
                self.writes.replace(("thread", thread_id), _NEW_THREAD_SQL, params)
        else:
            await super().update_thread(thread_id, *args, **kwargs)
            if user_id := kwargs.get("user_id"):
                self._remember_owner(thread_id, user_id)
        if len(self._known_threads) > 100_000:  # bounded: forgetting only costs a query
            self._known_threads.clear()
        self._known_threads.add(thread_id)

    async def create_user(self, user: User) -> PersistedUser | None:
        """Chainlit's writes the user's metadata and reads the user back at every login;
        when nothing changed, the first read is the answer."""
        existing = await self.get_user(user.identifier)
        if existing is not None and existing.metadata == user.metadata:
            return existing
        return await super().create_user(user)

    async def _get_user_identifer_by_id(self, user_id: str) -> str:
        if user_id not in self._user_names:  # an id names one user for good
            self._user_names[user_id] = await super()._get_user_identifer_by_id(user_id)
        return self._user_names[user_id]

    @queue_until_user_message()
    async def create_step(self, step_dict):  # type: ignore[override]
        thread_id = step_dict["threadId"]
        await self.update_thread(thread_id)  # creates the thread row the first time only
        self.writes.upsert("steps", step_row(dict(step_dict)))
        if step_dict.get("type") == "user_message":
            # Each question moves its chat to the top of the sidebar.
            ts = step_dict.get("createdAt") or await self.get_current_timestamp()
            self.writes.replace(("activity", thread_id), _ACTIVITY_SQL, {"ts": ts, "id": thread_id})

    @queue_until_user_message()
    async def update_step(self, step_dict):  # type: ignore[override]
        await AppDataLayer.create_step.__wrapped__(self, step_dict)  # type: ignore[attr-defined]

    @queue_until_user_message()
    async def delete_step(self, step_id: str) -> None:
        self.writes.delete_step(step_id)

    @queue_until_user_message()
    async def create_element(self, element):  # type: ignore[override]
        """Chainlit's steps (elements.py), except that the row joins the write queue."""
        if not self.storage_provider:
            log.warning("An element was not stored: no storage client is configured")
            return
        if not element.for_id:
            return
        content = await element_content(element)
        owner = await self._get_user_id_by_thread(element.thread_id)
        element.mime = element.mime or "application/octet-stream"
        uploaded = await self.storage_provider.upload_file(
            object_key=object_key(owner, element), data=content, mime=element.mime, overwrite=True
        )
        if not uploaded:
            raise ValueError("create_element: the storage client did not store the file")
        self.writes.upsert("elements", element_row(element, uploaded))

    async def _get_user_id_by_thread(self, thread_id: str) -> str | None:
        if thread_id in self._thread_users:
            return self._thread_users[thread_id]
        user_id = await super()._get_user_id_by_thread(thread_id)
        if user_id:
            self._remember_owner(thread_id, user_id)
        return user_id

    def _remember_owner(self, thread_id: str, user_id: str) -> None:
        if len(self._thread_users) < 100_000:  # bounded, like _known_threads
            self._thread_users[thread_id] = user_id

    async def close(self) -> None:
        await self.writes.flush()
        await super().close()

    async def delete_thread(self, thread_id: str) -> None:
        self._known_threads.discard(thread_id)
        self._thread_users.pop(thread_id, None)
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
