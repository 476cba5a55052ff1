"""AUTH_MODE=oauth against a real OAuth 2.0 provider (tests/support/oauth_provider.py) over
HTTP, configured exactly as the README says (Chainlit's generic provider, OAUTH_GENERIC_*):
a browser signs in through the provider's page and lands in the chat as the user-info
identity, with the role ADMIN_USERS gives; a denial, a failing token or user-info endpoint,
a user-info without the identifying claim or a forged callback end on the login page with
a clear message."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import AppServer, start_app
from tests.support.oauth_provider import OAuthProvider
from tests.support.processes import stop
from tests.support.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.e2e

ANN = {"sub": "1", "email": "ann@example.org", "name": "Ann Admin"}
BEN = {"sub": "2", "email": "ben@example.org", "name": "Ben User"}
NOBODY = {"sub": "3", "name": "No Email"}  # the identifying claim (email) is missing
SIGN_IN_FAILED = "Sign in failed. Please try again, or use a different sign-in method."


@pytest.fixture(scope="module")
def provider() -> Iterator[OAuthProvider]:
    with OAuthProvider("chat-app", "s3cret-for-tests") as server:
        server.accounts.update({"ann": ANN, "ben": BEN, "nobody": NOBODY})
        yield server


@pytest.fixture(scope="module")
def oauth_app(provider: OAuthProvider, llm: ScriptedLLM, tmp_path_factory) -> Iterator[AppServer]:
    server = start_app(
        tmp_path_factory.mktemp("oauth"),
        llm.base_url,
        AUTH_MODE="oauth",
        ADMIN_USERS="ann@example.org",
        **provider.env,
    )
    yield server
    stop(server.process)


def sign_in(browser: Browser, app: AppServer, login: str, decision: str = "Allow") -> Page:
    page = browser.new_context().new_page()
    page.goto(app.url)
    page.wait_for_url(re.compile(r"/login"), timeout=30_000)
    page.get_by_role("button", name=re.compile("continue with", re.I)).click()
    page.wait_for_selector("text=Test SSO sign-in", timeout=20_000)  # the provider's page
    page.fill("#login", login)
    page.get_by_role("button", name=decision).click()
    return page


def me(page: Page, app: AppServer) -> dict:
    response = page.request.get(f"{app.url}/user")
    assert response.ok, response.status
    return response.json()


def test_oauth_sign_in_gives_the_userinfo_identity_and_role(
    browser: Browser, provider: OAuthProvider, oauth_app: AppServer
):
    config = httpx.get(f"{oauth_app.url}/auth/config").json()
    assert config["requireLogin"] and config["oauthProviders"] == ["generic"]
    assert not config["passwordAuth"] and not config["headerAuth"]

    for login, claims, role in [("ann", ANN, "admin"), ("ben", BEN, "user")]:
        page = sign_in(browser, oauth_app, login)
        page.wait_for_selector("#chat-settings-open-modal", timeout=30_000)  # in the chat
        user = me(page, oauth_app)
        assert user["identifier"] == claims["email"]
        assert user["display_name"] == claims["name"]
        assert user["metadata"] == {"role": role, "provider": "generic"}
        page.context.close()
    # The code went back with the registered redirect_uri and the client's secret.
    last = provider.token_requests[-1]
    assert last["redirect_uri"] == f"{oauth_app.url}/auth/oauth/generic/callback"
    assert last["client_secret"] == "s3cret-for-tests"


@pytest.mark.parametrize(
    "case", ["denied", "token endpoint fails", "user-info fails", "no email claim", "forged"]
)
def test_failed_oauth_sign_in_shows_a_clear_error(
    browser: Browser, provider: OAuthProvider, oauth_app: AppServer, case: str
):
    provider.fail_token = case == "token endpoint fails"
    provider.fail_userinfo = case == "user-info fails"
    try:
        if case == "denied":
            page = sign_in(browser, oauth_app, "ann", decision="Deny")
        elif case == "forged":  # a callback this browser never started: the state is wrong
            page = browser.new_context().new_page()
            page.goto(f"{oauth_app.url}/auth/oauth/generic/callback?code=stolen&state=guess")
        else:
            page = sign_in(browser, oauth_app, "nobody" if case == "no email claim" else "ann")
        page.wait_for_url(re.compile(r"/login\?error=oauthSignin"), timeout=30_000)
        expect(page.get_by_text(SIGN_IN_FAILED)).to_be_visible(timeout=10_000)
        assert page.request.get(f"{oauth_app.url}/user").status == 401  # not signed in
        page.context.close()
    finally:
        provider.fail_token = provider.fail_userinfo = False
    assert oauth_app.process.poll() is None
    assert httpx.get(f"{oauth_app.url}/health").status_code == 200
