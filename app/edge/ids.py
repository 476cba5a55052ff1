"""Client-supplied ids: only Chainlit's canonical UUIDs are accepted."""

from __future__ import annotations

import re

# Canonical 8-4-4-4-12 hex form only: no braces, no URN prefix, nothing a path could use.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and _UUID.fullmatch(value) is not None
