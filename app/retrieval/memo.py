"""Look words up in a memo a batch at a time, working out only the ones it lacks.

The analyzer (word -> stem), the chunker (word -> o200k tokens) and the term-id encoder
(word or term -> id) all run this loop over every word of every document.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import filterfalse
from typing import TypeVar

V = TypeVar("V")


def lookup(
    memo: dict[str, V], keys: Sequence[str], learn: Callable[[list[str]], object]
) -> list[V]:
    """`memo[k]` for each of `keys`. On a miss `learn` gets the keys the memo lacks, each
    once, and must add them; then the lookup runs again."""
    # A KeyError rather than .get() and `None in values`: comparing every value with None
    # cost a third of analysing a chunk whose words are all known (the usual case).
    while True:
        try:
            return list(map(memo.__getitem__, keys))  # a C-level loop over the memo
        except KeyError:  # unseen keys (or ones a concurrent clear of the memo evicted)
            # Each missing key once, in the set's (hash) order: the term encoder numbers
            # new words in this order, as it did before this loop had one home.
            learn(list(set(filterfalse(memo.__contains__, keys))))
