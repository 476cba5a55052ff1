"""Whose X-Forwarded-For and X-Forwarded-Proto to believe. uvicorn believes them from
127.0.0.1 and ::1 unless told otherwise, so any local process, or a proxy that passes the
header through, could choose the client address the login slow-down counts. The app tells
uvicorn (through FORWARDED_ALLOW_IPS, read when `chainlit run` creates the server, after
app/main.py is imported) to believe only TRUSTED_PROXIES; in AUTH_MODE=header a proxy is
required anyway, so the loopback one is believed by default."""

from __future__ import annotations

import os

from app.config import AuthMode, Settings

LOOPBACK_PROXY = "127.0.0.1,::1"


def forwarded_allow_ips(settings: Settings) -> str:
    if settings.trusted_proxies:
        return settings.trusted_proxies
    return LOOPBACK_PROXY if settings.auth_mode is AuthMode.HEADER else ""


def trust_only_configured_proxies(settings: Settings) -> None:
    os.environ["FORWARDED_ALLOW_IPS"] = forwarded_allow_ips(settings)
