"""Process-wide services: settings, the knowledge library and the LLM gateway.

Built once when the server starts; the library load runs in a worker thread so start-up
parsing never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from app.config import Settings
from app.llm.gateway import LLMGateway
from app.retrieval.library import Library

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    library: Library
    gateway: LLMGateway

    async def aclose(self) -> None:
        await self.gateway.aclose()


async def start_services(settings: Settings) -> Services:
    library = await asyncio.to_thread(Library.open, settings)
    # The library logs each skipped file with its reason as it goes.
    log.info("Knowledge loaded: %s", library.stats())
    return Services(settings=settings, library=library, gateway=LLMGateway(settings))
