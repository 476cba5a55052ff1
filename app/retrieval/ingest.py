"""The one bounded pool that reads files: chat uploads, publishing and knowledge scans.

Reading a file is the one cost a user controls. On the event loop's default executor,
six big uploads would occupy every worker that all chats share for their small blocking
calls; here at most INGEST_WORKERS files are read at once and the rest wait their turn.
(The parsing itself runs in the parser pool's contained children, see parsepool.py.)
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

INGEST_WORKERS = 2
_pool = ThreadPoolExecutor(max_workers=INGEST_WORKERS, thread_name_prefix="ingest")


async def run_ingest(fn: Callable[..., T], /, *args: object) -> T:
    """`fn(*args)` on the ingestion pool, never on the loop's default executor."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, functools.partial(fn, *args))
