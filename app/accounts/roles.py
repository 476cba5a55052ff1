"""Roles (admin, user) and what they allow. Pure functions of the user's metadata."""

from __future__ import annotations

from typing import Any

from app.config import Settings, ShareUploads

ADMIN = "admin"
USER = "user"


def role_of(user: Any) -> str:
    metadata = getattr(user, "metadata", None) or {}
    return ADMIN if metadata.get("role") == ADMIN else USER


def is_admin(user: Any) -> bool:
    return role_of(user) == ADMIN


def may_share(user: Any, settings: Settings) -> bool:
    """Only admins add uploads to the shared knowledge, unless SHARE_UPLOADS=everyone."""
    return settings.share_uploads is ShareUploads.EVERYONE or is_admin(user)
