"""Text straight to index term ids, in batches, without building per-chunk term lists.

Gives exactly the terms `analyze` gives (same words, stopwords, stems), but maps each
normalised word to its term id in one dictionary lookup, so a million chunks can be
analysed as a stream of id arrays instead of a million lists of strings.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

import numpy as np

from app.retrieval.analyzer import terms_of_words, words

STOPWORD = -1


class TermEncoder:
    """Owns the word -> term id memo for one vocabulary (a dict it appends to)."""

    def __init__(self, vocab: dict[str, int]):
        self.vocab = vocab
        self._ids: dict[str, int] = {}

    def _learn(self, new: list[str]) -> None:
        vocab = self.vocab
        for w, term in zip(new, terms_of_words(new), strict=True):
            if not term:
                self._ids[w] = STOPWORD
                continue
            tid = vocab.get(term)
            if tid is None:
                tid = vocab[term] = len(vocab)
            self._ids[w] = tid

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(term ids of every text, concatenated in order; number of terms in each text)."""
        get = self._ids.get
        toks: list[str] = []
        counts = np.zeros(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            ws = words(text)
            toks.extend(ws)
            counts[i] = len(ws)
        flat = list(map(get, toks))
        try:
            arr = np.frombuffer(array("q", flat), dtype=np.int64)  # type: ignore[type-var]
        except TypeError:  # a None: words not seen before
            self._learn(list({w for w, t in zip(toks, flat, strict=True) if t is None}))
            arr = np.frombuffer(array("q", map(get, toks)), dtype=np.int64)  # type: ignore[type-var]
        keep = arr != STOPWORD
        owner = np.repeat(np.arange(len(texts)), counts)
        return arr[keep], np.bincount(owner[keep], minlength=len(texts))

    def encode_terms(self, docs: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """The same for documents already analysed into terms."""
        return self._encode_terms(docs, len(docs))

    def encode_joined(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The same for documents whose terms are joined by spaces."""
        return self._encode_terms((d.split() for d in docs), len(docs))

    def _encode_terms(self, docs: Iterable[Sequence[str]], n: int) -> tuple[np.ndarray, np.ndarray]:
        vocab = self.vocab
        ids: list[int] = []
        lengths = np.zeros(n, dtype=np.int64)
        # One document at a time, so no single C-level call (set(), map()) runs long
        # enough to hold the GIL against the event loop.
        for i, doc in enumerate(docs):
            for t in set(doc).difference(vocab):
                vocab[t] = len(vocab)
            ids.extend(map(vocab.__getitem__, doc))
            lengths[i] = len(doc)
        return np.frombuffer(array("q", ids), dtype=np.int64), lengths
