"""Crafted files that once cost the server minutes of CPU or gigabytes of memory.

Shared by the tests (which check they are now cheap or refused) and the ingestion
benchmark (which checks chats keep streaming while they are read).
"""

from __future__ import annotations

import io
import random
import zipfile

_W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def quadratic_html(kind: str = "comments", size: int = 400_000) -> bytes:
    """HTML that the stdlib `html.parser` takes quadratic time on: text, then a blob of
    unterminated markup to the end of the file (which browsers and lxml drop).

    comments: thousands of unterminated `<!--` (over a minute of CPU at 400 KB);
    tags: thousands of unclosed `<a ` start tags (~48 s at 60 KB).
    """
    unit = {"comments": "<!--", "tags": "<a "}[kind]
    return (
        "<html><body><h1>Before</h1><p>Text before the blob.</p>" + unit * (size // len(unit))
    ).encode()


def attribute_bomb_html(attributes: int = 200_000) -> bytes:
    """One tag with a huge number of distinct attributes: a libxml2 that checks them for
    duplicates pairwise takes quadratic time even in lxml (~15 s at 100k attributes).
    The libxml2 2.14 bundled with lxml 6 hashes them: 0.1 s at 200k."""
    attrs = " ".join(f"a{i}=x" for i in range(attributes))
    return f"<html><body><p {attrs}>text</p></body></html>".encode()


def _skeleton_docx() -> dict[str, bytes]:
    import docx  # python-docx, only to write a valid package around our document.xml

    buf = io.BytesIO()
    d = docx.Document()
    d.add_paragraph("placeholder")
    d.save(buf)
    with zipfile.ZipFile(buf) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def docx_bomb(xml_bytes: int = 240_000_000, *, empty_runs: bool = False) -> bytes:
    """A .docx whose word/document.xml inflates to about `xml_bytes` of XML.

    By default the XML is paragraphs of random words from a tiny vocabulary: it compresses
    ~12x (240 MB of XML in a 19 MB file, under MAX_UPLOAD_MB), well within the zip-bomb
    ratio check, like a long real document. `empty_runs` makes it one paragraph of
    millions of empty runs instead, which holds no text at all.
    """
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["".join(rng.choices(letters, k=rng.randint(8, 14))) for _ in range(16)]
    if empty_runs:
        # Random revision ids keep it from compressing like a bomb (~4x, not ~1000x).
        runs = (f'<w:r w:rsidR="{rng.getrandbits(32):08X}"/>' for _ in range(100_000))
        head, tail, block = "<w:p>", "</w:p>", "".join(runs)
    else:
        head, tail = "", ""
        block = "".join(
            "<w:p><w:r><w:t>" + " ".join(rng.choices(vocab, k=80)) + "</w:t></w:r></w:p>"
            for _ in range(4000)
        )  # ~4 MB: longer than deflate's 32 KB window, so repeating it gains nothing
    raw = block.encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name, data in _skeleton_docx().items():
            if name != "word/document.xml":
                zf.writestr(name, data)
        with zf.open("word/document.xml", "w", force_zip64=True) as f:
            f.write(f'<w:document xmlns:w="{_W_NS}"><w:body>{head}'.encode())
            for _ in range(max(1, xml_bytes // len(raw))):
                f.write(raw)
            f.write(f"{tail}</w:body></w:document>".encode())
    return out.getvalue()
