"""The compare view in a real browser: one question to both models, same sources, a chart."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ask, shoot
from tests.support.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.e2e


def test_compare_sends_one_question_to_both_models_with_the_same_sources(
    page: Page, scripted: ScriptedLLM
):
    scripted.script(
        [
            {"model": "phi", "text": "Small model: read the port from foundry service status [1]."},
            {"model": "gpt-oss", "text": "Large model: run foundry service status [1]."},
        ]
    )
    page.get_by_role("button", name="Compare").first.click()
    ask(page, "How do I find the port Foundry Local is using?")
    expect(page.get_by_text("Small model: read the port")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Large model: run foundry service status")).to_be_visible()
    expect(page.locator("img[alt='latency.png'], img[src*='latency']").first).to_be_visible(
        timeout=10_000
    )
    page.get_by_role("link", name="[1]").first.click()
    expect(page.get_by_role("complementary")).to_contain_text("BM25 score", timeout=10_000)
    shoot(page, "compare-view")
    requests = scripted.requests
    assert [r["model"] for r in requests] == [
        "Phi-4-mini-instruct-generic-cpu",
        "gpt-oss-20b-generic-cpu",
    ]
    # Both saw exactly the same grounded prompt.
    assert requests[0]["messages"] == requests[1]["messages"]
    assert "foundry-local-openai-api.md" in requests[0]["messages"][-1]["content"]
