"""How the data layer's statements reach the database: a batch of queued writes in one
transaction, or one statement with its rows (or row count) back."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

# (SQL, parameter rows): more than one row is an executemany.
Batch = list[tuple[str, list[dict[str, Any]]]]
Outcome = list[dict[str, Any]] | int  # the rows, or the row count of a write


def tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL with synchronous=NORMAL: a commit no longer waits for the disk (a crash can lose
    the last moments of a chat, never corrupt the file), and readers don't block the writer.
    busy_timeout lets a second process wait for the lock instead of failing."""
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def execute_all(conn: Connection, batch: Batch) -> None:
    for sql, rows in batch:
        conn.execute(text(sql), rows if len(rows) > 1 else rows[0])


def execute_one(conn: Connection, sql: str, params: dict[str, Any]) -> Outcome:
    result = conn.execute(text(sql), params)
    if result.returns_rows:
        return [dict(row._mapping) for row in result.fetchall()]
    return result.rowcount


class BatchWriter(Protocol):
    async def __call__(self, batch: Batch) -> None: ...

    async def execute(self, sql: str, params: dict[str, Any]) -> Outcome: ...

    def close(self) -> None: ...


class AsyncWriter:
    """Any async driver (asyncpg for PostgreSQL): the batch runs on the event loop.

    Each statement commits on its own, as each of Chainlit's writes always did: that spares
    a batch the BEGIN and COMMIT round trips to the server, and a batch that fails part way
    is safe to retry row by row (every queued statement is an upsert, an update or a
    delete, so running one twice changes nothing)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def __call__(self, batch: Batch) -> None:
        async with self.engine.connect() as conn:
            await conn.run_sync(execute_all, batch)

    async def execute(self, sql: str, params: dict[str, Any]) -> Outcome:
        async with self.engine.connect() as conn:
            return await conn.run_sync(execute_one, sql, params)

    def close(self) -> None:
        return None


class ThreadWriter:
    """SQLite: a whole batch, or a statement and its rows, in one call on a thread of its own,
    through the standard sqlite3 driver. Through aiosqlite, every statement, fetch, begin
    and commit is a trip to its worker thread and back, each costing several times the
    statement itself."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = create_engine(engine.url.set(drivername="sqlite"))
        event.listen(self.engine, "connect", tune_sqlite)
        # One thread: writes stay in order and the connection stays on it.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writes")

    async def __call__(self, batch: Batch) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._run, batch)

    def _run(self, batch: Batch) -> None:
        with self.engine.begin() as conn:
            execute_all(conn, batch)

    async def execute(self, sql: str, params: dict[str, Any]) -> Outcome:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._execute, sql, params)

    def _execute(self, sql: str, params: dict[str, Any]) -> Outcome:
        with self.engine.begin() as conn:
            return execute_one(conn, sql, params)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()


def writer_for(engine: AsyncEngine) -> BatchWriter:
    url = engine.url
    in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    if url.get_backend_name() == "sqlite" and not in_memory:
        return ThreadWriter(engine)
    return AsyncWriter(engine)
