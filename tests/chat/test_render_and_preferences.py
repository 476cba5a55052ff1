"""Pure chat renderings (answer text, citation panels) and chat-settings parsing."""

import re

from app.answering.result import ModelUsage, Route
from app.answering.views import answer_markdown, citation_views, details_markdown, source_panel
from app.chat.compare_view import answer_text
from app.chat.preferences import preferences, widgets
from app.compare import CallSample, ComparedAnswer
from app.config import RoutingPolicy, load_settings
from app.retrieval.types import Chunk, Hit
from tests.answering.factories import answer_result as result


def hit(n: int, **kw) -> Hit:
    chunk = Chunk(
        id=f"d{n}:0",
        doc_id=f"d{n}",
        source=kw.get("source", f"doc{n}.pdf"),
        title=kw.get("title", f"Doc {n}"),
        section=kw.get("section"),
        page=kw.get("page"),
        start=0,
        end=10,
        text=kw.get("text", f"Passage {n} text.\n\nSecond paragraph."),
    )
    return Hit(chunk=chunk, score=kw.get("score", 3.5), rank=n)


def test_source_panel_shows_file_page_section_score_and_text():
    panel = source_panel(hit(2, page=4, section="Intro › Scope", score=7.314), 3)
    assert "### [3] Doc 2" in panel
    assert "**File:** doc2.pdf" in panel
    assert "**Page:** 4" in panel
    assert "**Section:** Intro › Scope" in panel
    assert "7.31 (rank 2)" in panel
    assert "> Passage 2 text." in panel and "> Second paragraph." in panel


def test_citation_views_follow_valid_citations_in_order():
    r = result(citations={2: hit(2), 1: hit(1)})
    assert [v.name for v in citation_views(r)] == ["[1]", "[2]"]


def test_sources_only_answers_number_every_hit():
    r = result(route=Route("sources_only"), answer="…", hits=[hit(2), hit(1)])
    views = citation_views(r)
    assert [v.name for v in views] == ["[1]", "[2]"]
    assert "Doc 1" in views[0].content


def test_no_citations_no_panels():
    assert citation_views(result(hits=[hit(1)])) == []


def test_notices_incomplete_flag_and_footer_live_outside_the_answer_text():
    r = result(
        incomplete=True,
        notices=["Escalation failed: timeout; showing the draft."],
        usage={"phi-4-mini": ModelUsage(100, 20, 0.0)},
        total_s=1.5,
        ttft_s=0.2,
    )
    assert answer_markdown(r) == "An answer [1]."
    details = details_markdown(r)
    assert "cut off before it finished" in details
    assert "⚠️ Escalation failed" in details
    assert details.rstrip().endswith("*")
    assert "phi-4-mini" in details.splitlines()[-1] and "100 in / 20 out" in details


HOSTILE = (
    "Totals ![beacon](http://evil.example/b.png?leak=1) and [click](https://evil.example)\n"
    "<img src=http://evil.example/x.png> <script>alert(1)</script> http://evil.example/raw\n"
    "[ref]: http://evil.example/ref\n"
    "![also][ref]"
)


def test_a_hostile_answer_keeps_its_words_but_loses_images_links_and_html():
    md = answer_markdown(result(answer=HOSTILE + " [1]"))
    assert "beacon" in md and "click" in md and "[1]" in md
    assert "](" not in md  # no inline link or image survives
    assert "<img" not in md and "<script" not in md
    assert "`http://evil.example/raw`" in md  # a bare URL shows as code, not a link
    assert "\\[ref\\]:" in md  # a reference definition is plain text


def test_a_hostile_passage_cannot_load_or_link_in_its_source_panel():
    panel = source_panel(hit(1, text=HOSTILE, title="Title ![t](http://evil.example/t.png)"), 1)
    assert not re.search(r"(?<!\\)\]\(", panel)  # only escaped brackets remain
    assert "<img" not in panel and "<script" not in panel
    assert "\\!\\[t\\]" in panel


def test_preferences_defaults_and_bad_values():
    s = load_settings()
    ids = [w.id for w in widgets(s)]
    assert ids == ["top_k", "policy", "rewrite", "temperature", "stream_draft", "draft_hint"]
    p = preferences({}, s)
    assert p.top_k == s.top_k and p.policy is s.routing_policy
    assert p.stream_draft is True
    p = preferences(
        {"top_k": "999", "policy": "sometimes", "temperature": "hot", "stream_draft": False}, s
    )
    assert p.top_k == 50
    assert p.policy is s.routing_policy
    assert p.temperature == s.temperature
    assert p.stream_draft is False
    p = preferences({"policy": "never", "rewrite": False, "top_k": 3}, s)
    assert p.policy is RoutingPolicy.NEVER and not p.rewrite
    assert p.top_k == 3


def test_source_panel_reflows_hard_wrapped_pdf_lines_but_keeps_headings_and_lists():
    text = "## Heading\nThe service picks its port\nwhen it starts.\n\n- item one\n- item two"
    panel = source_panel(hit(1, text=text), 1)
    assert "> ## Heading\n> The service picks its port when it starts." in panel
    assert "> - item one\n> - item two" in panel


def _sample(text: str, error: str | None = None) -> CallSample:
    return CallSample(text, 0.1, 1.5, 100, 20, 13.3, 0.0, error)


def test_compare_answer_text_is_inert_and_says_how_a_model_failed():
    ok = answer_text(ComparedAnswer("phi-4-mini", _sample("See ![x](http://evil/p.png) [1].")))
    assert "first token 100 ms" in ok and "evil" not in ok  # the image became its alt text
    assert "stopped" not in ok and "failed" not in ok
    cut = answer_text(ComparedAnswer("phi-4-mini", _sample("Half an", "lost <b>"), "lost <b>"))
    assert "Half an" in cut and "phi-4-mini stopped mid-answer" in cut and "<b>" not in cut
    before = answer_text(ComparedAnswer("gpt-oss-20b", None, "Timed out after 5 s"))
    assert "gpt-oss-20b failed:** Timed out after 5 s" in before and "_(empty)_" not in before
    # Failed before its sample was made, but text had been shown: that text stays.
    shown = answer_text(ComparedAnswer("gpt-oss-20b", None, "oops"), streamed="Partial text")
    assert "Partial text" in shown and "stopped mid-answer" in shown
