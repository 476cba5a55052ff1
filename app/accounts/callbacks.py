"""Register the login callback AUTH_MODE asks for. Chainlit decides from which callbacks
exist whether to show a login screen, so exactly one is registered."""

from __future__ import annotations

import ipaddress
import logging

import chainlit as cl
from chainlit.data import get_data_layer

from app.accounts.identity import header_user, local_user, oauth_user, password_user
from app.accounts.login_guard import install_login_throttle
from app.accounts.store import AccountStore
from app.config import AuthMode, Settings

log = logging.getLogger(__name__)


def is_loopback(host: str | None) -> bool:
    if not host or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_exposed(settings: Settings, host: str | None) -> None:
    if settings.auth_mode is AuthMode.LOCAL and not is_loopback(host):
        log.warning(
            "AUTH_MODE=local on %s: anyone who can reach this port uses the app as the local "
            "admin. Set AUTH_MODE=password, header or oauth, or listen on 127.0.0.1.",
            host,
        )


def register_auth(settings: Settings) -> None:
    mode = settings.auth_mode
    if mode is AuthMode.LOCAL:

        @cl.header_auth_callback
        async def _local(headers) -> cl.User:  # no login screen: everyone is the local user
            return local_user()

    elif mode is AuthMode.HEADER:

        @cl.header_auth_callback
        async def _header(headers) -> cl.User | None:
            return header_user(headers, settings)

    elif mode is AuthMode.PASSWORD:
        install_login_throttle()  # per client address, on top of the per-account lock

        @cl.password_auth_callback
        async def _password(username: str, password: str) -> cl.User | None:
            layer = get_data_layer()
            account = await AccountStore(layer.engine).authenticate(username, password)
            return password_user(account.identifier, account.role) if account else None

    elif mode is AuthMode.OAUTH:

        @cl.oauth_callback
        async def _oauth(provider_id, token, raw_user_data, default_user, id_token=None):
            return oauth_user(provider_id, default_user, settings, raw_user_data)
