import re
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from app.answering.options import Exchange
from app.answering.prompting import (
    NOT_FOUND_MARKER,
    SYSTEM_PROMPT,
    ContextBlock,
    FirstLineDone,
    build_messages,
    choose_rewrite,
    clean_rewrite,
    count_message_tokens,
    fit_prompt,
    needs_context,
    rewrite_messages,
    shrink_budget,
    source_label,
)
from app.tokens import count_tokens
from tests.answering.factories import hit


@dataclass
class T:
    question: str
    answer: str


def words(n: int, word: str = "policy") -> str:
    return " ".join([word] * n)


def test_source_label_includes_page_and_section_when_known():
    assert source_label(hit("x", source="a.pdf", page=3, section="Leave › Annual")) == (
        "a.pdf · p. 3 · Leave › Annual"
    )
    assert source_label(hit("x", source="notes.md")) == "notes.md"


def test_system_prompt_names_marker_and_citation_format():
    assert NOT_FOUND_MARKER in SYSTEM_PROMPT
    assert "[1]" in SYSTEM_PROMPT


def test_messages_number_blocks_and_put_history_before_question():
    blocks = [ContextBlock(1, hit("Refunds take 30 days.")), ContextBlock(2, hit("B", rank=2))]
    msgs = build_messages("How long?", blocks, [T("Hi", "Hello")])
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    last = msgs[-1]["content"]
    assert "[1] handbook.md\nRefunds take 30 days." in last
    assert "[2] handbook.md\nB" in last
    assert last.rstrip().endswith("Question: How long?")


def test_draft_hint_is_framed_as_a_hint_not_a_rewrite_request():
    msgs = build_messages("Q?", [ContextBlock(1, hit("ctx"))], draft_hint="draft text")
    content = msgs[-1]["content"]
    assert "<draft>\ndraft text\n</draft>" in content
    assert "answer from the context blocks yourself" in content
    assert "polish" not in content.lower()


def test_everything_fits_when_budget_is_large():
    hits = [hit(words(50), rank=r) for r in (1, 2, 3)]
    p = fit_prompt("Q?", hits, [T("a", "b")] * 5, budget=100_000, history_turns=3)
    assert [b.n for b in p.blocks] == [1, 2, 3]
    assert p.dropped == []
    assert p.history_used == 3
    assert p.tokens == count_message_tokens(p.messages)


def test_lowest_ranked_chunks_are_dropped_first_and_never_cut():
    # Given out of rank order on purpose: the fit must follow rank, not list order.
    hits = [
        hit(words(100, "gamma"), rank=3),
        hit(words(100, "alpha"), rank=1),
        hit(words(100, "beta"), rank=2),
    ]
    base = fit_prompt("Q?", [], [], budget=100_000, history_turns=0).tokens
    p = fit_prompt("Q?", hits, [], budget=base + 230, history_turns=0)
    assert p.tokens <= base + 230
    assert [b.hit.rank for b in p.blocks] == [1, 2]
    assert [h.rank for h in p.dropped] == [3]
    text = p.messages[-1]["content"]
    # Kept chunks are whole; the dropped one is absent entirely.
    assert words(100, "alpha") in text and words(100, "beta") in text
    assert "gamma" not in text


def test_only_last_history_turns_are_included():
    history = [T(f"question {i}", f"answer {i}") for i in range(6)]
    p = fit_prompt("Q?", [hit("ctx")], history, budget=100_000, history_turns=2)
    contents = [m["content"] for m in p.messages]
    assert "question 4" in contents and "question 5" in contents
    assert "question 3" not in contents
    assert p.history_used == 2


def test_history_gives_way_before_the_top_chunk():
    history = [T(words(200, "old"), words(200, "older")), T("recent?", "recent.")]
    top = hit(words(100, "alpha"))
    no_hist = fit_prompt("Q?", [top], [], budget=100_000, history_turns=0).tokens
    p = fit_prompt("Q?", [top], history, budget=no_hist + 20, history_turns=3)
    assert [b.n for b in p.blocks] == [1]
    assert p.history_used == 1  # the long, older turn went; the recent one stayed
    assert p.tokens <= no_hist + 20


def test_nothing_fits_leaves_question_and_system_only():
    p = fit_prompt("Q?", [hit(words(500))], [T("a", "b")], budget=50, history_turns=3)
    assert p.blocks == []
    assert p.history_used == 0
    assert "(no context blocks)" in p.messages[-1]["content"]


def test_shrink_budget_halves_what_was_sent():
    p = fit_prompt(
        "Q?", [hit(words(300), rank=r) for r in (1, 2, 3, 4)], [], budget=100_000, history_turns=0
    )
    smaller = fit_prompt(
        "Q?",
        [hit(words(300), rank=r) for r in (1, 2, 3, 4)],
        [],
        budget=shrink_budget(p),
        history_turns=0,
    )
    assert shrink_budget(p) == p.fixed_tokens + (p.tokens - p.fixed_tokens) // 2
    assert smaller.tokens - smaller.fixed_tokens <= (p.tokens - p.fixed_tokens) // 2
    assert 0 < len(smaller.blocks) < len(p.blocks)


def test_rewrite_prompt_contains_conversation_and_question():
    msgs = rewrite_messages(
        "And for contractors?", [T("How many leave days?", "25 [1].")], history_turns=3
    )
    assert msgs[0]["role"] == "system"
    user = msgs[1]["content"]
    assert "How many leave days?" in user and "25 [1]." in user
    assert "Last question: And for contractors?" in user
    assert count_tokens(user) < 200


def test_rewrite_prompt_stays_inside_the_budget_with_huge_history():
    # A 200,000-character question used to go whole into the next follow-up's rewrite prompt.
    huge = "word " * 40_000
    history = [T(huge, huge), T("How many leave days?", "25 [1]."), T(huge, "short")]
    msgs = rewrite_messages("And for contractors?", history, history_turns=3, budget=1000)
    assert count_message_tokens(msgs) <= 1000
    assert "Last question: And for contractors?" in msgs[1]["content"]


def test_clean_rewrite_strips_prefix_quotes_and_falls_back():
    assert (
        clean_rewrite(
            'Standalone question: "How many leave days do contractors get?"\nExtra', "orig"
        )
        == "How many leave days do contractors get?"
    )
    assert clean_rewrite("   \n ", "orig") == "orig"
    assert clean_rewrite(NOT_FOUND_MARKER, "orig") == "orig"
    assert clean_rewrite("x" * 600, "orig") == "orig"
    # Echoes of the prompt, as tiny models produce, are not questions.
    assert clean_rewrite("Assistant: <draft> Context blocks: [1] ...", "orig") == "orig"
    assert clean_rewrite("User: What port does it use?", "And its port?") == (
        "What port does it use?"
    )


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=120), min_size=0, max_size=8),
    turns=st.integers(min_value=0, max_value=4),
    budget=st.integers(min_value=100, max_value=1500),
)
def test_fit_is_a_rank_prefix_within_budget(sizes, turns, budget):
    hits = [hit(words(n, f"w{r}"), rank=r) for r, n in enumerate(sizes, start=1)]
    history = [T(words(30, "q"), words(60, "a")) for _ in range(turns)]
    p = fit_prompt("Q?", hits, history, budget=budget, history_turns=3)
    assert [b.hit.rank for b in p.blocks] == list(range(1, len(p.blocks) + 1))
    assert [b.n for b in p.blocks] == [b.hit.rank for b in p.blocks]
    assert len(p.blocks) + len(p.dropped) == len(hits)
    assert p.tokens == count_message_tokens(p.messages)
    if p.fixed_tokens <= budget:
        assert p.tokens <= budget
    # Every kept chunk is in the prompt whole.
    for b in p.blocks:
        assert b.hit.chunk.text in p.messages[-1]["content"]


def test_only_questions_that_point_back_need_a_rewrite():
    for q in [
        "and on macOS?",
        "What about contractors?",
        "How long does it take?",
        "Why?",
        "Is that also true for interns?",
        "And how many days?",
    ]:
        assert needs_context(q), q
    for q in [
        "How many weeks of paid parental leave do parents receive?",
        "What is the meal allowance for staff travelling abroad?",
    ]:
        assert not needs_context(q), q


LEAVE = [Exchange("What does the leave policy say?", "Employees get 25 days of annual leave.")]


def test_a_rewrite_is_searched_when_it_shares_a_content_word_with_the_conversation():
    # "days" is in the question and the answer; stems match ("employee" ~ "Employees").
    choice = choose_rewrite("How many leave days do contractors get?", "And contractors?", LEAVE)
    assert choice.query == "How many leave days do contractors get?" and choice.unused is None
    assert choose_rewrite("Which employee gets it?", "Who?", LEAVE).unused is None
    # The question's own words count too, without any history.
    assert choose_rewrite("Meal allowance abroad?", "And the meals?", []).unused is None


def test_a_rewrite_sharing_no_content_word_is_dropped_for_the_users_words():
    for reply in ["Not sure.", "What is it?", "Is this the one they mean?"]:
        choice = choose_rewrite(reply, "And contractors?", LEAVE)
        assert choice.query == "And contractors?", reply
        assert choice.unused and "shares no word with the conversation" in choice.unused
    # Stopwords are not content: sharing "the", "what", "is" is sharing nothing.
    assert choose_rewrite("What is the weather?", "And the rest?", LEAVE).unused is not None


def test_an_empty_echoed_or_unchanged_rewrite_is_dropped():
    for reply in ["", "  \n ", "Conversation: User: ...", NOT_FOUND_MARKER, "And contractors?"]:
        choice = choose_rewrite(reply, "And contractors?", LEAVE)
        assert choice.query == "And contractors?" and choice.unused, reply
        assert "empty, an echo of the prompt or the question itself" in choice.unused


def first_line_done(*pieces: str) -> bool:
    """Whether a FirstLineDone fed these pieces said true at any of them."""
    done = FirstLineDone()
    return any([done(p) for p in pieces])  # a list: it must see every piece


def test_a_rewrite_is_read_to_the_end_of_its_first_line():
    assert not first_line_done("")
    assert not first_line_done("\n  \n")  # no text yet: a model may start with newlines
    assert not first_line_done("\n", " ", "\n")
    assert not first_line_done("How many leave days")
    assert first_line_done("How many leave days?\n")
    assert first_line_done("\nStandalone question: How many?\nAnd more")
    assert first_line_done("\n", "  How many", "?", "\n")
    assert first_line_done("\n  How", " many?\nAnd")
    assert not first_line_done("\n  ", "How many?")


@given(
    st.lists(st.text(alphabet=" \t\na?", max_size=6), max_size=8),
)
@settings(max_examples=300, deadline=None)
def test_the_first_line_is_found_however_the_reply_is_cut_into_pieces(pieces):
    # Fed piece by piece it answers, up to its first yes (the stream ends there), what the
    # whole reply so far would: a newline after some text. The check it replaced joined the
    # reply at every chunk to ask that.
    done = FirstLineDone()
    for n, piece in enumerate(pieces):
        said, whole = done(piece), "\n" in "".join(pieces[: n + 1]).lstrip()
        assert said == whole, pieces[: n + 1]
        if said:
            break


def test_the_rewrite_steps_notes_show_the_question_and_the_models_line_literally():
    from app.answering.pipeline import rewrite_notes
    from app.llm.types import Completion, Timing

    done = Completion(
        "phi-4-mini", "phi-4-mini", "", "", "stop", False, None, 1, 1, True, None,
        Timing(0.0, 0.1, 0.1, None),
    )  # fmt: skip
    used = choose_rewrite("[Reset leave](https://evil/x) days", "Who gets *days*?", LEAVE)
    dropped = choose_rewrite("![x](http://evil/p.png)", "And contractors?", LEAVE)
    for notes in (rewrite_notes("Who gets *days*?", used, done), rewrite_notes("Q", dropped, done)):
        text = "\n".join(notes)
        # Every bracket and URL scheme escaped: nothing can render as a link or an image.
        assert not re.search(r"(?<!\\)[\[\]]|(?<!\\)://", text), text
