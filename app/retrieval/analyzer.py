"""The one text-to-terms pipeline used for documents and queries alike.

NFKC + casefold, word tokens, English stopwords removed, Snowball (Porter2) stems.
`analyze` is a pure function; the stem cache only saves repeated work.
"""

from __future__ import annotations

import re
import threading
import unicodedata

import Stemmer

from app.retrieval.memo import lookup

# Word characters, keeping inner apostrophes out: "don't" -> "don", "t" (then stopwords).
_WORD = re.compile(r"\w+")

# A common English stopword list: articles, pronouns, auxiliaries, prepositions and
# conjunctions. Negations are in it too, because a bag-of-words scorer cannot use them.
_STOPWORD_TEXT = """
    a about above after again against all am an and any are aren as at be because been
    before being below between both but by can cannot could couldn did didn do does doesn
    doing don down during each few for from further had hadn has hasn have haven having he
    her here hers herself him himself his how i if in into is isn it its itself just ll me
    more most mustn my myself no nor not now of off on once only or other ought our ours
    ourselves out over own re s same shan she should shouldn so some such t than that the
    their theirs them themselves then there these they this those through to too under
    until up ve very was wasn we were weren what when where which while who whom why will
    with won would wouldn you your yours yourself yourselves d m o y ain
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())

_MAX_CACHE = 500_000  # words -> stems; a memo, cleared when full
_cache: dict[str, str] = {}
_lock = threading.Lock()
_stemmer_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    # PyStemmer objects are not thread-safe; one per thread.
    s = getattr(_stemmer_local, "stemmer", None)
    if s is None:
        s = _stemmer_local.stemmer = Stemmer.Stemmer("english")
    return s


def normalize(text: str) -> str:
    # For ASCII text NFKC is the identity and casefold() equals lower(); skipping the
    # Unicode tables roughly halves the cost of indexing English documents.
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


# For ASCII text, \w is [A-Za-z0-9_]: mapping everything else to spaces and splitting
# gives the same tokens as the regex at about twice the speed.
_ASCII_NON_WORD = str.maketrans(
    {c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "_")}
)


def words(text: str) -> list[str]:
    """Normalised word tokens, before stopwords and stemming."""
    if text.isascii():
        return text.lower().translate(_ASCII_NON_WORD).split()
    return _WORD.findall(normalize(text))


def _learn(new: list[str]) -> None:
    stems = _stemmer().stemWords(new)
    with _lock:
        if len(_cache) > _MAX_CACHE:
            _cache.clear()
        for w, s in zip(new, stems, strict=True):
            # "" marks a stopword so the hot loop needs one dict lookup per token.
            _cache[w] = "" if w in STOPWORDS else s


def terms_of_words(toks: list[str]) -> list[str]:
    """The index term of each normalised word, "" for a stopword."""
    return lookup(_cache, toks, _learn)


def analyze(text: str) -> list[str]:
    """Text to index terms, in order, duplicates kept (BM25 needs term frequencies)."""
    return list(filter(None, terms_of_words(words(text))))  # "" marks a stopword
