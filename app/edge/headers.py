"""Response headers: a Content-Security-Policy for the app, and safe delivery of uploads."""

from __future__ import annotations

import base64
import hashlib
import re

_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)

# Uploaded and generated files are only ever downloaded or fetched by the app's own code;
# none of these types can run script when opened.
SAFE_FILE_TYPES = frozenset(
    {
        "text/plain",
        "text/markdown",
        "text/csv",
        "application/pdf",
        "application/json",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
    }
)


def script_hashes(html: str) -> list[str]:
    """CSP source expressions for the page's inline scripts (Chainlit injects two)."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


def app_csp(inline_script_hashes: list[str]) -> str:
    """The page may load code, styles, images and connections from its own origin only.

    `img-src` without remote hosts is what stops a document (or an answer quoting it) from
    making every reader's browser fetch an attacker's URL. Inline styles stay allowed
    because the UI toolkit sets them at run time; inline scripts only by hash.
    """
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' " + " ".join(inline_script_hashes),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "media-src 'self' blob:",
            "object-src 'none'",
            "frame-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        ]
    )


FILE_CSP = "default-src 'none'; sandbox"

COMMON_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), geolocation=(), microphone=()"),
]


def file_media_type(claimed: str) -> str:
    """The type to serve a stored file as: the claimed one only when it is inert."""
    base = claimed.split(";", 1)[0].strip().lower()
    if base in SAFE_FILE_TYPES:
        return claimed
    return "application/octet-stream"
