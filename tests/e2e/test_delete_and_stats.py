"""In a real browser, AUTH_MODE=password: deleting a chat from the sidebar takes its uploads,
their stored files and their index with it; an admin's `/stats` shows the thumbs-up rate
per route and per model after a thumbs-down, and a non-admin is refused."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e import conftest as e2e
from tests.support.processes import stop
from tests.support.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.e2e

UNIQUE = "zorblatquex"  # a word only the upload contains
NOTE = f"# Quillon relay\n\nThe Quillon relay accepts the passphrase {UNIQUE} at the gate.\n"


@pytest.fixture(scope="module")
def accounts_app(llm: ScriptedLLM, tmp_path_factory) -> Iterator[e2e.AppServer]:
    work = tmp_path_factory.mktemp("lifecycle")
    server = e2e.start_app(work, llm.base_url, **e2e.password_env(e2e.add_users(work / "data")))
    yield server
    stop(server.process)


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def _delete_from_sidebar(page: Page, thread_id: str) -> None:
    item = page.locator(f"#thread-history a[href$='/thread/{thread_id}']")
    item.hover()
    item.locator("#thread-options").click()
    page.locator("#delete-thread").click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("Chat deleted")).to_be_visible(timeout=10_000)
    expect(item).to_have_count(0)


def test_deleting_a_chat_deletes_its_uploads_and_their_index(
    browser: Browser, scripted: ScriptedLLM, accounts_app: e2e.AppServer, tmp_path
):
    data = accounts_app.root.parent / "data"
    page = e2e.login(browser, accounts_app.url, "ben", "ben-password-1")
    doc = tmp_path / f"quillon-{uuid.uuid4().hex[:6]}.md"
    doc.write_text(NOTE)
    e2e.attach(page, doc)
    e2e.ask(page, "Which passphrase does the Quillon relay accept?")
    e2e.wait_done(page, n=2)
    assert UNIQUE in json.dumps(scripted.requests), "the upload was not searchable at first"

    page.reload()
    thread_id = e2e.open_first_chat(page)
    scope = f"chat-{uuid.UUID(thread_id).hex}"
    thread = page.request.get(f"{accounts_app.url}/project/thread/{thread_id}").json()
    file_urls = [e["url"] for e in thread["elements"] if e.get("url")]
    assert file_urls and all(page.request.get(accounts_app.url + u).ok for u in file_urls)
    stored = _files(data / "files")
    uploaded = _files(data / "uploads" / scope)
    assert stored and uploaded, "nothing was stored for the chat"

    _delete_from_sidebar(page, thread_id)
    e2e.shoot(page, "chat-deleted")

    for url in file_urls:
        assert page.request.get(accounts_app.url + url).status in (401, 403, 404)
    thread_url = f"{accounts_app.url}/project/thread/{thread_id}"
    assert page.request.get(thread_url).status in (401, 403, 404)
    assert not (data / "uploads" / scope).exists()
    assert not stored & _files(data / "files"), "stored files outlived their chat"
    assert f"deleted chat {scope}: its uploads and their index are gone" in (
        accounts_app.log.read_text()
    )

    # A new chat asks the same: the upload's word is nowhere to be found any more.
    page.goto(accounts_app.url)
    page.wait_for_selector("#chat-settings-open-modal", timeout=30_000)
    before = len(scripted.requests)
    e2e.ask(page, "Which passphrase does the Quillon relay accept?")
    e2e.wait_done(page, n=1)
    assert UNIQUE not in json.dumps(scripted.requests[before:])
    page.close()


def _rate(page: Page, answer: int, up: bool, comment: str = "") -> None:
    kind = "positive" if up else "negative"
    e2e.answers(page).nth(answer).locator(f".{kind}-feedback-off").click()
    if comment:
        page.locator("textarea").last.fill(comment)
    submit = page.locator("#submit-feedback")
    if submit.count():
        submit.click()
    expect(e2e.answers(page).nth(answer).locator(f".{kind}-feedback-on")).to_be_visible()


def _stats(page: Page) -> str:
    before = e2e.answers(page).count()
    e2e.ask(page, "/stats")
    reply = e2e.answers(page).nth(before)
    expect(reply).to_be_visible(timeout=20_000)
    return reply.inner_text()


def test_admin_stats_show_the_thumbs_up_rate_and_others_are_refused(
    browser: Browser, scripted: ScriptedLLM, accounts_app: e2e.AppServer
):
    page = e2e.login(browser, accounts_app.url, "ann", "ann-password-1")
    e2e.ask(page, "How long is the parental leave?")
    e2e.wait_done(page, n=1)
    e2e.ask(page, "How do I reset my VPN token?")
    e2e.wait_done(page, n=2)
    _rate(page, 0, up=True)
    _rate(page, 1, up=False, comment="wrong token portal")

    table = _stats(page)
    e2e.shoot(page, "admin-stats")
    assert "Ratings, last 30 days: 2" in table
    rows = [re.split(r"\s+", line.strip()) for line in table.splitlines()]
    # One answer up, one down: 50% for the route and the model they went through.
    assert ["draft_kept", "2", "1", "50%"] in rows, table
    assert ["phi-4-mini", "2", "1", "50%"] in rows, table
    page.close()

    other = e2e.login(browser, accounts_app.url, "ben", "ben-password-1")
    refused = _stats(other)
    assert "Only admins can see the rating summary." in refused
    assert "rate" not in refused.replace("rating summary", "")
    other.close()
