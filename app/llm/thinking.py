"""Separate `<think>…</think>` reasoning from answer text in a stream of arbitrary pieces.

Some servers put a reasoning model's thoughts inline in `content`; the tags can arrive split
across chunks (`"<thi"`, `"nk>"`), so the splitter holds back any tail that could be the start
of a tag until the next piece settles it.
"""

from __future__ import annotations

from app.llm.types import TokenKind

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


class ThinkSplitter:
    def __init__(self) -> None:
        self._in_think = False
        self._pending = ""

    @property
    def kind(self) -> TokenKind:
        return "reasoning" if self._in_think else "answer"

    def feed(self, text: str) -> list[tuple[TokenKind, str]]:
        """Pieces of `text` that are settled, each labelled; adjacent pieces differ in kind."""
        buf = self._pending + text
        out: list[tuple[TokenKind, str]] = []
        while True:
            tag = CLOSE_TAG if self._in_think else OPEN_TAG
            i = buf.find(tag)
            if i < 0:
                break
            _add(out, self.kind, buf[:i])
            buf = buf[i + len(tag) :]
            self._in_think = not self._in_think
        hold = _partial_tag_suffix(buf, CLOSE_TAG if self._in_think else OPEN_TAG)
        _add(out, self.kind, buf[: len(buf) - hold])
        self._pending = buf[len(buf) - hold :]
        return out

    def flush(self) -> list[tuple[TokenKind, str]]:
        """Whatever is held back, at the end of the stream."""
        out: list[tuple[TokenKind, str]] = []
        _add(out, self.kind, self._pending)
        self._pending = ""
        return out


def _add(out: list[tuple[TokenKind, str]], kind: TokenKind, text: str) -> None:
    if not text:
        return
    if out and out[-1][0] == kind:
        out[-1] = (kind, out[-1][1] + text)
    else:
        out.append((kind, text))


def _partial_tag_suffix(buf: str, tag: str) -> int:
    """Length of the longest end of `buf` that is a proper beginning of `tag`."""
    for n in range(min(len(buf), len(tag) - 1), 0, -1):
        if tag.startswith(buf[-n:]):
            return n
    return 0
