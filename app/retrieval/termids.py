"""Text straight to index term ids, in batches, without building per-chunk term lists.

Gives exactly the terms `analyze` gives (same words, stopwords, stems), but maps each
normalised word to its term id in one lookup, so a million chunks can be analysed as a
stream of id arrays instead of a million lists of strings. ASCII texts are split and
looked up with whole-array operations (asciikeys.py); each distinct word is stemmed once.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

import numpy as np

from app.retrieval.analyzer import terms_of_words, words
from app.retrieval.asciikeys import MISSING, KeyTable, Words, ascii_words

STOPWORD = -1
BLOCK_CHARS = 1 << 20  # ASCII text analysed per whole-array step


class TermEncoder:
    """Owns the word -> term id memo for one vocabulary (a dict it appends to)."""

    def __init__(self, vocab: dict[str, int]):
        self.vocab = vocab
        self._ids: dict[str, int] = {}
        self._table = KeyTable()  # ASCII word key -> term id (or STOPWORD)

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

    def _ids_of(self, toks: list[str]) -> np.ndarray:
        """Term id (or STOPWORD) of each normalised word, learning unseen ones."""
        get = self._ids.get
        flat = list(map(get, toks))
        if None in flat:
            self._learn(list({w for w, t in zip(toks, flat, strict=True) if t is None}))
            flat = list(map(get, toks))
        return np.frombuffer(array("q", flat), dtype=np.int64)  # type: ignore[type-var]

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(term ids of every text, concatenated in order; number of terms in each text)."""
        ascii_ = np.fromiter(map(str.isascii, texts), dtype=np.bool_, count=len(texts))
        if ascii_.all():
            return self._encode_ascii(texts)
        mine = (np.flatnonzero(ascii_), np.flatnonzero(~ascii_))
        parts = (
            self._encode_ascii([texts[i] for i in mine[0].tolist()]),
            self._encode_words([texts[i] for i in mine[1].tolist()]),
        )
        lengths = np.zeros(len(texts), dtype=np.int64)
        owner = []
        for which, (_, n) in zip(mine, parts, strict=True):
            lengths[which] = n
            owner.append(np.repeat(which, n))
        order = np.argsort(np.concatenate(owner), kind="stable")  # back to text order
        return np.concatenate([ids for ids, _ in parts])[order], lengths

    def _encode_words(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """`encode` word by word, through the analyzer's own tokeniser (any text)."""
        toks: list[str] = []
        counts = np.zeros(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            ws = words(text)
            toks.extend(ws)
            counts[i] = len(ws)
        ids = self._ids_of(toks)
        keep = ids != STOPWORD
        owner = np.repeat(np.arange(len(texts)), counts)
        return ids[keep], np.bincount(owner[keep], minlength=len(texts))

    def _encode_ascii(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """`encode` for ASCII texts, in blocks of about BLOCK_CHARS with whole-array
        operations (a block's temporaries stay in the CPU's caches)."""
        parts, block, size = [], [], 0
        for text in texts:
            block.append(text)
            size += len(text)
            if size >= BLOCK_CHARS:
                parts.append(self._ascii_block(block))
                block, size = [], 0
        parts.append(self._ascii_block(block))
        return np.concatenate([i for i, _ in parts]), np.concatenate([n for _, n in parts])

    def _ascii_block(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        joined = " ".join(texts)  # the space keeps words of neighbouring texts apart
        found = ascii_words(joined)
        ids = self._ascii_ids(joined, found)
        first_word = np.searchsorted(found.starts, np.cumsum([0] + [len(t) + 1 for t in texts]))
        keep = ids != STOPWORD
        kept_before = np.concatenate(([0], np.cumsum(keep)))
        return ids[keep], np.diff(kept_before[first_word])

    def _ascii_ids(self, joined: str, found: Words) -> np.ndarray:
        """Term id (or STOPWORD) of every word found in `joined`, learning unseen ones."""
        table = self._table
        ids = table.lookup(found.first, found.second)
        unseen = np.flatnonzero(ids == MISSING)
        long = found.first[unseen] == 0
        if long.any():  # words too long for a key: by their strings
            ids[unseen[long]] = self._ids_of(_spans(joined, found, unseen[long]))
            unseen = unseen[~long]
        if unseen.shape[0]:
            pairs = np.stack((found.first[unseen], found.second[unseen]), axis=1)
            keys, at = np.unique(pairs, axis=0, return_index=True)
            new = self._ids_of(_spans(joined, found, unseen[at]))
            table.insert(keys[:, 0].copy(), keys[:, 1].copy(), new)
            ids[unseen] = table.lookup(found.first[unseen], found.second[unseen])
        return ids

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


def _spans(text: str, found: Words, which: np.ndarray) -> list[str]:
    """The normalised strings of the words `which` of `text` (ASCII: lower-casing is all)."""
    starts, lengths = found.starts[which].tolist(), found.lengths[which].tolist()
    return [text[a : a + n].lower() for a, n in zip(starts, lengths, strict=True)]
