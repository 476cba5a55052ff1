"""Untrusted text (documents, model answers, file names) made inert for Chainlit's markdown.

Chainlit renders message and element text as GitHub-flavoured markdown, so a document could
make every reader's browser load a remote image (an exfiltration channel), show a link to
anywhere, or lay out a fake footer. Two strengths:

- `literal(text)`: text shown exactly as written, with no markdown meaning at all
  (document passages, file names).
- `inert_markdown(text)`: model answers keep emphasis, lists, tables and code, but images
  become their alt text, links become their text, bare URLs become code, raw HTML shows as
  text.
"""

from __future__ import annotations

import re

# Characters that start a markdown construct anywhere in a line. Every ASCII punctuation
# character may be backslash-escaped in CommonMark, so escaping them is always safe.
_SPECIAL = re.compile(r"([\\`*_\[\]<>!|~&$@])")
# Constructs that only count at the start of a line: headings, quotes, lists, rules.
_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")
# GFM links bare URLs and www. names; escaping the ':' or the '.' breaks the pattern.
_URL_SCHEME = re.compile(r"(?<=[A-Za-z]):(?=//)")
_WWW = re.compile(r"(?i)(?<![\w.])(www)\.")
_CODE = re.compile(r"(```.*?(?:```|$)|~~~.*?(?:~~~|$)|`[^`\n]*`)", re.S)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\([^)]*\)")
_REF_IMAGE = re.compile(r"!\[([^\]]*)\]\[[^\]]*\]")
_REF_DEF = re.compile(r"^( {0,3})\[([^\]]+)\]:", re.M)
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto|file|data|javascript):[^>\s]*)>", re.I)
_BARE_URL = re.compile(
    r"\b((?:https?|ftp|file|data|javascript):[^\s<>`\"']+|www\.[^\s<>`\"']+)", re.I
)
_HTML_TAG = re.compile(r"(?<!\\)<(?=[A-Za-z/!?])")


def literal(text: str) -> str:
    """Markdown that renders as exactly `text`, line breaks kept, nothing interpreted."""
    lines = []
    for line in text.splitlines():
        line = _SPECIAL.sub(r"\\\1", line)
        line = _URL_SCHEME.sub(r"\\:", line)
        line = _WWW.sub(r"\1\\.", line)
        lines.append(_LINE_START.sub(_escape_line_start, line))
    return "  \n".join(lines)


def _escape_line_start(m: re.Match[str]) -> str:
    marker = m.group(2)
    # "12." -> "12\." keeps the number but not the list.
    return m.group(1) + (marker[:-1] + "\\" + marker[-1] if marker[0].isdigit() else "\\" + marker)


def inert_markdown(text: str) -> str:
    """Keep formatting, drop everything that loads, links or runs (code spans untouched)."""
    return "".join(
        part if _CODE.fullmatch(part) else _neutralise(part) for part in _CODE.split(text)
    )


def _neutralise(text: str) -> str:
    text = _IMAGE.sub(lambda m: m.group(1), text)
    text = _REF_IMAGE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _REF_DEF.sub(lambda m: f"{m.group(1)}\\[{m.group(2)}\\]:", text)
    text = _AUTOLINK.sub(lambda m: m.group(1), text)
    text = _BARE_URL.sub(lambda m: f"`{m.group(1).replace('`', '')}`", text)
    return _HTML_TAG.sub("&lt;", text)
