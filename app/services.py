"""Process-wide services: settings, the knowledge library and the LLM gateway.

Built once when the server starts; the library load runs on the ingestion pool
(app.retrieval.ingest) so start-up parsing never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.answering import Answerer
from app.chat.retention import prune_interval, prune_uploads
from app.config import Settings
from app.llm.gateway import LLMGateway
from app.retrieval.ingest import run_ingest
from app.retrieval.library import Library
from app.tokens import get_encoding

log = logging.getLogger(__name__)


class KnowledgeRefresher:
    """Re-scans the knowledge folder on the ingestion pool, at most once per `interval`.

    Called when a chat starts, so a file copied into `knowledge/` is found by new chats
    without a restart. Unchanged files cost one `stat` each; only new or changed files
    are parsed.
    """

    def __init__(
        self,
        library: Library,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        fresh: bool = False,
    ) -> None:
        self.library = library
        self.interval = interval
        self.clock = clock
        # fresh: the library has just scanned (Library.open), so the next chat needn't.
        self._last: float | None = clock() if fresh else None
        self._lock = asyncio.Lock()

    async def maybe_refresh(self) -> bool:
        """Sync unless one ran recently or is running; True when this call synced."""
        now = self.clock()
        if self._lock.locked() or (self._last is not None and now - self._last < self.interval):
            return False
        async with self._lock:
            self._last = now
            try:
                await run_ingest(self.library.sync)
            except Exception:  # a bad scan must never take a chat down; the old index stays
                log.exception("refreshing the knowledge folder failed")
                return False
        return True


@dataclass
class Services:
    settings: Settings
    library: Library
    gateway: LLMGateway
    refresher: KnowledgeRefresher = field(init=False)
    answerer: Answerer = field(init=False)
    _background: set[asyncio.Task] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.refresher = KnowledgeRefresher(
            self.library, self.settings.knowledge_refresh_s, fresh=True
        )
        self.answerer = Answerer(self.library, self.gateway, self.settings)

    def refresh_knowledge_soon(self) -> None:
        """Start a knowledge refresh in the background (the chat doesn't wait for it)."""
        self._spawn(self.refresher.maybe_refresh())

    def start_upload_pruning(self) -> None:
        """Delete expired chat uploads now and then periodically (UPLOAD_RETENTION_DAYS)."""
        if self.settings.upload_retention_days > 0:
            self._spawn(self._prune_uploads_forever())

    async def _prune_uploads_forever(self) -> None:
        days = self.settings.upload_retention_days
        while True:
            try:
                await asyncio.to_thread(prune_uploads, self.settings.upload_dir, days)
            except Exception:  # never let housekeeping take the server down
                log.exception("pruning expired uploads failed")
            await asyncio.sleep(prune_interval(days))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)  # keep a reference until it finishes
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await self.gateway.aclose()


async def start_services(settings: Settings) -> Services:
    library = await run_ingest(Library.open, settings)
    # The library logs each skipped file with its reason as it goes.
    log.info("Knowledge loaded: %s", library.stats())
    # The tokenizer takes ~1 s to build; without this the first question pays for it.
    await asyncio.to_thread(get_encoding)
    services = Services(settings=settings, library=library, gateway=LLMGateway(settings))
    services.start_upload_pruning()
    # Everything loaded so far lives as long as the process: move it out of the cyclic
    # collector's sight, so full collections (which pause every chat) stay short.
    gc.collect()
    gc.freeze()
    return services
