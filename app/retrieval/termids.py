"""Text straight to index term ids, in batches, without building per-chunk term lists.

Gives exactly the terms `analyze` gives (same words, stopwords, stems), but maps each
normalised word to its term id in one lookup, so a million chunks can be analysed as a
stream of id arrays instead of a million lists of strings. ASCII texts are split and
looked up with whole-array operations (asciikeys.py); each distinct word is stemmed once.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from app.retrieval.analyzer import terms_of_words, words
from app.retrieval.asciikeys import MISSING, KeyTable, Words, ascii_words, unique_keys
from app.retrieval.memo import lookup

STOPWORD = -1
BLOCK_CHARS = 1 << 20  # ASCII text analysed per whole-array step


class TermEncoder:
    """Owns the word -> term id memo for one vocabulary (a dict it appends to)."""

    def __init__(self, vocab: dict[str, int]):
        self.vocab = vocab
        self._ids: dict[str, int] = {}
        self._table = KeyTable()  # ASCII word key -> term id (or STOPWORD)
        self._terms = KeyTable()  # ASCII term key -> term id: the same ids as `vocab`

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
        return _int64s(lookup(self._ids, toks, self._learn))

    def _vocab_ids(self, terms: list[str]) -> np.ndarray:
        """Term id of each term, adding unseen ones to the vocabulary."""
        return self._encode_terms([terms], 1)[0]

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(term ids of every text, concatenated in order; number of terms in each text)."""
        return self._by_script(texts, self._encode_ascii, self._encode_words)

    def _by_script(self, texts: Sequence[str], ascii_fn, other_fn) -> tuple[np.ndarray, np.ndarray]:
        """`ascii_fn` on the ASCII texts and `other_fn` on the rest, put back in order."""
        ascii_ = np.fromiter(map(str.isascii, texts), dtype=np.bool_, count=len(texts))
        if ascii_.all():
            return ascii_fn(texts)
        mine = (np.flatnonzero(ascii_), np.flatnonzero(~ascii_))
        parts = (
            ascii_fn([texts[i] for i in mine[0].tolist()]),
            other_fn([texts[i] for i in mine[1].tolist()]),
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
        return _in_blocks(texts, self._ascii_block)

    def _joined_ascii(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """`encode_joined` for ASCII documents, a block at a time like `_encode_ascii`."""
        return _in_blocks(docs, self._joined_block)

    def _joined_block(self, docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        joined = " ".join(docs)
        found = ascii_words(joined)
        # The keys fold case and split at any non-word character, so they stand for the
        # terms only when the text is lower case words and spaces (as `analyze` gives).
        if joined != joined.lower() or int(found.lengths.sum()) + joined.count(" ") != len(joined):
            return self._encode_terms((d.split() for d in docs), len(docs))
        ids = self._ascii_ids(joined, found, self._terms, self._vocab_ids)
        return ids, np.diff(_first_words(found, docs))

    def _ascii_block(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        joined = " ".join(texts)  # the space keeps words of neighbouring texts apart
        found = ascii_words(joined)
        ids = self._ascii_ids(joined, found, self._table, self._ids_of)
        first_word = _first_words(found, texts)
        keep = ids != STOPWORD
        kept_before = np.concatenate(([0], np.cumsum(keep)))
        return ids[keep], np.diff(kept_before[first_word])

    @staticmethod
    def _ascii_ids(
        joined: str, found: Words, table: KeyTable, ids_of: Callable[[list[str]], np.ndarray]
    ) -> np.ndarray:
        """The id `table` holds for every word found in `joined`; unseen words get theirs
        from `ids_of` (by their lower-cased strings), and the table learns them."""
        ids = table.lookup(found.first, found.second)
        unseen = np.flatnonzero(ids == MISSING)
        long = found.first[unseen] == 0
        if long.any():  # words too long for a key: by their strings
            ids[unseen[long]] = ids_of(_spans(joined, found, unseen[long]))
            unseen = unseen[~long]
        if unseen.shape[0]:
            first, second = found.first[unseen], found.second[unseen]
            at, inverse = unique_keys(first, second)
            new = ids_of(_spans(joined, found, unseen[at]))
            table.insert(first[at], second[at], new)
            ids[unseen] = new[inverse]
        return ids

    def encode_terms(self, docs: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """The same for documents already analysed into terms."""
        return self._encode_terms(docs, len(docs))

    def encode_joined(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The same for documents whose terms are joined by spaces. ASCII ones go through
        the key table: a dict lookup per term was most of a cold start's last step."""
        return self._by_script(docs, self._joined_ascii, self._split_terms)

    def _split_terms(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        return self._encode_terms((d.split() for d in docs), len(docs))

    def _encode_terms(self, docs: Iterable[Sequence[str]], n: int) -> tuple[np.ndarray, np.ndarray]:
        vocab = self.vocab
        ids: list[int] = []
        lengths = np.zeros(n, dtype=np.int64)
        # One document at a time, so no single C-level call (set(), map()) runs long
        # enough to hold the GIL against the event loop. Not memo.lookup: when most
        # documents bring a new term, as in a cold start, trying the lookup first costs 20%.
        for i, doc in enumerate(docs):
            for t in set(doc).difference(vocab):
                vocab[t] = len(vocab)
            ids.extend(map(vocab.__getitem__, doc))
            lengths[i] = len(doc)
        return _int64s(ids), lengths


def _int64s(values: list[int]) -> np.ndarray:
    return np.frombuffer(array("q", values), dtype=np.int64)  # type: ignore[type-var]


def _in_blocks(texts: Sequence[str], block_fn) -> tuple[np.ndarray, np.ndarray]:
    """`block_fn` on runs of texts of about BLOCK_CHARS, its results concatenated."""
    parts, block, size = [], [], 0
    for text in texts:
        block.append(text)
        size += len(text)
        if size >= BLOCK_CHARS:
            parts.append(block_fn(block))
            block, size = [], 0
    parts.append(block_fn(block))
    return np.concatenate([i for i, _ in parts]), np.concatenate([n for _, n in parts])


def _first_words(found: Words, texts: Sequence[str]) -> np.ndarray:
    """Index of the first word of each of `texts` joined by single spaces, then the end."""
    return np.searchsorted(found.starts, np.cumsum([0] + [len(t) + 1 for t in texts]))


def _spans(text: str, found: Words, which: np.ndarray) -> list[str]:
    """The normalised strings of the words `which` of `text` (ASCII: lower-casing is all)."""
    starts, lengths = found.starts[which].tolist(), found.lengths[which].tolist()
    return [text[a : a + n].lower() for a, n in zip(starts, lengths, strict=True)]
