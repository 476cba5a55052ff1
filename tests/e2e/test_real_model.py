"""Smoke test against a real model: the app on the bundled llama.cpp Gemma 3 270M server,
asked one question through the browser. Quality is not asserted; the plumbing is."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import answers, ask, open_chat, shoot, start_app, step_titles
from tests.support.local_llm import start_local_llm
from tests.support.processes import free_port, stop

pytestmark = [pytest.mark.e2e, pytest.mark.real_llm]


@pytest.fixture(scope="module")
def real_app(tmp_path_factory):
    base_url, llm = start_local_llm(free_port())
    try:
        # Small budgets keep a 2-core CPU run short; the model is tiny and slow at long prompts.
        app = start_app(
            tmp_path_factory.mktemp("real"),
            base_url,
            CONTEXT_TOKEN_BUDGET="1200",
            MAX_ANSWER_TOKENS="48",
            TOP_K="3",
        )
        try:
            yield app
        finally:
            stop(app.process)
    finally:
        stop(llm)


def test_real_model_answers_through_the_browser(browser: Browser, real_app):
    page = open_chat(browser, real_app.url)
    try:
        ask(page, "How do I find the port Foundry Local is using?")
        answer = answers(page).first
        expect(answer).to_contain_text(" in / ", timeout=240_000)
        text = answer.inner_text()
        assert re.search(r"first token [\d.]+ m?s", text), text
        assert "phi-4-mini" in text
        titles = step_titles(page)
        assert any(re.search(r"Draft · phi-4-mini · first token", t) for t in titles), titles
        assert any("Route ·" in t for t in titles), titles
        shoot(page, "real-model")
    finally:
        page.close()
