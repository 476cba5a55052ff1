"""Crafted files cost bounded CPU and memory: linear parsers, a child process with limits.

Files go through the app's own parser pool (the one uploads use). Limits here are the
app's own (PARSE_TIMEOUT_S, PARSE_MEMORY_MB), enforced by the kernel on the parser
process; a test asserts what comes out (a document, or a clear refusal), never how long
it took.
"""

from __future__ import annotations

import pytest

from app.retrieval.hostile_files import attribute_bomb_html, docx_bomb, quadratic_html
from app.retrieval.isolation import ParseLimits, Prepared, prepare_job, unpack_prepared
from app.retrieval.loaders import parse_document
from app.retrieval.parsepool import POOL
from app.retrieval.types import DocumentRejected
from tests.retrieval.conftest import write_docx
from tests.support.pdfgen import pdf_bytes

MB = 1024 * 1024
# Generous for anything linear (these files parse in milliseconds), far below the
# minutes the quadratic parsers took.
LIMITS = ParseLimits(max_bytes=20 * MB, max_chars=200_000, cpu_seconds=10, memory_bytes=300 * MB)
CHUNKING = (100, 20)


def prepare(data: bytes, name: str, limits: ParseLimits = LIMITS) -> Prepared:
    return POOL.prepare(data, name, limits, *CHUNKING)


@pytest.mark.parametrize(
    ("kind", "size"),
    [("comments", 400_000), ("tags", 150_000)],  # minutes each in html.parser
)
def test_html_that_was_quadratic_parses_within_the_limits(kind, size):
    doc = prepare(quadratic_html(kind, size), "hostile.html")
    assert [(c[2], c[4]) for c in doc.chunks] == [("Before", "Before\n\nText before the blob.")]


def test_html_with_an_attribute_bomb_parses_within_the_limits():
    # 200,000 distinct attributes on one tag (1.9 MB): about a minute, past the CPU limit,
    # in a libxml2 that checks them for duplicates pairwise. Their element's text survives.
    doc = prepare(attribute_bomb_html(), "attrs.html")
    assert doc.title == "attrs"
    assert [c[4] for c in doc.chunks] == ["text"]


def test_markdown_heading_lines_parse_within_the_limits():
    # A 150 KB heading line of blanks backtracked for minutes in the old heading regex.
    data = ("# Title" + " \t" * 75_000 + "end ##\n\nBody.").encode()
    doc = prepare(data, "wide.md")
    assert doc.title == "Title end"
    assert doc.chunks[-1][4].endswith("\n\nBody.")
    assert doc.chunks[-1][2] == "Title end"


def test_docx_is_read_as_a_stream_not_a_tree():
    """A .docx inflating to 40 MB of XML built a python-docx tree of over a gigabyte; read
    as a stream it needs a few megabytes, checked under a 300 MB address-space limit."""
    data = docx_bomb(40 * MB)
    assert len(data) < 5 * MB
    doc = prepare(data, "bomb.docx")
    assert doc.truncated
    assert 0.9 * LIMITS.max_chars < doc.chunks[-1][1] <= LIMITS.max_chars  # the text's end


def test_a_parse_over_the_cpu_limit_is_refused_clearly():
    # A real, well-formed PDF that simply takes pypdf several seconds of CPU to read.
    pdf = pdf_bytes([f"Line {i} of a long report, with words.\n" * 40 for i in range(800)])
    limits = ParseLimits(20 * MB, 10**8, cpu_seconds=1, memory_bytes=300 * MB)
    with pytest.raises(DocumentRejected) as e:
        prepare(pdf, "report.pdf", limits)
    assert str(e.value).startswith("report.pdf took too long to read (over 1 s, PARSE_TIMEOUT_S)")


def test_a_parse_over_the_memory_limit_is_refused_clearly():
    # Millions of empty runs in one paragraph: no text, but a node each until it ends.
    limits = ParseLimits(20 * MB, 200_000, cpu_seconds=30, memory_bytes=64 * MB)
    with pytest.raises(DocumentRejected) as e:
        prepare(docx_bomb(60 * MB, empty_runs=True), "runs.docx", limits)
    assert str(e.value) == "runs.docx needs too much memory to read (over 64 MB, PARSE_MEMORY_MB)"


def test_isolated_parse_returns_the_same_document(tmp_path):
    docx = write_docx(
        tmp_path / "g.docx", [("Title", "Guide"), ("Heading 1", "Setup"), ("Normal", "Run it.")]
    ).read_bytes()
    pdf = pdf_bytes(["First page.", "Second page."], title="Pages")
    for data, name in [(docx, "g.docx"), (pdf, "p.pdf"), (b"# T\n\nBody.", "t.md")]:
        here = unpack_prepared(prepare_job(data, name, LIMITS, *CHUNKING))
        assert prepare(data, name) == here


def test_rejections_from_the_child_keep_their_reason():
    with pytest.raises(DocumentRejected) as e:
        prepare(b"not a zip", "fake.docx")
    assert "fake.docx is not a valid .docx" in str(e.value)


def test_parsing_works_from_another_folder_without_reimporting_main(tmp_path):
    """`chainlit run` from any folder: the parser processes must import this project, and
    must not re-import the app's main module (the chainlit CLI: seconds per file)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    marker = tmp_path / "main-imported.txt"
    script = tmp_path / "main_script.py"
    script.write_text(
        f"import sys; sys.path.insert(0, {str(root)!r})\n"
        f"with open({str(marker)!r}, 'a') as f: f.write('imported\\n')\n"
        "if __name__ == '__main__':\n"
        "    from app.retrieval.isolation import ParseLimits\n"
        "    from app.retrieval.parsepool import POOL\n"
        "    for _ in range(3):\n"
        "        limits = ParseLimits(10**7, 10**6, 10, 2**28)\n"
        "        doc = POOL.prepare(b'# Hi\\n\\nthere', 'a.md', limits, 100, 20)\n"
        "        POOL.stop_idle()  # the next file in a new child\n"
        "    print(doc.chunks[0][4])\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "# Hi\n\nthere"
    assert marker.read_text() == "imported\n", "a parser process imported __main__ again"


def test_prepared_in_the_child_matches_chunking_here():
    from app.retrieval.analyzer import analyze
    from app.retrieval.chunker import chunk_document, index_text

    data = pdf_bytes(["First page. " * 200, "Second page, with more words. " * 150])
    doc = parse_document(data, "p.pdf", LIMITS.max_bytes)
    spans = chunk_document(doc, 100, 20)
    prepared = prepare(data, "p.pdf")
    assert prepared.title == doc.title and not prepared.truncated
    assert prepared.chunks == [
        (s.start, s.end, s.section, s.page, doc.text[s.start : s.end]) for s in spans
    ]
    assert [line.split() for line in prepared.joined_terms] == [
        analyze(index_text(doc.title, s.section, doc.text[s.start : s.end])) for s in spans
    ]
