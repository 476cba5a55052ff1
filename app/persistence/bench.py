"""Persistence benchmark: `python -m app.persistence.bench` (or `make bench-persist`).

Four figures, each against a baseline measured in the same run:
- resume of a chat with 5 uploaded 20-page documents (thread read + uploads re-indexed
  from durable storage) vs uploading the same 5 documents fresh;
- one sidebar page (20 chats) for a user with 2,000 chats: our list_threads vs Chainlit's
  stock SQLAlchemy list_threads;
- one step write queued by the data layer (no I/O yet): its cost to the event loop;
- the database writes of one answered turn (steps created and updated, the answer with its
  turn record, its elements) vs AUTH_MODE=local with no database (no writes), on SQLite
  and, when the postgresql package is installed, on a throw-away PostgreSQL server.
Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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


def _turn_bursts(layer: AppDataLayer, thread_id: str) -> list[list[Any]]:
    """One answered turn's writes as the app issues them (coroutines Chainlit would fire as
    tasks), in its two bursts: the question and the steps that start at once, then, after
    the draft has streamed, the steps that end, the answer and its elements."""
    create = AppDataLayer.create_step.__wrapped__  # type: ignore[attr-defined]
    element = AppDataLayer.create_element.__wrapped__  # type: ignore[attr-defined]
    steps = {
        name: {**full_step(thread_id), "type": "run", "name": name, "metadata": {}}
        for name in ("on_message", "retrieve", "draft", "route")
    }
    answer = {**full_step(thread_id), "metadata": {"turn": {"question": "q", "sources": []}}}
    first = [create(layer, {**full_step(thread_id), "type": "user_message", "metadata": {}})]
    first += [create(layer, dict(steps[n])) for n in ("on_message", "retrieve", "retrieve")]
    first.append(create(layer, dict(steps["draft"])))
    second = [create(layer, dict(steps[n])) for n in ("draft", "route", "route")]
    second.append(create(layer, answer))
    second += [
        element(
            layer,
            Text(name=f"[{n}]", content="cited " * 200, for_id=answer["id"], thread_id=thread_id),
        )
        for n in range(3)  # two citations and the details panel
    ]
    second.append(create(layer, dict(steps["on_message"])))
    return [first, second]


async def _streamed_turn(layer: AppDataLayer, bursts: list[list[Any]]) -> float:
    """A turn streaming for ~50 ms, firing one write per event like Chainlit does
    (asyncio.create_task); returns the turn's wall time as the user sees it."""
    tasks = []
    t0 = time.perf_counter()
    for burst in bursts:
        for write in burst:
            tasks.append(asyncio.create_task(write))
            await asyncio.sleep(0.004)  # the model streaming between events
    elapsed = time.perf_counter() - t0
    await asyncio.gather(*tasks)  # finish the background writes outside the timing
    await layer.flush_writes()
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
        with_db.append(await _streamed_turn(layer, _turn_bursts(layer, thread_id)))
        no_db = [[asyncio.sleep(0) for _ in range(5)], [asyncio.sleep(0) for _ in range(8)]]
        without.append(await _streamed_turn(layer, no_db))
    return {
        "turn_wall_p50_s": statistics.median(with_db),
        "turn_wall_no_db_p50_s": statistics.median(without),
    }


async def bench_turn(layer: AppDataLayer, rounds: int = 60) -> dict[str, float]:
    """The database work of one turn, awaited: each burst's writes, then the write of the
    burst (as the write queue does FLUSH_DELAY_S after it). The baseline, AUTH_MODE=local
    without a database, makes no data-layer calls at all."""
    thread_id = await _new_thread(layer, "turns")
    with_db, without = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for burst in _turn_bursts(layer, thread_id):
            for write in burst:
                await write
            await layer.flush_writes()
        with_db.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        without.append(time.perf_counter() - t0)
    return {
        "turn_p50_s": statistics.median(with_db),
        "turn_p95_s": pct(with_db, 0.95),
        "no_db_p50_s": statistics.median(without),
    }


def _step_writes(thread_id: str) -> list[dict[str, Any]]:
    """A turn's step writes as Chainlit sends them: each step's start, then its end."""
    started = [
        {**full_step(thread_id), "type": "run", "name": name, "metadata": {}, "output": ""}
        for name in ("on_message", "retrieve", "draft", "route", "answer")
    ]
    return started + [{**s, "output": "done", "end": "2026-01-01T00:00:01Z"} for s in started]


async def bench_queue(layer: AppDataLayer, rounds: int = 300) -> dict[str, float]:
    """What one step write costs the event loop before any I/O: the data layer's create_step
    up to the queued, merged row and its statement (the flush, timed by bench_turn, writes
    it later). The baseline, AUTH_MODE=local without a database, does none of it."""
    thread_id = await _new_thread(layer, "queue")
    create = AppDataLayer.create_step.__wrapped__  # type: ignore[attr-defined]
    per_write = []
    for _ in range(rounds):
        writes = _step_writes(thread_id)
        t0 = time.perf_counter()
        for write in writes:
            await create(layer, write)
        per_write.append((time.perf_counter() - t0) / len(writes))
        await layer.flush_writes()
    return {"write_p50_s": statistics.median(per_write), "no_db_s": 0.0}


async def bench_turns_on(settings: Settings) -> dict[str, float]:
    """Both per-turn measures on the database `settings` point at."""
    await check_database(settings)
    layer = build_data_layer(settings)
    try:
        turn = await bench_turn(layer)
        turn.update(await bench_turn_latency(layer))
        return turn
    finally:
        await layer.engine.dispose()


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
        queue = await bench_queue(layer)
    finally:
        await layer.engine.dispose()
    turns = {"sqlite": await bench_turns_on(settings)}
    with _postgres_url() as url:
        if url:
            on_pg = settings.model_copy(update={"database_url": url})
            turns["postgresql"] = await bench_turns_on(on_pg)
    return {"resume": resume, "sidebar": sidebar, "queue": queue, "turn": turns}


@contextmanager
def _postgres_url() -> Iterator[str | None]:
    """A throw-away PostgreSQL server (the tests' fixture) when the package is installed
    (`make postgres`), else None."""
    try:
        from tests.support.postgres import pg_bin, postgres_server
    except ImportError:  # an installed app without the repository's tests
        yield None
        return
    if not pg_bin("pg_ctl"):
        yield None
        return
    with postgres_server() as url:
        yield url


# What the table shows, one row per measure: the label, where its figure and its
# baseline's are in the results (group, key), the baseline's label and the target. The
# per-turn rows repeat for each database measured.
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
        "one step write queued, before any I/O (p50)",
        "queue",
        "write_p50_s",
        "no_db_s",
        "local, no database",
        "none (per-write cost)",
    ),
]
_TURN_ROWS: list[tuple[str, str, str, str, str]] = [
    (
        "database work of one turn, awaited (p50 / p95)",
        "turn_p50_s",
        "no_db_p50_s",
        "local, no database",
        "≤ 10 ms p50",
    ),
    (
        "streamed turn wall time, writes fired as Chainlit does (p50)",
        "turn_wall_p50_s",
        "turn_wall_no_db_p50_s",
        "same turn, no database",
        "≤ +10 ms",
    ),
]
# The baseline of this one does no database work at all, so a ratio would mean nothing.
_NO_RATIO = {"no_db_p50_s", "no_db_s"}


def _cells(figures: dict[str, float], ours_key: str, base_key: str) -> tuple[str, str, str]:
    ours, base_t = figures[ours_key], figures[base_key]
    shown = _ms(ours)
    if ours_key == "turn_p50_s":
        shown += f" / {_ms(figures['turn_p95_s'])}"
    ratio = "n/a (baseline does no work)" if base_key in _NO_RATIO else f"{ours / base_t:.3f}×"
    return shown, _ms(base_t), ratio


def report(r: dict[str, Any]) -> None:
    rows = [(name, r[group], *rest) for name, group, *rest in _ROWS]
    rows += [
        (f"{db}: {name}", t, *rest) for db, t in r["turn"].items() for name, *rest in _TURN_ROWS
    ]
    if "postgresql" not in r["turn"]:
        print("PostgreSQL not installed (`make postgres`): its per-turn rows are missing.")
    print("| measure | ours | baseline | baseline time | ratio | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, figures, ours_key, base_key, base, target in rows:
        ours, base_t, ratio = _cells(figures, ours_key, base_key)
        print(f"| {name} | {ours} | {base} | {base_t} | {ratio} | {target} |")


def _ms(seconds: float) -> str:
    if 0 < seconds < 0.001:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1000:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    argparse.ArgumentParser(description=__doc__, formatter_class=formatter).parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="persist-bench-") as tmp:
        result = asyncio.run(run(Path(tmp)))
    report(result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
