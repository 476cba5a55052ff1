"""What a typed question must be before anything answers it: valid text of a sane length."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# C0/C1 control characters other than tab and newline: invisible, and some servers refuse them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    refusal: str | None = None  # set when the question must not be answered


def clean_text(text: str) -> str:
    """Text that encodes as UTF-8: lone surrogates become U+FFFD, controls are dropped."""
    # A browser can send half of a surrogate pair; encoding it later raises deep in the
    # HTTP client. Round-tripping through UTF-16 keeps valid pairs and replaces lone halves.
    paired = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return unicodedata.normalize("NFC", _CONTROL.sub("", paired))


def check_question(raw: str, max_chars: int) -> Question:
    text = clean_text(raw).strip()
    if len(text) > max_chars:
        return Question(
            text="",
            refusal=(
                f"Your question is {len(text):,} characters long; the limit is {max_chars:,}. "
                "Ask something shorter, or attach the long text as a file and ask about it."
            ),
        )
    return Question(text=text)
