"""The app in a real browser: streaming, steps with latency, citations, uploads, escalation,
an unreachable LLM and a rejected upload. Screenshots land in artifacts/screenshots/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import (
    AppServer,
    answers,
    ask,
    attach,
    open_chat,
    shoot,
    start_app,
    step_titles,
)
from tests.support.processes import free_port, stop
from tests.support.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.e2e

LONG_CITED = (
    "AutoMix first lets the small model answer, then asks the same small model to verify "
    "its own answer against the context [1]. If the self-verification score is low, the "
    "query is routed to a larger model, which answers from the same context [1]. This keeps "
    "most queries on the cheap model while the hard ones still get a strong answer [1]."
)
TWO_CITED = LONG_CITED.replace("strong answer [1]", "strong answer [2]")


def wait_done(page: Page, n: int = 1, timeout: float = 30_000) -> None:
    """Wait until the n-th answer carries its footer (the turn has finished)."""
    expect(answers(page).nth(n - 1)).to_contain_text(" in / ", timeout=timeout)


def test_answer_streams_with_timed_steps_and_a_clickable_citation(
    page: Page, scripted: ScriptedLLM
):
    # A slow, well-cited draft: long enough to watch it arrive piece by piece.
    scripted.script(
        [{"model": "phi-4-mini", "text": TWO_CITED, "chunk_chars": 12, "delay_s": 0.12}]
    )
    ask(page, "How does AutoMix work?")
    answer = answers(page).first
    expect(answer).to_contain_text("AutoMix first", timeout=20_000)
    partial = answer.inner_text()
    # Seen mid-stream: the start is there, the end is not yet.
    assert "strong answer" not in partial
    wait_done(page)
    final = answer.inner_text()
    assert "strong answer" in final
    assert "phi-4-mini" in final and "draft kept" in final

    titles = step_titles(page)
    assert any(re.search(r"Retrieve · \d+ ms", t) for t in titles), titles
    assert any(
        re.search(r"Draft · phi-4-mini · first token [\d.]+ m?s · [\d.]+ m?s", t) for t in titles
    ), titles
    assert any(t.endswith("Route · keep draft") or "Route ·" in t for t in titles), titles
    assert not any("Escalate" in t for t in titles)

    # Chainlit first opens a panel stacking every source; clicking [2] narrows it to that
    # one chunk, with its file and score.
    panel = page.get_by_role("complementary")
    expect(panel.get_by_text("BM25 score:")).to_have_count(2, timeout=10_000)
    answer.get_by_role("link", name="[2]").first.click()
    expect(panel.get_by_text("BM25 score:")).to_have_count(1, timeout=10_000)
    expect(panel.get_by_role("heading", name=re.compile(r"^\[2\] "))).to_be_visible()
    expect(panel.get_by_text("(rank 2)")).to_be_visible()
    answer.get_by_role("link", name="[1]").first.click()
    expect(panel.get_by_text("(rank 1)")).to_be_visible(timeout=10_000)
    expect(panel.get_by_text(re.compile(r"draft-and-escalate-pipelines\.pdf"))).to_be_visible()
    shoot(page, "answer-with-citation")

    # The draft request really went to the draft model, streaming.
    bodies = scripted.requests
    assert bodies[0]["model"] == "Phi-4-mini-instruct-generic-cpu"
    assert bodies[0]["stream"] is True


def test_uploaded_document_is_searchable_in_the_same_turn_and_can_be_shared(
    page: Page, scripted: ScriptedLLM, app: AppServer, tmp_path
):
    doc = tmp_path / "heron-runbook.md"
    doc.write_text(
        "# Heron runbook\n\n## Rotation\n\n"
        "The Heron cluster rotates its signing keys every 45 days. "
        "Key rotation is owned by the platform security team and starts at 06:00 UTC.\n"
    )
    attach(page, doc)
    ask(page, "How often does the Heron cluster rotate its signing keys?")

    expect(
        page.get_by_text(re.compile(r"Ingest · heron-runbook\.md · \d+ chunks · \d+"))
    ).to_be_visible(timeout=20_000)
    wait_done(page, n=2)  # the "Added … to this chat" note, then the answer
    answer = answers(page).last
    expect(answer).to_contain_text("45 days")
    answer.get_by_role("link", name="[1]").first.click()
    expect(page.get_by_text("heron-runbook.md").last).to_be_visible(timeout=10_000)

    # The model was given the uploaded chunk as context block [1].
    last = scripted.requests[-1]["messages"]
    assert any("rotates its signing keys every 45 days" in m["content"] for m in last)

    page.get_by_role("button", name="Add to shared knowledge").click()
    expect(page.get_by_text(re.compile("Shared .*heron-runbook.md"))).to_be_visible(timeout=10_000)
    assert (app.knowledge_dir / "heron-runbook.md").read_text().startswith("# Heron runbook")
    stored = list(app.upload_dir.rglob("heron-runbook.md"))
    assert stored, "the upload was not copied into durable storage"


def test_insufficient_draft_escalates_visibly(page: Page, scripted: ScriptedLLM):
    scripted.script(
        [
            {"model": "phi-4-mini", "text": "INSUFFICIENT_CONTEXT"},
            {"model": "gpt-oss", "reasoning": "The blocks mention the port.", "text": LONG_CITED},
        ]
    )
    ask(page, "How does AutoMix decide when to escalate?")
    wait_done(page)
    answer = answers(page).first
    text = answer.inner_text()
    assert "phi-4-mini → gpt-oss-20b" in text
    assert "escalated" in text
    assert "INSUFFICIENT_CONTEXT" not in text
    titles = step_titles(page)
    assert any("Route · escalate" in t for t in titles), titles
    assert any(re.search(r"Escalate · gpt-oss-20b · first token", t) for t in titles), titles
    # Reasoning stays inside the Escalate step, never in the answer.
    assert "The blocks mention the port" not in text
    shoot(page, "escalated")
    # The Route step opens onto its reasons and the value of every signal.
    page.get_by_role("button", name=re.compile("Route · escalate")).click()
    expect(page.get_by_role("cell", name="lexical support")).to_be_visible(timeout=5_000)
    expect(page.get_by_text("insufficient-context marker", exact=False).first).to_be_visible()
    shoot(page, "route-signals")


def test_reasoning_streams_live_into_its_step(page: Page, scripted: ScriptedLLM):
    # The large model's reasoning shows nowhere but its step, so it streams there: the
    # server sends one piece of it, then holds the rest until the test releases it.
    scripted.script(
        [
            {"model": "phi-4-mini", "text": "INSUFFICIENT_CONTEXT"},
            {
                "model": "gpt-oss",
                "reasoning": "First I look at the blocks. Then I check the port.",
                "chunk_chars": 16,
                "hold_after": 1,
                "hold": "think",
                "text": LONG_CITED,
            },
        ]
    )
    ask(page, "How does AutoMix decide when to escalate?")
    escalate = page.get_by_role("button", name=re.compile("Escalate"))
    expect(escalate).to_be_visible(timeout=20_000)
    escalate.click()
    step = page.locator("[data-step-type]").filter(has=escalate).first
    expect(step).to_contain_text("First I look at", timeout=10_000)
    assert "Then I check" not in step.inner_text()
    scripted.release("think")
    wait_done(page)
    expect(step).to_contain_text("Then I check the port")


def test_bad_upload_is_rejected_clearly_and_the_chat_carries_on(
    page: Page, scripted: ScriptedLLM, tmp_path
):
    broken = tmp_path / "quarterly-report.pdf"
    broken.write_bytes(b"%PDF-1.7\nthis is not really a pdf\n")
    attach(page, broken)
    ask(page, "What is in the quarterly report?")
    expect(
        page.get_by_text(re.compile(r"Not added: quarterly-report\.pdf is not a readable PDF"))
    ).to_be_visible(timeout=20_000)
    # The question is still answered from the shared knowledge.
    expect(page.locator('[data-step-type="assistant_message"]').last).to_contain_text(
        " in / ", timeout=30_000
    )
    shoot(page, "bad-upload")


@pytest.fixture(scope="module")
def app_without_llm(tmp_path_factory):
    # Nothing listens on this port: the endpoint is unreachable.
    server = start_app(tmp_path_factory.mktemp("nollm"), f"http://127.0.0.1:{free_port()}/v1")
    yield server
    stop(server.process)


def test_unreachable_llm_shows_a_clear_message_and_the_sources(
    browser: Browser, app_without_llm: AppServer
):
    page = open_chat(browser, app_without_llm.url)
    try:
        ask(page, "How do I find the port Foundry Local is using?")
        answer = answers(page).first
        expect(answer).to_contain_text("Could not reach", timeout=30_000)
        text = answer.inner_text()
        assert "127.0.0.1" in text and "make local-llm" in text
        assert "sources only" in text
        # The retrieved passages are still there, and clickable.
        answer.get_by_role("link", name="[1]").first.click()
        expect(page.get_by_text("foundry-local-openai-api.md").last).to_be_visible(timeout=10_000)
        shoot(page, "llm-down")
    finally:
        page.close()


def test_question_the_documents_do_not_cover_says_so(page: Page, scripted: ScriptedLLM):
    ask(page, "Xylophone quokka marzipan?")
    answer = answers(page).first
    expect(answer).to_contain_text("couldn't find the answer", timeout=20_000)
    expect(answer).to_contain_text("nothing found")  # the footer's route, once it has loaded
    assert "Xylophone quokka marzipan" in answer.inner_text()  # says what was searched
    assert scripted.requests == []  # nothing relevant retrieved: no model was asked


def test_chat_settings_apply_to_the_next_message(page: Page, scripted: ScriptedLLM):
    scripted.script([{"text": LONG_CITED}])
    page.click("#chat-settings-open-modal")
    page.get_by_role("combobox").first.click()
    page.get_by_role("option", name="always").click()
    page.get_by_role("button", name="Confirm").click()
    ask(page, "How does AutoMix work?")
    wait_done(page)
    text = answers(page).first.inner_text()
    assert "escalated" in text, text
    assert [r["model"] for r in scripted.requests] == [
        "Phi-4-mini-instruct-generic-cpu",
        "gpt-oss-20b-generic-cpu",
    ]


def test_stream_cut_mid_answer_keeps_the_partial_text_and_says_so(
    page: Page, scripted: ScriptedLLM
):
    scripted.script(
        [{"model": "phi-4-mini", "text": LONG_CITED, "chunk_chars": 10, "cut_after": 8}],
        # The escalation also gets cut, so the partial draft is what remains.
    )
    scripted.add({"model": "gpt-oss", "text": LONG_CITED, "chunk_chars": 10, "cut_after": 3})
    ask(page, "How does AutoMix work?")
    wait_done(page)
    text = answers(page).first.inner_text()
    assert "AutoMix first" in text
    assert "strong answer" not in text
    assert "cut off before it finished" in text
    assert "incomplete" in text  # the footer says so too
    shoot(page, "stream-cut")


def test_uploads_stay_in_their_own_chat(browser: Browser, app: AppServer, tmp_path):
    secret = tmp_path / "falcon-budget.md"
    secret.write_text("# Falcon budget\n\nThe Falcon programme budget is 7.3 million kroner.\n")
    first = open_chat(browser, app.url)
    second = open_chat(browser, app.url)
    try:
        attach(first, secret)
        ask(first, "What is the Falcon programme budget?")
        expect(first.get_by_text(re.compile(r"Ingest · falcon-budget\.md"))).to_be_visible(
            timeout=20_000
        )
        wait_done(first, n=2)

        ask(second, "What is the Falcon programme budget?")
        answer = answers(second).first
        expect(answer).to_contain_text(" · ", timeout=30_000)
        wait_done(second)
        assert "7.3 million" not in answer.inner_text()
        assert "falcon-budget.md" not in second.content()
    finally:
        first.close()
        second.close()


def test_follow_up_is_rewritten_with_its_own_timed_step(page: Page, scripted: ScriptedLLM):
    scripted.script(
        [
            {
                "system_contains": "standalone question",
                "text": "How do I install Foundry Local on macOS?",
            },
            {"model": "phi-4-mini", "text": LONG_CITED},
        ]
    )
    ask(page, "How do I install Foundry Local on Windows?")
    wait_done(page)
    ask(page, "and on macOS?")
    wait_done(page, n=2)
    titles = step_titles(page)
    assert any(re.search(r"Rewrite · \d+(\.\d+)? m?s", t) for t in titles), titles
    # The standalone question, not the bare follow-up, is what retrieval searched.
    retrieve = page.get_by_role("button", name=re.compile(r"Retrieve ·")).last
    retrieve.click()
    expect(page.get_by_text("How do I install Foundry Local on macOS?").first).to_be_visible()
    shoot(page, "follow-up")


def test_browser_refuses_wrong_types_and_oversized_files_before_upload(page: Page, tmp_path):
    big = tmp_path / "huge-notes.txt"
    with big.open("wb") as f:
        f.truncate(21 * 1024 * 1024)  # one MB over the 20 MB limit
    page.locator("#upload-button-input").set_input_files(str(big))
    expect(page.get_by_text("File is larger than 20 MB")).to_be_visible(timeout=10_000)
    exe = tmp_path / "setup.exe"
    exe.write_bytes(b"MZ\x90\x00")
    page.locator("#upload-button-input").set_input_files(str(exe))
    expect(page.get_by_text(re.compile("File type must be"))).to_be_visible(timeout=10_000)
    # Nothing was attached, and the chat still works.
    ask(page, "How do I find the port Foundry Local is using?")
    wait_done(page)
    shoot(page, "refused-uploads")


def test_upload_limits_in_the_browser_follow_the_settings(browser: Browser, tmp_path):
    app = start_app(
        tmp_path / "limits",
        f"http://127.0.0.1:{free_port()}/v1",
        MAX_UPLOAD_MB="1",
        ALLOWED_UPLOAD_TYPES=".md,.txt",
    )
    page = open_chat(browser, app.url)
    try:
        big = tmp_path / "notes.md"
        big.write_text("word " * 300_000)  # 1.5 MB
        page.locator("#upload-button-input").set_input_files(str(big))
        expect(page.get_by_text("File is larger than 1 MB")).to_be_visible(timeout=10_000)
        pdf = tmp_path / "report.pdf"
        pdf.write_bytes(b"%PDF-1.4\n")
        page.locator("#upload-button-input").set_input_files(str(pdf))
        expect(page.get_by_text(re.compile("File type must be"))).to_be_visible(timeout=10_000)
    finally:
        page.close()
        stop(app.process)


def test_stop_button_leaves_a_tidy_turn_and_the_chat_carries_on(page: Page, scripted: ScriptedLLM):
    scripted.script(
        [
            {
                "model": "phi-4-mini",
                "times": 1,
                "text": LONG_CITED,
                "chunk_chars": 4,
                "delay_s": 0.3,
            },
            {"model": "phi-4-mini", "text": LONG_CITED},
        ]
    )
    ask(page, "How does AutoMix work?")
    expect(answers(page).first).to_contain_text("AutoMix", timeout=20_000)
    page.click("#stop-button")
    draft = page.get_by_role("button", name=re.compile(r"Draft · stopped"))
    expect(draft).to_be_visible(timeout=10_000)
    expect(answers(page).first).to_contain_text("Stopped.")
    # The stopped Draft step keeps what the model had said (its answer text is shown when
    # the step ends, here by Stop).
    draft.click()
    expect(page.locator("[data-step-type]").filter(has=draft).first).to_contain_text(
        "AutoMix", timeout=5_000
    )
    # The turn has fully ended (its writes included) once the stop button gives way.
    expect(page.locator("#stop-button")).to_have_count(0, timeout=10_000)
    ask(page, "How does AutoMix work?")
    expect(answers(page).last).to_contain_text("strong answer", timeout=20_000)
    expect(answers(page).last).to_contain_text(" in / ", timeout=20_000)


def test_file_copied_into_knowledge_is_found_by_a_new_chat_without_restart(
    browser: Browser, llm: ScriptedLLM, tmp_path
):
    llm.reset()
    llm.script([], models=["Phi-4-mini-instruct-generic-cpu", "gpt-oss-20b-generic-cpu"])
    app = start_app(tmp_path / "refresh", llm.base_url, KNOWLEDGE_REFRESH_S="0")
    try:
        (app.knowledge_dir / "parking.md").write_text(
            "# Parking\n\nStaff parking permits are renewed every March at the front desk.\n"
        )
        page = open_chat(browser, app.url)  # a new chat: triggers the background re-scan
        try:
            page.wait_for_timeout(1500)
            ask(page, "When are staff parking permits renewed?")
            wait_done(page)
            answer = answers(page).first
            expect(answer).to_contain_text("every March")
            answer.get_by_role("link", name="[1]").first.click()
            expect(page.get_by_role("complementary").get_by_text("parking.md")).to_be_visible()
        finally:
            page.close()
    finally:
        stop(app.process)


def test_model_not_loaded_lists_what_the_server_has(page: Page, scripted: ScriptedLLM):
    scripted.script([], models=["qwen2.5-0.5b-instruct-generic-cpu"])
    ask(page, "How do I find the port Foundry Local is using?")
    answer = answers(page).first
    expect(answer).to_contain_text("is not available", timeout=20_000)
    text = answer.inner_text()
    assert "phi-4-mini" in text and "qwen2.5-0.5b-instruct-generic-cpu" in text
    assert "sources only" in text
    answer.get_by_role("link", name="[1]").first.click()
    expect(page.get_by_role("complementary").get_by_text("BM25 score:")).to_have_count(1)


def test_uploaded_word_document_is_cited_with_its_section(
    page: Page, scripted: ScriptedLLM, tmp_path
):
    import docx

    d = docx.Document()
    d.add_heading("Travel policy", level=1)
    d.add_heading("Rail travel", level=2)
    d.add_paragraph("Staff travelling by rail may book first class on journeys over four hours.")
    path = tmp_path / "travel-policy.docx"
    d.save(str(path))

    attach(page, path)
    ask(page, "When may staff book first class rail travel?")
    wait_done(page, n=2)
    answer = answers(page).last
    expect(answer).to_contain_text("four hours")
    answer.get_by_role("link", name="[1]").first.click()
    panel = page.get_by_role("complementary")
    expect(panel.get_by_text("travel-policy.docx")).to_be_visible(timeout=10_000)
    expect(panel.get_by_text("Travel policy › Rail travel")).to_be_visible()


def test_uploaded_pdf_is_cited_with_its_page_and_an_encrypted_one_is_refused(
    page: Page, scripted: ScriptedLLM, tmp_path
):
    from tests.support.pdfgen import encrypt_pdf, write_pdf

    report = write_pdf(
        tmp_path / "q3-report.pdf",
        [
            "Quarterly report. Revenue grew in every region.",
            "Headcount. The support team grew to 42 engineers in the third quarter.",
        ],
    )
    locked = encrypt_pdf(report, tmp_path / "locked-report.pdf")
    attach(page, report, locked)
    ask(page, "How many engineers does the support team have?")
    expect(
        page.get_by_text(re.compile(r"^Not added: locked-report\.pdf is encrypted; .*password"))
    ).to_be_visible(timeout=20_000)
    answer = answers(page).last  # after the refusal and the "Added" note
    expect(answer).to_contain_text(" in / ", timeout=30_000)
    expect(answer).to_contain_text("42 engineers")
    answer.get_by_role("link", name="[1]").first.click()
    panel = page.get_by_role("complementary")
    expect(panel.get_by_text("q3-report.pdf")).to_be_visible(timeout=10_000)
    expect(panel).to_contain_text(re.compile(r"Page:\s*2\b"))


def test_empty_upload_is_refused_with_a_message_in_the_chat(page: Page, tmp_path):
    # Chainlit alone answers HTTP 500 for a 0-byte file and the browser drops it silently.
    empty = tmp_path / "empty-notes.txt"
    empty.write_bytes(b"")
    page.locator("#upload-button-input").set_input_files([str(empty)])
    expect(
        page.get_by_text("empty-notes.txt was not added: the file is empty.").first
    ).to_be_visible(timeout=20_000)
    shoot(page, "empty-upload")
