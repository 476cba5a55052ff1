"""Put the per-address slow-down (`AddressThrottle`) in front of Chainlit's `POST /login`.

The client address is the connection's peer as uvicorn reports it, which follows
X-Forwarded-For only from the proxies in TRUSTED_PROXIES (see `app.edge.proxies`): a
browser can't pick its own address by sending the header."""

from __future__ import annotations

import math

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.accounts.throttle import AddressThrottle

# Chainlit's login page shows the HTTP reason phrase through its translations, so the
# browser's text is `auth.login.errors.Too Many Requests` in .chainlit/translations/en-US.json.
REFUSED = "Too many failed sign-ins from your address. Try again in {s} s."


class LoginThrottle:
    def __init__(self, app: ASGIApp, *, throttle: AddressThrottle, path: str = "/login") -> None:
        self.app = app
        self.throttle = throttle
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        wait = self.throttle.attempt(address)
        if wait > 0:
            seconds = math.ceil(wait)
            refusal = JSONResponse(
                {"detail": REFUSED.format(s=seconds)},
                status_code=429,
                headers={"Retry-After": str(seconds)},
            )
            await refusal(scope, receive, send)
            return
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            # Only a refused password counts; a login that worked, a malformed form or a
            # server error takes back the attempt.
            self.throttle.finished(address, failed=status[:1] == [401])


def install_login_throttle(throttle: AddressThrottle | None = None) -> None:
    from chainlit.config import config
    from chainlit.server import app

    root = (config.run.root_path or "").rstrip("/")
    if not any(m.cls is LoginThrottle for m in app.user_middleware):
        app.add_middleware(
            LoginThrottle, throttle=throttle or AddressThrottle(), path=f"{root}/login"
        )
