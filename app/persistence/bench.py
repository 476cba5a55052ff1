"""Persistence benchmark: `python -m app.persistence.bench` (or `make bench-persist`).

Three figures, each against a baseline measured in the same run:
- resume of a chat with 5 uploaded 20-page documents (thread read + uploads re-indexed
  from durable storage) vs uploading the same 5 documents fresh;
- one sidebar page (20 chats) for a user with 2,000 chats: our list_threads vs Chainlit's
  stock SQLAlchemy list_threads;
- the database writes of one answered turn (steps created and updated, the answer with its
  turn record, two citation elements) vs AUTH_MODE=local with no database (no writes).
Prints a table, then one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.element import Text
from chainlit.types import Pagination, ThreadFilter
from chainlit.user import User

from app.chat.resume import reindex_uploads
from app.chat.uploads import store_upload
from app.config import Settings, load_settings
from app.persistence.data_layer import AppDataLayer
from app.persistence.selfcheck import full_step
from app.persistence.setup import build_data_layer, check_database
from app.retrieval.library import Library

WORDS_PER_PAGE = 500
THREADS = 2000
STEPS_PER_THREAD = 6


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def synthetic_doc(seed: int, pages: int = 20) -> str:
    rnd = random.Random(seed)
    vocab = [f"term{i}" for i in range(3000)] + ["cluster", "rotation", "policy", "owner"]
    out = [f"# Document {seed}\n"]
    for page in range(pages):
        out.append(f"\n## Section {page + 1}\n")
        words = [rnd.choice(vocab) for _ in range(WORDS_PER_PAGE)]
        out += [" ".join(words[i : i + 25]) + ".\n" for i in range(0, WORDS_PER_PAGE, 25)]
    return "".join(out)


def _settings(root: Path) -> Settings:
    (root / "knowledge").mkdir(parents=True, exist_ok=True)
    return load_settings(
        data_dir=root / "data", upload_dir=root / "uploads", knowledge_dir=root / "knowledge"
    )


def bench_resume(settings: Settings, docs: list[Path], rounds: int = 3) -> dict[str, float]:
    fresh, resumed = [], []
    for r in range(rounds):
        library = Library.open(settings)
        scope = f"bench-{r}"
        t0 = time.perf_counter()
        for doc in docs:
            stored = store_upload(doc, doc.name, scope, settings.upload_dir)
            library.add_file(stored.path, scope, doc.name)
        fresh.append(time.perf_counter() - t0)
        library = Library.open(settings)  # a restarted process: nothing indexed for the chat
        t0 = time.perf_counter()
        reindex_uploads(library, settings.upload_dir, scope)
        resumed.append(time.perf_counter() - t0)
    return {"fresh_s": statistics.median(fresh), "resume_s": statistics.median(resumed)}


async def _fill(layer: AppDataLayer, user_id: str) -> None:
    async with layer.engine.begin() as conn:
        from sqlalchemy import text

        threads, steps = [], []
        for i in range(THREADS):
            tid = str(uuid.uuid4())
            at = f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
            threads.append({"id": tid, "u": user_id, "at": at, "name": f"chat {i}"})
            for j in range(STEPS_PER_THREAD):
                steps.append({"id": str(uuid.uuid4()), "t": tid, "at": at, "o": "x" * 400 + str(j)})
        await conn.execute(
            text(
                'INSERT INTO threads ("id", "userId", "userIdentifier", "createdAt", '
                '"updatedAt", "name", "metadata") VALUES (:id, :u, \'bench\', :at, :at, :name, '
                "'{}')"
            ),
            threads,
        )
        await conn.execute(
            text(
                'INSERT INTO steps ("id", "threadId", "name", "type", "streaming", "output", '
                "\"createdAt\", \"metadata\") VALUES (:id, :t, 's', 'assistant_message', "
                "FALSE, :o, :at, '{}')"
            ),
            steps,
        )


async def bench_sidebar(layer: AppDataLayer, rounds: int = 30) -> dict[str, float]:
    user = await layer.create_user(User(identifier="bench"))
    assert user is not None
    await _fill(layer, user.id)
    filters = ThreadFilter(userId=user.id)
    ours, stock = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        page = await layer.list_threads(Pagination(first=20), filters)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        base = await SQLAlchemyDataLayer.list_threads(layer, Pagination(first=20), filters)
        stock.append(time.perf_counter() - t0)
    assert [t["id"] for t in page.data] == [t["id"] for t in base.data]
    return {"ours_p95_s": pct(ours, 0.95), "stock_p95_s": pct(stock, 0.95)}


async def _one_turn(layer: AppDataLayer, thread_id: str) -> None:
    create = AppDataLayer.create_step.__wrapped__  # type: ignore[attr-defined]
    element = AppDataLayer.create_element.__wrapped__  # type: ignore[attr-defined]
    question = {**full_step(thread_id), "type": "user_message", "metadata": {}}
    await create(layer, question)
    answer = None
    for name in ("on_message", "retrieve", "draft", "route"):
        step = {**full_step(thread_id), "type": "run", "name": name, "metadata": {}}
        await create(layer, step)  # started
        await create(layer, step)  # finished (update_step is the same upsert)
    answer = {**full_step(thread_id), "metadata": {"turn": {"question": "q", "sources": []}}}
    await create(layer, answer)
    for n in range(2):
        await element(
            layer,
            Text(name=f"[{n}]", content="cited " * 200, for_id=answer["id"], thread_id=thread_id),
        )


def _turn_writes(layer: AppDataLayer, thread_id: str) -> list[Any]:
    """The writes of one turn as Chainlit issues them: coroutines it fires as tasks."""
    create = AppDataLayer.create_step.__wrapped__  # type: ignore[attr-defined]
    element = AppDataLayer.create_element.__wrapped__  # type: ignore[attr-defined]
    writes: list[Any] = [create(layer, {**full_step(thread_id), "type": "user_message"})]
    for name in ("on_message", "retrieve", "draft", "route"):
        step = {**full_step(thread_id), "type": "run", "name": name, "metadata": {}}
        writes += [create(layer, step), create(layer, dict(step))]
    answer = {**full_step(thread_id), "metadata": {"turn": {"question": "q", "sources": []}}}
    writes.append(create(layer, answer))
    writes += [
        element(
            layer, Text(name=f"[{n}]", content="c " * 200, for_id=answer["id"], thread_id=thread_id)
        )
        for n in range(2)
    ]
    return writes


async def _streamed_turn(writes: list[Any]) -> float:
    """A 12-event turn streaming for ~48 ms, firing one write per event like Chainlit does
    (asyncio.create_task); returns the turn's wall time as the user sees it."""
    tasks = []
    t0 = time.perf_counter()
    for write in writes:
        tasks.append(asyncio.create_task(write))
        await asyncio.sleep(0.004)  # the model streaming between events
    elapsed = time.perf_counter() - t0
    await asyncio.gather(*tasks)  # finish the background writes outside the timing
    return elapsed


async def _new_thread(layer: AppDataLayer, user_name: str) -> str:
    """A fresh thread of a new user, as the first turn of a chat finds it."""
    user = await layer.create_user(User(identifier=user_name))
    assert user is not None
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, user_id=user.id)
    return thread_id


async def bench_turn_latency(layer: AppDataLayer, rounds: int = 40) -> dict[str, float]:
    thread_id = await _new_thread(layer, "latency")
    with_db, without = [], []
    for _ in range(rounds):
        with_db.append(await _streamed_turn(_turn_writes(layer, thread_id)))
        without.append(await _streamed_turn([asyncio.sleep(0) for _ in range(14)]))
    return {
        "turn_wall_p50_s": statistics.median(with_db),
        "turn_wall_no_db_p50_s": statistics.median(without),
    }


async def bench_turn(layer: AppDataLayer, rounds: int = 40) -> dict[str, float]:
    thread_id = await _new_thread(layer, "turns")
    with_db, without = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await _one_turn(layer, thread_id)
        with_db.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        # AUTH_MODE=local without a database: Chainlit makes no data-layer calls at all.
        without.append(time.perf_counter() - t0)
    return {"turn_p50_s": statistics.median(with_db), "no_db_p50_s": statistics.median(without)}


async def run(root: Path) -> dict[str, Any]:
    settings = _settings(root)
    docs = []
    for i in range(5):
        path = root / f"doc{i}.md"
        path.write_text(synthetic_doc(i))
        docs.append(path)
    resume = await asyncio.to_thread(bench_resume, settings, docs)
    await check_database(settings)
    layer = build_data_layer(settings)
    try:
        sidebar = await bench_sidebar(layer)
        turn = await bench_turn(layer)
        turn.update(await bench_turn_latency(layer))
    finally:
        await layer.engine.dispose()
    return {"resume": resume, "sidebar": sidebar, "turn": turn}


# What the table shows, one row per measure: the label, where its figure and its
# baseline's are in the results (group, key), the baseline's label and the target.
_ROWS: list[tuple[str, str, str, str, str, str]] = [
    ("resume 5 × 20-page uploads", "resume", "resume_s", "fresh_s", "fresh upload", "≤ 1 s"),
    (
        "sidebar page, 2,000 chats (p95)",
        "sidebar",
        "ours_p95_s",
        "stock_p95_s",
        "stock list_threads",
        "≤ 100 ms",
    ),
    (
        "database work of one turn, awaited back to back (p50)",
        "turn",
        "turn_p50_s",
        "no_db_p50_s",
        "local, no database",
        "≤ 10 ms",
    ),
    (
        "streamed turn wall time, writes fired as Chainlit does (p50)",
        "turn",
        "turn_wall_p50_s",
        "turn_wall_no_db_p50_s",
        "same turn, no database",
        "≤ +10 ms",
    ),
]
# The baseline of this one does no database work at all, so a ratio would mean nothing.
_NO_RATIO = {"no_db_p50_s"}


def report(r: dict[str, Any]) -> None:
    print("| measure | ours | baseline | baseline time | ratio | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, group, ours_key, base_key, base, target in _ROWS:
        ours, base_t = r[group][ours_key], r[group][base_key]
        ratio = "n/a (baseline does no work)" if base_key in _NO_RATIO else f"{ours / base_t:.3f}×"
        print(f"| {name} | {_ms(ours)} | {base} | {_ms(base_t)} | {ratio} | {target} |")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="persist-bench-") as tmp:
        result = asyncio.run(run(Path(tmp)))
    report(result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
