"""Browser end-to-end fixtures: the real app (`chainlit run app/main.py`) as a subprocess,
a scripted OpenAI-compatible server over real HTTP, and Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from app.bench_servers import app_root, chainlit_run
from tests.support.processes import ROOT, free_port, spawn, stop, wait_http
from tests.support.scripted_llm import ScriptedLLM

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
# The scripted server answers under the names the app asks for, like Foundry Local's aliases.
MODELS = ["Phi-4-mini-instruct-generic-cpu", "gpt-oss-20b-generic-cpu"]


@dataclass
class AppServer:
    url: str
    root: Path
    knowledge_dir: Path
    upload_dir: Path
    log: Path
    process: subprocess.Popen


def start_app(workdir: Path, endpoint: str, host: str | None = None, **env: str) -> AppServer:
    """Run the app from a throw-away app root holding a copy of the config and the knowledge.
    `host` is passed to `chainlit run --host` (Chainlit's default: 127.0.0.1)."""
    root = app_root(workdir / "approot")
    port = free_port()
    log = workdir / "app.log"
    args, settings = chainlit_run(
        root, endpoint, port, host=host, env={"CONNECT_TIMEOUT_S": "2", **env}
    )
    proc = spawn(args, env=settings, cwd=root, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", timeout=120, proc=proc, log=log)
    except BaseException:
        stop(proc)
        raise
    return AppServer(
        url, root, Path(settings["KNOWLEDGE_DIR"]), Path(settings["UPLOAD_DIR"]), log, proc
    )


def run_module(module: str, data: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """`python -m module args…` against the app data in `data` (e.g. `app.users add …`)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATA_DIR": str(data)}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        input=stdin,
        env=env,
        cwd=data.parent,
        capture_output=True,
        text=True,
        check=False,
    )


# Password accounts the AUTH_MODE=password tests create: (name, password, admin).
USERS = [("ann", "ann-password-1", True), ("ben", "ben-password-1", False)]


def add_users(data: Path, users: list[tuple[str, str, bool]] = USERS) -> Path:
    """Create password accounts in the app data folder `data` with `python -m app.users`."""
    for name, password, admin in users:
        flags = ["--admin"] if admin else []
        out = run_module("app.users", data, "add", name, "--password-stdin", *flags, stdin=password)
        assert out.returncode == 0, out.stderr
    return data


def password_env(data: Path) -> dict[str, str]:
    """start_app settings for AUTH_MODE=password on the accounts and chats in `data`."""
    return {"AUTH_MODE": "password", "DATA_DIR": str(data), "UPLOAD_DIR": str(data / "uploads")}


@pytest.fixture(scope="session")
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM(models=MODELS) as server:
        yield server


@pytest.fixture
def scripted(llm: ScriptedLLM) -> ScriptedLLM:
    llm.reset()
    llm.script([], models=MODELS)
    return llm


@pytest.fixture(scope="session")
def app(llm: ScriptedLLM, tmp_path_factory) -> Iterator[AppServer]:
    server = start_app(tmp_path_factory.mktemp("app"), llm.base_url)
    yield server
    stop(server.process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required: run `make browser` (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def open_chat(browser: Browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url)
    page.wait_for_selector("text=Who sees my uploads?", timeout=30_000)
    # The settings button appears once on_chat_start has run over the websocket; typing or
    # uploading before that is lost (the server has no session yet).
    page.wait_for_selector("#chat-settings-open-modal", timeout=30_000)
    return page


@pytest.fixture
def page(browser: Browser, app: AppServer, request) -> Iterator[Page]:
    p = open_chat(browser, app.url)
    yield p
    shoot(p, request.node.name)
    p.close()


def shoot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(800)  # let the side panel finish sliding in
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def ask(page: Page, question: str) -> None:
    page.fill("#chat-input", question)
    page.click("#chat-submit")


def attach(page: Page, *paths: Path) -> None:
    """Attach files to the next message, as dropping them on the composer would."""
    page.locator("#upload-button-input").set_input_files([str(p) for p in paths])
    for path in paths:
        expect(page.get_by_text(path.name).first).to_be_visible(timeout=10_000)
    # The chips appear before the upload requests finish; sending earlier drops the file.
    page.wait_for_timeout(800)


def answers(page: Page):
    """Assistant messages (not steps), oldest first."""
    return page.locator('[data-step-type="assistant_message"]')


def step_titles(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("[data-step-type] h3 button").all_inner_texts()]


def login(browser: Browser, url: str, name: str, password: str) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/login")
    page.fill("#email", name)
    page.fill("#password", password)
    page.get_by_role("button", name=re.compile("continue|sign in|log in", re.I)).click()
    page.wait_for_selector("#chat-settings-open-modal", timeout=30_000)
    return page


def wait_done(page: Page, n: int) -> None:
    expect(answers(page).nth(n - 1)).to_contain_text(" in / ", timeout=30_000)


def open_first_chat(page: Page) -> str:
    """Open the newest chat in the sidebar; returns its thread id."""
    link = page.locator("#thread-history a[href*='/thread/']").first
    expect(link).to_be_visible(timeout=20_000)
    link.click()
    page.wait_for_url(re.compile(r"/thread/[0-9a-f-]{36}"), timeout=20_000)
    return page.url.rsplit("/", 1)[-1]
