"""Untrusted text made inert for markdown: literal text and sanitised answers."""

from __future__ import annotations

import pytest

from app.answering.safe_markdown import inert_markdown, literal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain words, leave.md", "plain words, leave.md"),
        ("![i](http://x/a.png)", "\\!\\[i\\](http\\://x/a.png)"),
        ("<img src=x>", "\\<img src=x\\>"),
        ("# not a heading", "\\# not a heading"),
        ("- not a list", "\\- not a list"),
        ("12. not a list", "12\\. not a list"),
        ("see www.example.com", "see www\\.example.com"),
        ("a *b* _c_ `d` ~e~ |f|", "a \\*b\\* \\_c\\_ \\`d\\` \\~e\\~ \\|f\\|"),
        ("line one\nline two", "line one  \nline two"),
    ],
)
def test_literal_escapes_every_construct(text, expected):
    assert literal(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**bold** and [1] stay", "**bold** and [1] stay"),
        ("![alt](http://evil/x.png)", "alt"),
        ("[text](https://evil)", "text"),
        ("<https://evil/x>", "`https://evil/x`"),
        ("go to https://evil/x now", "go to `https://evil/x` now"),
        ('<img src="http://e/x">', '&lt;img src="`http://e/x`">'),
        ("[r]: http://evil", "\\[r\\]: `http://evil`"),
        ("`![kept](in code)`", "`![kept](in code)`"),
        ("```\n![kept](in fence)\n```", "```\n![kept](in fence)\n```"),
    ],
)
def test_inert_markdown_keeps_formatting_and_drops_what_acts(text, expected):
    assert inert_markdown(text) == expected
