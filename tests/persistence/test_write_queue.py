"""Batched step and element writes (write_queue.py) against real SQLite and PostgreSQL: what
reaches the database is what Chainlit's one-statement-per-write data layer would have
written, reads never miss a queued write, and one bad row costs only itself."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.element import File, Text
from chainlit.user import User
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.persistence.data_layer import AppDataLayer, jsonable_step
from app.persistence.selfcheck import full_step
from app.persistence.setup import build_data_layer

create = AppDataLayer.create_step.__wrapped__  # type: ignore[attr-defined]
delete = AppDataLayer.delete_step.__wrapped__  # type: ignore[attr-defined]
element = AppDataLayer.create_element.__wrapped__  # type: ignore[attr-defined]
stock_create = SQLAlchemyDataLayer.create_step.__wrapped__  # type: ignore[attr-defined]
stock_element = SQLAlchemyDataLayer.create_element.__wrapped__  # type: ignore[attr-defined]


async def _thread(layer: AppDataLayer) -> str:
    user = await layer.create_user(User(identifier=f"u-{uuid.uuid4().hex[:8]}"))
    assert user is not None
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, user_id=user.id)
    return thread_id


def _turn(thread_id: str) -> list[dict[str, Any]]:
    """Step writes as a turn sends them: starts with few keys, ends with more, a question."""
    started = {
        "id": str(uuid.uuid4()),
        "threadId": thread_id,
        "name": "Search",
        "type": "tool",
        "streaming": False,
        "input": "the question",
        "metadata": {},
        "createdAt": "2026-01-01T00:00:00.000Z",
    }
    ended = {**started, "input": None, "output": "3 passages", "end": "2026-01-01T00:00:01Z"}
    question = {**full_step(thread_id), "type": "user_message", "tags": None, "modes": {}}
    answer = {**full_step(thread_id), "output": "the answer [1]", "icon": None}
    return [question, started, answer, ended, {**answer, "output": "the answer, edited"}]


async def _rows(layer: AppDataLayer, ids: list[str]) -> dict[str, dict[str, Any]]:
    async with layer.engine.connect() as conn:
        result = await conn.execute(
            text('SELECT * FROM steps WHERE "id" IN ({})'.format(",".join(f"'{i}'" for i in ids)))
        )
        return {row["id"]: dict(row) for row in result.mappings()}


async def test_batched_writes_store_what_chainlit_would_have_written_one_by_one(layer):
    ours, stock = await _thread(layer), await _thread(layer)
    ours_steps, stock_steps = _turn(ours), _turn(stock)
    for step in ours_steps:
        await create(layer, dict(step))
    for step in stock_steps:  # Chainlit's own create_step, one statement per write
        await stock_create(layer, jsonable_step(dict(step)))
    await layer.flush_writes()
    got = await _rows(layer, [s["id"] for s in ours_steps])
    want = await _rows(layer, [s["id"] for s in stock_steps])
    for mine, theirs in zip(ours_steps, stock_steps, strict=True):
        a, b = got[mine["id"]], want[theirs["id"]]
        assert {k: v for k, v in a.items() if k not in ("id", "threadId")} == {
            k: v for k, v in b.items() if k not in ("id", "threadId")
        }
    # The started step kept the input its end did not repeat, and took the end's output.
    assert got[ours_steps[1]["id"]]["input"] == "the question"
    assert got[ours_steps[1]["id"]]["output"] == "3 passages"


async def _element_rows(layer: AppDataLayer, thread_id: str) -> dict[str, dict[str, Any]]:
    async with layer.engine.connect() as conn:
        result = await conn.execute(
            text('SELECT * FROM elements WHERE "threadId" = :t'), {"t": thread_id}
        )
        return {row["id"]: dict(row) for row in result.mappings()}


async def test_an_element_is_queued_stored_and_read_back_as_chainlit_would_store_it(
    layer, tmp_path
):
    thread_id = await _thread(layer)
    step = {**full_step(thread_id), "output": "the answer [1]"}
    await create(layer, dict(step))
    upload = tmp_path / "notes.txt"
    upload.write_bytes(b"uploaded bytes")

    where = {"for_id": step["id"], "thread_id": thread_id}

    def made() -> list[Any]:
        return [
            Text(name="[1]", content="cited text", display="side", **where),
            File(name="notes.txt", path=str(upload), mime="text/plain", **where),
        ]

    ours, stock = made(), made()
    for mine, theirs in zip(ours, stock, strict=True):
        await element(layer, mine)
        assert layer.writes.pending  # joined the write queue, not written on its own
        await stock_element(layer, theirs)  # Chainlit's own, one statement
    thread = await layer.get_thread(thread_id)
    assert thread is not None
    assert {e["id"] for e in thread["elements"] or []} == {e.id for e in ours + stock}
    rows = await _element_rows(layer, thread_id)
    for mine, theirs in zip(ours, stock, strict=True):
        a, b = rows[mine.id], rows[theirs.id]
        assert {k: str(v).replace(mine.id, "ID") for k, v in a.items()} == {
            k: str(v).replace(theirs.id, "ID") for k, v in b.items()
        }
        assert a["objectKey"].startswith(f"{thread['userId']}/{mine.id}")
        stored = layer.storage_provider.path_for(a["objectKey"]).read_bytes()
        assert stored == (b"cited text" if mine.name == "[1]" else b"uploaded bytes")


async def test_a_read_sees_writes_still_queued(layer):
    thread_id = await _thread(layer)
    steps = _turn(thread_id)
    for step in steps:
        await create(layer, dict(step))
    cited = Text(name="[1]", content="cited text", for_id=steps[2]["id"], thread_id=thread_id)
    await element(layer, cited)
    assert layer.writes.pending
    thread = await layer.get_thread(thread_id)  # no explicit flush
    assert thread is not None
    outputs = {s["id"]: s["output"] for s in thread["steps"]}
    assert outputs[steps[2]["id"]] == "the answer, edited"
    assert [e["id"] for e in thread["elements"] or []] == [cited.id]
    assert not layer.writes.pending


async def test_a_deleted_step_takes_its_queued_writes_and_can_come_back(layer):
    thread_id = await _thread(layer)
    step = {**full_step(thread_id), "output": "first"}
    await create(layer, dict(step))
    await element(layer, Text(name="[1]", content="x", for_id=step["id"], thread_id=thread_id))
    await delete(layer, step["id"])
    await create(layer, {**step, "output": "second", "icon": None, "language": None})
    thread = await layer.get_thread(thread_id)
    assert thread is not None
    [stored] = [s for s in thread["steps"] if s["id"] == step["id"]]
    assert stored["output"] == "second"
    assert stored["language"] is None  # not merged into the deleted row's columns
    assert not thread["elements"]


async def test_one_bad_row_costs_only_itself(layer, caplog):
    thread_id = await _thread(layer)
    good = {**full_step(thread_id), "output": "kept"}
    bad = {**full_step(thread_id), "noSuchColumn": "x"}
    await create(layer, dict(good))
    await create(layer, dict(bad))
    with caplog.at_level(logging.WARNING):
        await layer.flush_writes()
    rows = await _rows(layer, [good["id"], bad["id"]])
    assert list(rows) == [good["id"]]
    assert any("Database statement failed" in r.getMessage() for r in caplog.records)


async def test_queued_writes_reach_the_database_on_their_own(layer):
    thread_id = await _thread(layer)
    step = {**full_step(thread_id), "output": "flushed by the timer"}
    await create(layer, dict(step))
    # Read through another engine: the data layer's own reads would flush first.
    other = create_async_engine(layer.engine.url)
    try:
        for _ in range(200):  # the flush is due after FLUSH_DELAY_S; allow a busy machine
            async with other.connect() as conn:
                found = (
                    await conn.execute(
                        text('SELECT "output" FROM steps WHERE "id" = :id'), {"id": step["id"]}
                    )
                ).scalar()
            if found:
                break
            await asyncio.sleep(0.05)
    finally:
        await other.dispose()
    assert found == "flushed by the timer"


async def test_closing_the_data_layer_writes_what_is_queued(settings, layer):
    thread_id = await _thread(layer)
    step = {**full_step(thread_id), "output": "written at shutdown"}
    await create(layer, dict(step))
    await layer.close()
    reopened = build_data_layer(settings)
    try:
        thread = await reopened.get_thread(thread_id)
    finally:
        await reopened.engine.dispose()
    assert thread is not None
    assert [s["output"] for s in thread["steps"]] == ["written at shutdown"]


async def test_a_flush_whose_caller_is_cancelled_still_writes_the_batch(layer):
    # Stop, or a shutdown timeout, cancels whoever is flushing; the batch is already out of
    # the queue by then, and it holds other chats' steps too.
    thread_id = await _thread(layer)
    steps = _turn(thread_id)
    for step in steps:
        await create(layer, dict(step))
    flushing = asyncio.ensure_future(layer.flush_writes())
    await asyncio.sleep(0)  # the flush has taken the batch and is writing it
    flushing.cancel()
    await asyncio.gather(flushing, return_exceptions=True)
    await layer.flush_writes()  # waits for the shielded write, as any later read would
    assert set(await _rows(layer, [s["id"] for s in steps])) == {s["id"] for s in steps}


def test_an_update_runs_after_the_insert_of_its_row_whatever_order_they_were_queued_in():
    from app.persistence.data_layer import _ACTIVITY_SQL, _NEW_THREAD_SQL
    from app.persistence.write_queue import Statement, runs

    # Chat A's activity stamp is queued first, then new chat B's row and its stamp: B's
    # UPDATE shares A's SQL (one executemany) and must not run before B's INSERT.
    queued = [
        Statement(_ACTIVITY_SQL, {"ts": "t1", "id": "A"}),
        Statement(_NEW_THREAD_SQL, {"id": "B", "ts": "t1"}),
        Statement(_ACTIVITY_SQL, {"ts": "t2", "id": "B"}),
    ]
    order = [sql for sql, _ in runs(queued)]
    assert order == [_NEW_THREAD_SQL, _ACTIVITY_SQL]
