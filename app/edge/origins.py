"""Which browser origins may talk to the app: its own, plus any listed in ALLOWED_ORIGINS."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit


def normalise_origin(origin: str) -> str:
    """scheme://host[:port], lower-cased, default ports dropped."""
    parts = urlsplit(origin.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{scheme}://{netloc}"


def _host_of(origin: str) -> str:
    return urlsplit(origin).netloc.lower()


class OriginPolicy:
    """Same-origin by default. "Same" compares host and port with the request's Host (or the
    X-Forwarded-Host a reverse proxy sets), because a proxy that terminates TLS changes the
    scheme the app sees; a foreign site cannot share our host and port."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.extra = frozenset(normalise_origin(o) for o in extra if o.strip())

    def allows(self, origin: str | None, headers: Mapping[str, str]) -> bool:
        if origin is None:
            return True  # not a cross-site browser request (curl, same-origin GET)
        if origin == "null":
            return False  # sandboxed frames and file:// pages
        try:
            normalised = normalise_origin(origin)
        except ValueError:
            return False
        if normalised in self.extra:
            return True
        host = _host_of(normalised)
        own = {headers.get("host", ""), headers.get("x-forwarded-host", "").split(",")[0]}
        own_hosts = {_host_of(normalise_origin(f"http://{h.strip()}")) for h in own if h.strip()}
        own_hosts |= {_host_of(normalise_origin(f"https://{h.strip()}")) for h in own if h.strip()}
        return host in own_hosts
