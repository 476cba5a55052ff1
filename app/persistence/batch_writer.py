"""How a batch of queued statements reaches the database: one transaction per call."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

# (SQL, parameter rows): more than one row is an executemany.
Batch = list[tuple[str, list[dict[str, Any]]]]


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


class BatchWriter(Protocol):
    async def __call__(self, batch: Batch) -> None: ...

    def close(self) -> None: ...


class AsyncWriter:
    """Any async driver (asyncpg for PostgreSQL): the batch runs on the event loop."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def __call__(self, batch: Batch) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(execute_all, batch)

    def close(self) -> None:
        return None


class ThreadWriter:
    """SQLite: the whole batch runs in one call on a thread of its own, through the standard
    sqlite3 driver. Through aiosqlite, every statement, begin and commit is a trip to its
    worker thread and back, each costing several times the statement itself."""

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

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()


def writer_for(engine: AsyncEngine) -> BatchWriter:
    url = engine.url
    in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    if url.get_backend_name() == "sqlite" and not in_memory:
        return ThreadWriter(engine)
    return AsyncWriter(engine)
