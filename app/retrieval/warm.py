"""Imported once in the parser fork server: everything a child needs, loaded up front, so
that each forked child starts with the parsers imported and the tokenizer's vocabulary
in memory (it shares them with the fork server; loading the vocabulary takes ~1 s)."""

from app.retrieval import analyzer, chunker, loaders  # noqa: F401
from app.tokens import count_tokens

count_tokens("warm up")
