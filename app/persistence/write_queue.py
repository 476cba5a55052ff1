"""Step and element writes, merged per row and written together in one transaction.

Chainlit fires a database write for every step start, step end, message and element, each
as its own background task: about twenty one-statement transactions per answered turn, and
each statement is several round trips through the driver (aiosqlite's worker thread on
SQLite). That, not the SQL, was most of a turn's CPU. Here the writes wait a moment in
memory: the start and the end of a step become one row write, and a turn's rows reach the
database together, in one transaction, in the order they were sent.

Nothing is lost or reordered as a reader can tell: the data layer flushes before every read
and every other write (a resumed chat, the sidebar, a rating see everything sent so far),
on shutdown, and otherwise `delay_s` after the first pending write.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.persistence.batch_writer import BatchWriter, writer_for

log = logging.getLogger(__name__)

# Long enough to gather the burst of writes around a step's start or a turn's end, short
# enough that another replica reading the same chat is at most this far behind.
FLUSH_DELAY_S = 0.2

# What Chainlit's delete_step removes, in its order.
DELETE_STEP_SQL = (
    'DELETE FROM feedbacks WHERE "forId" = :id',
    'DELETE FROM elements WHERE "forId" = :id',
    'DELETE FROM steps WHERE "id" = :id',
)


@dataclass
class Statement:
    sql: str
    params: dict[str, Any]
    table: str | None = None  # set for row upserts, which can share one executemany


@functools.lru_cache(maxsize=512)
def upsert_sql(table: str, columns: tuple[str, ...], padded: bool = False) -> str:
    """Chainlit's upsert: insert the row, or overwrite the columns given (others stay).

    `padded` is the form for rows padded with NULL to a shared column list: a NULL keeps
    what the row had, so each row changes exactly the columns it was given. Built once per
    table and columns: a chat writes the same few row shapes over and over."""
    names = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join(f":{c}" for c in columns)
    updates = ", ".join(
        f'"{c}" = COALESCE(EXCLUDED."{c}", {table}."{c}")' if padded else f'"{c}" = :{c}'
        for c in columns
        if c != "id"
    )
    return (
        f"INSERT INTO {table} ({names}) VALUES ({values}) "
        f'ON CONFLICT ("id") DO UPDATE SET {updates}'
    )


def runs(statements: list[Statement]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The statements as few executemany calls as their order allows.

    Between two deletes, each row is written at most once (the queue merges a row's writes,
    and a delete takes the row's queued writes with it), and the schema has no foreign keys
    or triggers, so statements there commute, except that an UPDATE must follow the insert
    of its row. So all upserts of one table become one call, padded to their shared
    columns, as do repeats of one SQL; plain UPDATEs go last. Deletes stay where they were.
    """
    for is_delete, segment in itertools.groupby(statements, key=lambda s: s.sql in DELETE_STEP_SQL):
        if is_delete:
            for statement in segment:
                yield statement.sql, [statement.params]
            continue
        groups: dict[str, list[Statement]] = {}
        for statement in segment:
            groups.setdefault(statement.table or statement.sql, []).append(statement)
        # Inserts and upserts before plain UPDATEs: an UPDATE of a row created in the same
        # burst (a new chat's activity stamp) must find the row there.
        ordered = sorted(
            groups.values(), key=lambda b: b[0].sql.lstrip().upper().startswith("UPDATE")
        )
        for batch in ordered:
            table = batch[0].table
            if table is None or len(batch) == 1:
                yield batch[0].sql, [s.params for s in batch]
                continue
            columns = tuple(dict.fromkeys(c for s in batch for c in s.params))
            params = [{c: s.params.get(c) for c in columns} for s in batch]
            yield upsert_sql(table, columns, padded=True), params


class WriteQueue:
    def __init__(self, engine: AsyncEngine, delay_s: float = FLUSH_DELAY_S) -> None:
        self.writer: BatchWriter = writer_for(engine)
        self.delay_s = delay_s
        # Insertion-ordered: a row written again keeps its first place with merged columns.
        self._pending: dict[Hashable, Statement] = {}
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._serial = itertools.count()
        self._writing: asyncio.Future[None] | None = None

    @property
    def pending(self) -> bool:
        """Something is queued or being written: a reader must flush (or wait) first."""
        writing = self._writing is not None and not self._writing.done()
        return bool(self._pending) or writing or self._lock.locked()

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        """Queue an upsert; a later one of the same row adds to or overrides its columns,
        exactly as the two statements would have one after the other."""
        key = (table, row["id"])
        queued = self._pending.get(key)
        merged = {**(queued.params if queued else {}), **row}
        self._pending[key] = Statement(upsert_sql(table, tuple(merged)), merged, table)
        self._schedule()

    def replace(self, key: Hashable, sql: str, params: dict[str, Any]) -> None:
        """Queue a statement that supersedes an earlier one under the same key."""
        self._pending[key] = Statement(sql, params)
        self._schedule()

    def delete_step(self, step_id: str) -> None:
        """Queue Chainlit's step deletion. Queued writes of the step and its elements are
        dropped rather than merged into later ones: the row may come back after this."""
        for key in [k for k, s in self._pending.items() if _belongs_to(k, s, step_id)]:
            del self._pending[key]
        for sql in DELETE_STEP_SQL:
            self._pending[("delete", next(self._serial))] = Statement(sql, {"id": step_id})
        self._schedule()

    async def flush(self) -> None:
        """Write everything queued so far; returns once it is in the database."""
        async with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            statements = list(self._pending.values())
            self._pending.clear()
            if statements:
                self._writing = asyncio.ensure_future(self._write(statements))
            if self._writing is not None:
                # Shielded: the batch is already out of the queue, so a caller cancelled while
                # it waits (Stop, a shutdown timeout) must not take other chats' writes down
                # with it; and the next flush waits for it, so a read still sees it.
                await asyncio.shield(self._writing)

    async def _write(self, statements: list[Statement]) -> None:
        try:
            await self.writer(list(runs(statements)))
        except Exception as e:
            # One bad row must not cost the others: retry each on its own, as Chainlit would
            # have written them, and report the ones that fail.
            log.warning("Batched write failed (%s); writing row by row", _first_line(e))
            for statement in statements:
                try:
                    await self.writer([(statement.sql, [statement.params])])
                except Exception as e:  # Chainlit's contract: a failed write never reaches the chat
                    log.error("Database statement failed: %s", _first_line(e))

    def close(self) -> None:
        """Release the writer (its thread, on SQLite). Flush first: queued rows stay queued."""
        self.writer.close()

    def _schedule(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay_s, self._due)

    def _due(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self.flush())
        self._tasks.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._tasks.discard)


def _belongs_to(key: Hashable, statement: Statement, step_id: str) -> bool:
    return key == ("steps", step_id) or (
        isinstance(key, tuple) and key[0] == "elements" and statement.params.get("forId") == step_id
    )


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
