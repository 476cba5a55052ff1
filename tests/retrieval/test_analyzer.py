import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from app.retrieval.analyzer import STOPWORDS, analyze, normalize, words


def test_stems_and_drops_stopwords():
    assert analyze("The runners were running to the races") == ["runner", "run", "race"]


def test_nfkc_and_casefold():
    # Full-width letters, a ligature and German sharp s fold to plain lower-case forms.
    assert analyze("ＢＭ２５") == ["bm25"]
    assert analyze("ﬁle FILES") == ["file", "file"]
    assert normalize("Straße") == "strasse"


def test_punctuation_splits_words_and_numbers_survive():
    assert analyze("IL-6, COVID-19; e-mail!") == ["il", "6", "covid", "19", "e", "mail"]


def test_non_latin_scripts_are_words():
    assert analyze("Привет мир 東京") == ["привет", "мир", "東京"]


def test_empty_and_stopword_only():
    assert analyze(" ".join(sorted(STOPWORDS))) == []
    assert analyze("") == []
    assert analyze("the and of it") == []
    assert analyze("  \n\t ") == []


def test_duplicates_are_kept_for_term_frequency():
    assert analyze("leave leave leave") == ["leav"] * 3


@given(st.text(max_size=200))
def test_query_and_document_pipelines_agree(text):
    out = analyze(text)
    # Same input, same terms (the stem cache must not change results) ...
    assert analyze(text) == out
    # ... no empties, no whitespace, and concatenation is compositional.
    assert all(t and not any(c.isspace() for c in t) for t in out)
    assert analyze(text + " " + text) == out + out


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=200))
def test_ascii_fast_path_tokenises_exactly_like_the_unicode_path(text):
    assert words(text) == re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())


def test_streamed_term_ids_are_exactly_the_analyzed_terms():
    from app.retrieval.termids import TermEncoder

    texts = [
        "The VPN client doesn't start; re-install it.",
        "Ünïcode ﬁles and café menus, NFKC-normalised",
        "",
        "the and of",  # stopwords only
        "Running runners ran 3 runs_in_a_row",
    ]
    vocab: dict[str, int] = {}
    ids, lengths = TermEncoder(vocab).encode(texts)
    names = {i: t for t, i in vocab.items()}
    expected = [analyze(t) for t in texts]
    assert lengths.tolist() == [len(e) for e in expected]
    assert [names[i] for i in ids.tolist()] == [t for e in expected for t in e]


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=80))
def test_ascii_fast_path_tokenises_exactly_like_the_regex(text):
    assert words(text) == re.findall(r"\w+", text.lower())


_MIXED_WORDS = st.sampled_from(
    [
        *["the", "Runs", "running", "VPN", "café", "ＢＭ２５", "x_y", "42", "a" * 16, "B" * 17],
        *["internationalisation", "Straße", "do-not", "it's", "\t", "\n", " ", ",", "é"],
    ]
)


@given(st.lists(st.lists(_MIXED_WORDS, max_size=12).map("".join), max_size=8), st.integers(0, 7))
def test_streamed_term_ids_match_analyze_on_any_texts(texts, split):
    # Two calls, so the second finds some words already learnt: ASCII texts take the
    # whole-array path, the others the analyzer's; their ids must agree with analyze().
    from app.retrieval.termids import TermEncoder

    vocab: dict[str, int] = {}
    encoder = TermEncoder(vocab)
    got = [encoder.encode(texts[:split]), encoder.encode(texts[split:])]
    names = {i: t for t, i in vocab.items()}
    expected = [analyze(t) for t in texts]
    assert [n for _, lengths in got for n in lengths.tolist()] == [len(e) for e in expected]
    assert [names[i] for ids, _ in got for i in ids.tolist()] == [t for e in expected for t in e]


_TERMS = st.sampled_from(
    [
        *["run", "vpn", "café", "x_y", "42", "a" * 16, "b" * 17, "internationalis", "straße"],
        *["bm25", "_", "0", "z" * 40, "Upper", "upper", "do-not"],
    ]
)


@given(
    st.lists(st.lists(_TERMS, max_size=12).map(" ".join), max_size=10),
    st.lists(st.lists(_MIXED_WORDS, max_size=6).map("".join), max_size=3),
    st.integers(0, 9),
)
def test_joined_terms_encode_to_their_own_ids(docs, texts, split):
    # Terms joined by spaces, ASCII or not, short or too long for a key, mixed with texts
    # encoded word by word into the same vocabulary: each id names its own term.
    from app.retrieval.termids import TermEncoder

    vocab: dict[str, int] = {}
    encoder = TermEncoder(vocab)
    got = [encoder.encode_joined(docs[:split]), encoder.encode(texts)]
    got.append(encoder.encode_joined(docs[split:]))
    names = {i: t for t, i in vocab.items()}
    assert sorted(names) == list(range(len(vocab)))
    expected = [d.split() for d in docs[:split]] + [analyze(t) for t in texts]
    expected += [d.split() for d in docs[split:]]
    assert [n for _, lengths in got for n in lengths.tolist()] == [len(e) for e in expected]
    assert [names[i] for ids, _ in got for i in ids.tolist()] == [t for e in expected for t in e]


# Titles, heading paths and bodies: any Unicode (combining marks, compatibility forms,
# digits of other scripts), and the " › " of heading paths.
_PARTS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60) | st.sampled_from(
    ["", "Guide", "Guide › Setup", "e\u0301te\u0301", "ﬁle ＡＢＣ", "\u0301start", "end\u0301"]
)


@given(
    title=_PARTS,
    sections=st.lists(st.none() | _PARTS, min_size=1, max_size=3),
    bodies=st.lists(_PARTS, min_size=1, max_size=6),
)
def test_chunk_terms_with_the_head_analysed_apart_are_the_same(title, sections, bodies):
    from app.retrieval.chunker import index_text
    from app.retrieval.fields import joined_chunk_terms

    text = "".join(bodies)
    chunks, pos = [], 0
    for i, body in enumerate(bodies):
        chunks.append((pos, pos + len(body), sections[i % len(sections)]))
        pos += len(body)
    expected = [" ".join(analyze(index_text(title, sec, text[a:b]))) for a, b, sec in chunks]
    assert joined_chunk_terms(title, text, chunks) == expected
