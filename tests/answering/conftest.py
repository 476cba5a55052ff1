from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from app.config import Settings, load_settings
from app.llm.gateway import LLMGateway
from app.retrieval.library import Library
from tests.answering.factories import write_folder
from tests.support.scripted_llm import ScriptedLLM

DOCS = {
    "leave.md": """# Leave policy

## Annual leave

Full-time employees receive 25 days of paid annual leave per calendar year. Up to 5 unused
days may be carried over into the first quarter of the next year. Leave requests must be
approved by the line manager at least two weeks in advance.

## Parental leave

Parents receive 16 weeks of paid parental leave, which can be taken within 12 months of
the birth or adoption of a child.
""",
    "expenses.md": """# Expenses

Receipts must be submitted within 30 days through the finance portal. Meals during
business travel are reimbursed up to 40 euros per day. Taxis are reimbursed only after
10 pm or when carrying equipment.
""",
    "security.md": """# Security

Laptops must use full-disk encryption. Report a lost badge to the security desk within
24 hours. Passwords are rotated every 90 days and must be at least 14 characters long.
""",
}


@pytest.fixture
def knowledge(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "knowledge", DOCS)


def make_settings(base_url: str, knowledge: Path, **overrides: object) -> Settings:
    return load_settings(
        endpoint=base_url,
        knowledge_dir=knowledge,
        index_dir=knowledge.parent / "index",
        read_timeout_s=10,
        connect_timeout_s=2,
        **overrides,
    )


@pytest.fixture
def settings(llm: ScriptedLLM, knowledge: Path) -> Settings:
    return make_settings(llm.base_url, knowledge)


@pytest.fixture
def library(settings: Settings) -> Library:
    return Library.open(settings)


@pytest.fixture
async def make_gateway() -> AsyncIterator[Callable[[Settings], LLMGateway]]:
    """Gateways for settings of a test's own, closed when the test ends."""
    made: list[LLMGateway] = []

    def make(settings: Settings) -> LLMGateway:
        made.append(LLMGateway(settings))
        return made[-1]

    yield make
    for gw in made:
        await gw.aclose()


@pytest.fixture
def gateway(settings: Settings, make_gateway: Callable[[Settings], LLMGateway]) -> LLMGateway:
    return make_gateway(settings)
