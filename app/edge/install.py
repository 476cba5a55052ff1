"""Put the edge guards in front of Chainlit's server. Call once, before the server starts."""

from __future__ import annotations

from functools import cache
from typing import Any

from app.edge.headers import app_csp, script_hashes
from app.edge.middleware import EdgeMiddleware
from app.edge.origins import OriginPolicy
from app.edge.socket_guard import install_socket_guard


def install_edge_guards(allowed_origins: list[str]) -> None:
    import chainlit.socket  # noqa: F401  (registers the connect handler we wrap)
    from chainlit.config import config
    from chainlit.server import app, get_html_template, sio

    policy = OriginPolicy(allowed_origins)
    install_socket_guard(sio)
    # Chainlit's CORS middleware and socket.io server read these; replace the list in place
    # because the middleware keeps a reference to it until the first request builds it.
    config.project.allow_origins[:] = sorted(policy.extra)
    sio.eio.cors_allowed_origins = _socketio_origin_check(policy)

    root_path = config.run.root_path or ""

    @cache
    def csp() -> str:
        return app_csp(script_hashes(get_html_template(root_path)))

    if not any(m.cls is EdgeMiddleware for m in app.user_middleware):
        app.add_middleware(EdgeMiddleware, origins=policy, csp=csp, root_path=root_path)


def _socketio_origin_check(policy: OriginPolicy) -> Any:
    def allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        headers = {
            "host": environ.get("HTTP_HOST", ""),
            "x-forwarded-host": environ.get("HTTP_X_FORWARDED_HOST", ""),
        }
        return policy.allows(origin, headers)

    return allowed
