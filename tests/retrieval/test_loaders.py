from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from app.config import FILE_TYPES
from app.retrieval.loaders import SECTION_SEP, Document, load_document
from app.retrieval.types import DocumentRejected
from tests.retrieval.conftest import write_docx
from tests.support.pdfgen import encrypt_pdf, write_pdf

MB = 1024 * 1024


def spans(doc: Document) -> list[tuple[str, str | None, int | None]]:
    return [(doc.text[b.start : b.end], b.section, b.page) for b in doc.blocks]


def rejected(path: Path, max_bytes: int = 5 * MB) -> str:
    with pytest.raises(DocumentRejected) as e:
        load_document(path, max_bytes)
    assert str(e.value) == e.value.reason
    assert path.name in str(e.value)
    return str(e.value)


# --- good files ---------------------------------------------------------------------------
def test_markdown_heading_paths_spans_and_title(tmp_path):
    p = tmp_path / "guide.md"
    p.write_text(
        "---\ntitle: ignored front matter\n---\n"
        "# Travel policy\n\nIntro text.\n\n## Booking\nBook early.\nTwo lines.\n\n"
        "### Trains\nFirst class rules.\n\n## Refunds #\n\n```\n# not a heading\n\ncode\n```\n"
        "Setext heading\n--------------\nUnder setext.\n",
        encoding="utf-8",
    )
    doc = load_document(p, MB)
    assert doc.title == "Travel policy"
    travel, booking = "Travel policy", f"Travel policy{SECTION_SEP}Booking"
    assert spans(doc) == [
        ("# Travel policy", travel, None),
        ("Intro text.", travel, None),
        ("## Booking", booking, None),
        ("Book early.\nTwo lines.", booking, None),
        ("### Trains", f"{booking}{SECTION_SEP}Trains", None),
        ("First class rules.", f"{booking}{SECTION_SEP}Trains", None),
        ("## Refunds #", f"{travel}{SECTION_SEP}Refunds", None),
        ("```\n# not a heading\n\ncode\n```", f"{travel}{SECTION_SEP}Refunds", None),
        ("Setext heading\n--------------", f"{travel}{SECTION_SEP}Setext heading", None),
        ("Under setext.", f"{travel}{SECTION_SEP}Setext heading", None),
    ]
    assert "ignored front matter" not in " ".join(s for s, _, _ in spans(doc))


def test_markdown_without_h1_uses_file_stem(tmp_path):
    p = tmp_path / "notes.md"
    p.write_text("## Only a subsection\n\nBody.\n")
    assert load_document(p, MB).title == "notes"


def test_text_paragraphs_crlf_and_bom(tmp_path):
    p = tmp_path / "glossary.txt"
    p.write_bytes(b"\xef\xbb\xbfBM25: a ranking function.\r\n\r\n  RAG: retrieval augmented.\r\n")
    doc = load_document(p, MB)
    assert doc.title == "glossary"
    assert spans(doc) == [
        ("BM25: a ranking function.", None, None),
        ("RAG: retrieval augmented.", None, None),
    ]


def test_utf16_text_with_bom_is_accepted(tmp_path):
    p = tmp_path / "wide.txt"
    p.write_bytes("Überblick zur Richtlinie".encode("utf-16"))
    assert load_document(p, MB).text == "Überblick zur Richtlinie"


def test_html_headings_blocks_and_skipped_elements(tmp_path):
    p = tmp_path / "page.html"
    p.write_text(
        "<html><head><title>Small vs large</title><style>p{color:red}</style></head><body>"
        "<script>var x = 'secret';</script><h1>Models</h1><p>Small models are <b>fast</b>.</p>"
        "<h2>Costs</h2><ul><li>cheap &amp; quick</li><li>local</li></ul>"
        "<h2>Quality</h2><div>Large models reason better.</div></body></html>"
    )
    doc = load_document(p, MB)
    assert doc.title == "Small vs large"
    costs = f"Models{SECTION_SEP}Costs"
    assert spans(doc) == [
        ("Models", "Models", None),
        ("Small models are fast.", "Models", None),
        ("Costs", costs, None),
        ("cheap & quick", costs, None),
        ("local", costs, None),
        ("Quality", f"Models{SECTION_SEP}Quality", None),
        ("Large models reason better.", f"Models{SECTION_SEP}Quality", None),
    ]
    assert "secret" not in doc.text and "color" not in doc.text


def test_docx_heading_styles_tables_and_title(tmp_path):
    p = write_docx(
        tmp_path / "guide.docx",
        [
            ("Title", "Assistant guide"),
            ("Heading 1", "Uploads"),
            ("Normal", "Drop a file into the chat."),
            ("Heading 2", "Limits"),
            ("table", "Type|Max MB;PDF|20"),
            ("Heading 1", "Citations"),
            ("Normal", "Click a citation."),
        ],
    )
    doc = load_document(p, MB)
    assert doc.title == "Assistant guide"
    g = "Assistant guide"
    limits = f"{g}{SECTION_SEP}Uploads{SECTION_SEP}Limits"
    assert spans(doc) == [
        ("Assistant guide", g, None),
        ("Uploads", f"{g}{SECTION_SEP}Uploads", None),
        ("Drop a file into the chat.", f"{g}{SECTION_SEP}Uploads", None),
        ("Limits", limits, None),
        ("Type | Max MB", limits, None),
        ("PDF | 20", limits, None),
        ("Citations", f"{g}{SECTION_SEP}Citations", None),
        ("Click a citation.", f"{g}{SECTION_SEP}Citations", None),
    ]


def test_pdf_pages_and_metadata_title(tmp_path):
    p = write_pdf(
        tmp_path / "policy.pdf",
        ["Data policy\nNo customer data in prompts.", "", "Retention is 30 days."],
        title="Data handling policy",
    )
    doc = load_document(p, MB)
    assert doc.title == "Data handling policy"
    assert spans(doc) == [
        ("Data policy\nNo customer data in prompts.", None, 1),
        ("Retention is 30 days.", None, 3),
    ]


def test_pdf_without_title_uses_stem(tmp_path):
    p = write_pdf(tmp_path / "report.pdf", ["Some text."])
    assert load_document(p, MB).title == "report"


def test_blocks_are_exact_spans_of_the_text(tmp_path):
    p = tmp_path / "a.md"
    p.write_text("# A\n\npara one\n\n## B\n\npara   two\n")
    doc = load_document(p, MB)
    for b in doc.blocks:
        assert doc.text[b.start : b.end].strip() == doc.text[b.start : b.end]
        assert b.end > b.start


# --- bad input ----------------------------------------------------------------------------
def test_empty_file(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    assert "is empty" in rejected(p)
    p2 = tmp_path / "blank.md"
    p2.write_text("   \n\n\t\n")
    assert "is empty" in rejected(p2)


def test_binary_bytes_in_txt(tmp_path):
    p = tmp_path / "blob.txt"
    p.write_bytes(b"header\x00\x01\x02\x03" + bytes(range(256)) * 4)
    assert "binary" in rejected(p)


def test_control_characters_without_nul_count_as_binary(tmp_path):
    p = tmp_path / "ctl.txt"
    p.write_bytes(b"ok " + b"\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f" * 20)
    assert "binary" in rejected(p)


def test_non_utf8_text(tmp_path):
    p = tmp_path / "latin1.txt"
    p.write_bytes("Café crème à la française".encode("latin-1"))
    reason = rejected(p)
    assert "not UTF-8" in reason and "0xe9" in reason


def test_over_size_limit_is_refused_before_reading(tmp_path):
    p = tmp_path / "big.txt"
    p.write_bytes(b"word " * (MB // 4))
    reason = rejected(p, max_bytes=MB)
    assert "1.2 MB" in reason and "over the 1 MB limit" in reason


def test_corrupt_pdf(tmp_path):
    p = tmp_path / "broken.pdf"
    p.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\ngarbage garbage\n")
    assert "not a readable PDF" in rejected(p)
    p2 = tmp_path / "notpdf.pdf"
    p2.write_bytes(b"this is plain text pretending to be a pdf")
    assert "not a readable PDF" in rejected(p2)


def test_truncated_pdf(tmp_path):
    whole = write_pdf(tmp_path / "whole.pdf", ["Page one text."] * 3).read_bytes()
    p = tmp_path / "truncated.pdf"
    p.write_bytes(whole[: len(whole) // 2])
    # pypdf can sometimes recover a truncated file; either way it must not raise anything else.
    try:
        doc = load_document(p, MB)
    except DocumentRejected as e:
        assert "truncated.pdf" in str(e)
    else:
        assert "Page one text." in doc.text


def test_encrypted_pdf(tmp_path):
    src = write_pdf(tmp_path / "plain.pdf", ["Secret salaries."])
    p = encrypt_pdf(src, tmp_path / "locked.pdf")
    assert rejected(p) == "locked.pdf is encrypted; remove the password and upload it again"


def test_pdf_with_only_blank_pages(tmp_path):
    p = write_pdf(tmp_path / "scan.pdf", ["", ""])
    assert "no extractable text" in rejected(p)


def test_zip_bomb_docx(tmp_path):
    good = write_docx(tmp_path / "good.docx", [("Normal", "hello")]).read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(buf, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename), compress_type=zipfile.ZIP_DEFLATED)
        dst.writestr("word/media/bomb.bin", b"\0" * (64 * MB), compress_type=zipfile.ZIP_DEFLATED)
    p = tmp_path / "bomb.docx"
    p.write_bytes(buf.getvalue())
    assert p.stat().st_size < MB
    assert "zip bomb" in rejected(p)


def test_docx_that_is_not_a_zip(tmp_path):
    p = tmp_path / "fake.docx"
    p.write_bytes(b"not a zip at all")
    assert "not a valid .docx" in rejected(p)


def test_zip_without_document_xml(tmp_path):
    p = tmp_path / "other.docx"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("hello.txt", "hi")
    assert "not a valid .docx" in rejected(p)


def test_unsupported_extension(tmp_path):
    p = tmp_path / "sheet.xlsx"
    p.write_bytes(b"PK whatever")
    assert "not supported" in rejected(p)


@pytest.mark.parametrize("ext", sorted(FILE_TYPES))
def test_every_known_file_type_reaches_a_parser(tmp_path, ext):
    # FILE_TYPES is the one list of extensions; each one's MIME type must have a loader.
    p = tmp_path / f"x{ext}"
    p.write_bytes(b"plain words")
    try:
        load_document(p, MB)
    except DocumentRejected as e:
        assert "not supported" not in e.reason and "could not be parsed" not in e.reason


def test_missing_file(tmp_path):
    assert "could not be read" in rejected(tmp_path / "gone.md")


def test_html_with_only_scripts_has_no_text(tmp_path):
    p = tmp_path / "app.html"
    p.write_text("<html><head><script>alert(1)</script></head><body></body></html>")
    assert "no text" in rejected(p)


# --- text that is not UTF-8 -----------------------------------------------------------------
@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_text_without_bom_is_decoded(tmp_path, codec):
    p = tmp_path / "wide.txt"
    p.write_bytes("Überblick zur Richtlinie.\r\n\r\nZweiter Absatz.".encode(codec))
    doc = load_document(p, MB)
    assert [t for t, _, _ in spans(doc)] == ["Überblick zur Richtlinie.", "Zweiter Absatz."]


def test_nul_bytes_at_both_parities_are_still_binary(tmp_path):
    p = tmp_path / "blob.txt"
    p.write_bytes(bytes(range(256)) * 64)
    assert "binary data" in rejected(p)


# --- the extracted-text cap (MAX_EXTRACTED_CHARS) ---------------------------------------------
def _long_files(tmp_path: Path) -> list[Path]:
    para = "Lorem ipsum dolor sit amet, consectetur adipiscing elit sed do eiusmod."
    paras = [f"{i} {para}" for i in range(200)]  # ~15,000 characters
    (tmp_path / "long.txt").write_text("\n\n".join(paras))
    (tmp_path / "long.md").write_text("# Long\n\n" + "\n\n".join(paras))
    (tmp_path / "long.html").write_text("<h1>Long</h1>" + "".join(f"<p>{x}</p>" for x in paras))
    write_docx(tmp_path / "long.docx", [("Normal", x) for x in paras])
    write_pdf(tmp_path / "long.pdf", ["\n\n".join(paras[i : i + 20]) for i in range(0, 200, 20)])
    return sorted(tmp_path.glob("long.*"))


def test_extracted_text_is_capped_and_marked_truncated(tmp_path):
    for path in _long_files(tmp_path):
        full = load_document(path, MB)
        assert not full.truncated and len(full.text) > 10_000, path.name
        cut = load_document(path, MB, max_chars=3000)
        assert cut.truncated, path.name
        assert 2000 < len(cut.text) <= 3000, (path.name, len(cut.text))
        assert full.text.startswith(cut.text), path.name  # the start is kept as it was
        assert all(b.end <= len(cut.text) for b in cut.blocks), path.name
