"""The per-address login slow-down on the real app's `POST /login` (AUTH_MODE=password): a
spray of unknown user names from one address gets refused, even for a real account with
its right password, whatever X-Forwarded-For claims; the refusal ends, and the login page
says what happened."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import AppServer, add_users, start_app
from tests.support.processes import stop
from tests.support.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.e2e

TOO_MANY = "Too many failed sign-ins from your address."


@pytest.fixture(scope="module")
def password_app(llm: ScriptedLLM, tmp_path_factory) -> Iterator[AppServer]:
    work = tmp_path_factory.mktemp("throttle")
    data = work / "data"
    add_users(data, [("ann", "ann-password-1", False)])
    server = start_app(work, llm.base_url, AUTH_MODE="password", DATA_DIR=str(data))
    yield server
    stop(server.process)


def login(client: httpx.Client, name: str, password: str, **headers: str) -> httpx.Response:
    return client.post("/login", data={"username": name, "password": password}, headers=headers)


def test_a_spray_from_one_address_is_refused_then_let_through(
    password_app: AppServer, browser: Browser
):
    with httpx.Client(base_url=password_app.url, timeout=30) as client:
        for i in range(10):  # ten different unknown names: no account lock is involved
            assert login(client, f"nobody-{i}", "guess-123456").status_code == 401
        refused = login(client, "ann", "ann-password-1")  # a real account, right password
        assert refused.status_code == 429
        assert refused.json()["detail"].startswith(TOO_MANY)
        wait = int(refused.headers["Retry-After"])
        assert wait >= 1
        # Another address, says the client: not believed without TRUSTED_PROXIES.
        spoofed = login(client, "ann", "ann-password-1", **{"X-Forwarded-For": "203.0.113.9"})
        assert spoofed.status_code == 429

        # Once the wait is over a good login goes through again; each further failure
        # doubles the wait (4 s, then 8 s).
        time.sleep(wait + 0.2)
        assert login(client, "ann", "ann-password-1").status_code == 200
        assert login(client, "nobody-10", "guess-123456").status_code == 401
        time.sleep(int(login(client, "ann", "x").headers["Retry-After"]) + 0.2)
        assert login(client, "nobody-11", "guess-123456").status_code == 401

    # Locked for 8 s now: the login page says why instead of "Unable to sign in".
    page = browser.new_context().new_page()
    page.goto(f"{password_app.url}/login")
    page.fill("#email", "ann")
    page.fill("#password", "ann-password-1")
    page.get_by_role("button", name=re.compile("continue|sign in|log in", re.I)).click()
    # The form's own error line (a toast may say the same, which is why the match is scoped).
    expect(page.locator("p").filter(has_text=TOO_MANY)).to_be_visible(timeout=5_000)
    expect(page).to_have_url(re.compile("/login"))
    page.context.close()
