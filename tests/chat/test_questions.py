"""Typed questions: hostile characters and huge pastes get a clear outcome, never a crash."""

from __future__ import annotations

import json

from app.chat.questions import check_question, clean_text


def test_a_lone_surrogate_becomes_a_replacement_character():
    raw = "What is BM25?\ud800"
    cleaned = clean_text(raw)
    assert cleaned == "What is BM25?\ufffd"
    cleaned.encode("utf-8")  # the HTTP client must be able to send it
    json.dumps({"content": cleaned}, ensure_ascii=False).encode("utf-8")


def test_valid_surrogate_pairs_and_newlines_survive():
    assert clean_text("emoji 😀\nline\ttab") == "emoji 😀\nline\ttab"
    # A pair that arrived as two halves (as JSON "\\ud83d\\ude00" decodes) is joined.
    assert clean_text("\ud83d\ude00") == "😀"


def test_control_characters_are_dropped():
    assert clean_text("a\x00b\x1bc\x7fd") == "abcd"


def test_an_oversized_question_is_refused_with_its_length_and_the_limit():
    q = check_question("x" * 200_000, 4000)
    assert q.text == ""
    assert "200,000 characters" in q.refusal and "4,000" in q.refusal


def test_a_normal_question_passes_trimmed():
    q = check_question("  How do uploads work?  ", 4000)
    assert q.refusal is None and q.text == "How do uploads work?"
