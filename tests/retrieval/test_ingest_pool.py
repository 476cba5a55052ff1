"""Reading files has its own bounded pool: it never needs the loop's default executor."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from app.retrieval.ingest import INGEST_WORKERS, run_ingest


def test_ingestion_runs_on_its_own_bounded_pool_even_when_the_default_executor_is_full():
    lock = threading.Lock()
    active, peak, names = 0, 0, set()
    pair = threading.Barrier(INGEST_WORKERS, timeout=30)  # both workers busy at once

    def work() -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
            names.add(threading.current_thread().name)
        pair.wait()
        with lock:
            active -= 1

    async def main() -> None:
        loop = asyncio.get_running_loop()
        default = ThreadPoolExecutor(max_workers=1)
        loop.set_default_executor(default)
        release = threading.Event()
        blocked = loop.run_in_executor(None, release.wait)  # the default executor is full
        await asyncio.gather(*(run_ingest(work) for _ in range(3 * INGEST_WORKERS)))
        release.set()
        await blocked

    asyncio.run(main())
    assert peak == INGEST_WORKERS == 2
    assert names and all(n.startswith("ingest") for n in names)
