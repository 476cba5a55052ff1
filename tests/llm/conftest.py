from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.config import Settings, load_settings
from app.llm import LLMGateway
from tests.support.scripted_llm import ScriptedLLM


def settings_for(base_url: str, **overrides: object) -> Settings:
    return load_settings(endpoint=base_url, **overrides)


@pytest.fixture
async def make_gateway() -> AsyncIterator[Callable[..., LLMGateway]]:
    made: list[LLMGateway] = []

    def make(
        base_url: str,
        *,
        http_client: Any = None,
        top_logprobs: int | None = None,
        **overrides: object,
    ) -> LLMGateway:
        """A gateway to `base_url`; `overrides` are settings, the rest gateway options."""
        settings = settings_for(base_url, **overrides)
        gateway = LLMGateway(settings, http_client=http_client, top_logprobs=top_logprobs)
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        await gateway.aclose()


@pytest.fixture
def gateway(llm: ScriptedLLM, make_gateway: Callable[..., LLMGateway]) -> LLMGateway:
    return make_gateway(llm.base_url, read_timeout_s=10, connect_timeout_s=2)
