"""ASCII text to exact word keys with numpy, and a numpy hash table over those keys.

Why: mapping each word of a million chunks to its term id through a Python dict costs a
string object, a hash and a probe per word (~0.4 µs each here, most of a large build).
For ASCII text the same words can be found and keyed with whole-array operations.

A word of at most `MAX_KEY_CHARS` characters is keyed exactly (no hashing, so no
collisions) by two uint64s: its first eight and its next eight characters, each byte the
character's digit 1..37 in [a-z0-9_] (upper and lower case alike, as the analyzer
lower-cases) and zero past the word's end. Longer words get the key (0, 0) and are looked
up by their string.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_KEY_CHARS = 16
MISSING = -2  # KeyTable.lookup's value for a key it does not hold

_WORD_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_DIGIT = bytearray(256)
for _i, _c in enumerate(_WORD_CHARS, start=1):
    _DIGIT[ord(_c)] = _i
    _DIGIT[ord(_c.upper())] = _i
_DIGITS = bytes(_DIGIT)  # a bytes.translate table: byte -> digit, 0 for a non-word byte
# _LOW_BYTES[k] keeps the k lowest bytes of a little-endian uint64 (its first k characters);
# index 17 (a word too long for a key) keeps nothing.
_LOW_BYTES = np.array(
    [(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1] * 9 + [0], dtype=np.uint64
)


@dataclass(frozen=True, slots=True)
class Words:
    """The words of an ASCII string: where each starts, how long it is, its key."""

    starts: np.ndarray
    lengths: np.ndarray
    first: np.ndarray  # uint64: characters 0-7; 0 for a word longer than MAX_KEY_CHARS
    second: np.ndarray  # uint64: characters 8-15


def ascii_words(text: str) -> Words:
    """Every maximal run of [A-Za-z0-9_] in `text`, which must be ASCII."""
    digits = text.encode("ascii").translate(_DIGITS) + bytes(16)
    code = np.frombuffer(digits, dtype=np.uint8)
    edges = np.flatnonzero(np.diff((code != 0).view(np.int8), prepend=np.int8(0)))
    starts, ends = edges[0::2], edges[1::2]  # the padding guarantees every word ends
    lengths = ends - starts
    # Eight bytes from any offset at once: a uint64 view with a one-byte stride.
    at = np.ndarray((code.shape[0] - 7,), dtype="<u8", buffer=digits, strides=(1,))
    clipped = np.minimum(lengths, MAX_KEY_CHARS + 1)
    first = at[starts] & _LOW_BYTES[clipped]
    second = at[starts + 8] & _LOW_BYTES[np.maximum(clipped - 8, 0)]
    return Words(starts, lengths, first, second)


_G1 = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: multiply, keep the top bits
_G2 = np.uint64(0xC2B2AE3D27D4EB4F)


def unique_keys(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of each distinct key's first occurrence, each key's position among them).

    Sorting one mixed uint64 is several times faster than `np.unique(axis=0)` on the
    pairs; two keys that mix to the same number are caught and the pairs sorted instead."""
    mixed = first * _G1 + second * _G2
    _, at, inverse = np.unique(mixed, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    same = np.array_equal(first[at][inverse], first)
    if not (same and np.array_equal(second[at][inverse], second)):
        pairs = np.stack((first, second), axis=1)
        _, at, inverse = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
    return at, inverse.reshape(-1)


class KeyTable:
    """An open-addressing (linear probing) map from word keys (first, second), first
    nonzero, to int64 values, probed and filled with whole-array operations. Never
    deletes, so a probe may stop at the first empty slot."""

    def __init__(self, bits: int = 16):
        self._bits = bits
        self._first = np.zeros(1 << bits, dtype=np.uint64)  # 0 marks an empty slot
        self._second = np.zeros(1 << bits, dtype=np.uint64)
        self._values = np.zeros(1 << bits, dtype=np.int64)
        self.size = 0

    def _home(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        mixed: np.ndarray = first * _G1 + second * _G2
        return (mixed >> np.uint64(64 - self._bits)).astype(np.int64)

    def lookup(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        out = np.full(first.shape[0], MISSING, dtype=np.int64)
        todo = np.flatnonzero(first)  # first == 0 (a long word) would match an empty slot
        first, second = first[todo], second[todo]
        mask = (1 << self._bits) - 1
        slot = self._home(first, second)
        while todo.shape[0]:
            held = self._first[slot]
            hit = (held == first) & (self._second[slot] == second)
            out[todo[hit]] = self._values[slot[hit]]
            more = (held != 0) & ~hit
            todo, first, second = todo[more], first[more], second[more]
            slot = (slot[more] + 1) & mask
        return out

    def insert(self, first: np.ndarray, second: np.ndarray, values: np.ndarray) -> None:
        """Add keys that are distinct, with first nonzero, and not yet present."""
        if (self.size + first.shape[0]) * 4 > self._first.shape[0]:
            self._grow(self.size + first.shape[0])
        self.size += first.shape[0]
        mask = (1 << self._bits) - 1
        slot = self._home(first, second)
        while first.shape[0]:
            free = np.flatnonzero(self._first[slot] == 0)
            # Several keys may want the same free slot: the first of them takes it.
            won = free[np.unique(slot[free], return_index=True)[1]]
            self._first[slot[won]] = first[won]
            self._second[slot[won]] = second[won]
            self._values[slot[won]] = values[won]
            lost = np.ones(first.shape[0], dtype=np.bool_)
            lost[won] = False
            first, second, values = first[lost], second[lost], values[lost]
            slot = (slot[lost] + 1) & mask
        # Every key that moved on found its slot taken, so probes pass over it: no gaps.

    def _grow(self, need: int) -> None:
        held = self._first != 0
        old = self._first[held], self._second[held], self._values[held]
        while need * 4 > (1 << self._bits):
            self._bits += 1
        self._first = np.zeros(1 << self._bits, dtype=np.uint64)
        self._second = np.zeros(1 << self._bits, dtype=np.uint64)
        self._values = np.zeros(1 << self._bits, dtype=np.int64)
        self.size = 0
        self.insert(*old)
