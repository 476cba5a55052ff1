"""The compare view in a real browser: one question to both models, same sources, both
answers streamed one after the other, a chart when both are done."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import answers, ask, shoot
from tests.support.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.e2e

QUESTION = "How do I find the port Foundry Local is using?"
SMALL = ["Small model, first words. ", "Read the port from ", "foundry service status [1]."]
LARGE = ["Large model, first words. ", "Run foundry ", "service status [1]."]


def _chart(page: Page):
    return page.locator("img[alt='latency.png'], img[src*='latency']")


def test_compare_streams_both_answers_with_the_same_sources(page: Page, scripted: ScriptedLLM):
    # Each model sends its first piece, then the server holds the rest until the test
    # releases it: whatever the page shows meanwhile is provably a partial answer.
    scripted.script(
        [
            {"model": "phi", "chunks": SMALL, "hold_after": 1, "hold": "small"},
            {"model": "gpt-oss", "chunks": LARGE, "hold_after": 1, "hold": "large"},
        ]
    )
    page.get_by_role("button", name="Compare").first.click()
    ask(page, QUESTION)

    small = answers(page).filter(has_text="Small model, first words.")
    expect(small).to_contain_text("streaming…", timeout=30_000)
    expect(small).not_to_contain_text("foundry service status")
    expect(page.get_by_text("Large model, first words.")).to_have_count(0)  # one at a time
    shoot(page, "compare-view-streaming")
    scripted.release("small")
    expect(small).to_contain_text("Read the port from foundry service status", timeout=30_000)
    expect(small).to_contain_text("first token")
    expect(small).not_to_contain_text("streaming…")

    large = answers(page).filter(has_text="Large model, first words.")
    expect(large).to_contain_text("streaming…", timeout=30_000)
    expect(large).not_to_contain_text("Run foundry")
    expect(_chart(page)).to_have_count(0)  # the chart waits for both answers
    scripted.release("large")
    expect(large).to_contain_text("Run foundry service status", timeout=30_000)
    expect(large).to_contain_text("first token")
    expect(_chart(page).first).to_be_visible(timeout=10_000)

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


def test_compare_keeps_one_answer_when_the_other_model_breaks_mid_stream(
    page: Page, scripted: ScriptedLLM
):
    scripted.script(
        [
            {"model": "phi", "chunks": SMALL, "cut_after": 2, "cut_mode": "abort"},
            {"model": "gpt-oss", "chunks": LARGE},
        ]
    )
    page.get_by_role("button", name="Compare").first.click()
    ask(page, QUESTION)
    small = answers(page).filter(has_text="Small model, first words.")
    expect(small).to_contain_text("phi-4-mini stopped mid-answer", timeout=30_000)
    expect(small).to_contain_text("connection to the server was lost")
    expect(small).to_contain_text("Read the port from")  # the partial text stays
    expect(small).not_to_contain_text("foundry service status")
    large = answers(page).filter(has_text="Large model, first words.")
    expect(large).to_contain_text("Run foundry service status [1]", timeout=30_000)
    expect(large).not_to_contain_text("stopped mid-answer")
    expect(_chart(page).first).to_be_visible(timeout=10_000)


def test_stop_during_a_compare_keeps_the_partial_answer(page: Page, scripted: ScriptedLLM):
    scripted.script([{"model": "phi", "chunks": SMALL, "hold_after": 1, "hold": "stop"}])
    page.get_by_role("button", name="Compare").first.click()
    ask(page, QUESTION)
    small = answers(page).filter(has_text="Small model, first words.")
    expect(small).to_contain_text("streaming…", timeout=30_000)
    page.click("#stop-button")
    expect(small).to_contain_text("Stopped.", timeout=10_000)
    expect(small).not_to_contain_text("streaming…")
    expect(page.locator("#stop-button")).to_have_count(0, timeout=10_000)
    scripted.release("stop")
    assert [r["model"] for r in scripted.requests] == ["Phi-4-mini-instruct-generic-cpu"]
