"""Turning a login (local, password, trusted header, OAuth) into a Chainlit user with a role.
Pure functions; `callbacks.py` registers them with Chainlit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainlit.user import User

from app.accounts.roles import ADMIN, USER
from app.config import Settings

LOCAL_USER = "local"
_MAX_NAME = 256


def local_user() -> User:
    # One person on their own machine: they own the knowledge folder too.
    return User(identifier=LOCAL_USER, display_name="Local user", metadata={"role": ADMIN})


def header_user(headers: Mapping[str, str], settings: Settings) -> User | None:
    """The user the SSO proxy vouches for, or None (no header: refuse)."""
    name = (headers.get(settings.trusted_user_header) or "").strip()
    if not name or len(name) > _MAX_NAME:
        return None
    groups: list[str] = []
    if settings.trusted_groups_header:
        raw = headers.get(settings.trusted_groups_header) or ""
        groups = [g.strip() for g in raw.split(",") if g.strip()]
    admin = settings.admin_group in groups or name in settings.admin_user_set
    return User(identifier=name, metadata={"role": ADMIN if admin else USER, "groups": groups})


def oauth_user(
    provider: str, default: User, settings: Settings, claims: Mapping[str, Any] | None = None
) -> User | None:
    """The provider's user with our role, or None (Chainlit then shows its sign-in error)
    when the identifying claim is blank or absurdly long. Some providers (the generic one)
    leave the display name empty although the claims carry it."""
    ident = default.identifier
    if not ident.strip() or len(ident) > _MAX_NAME:
        return None
    admin = ident in settings.admin_user_set
    name = default.display_name or (claims or {}).get("name")
    return User(
        identifier=ident,
        display_name=name if isinstance(name, str) and name.strip() else None,
        metadata={"role": ADMIN if admin else USER, "provider": provider},
    )


def password_user(identifier: str, role: str) -> User:
    return User(identifier=identifier, metadata={"role": role})
