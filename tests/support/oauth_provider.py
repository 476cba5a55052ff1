"""A small, real OAuth 2.0 authorization-code provider for tests: real HTTP on 127.0.0.1.

- `GET  /authorize`  checks client_id, response_type=code, redirect_uri and state, and shows
                     a sign-in page: a `#login` field and **Allow** / **Deny** buttons;
- `POST /authorize`  Allow: redirects to `redirect_uri?code=…&state=…` (a single-use code
                     bound to the client and redirect_uri); Deny: `?error=access_denied`;
- `POST /token`      exchanges the code (client secret, grant type and redirect_uri must
                     match) for a bearer access token; `fail_token = True` makes it fail
                     with HTTP 500 instead, like a provider having a bad day;
- `GET  /userinfo`   the account's claims for `Authorization: Bearer <token>`;
                     `fail_userinfo = True` makes it fail with HTTP 503.

Accounts are the claims dictionaries in `accounts`, keyed by the name typed at sign-in."""

from __future__ import annotations

import html
import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.background import BackgroundServer


@dataclass(frozen=True)
class _Grant:
    login: str
    client_id: str
    redirect_uri: str


class OAuthProvider(BackgroundServer):
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.accounts: dict[str, dict[str, Any]] = {}
        self.fail_token = False
        self.fail_userinfo = False
        self.token_requests: list[dict[str, str]] = []
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        super().__init__(self._build())

    @property
    def env(self) -> dict[str, str]:
        """Chainlit's generic provider settings pointing at this server."""
        return {
            "OAUTH_GENERIC_CLIENT_ID": self.client_id,
            "OAUTH_GENERIC_CLIENT_SECRET": self.client_secret,
            "OAUTH_GENERIC_AUTH_URL": f"{self.origin}/authorize",
            "OAUTH_GENERIC_TOKEN_URL": f"{self.origin}/token",
            "OAUTH_GENERIC_USER_INFO_URL": f"{self.origin}/userinfo",
            "OAUTH_GENERIC_SCOPES": "openid email profile",
        }

    def _build(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/authorize", self._authorize_page, methods=["GET"]),
                Route("/authorize", self._authorize, methods=["POST"]),
                Route("/token", self._token, methods=["POST"]),
                Route("/userinfo", self._userinfo, methods=["GET"]),
            ]
        )

    async def _authorize_page(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return HTMLResponse("unknown client or response type", status_code=400)
        if not q.get("redirect_uri") or not q.get("state"):
            return HTMLResponse("redirect_uri and state are required", status_code=400)
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(q[k])}">'
            for k in ("client_id", "redirect_uri", "state")
        )
        return HTMLResponse(
            "<!doctype html><title>Test SSO</title><h1>Test SSO sign-in</h1>"
            f'<form method="post" action="/authorize">{hidden}'
            '<input id="login" name="login" placeholder="you@example.org">'
            '<button name="decision" value="allow">Allow</button>'
            '<button name="decision" value="deny">Deny</button></form>'
        )

    async def _authorize(self, request: Request) -> Response:
        form = await request.form()
        redirect_uri, state = str(form["redirect_uri"]), str(form["state"])
        login = str(form.get("login") or "")
        if form.get("decision") != "allow" or login not in self.accounts:
            params = {"error": "access_denied", "state": state}
            return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = _Grant(login, str(form["client_id"]), redirect_uri)
        return RedirectResponse(
            f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", status_code=302
        )

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        with self._lock:
            self.token_requests.append(form)
            grant = self._codes.pop(form.get("code", ""), None)  # single use
        if self.fail_token:
            return JSONResponse({"error": "server_error"}, status_code=500)
        if (
            grant is None
            or form.get("grant_type") != "authorization_code"
            or form.get("client_id") != grant.client_id
            or form.get("client_secret") != self.client_secret
            or form.get("redirect_uri") != grant.redirect_uri
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = grant.login
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    async def _userinfo(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        login = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if login is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        if self.fail_userinfo:
            return JSONResponse({"error": "temporarily_unavailable"}, status_code=503)
        return JSONResponse(self.accounts[login])
