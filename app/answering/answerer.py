"""The answering service: the library, the gateway and the settings, bound once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from app.answering.events import Event
from app.answering.options import AnswerConfig, AskOptions, Exchange
from app.answering.pipeline import SearchesLibrary, ask
from app.config import Settings
from app.llm.gateway import LLMGateway


class Answerer:
    """`answerer.ask(question, history=…, scope=…, options=…)` for the chat, the benchmarks
    and the evaluation. Per-chat values come only from `options`."""

    def __init__(self, library: SearchesLibrary, gateway: LLMGateway, settings: Settings) -> None:
        self.library = library
        self.gateway = gateway
        self.config = AnswerConfig.from_settings(settings)
        self.default_options = AskOptions.from_settings(settings)

    def ask(
        self,
        question: str,
        *,
        history: Sequence[Exchange] = (),
        scope: str | None = None,
        options: AskOptions | None = None,
    ) -> AsyncIterator[Event]:
        return ask(
            question,
            history=list(history),
            scope=scope,
            options=options or self.default_options,
            library=self.library,
            gateway=self.gateway,
            config=self.config,
        )
