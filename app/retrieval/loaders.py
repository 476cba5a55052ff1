"""File -> `Document`: the extracted text plus blocks that keep what citations need.

Each block is a span of `Document.text` with its heading path (Markdown, DOCX, HTML) or
1-based page (PDF). Anything that cannot be indexed raises `DocumentRejected` with a
short reason naming the file; nothing else escapes `load_document`.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from app.retrieval.types import DocumentRejected

log = logging.getLogger(__name__)

SECTION_SEP = " › "
SUPPORTED = frozenset({".md", ".markdown", ".txt", ".pdf", ".docx", ".html", ".htm"})

# A .docx is a zip; refuse archives that would inflate past these limits.
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024
MAX_MEMBER_RATIO = 100  # for members over 1 MiB; real DOCX XML compresses ~10-20x
MAX_PDF_PAGES = 5000


@dataclass(frozen=True, slots=True)
class Block:
    start: int
    end: int
    section: str | None = None
    page: int | None = None
    heading: bool = False  # the block is a heading line, not body text


@dataclass(frozen=True, slots=True)
class Document:
    title: str
    text: str
    blocks: tuple[Block, ...]


class _Builder:
    """Accumulates blocks into one text, separated by blank lines."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.blocks: list[Block] = []
        self.pos = 0

    def add(
        self,
        text: str,
        section: str | None = None,
        page: int | None = None,
        *,
        heading: bool = False,
    ) -> None:
        text = text.strip()
        if not text:
            return
        if self.parts:
            self.parts.append("\n\n")
            self.pos += 2
        self.parts.append(text)
        self.blocks.append(Block(self.pos, self.pos + len(text), section, page, heading))
        self.pos += len(text)

    def build(self, title: str) -> Document:
        return Document(title, "".join(self.parts), tuple(self.blocks))


class _Headings:
    """The current heading path, given headings of nesting `level`."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, str]] = []

    def push(self, level: int, text: str) -> None:
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, text))

    @property
    def path(self) -> str | None:
        return SECTION_SEP.join(t for _, t in self.stack) or None


def _collapse(text: str) -> str:
    return " ".join(text.split())


# --- plain text ---------------------------------------------------------------------------
def decode_text(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise DocumentRejected(f"{name} is not valid UTF-16 text") from e
    if b"\x00" in data:
        raise DocumentRejected(f"{name} contains binary data, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DocumentRejected(
            f"{name} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "save it as UTF-8 and upload it again"
        ) from e
    controls = sum(
        1 for ch in text[:65536] if ch not in "\t\n\r\f" and unicodedata.category(ch) == "Cc"
    )
    if controls > max(8, len(text[:65536]) // 100):
        raise DocumentRejected(f"{name} contains binary data, not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


_BLANK_LINES = re.compile(r"\n[ \t]*\n")


def _paragraph_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Spans of blank-line separated paragraphs, trimmed of surrounding whitespace."""
    spans = []
    start = 0
    for m in [*_BLANK_LINES.finditer(text), None]:
        end = m.start() if m else len(text)
        seg = text[start:end]
        stripped = seg.strip()
        if stripped:
            lead = len(seg) - len(seg.lstrip())
            spans.append((offset + start + lead, offset + start + lead + len(stripped)))
        if m:
            start = m.end()
    return spans


def load_text(data: bytes, name: str) -> Document:
    text = decode_text(data, name)
    blocks = tuple(Block(s, e) for s, e in _paragraph_spans(text))
    return Document(Path(name).stem, text, blocks)


# --- Markdown -----------------------------------------------------------------------------
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*(?:#+[ \t]*)?$|^ {0,3}(#{1,6})[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def load_markdown(data: bytes, name: str) -> Document:
    text = decode_text(data, name)
    headings = _Headings()
    blocks: list[Block] = []
    title: str | None = None
    para: list[tuple[int, int]] = []  # (start, end) of the lines in the open paragraph
    fence: str | None = None

    def flush() -> None:
        if para:
            blocks.append(Block(para[0][0], para[-1][1], headings.path))
            para.clear()

    pos = 0
    lines = text.split("\n")
    # YAML front matter is metadata, not prose.
    if lines and lines[0].strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].strip() in ("---", "..."):
                pos = sum(len(x) + 1 for x in lines[: i + 1])
                lines = lines[i + 1 :]
                break
    for line in lines:
        start, end = pos, pos + len(line)
        pos = end + 1
        if fence is not None:
            para.append((start, end))
            if line.strip().startswith(fence):
                fence = None
                flush()  # a code block is a paragraph of its own
            continue
        m = _FENCE.match(line)
        if m:
            flush()
            fence = m.group(1)
            para.append((start, end))
            continue
        if not line.strip():
            flush()
            continue
        atx = _ATX.match(line)
        setext = _SETEXT.match(line)
        if atx:
            flush()
            level = len(atx.group(1) or atx.group(3))
            heading = _collapse(atx.group(2) or "")
        elif setext and len(para) == 1:
            level = 1 if setext.group(1)[0] == "=" else 2
            hstart, hend = para.pop()
            heading = _collapse(text[hstart:hend])
            start = hstart
        else:
            para.append((start, end))
            continue
        if heading:
            headings.push(level, heading)
            if level == 1 and title is None:
                title = heading
            blocks.append(Block(start, end, headings.path, heading=True))
    flush()
    return Document(title or Path(name).stem, text, tuple(blocks))


# --- HTML ---------------------------------------------------------------------------------
_HTML_BLOCK_TAGS = (
    "address article aside blockquote body br caption dd details div dl dt fieldset "
    "figcaption figure footer form header hr li main nav ol p pre section summary table "
    "tbody td tfoot th thead tr ul"
)
_HTML_BLOCK = frozenset(_HTML_BLOCK_TAGS.split())
_HTML_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
_HTML_HEADING = {f"h{i}": i for i in range(1, 7)}


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = _Builder()
        self.headings = _Headings()
        self.buf: list[str] = []
        self.skip_depth = 0
        self.in_title = False
        self.title = ""
        self.first_h1: str | None = None

    def _flush(self) -> None:
        self.out.add(_collapse("".join(self.buf)), self.headings.path)
        self.buf.clear()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        if tag in _HTML_SKIP:
            self.skip_depth += 1
        elif tag in _HTML_BLOCK or tag in _HTML_HEADING:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in _HTML_SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _HTML_HEADING:
            heading = _collapse("".join(self.buf))
            self.buf.clear()
            if heading:
                self.headings.push(_HTML_HEADING[tag], heading)
                if tag == "h1" and self.first_h1 is None:
                    self.first_h1 = heading
                self.out.add(heading, self.headings.path, heading=True)
        elif tag in _HTML_BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
        elif not self.skip_depth:
            self.buf.append(data)


def load_html(data: bytes, name: str) -> Document:
    text = decode_text(data, name)
    parser = _HTMLText()
    try:
        parser.feed(text)
        parser.close()
    except Exception as e:  # html.parser is lenient; this is belt and braces
        raise DocumentRejected(f"{name} could not be parsed as HTML ({e})") from e
    parser._flush()
    title = _collapse(parser.title) or parser.first_h1 or Path(name).stem
    return parser.out.build(title)


# --- DOCX ---------------------------------------------------------------------------------
def _check_zip(data: bytes, name: str) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise DocumentRejected(f"{name} is not a valid .docx file (not a zip archive)") from e
    with zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        ratio_bomb = any(
            i.file_size > 1024 * 1024 and i.file_size > MAX_MEMBER_RATIO * max(i.compress_size, 1)
            for i in infos
        )
        if total > MAX_UNZIPPED_BYTES or ratio_bomb:
            raise DocumentRejected(
                f"{name} would expand to {total / 1e6:.0f} MB when unzipped; "
                "refusing it as a possible zip bomb"
            )
        if "word/document.xml" not in zf.namelist():
            raise DocumentRejected(f"{name} is not a valid .docx file (no word/document.xml)")


_DOCX_HEADING = re.compile(r"^Heading (\d)$")


def load_docx(data: bytes, name: str) -> Document:
    _check_zip(data, name)
    import docx  # python-docx; imported here because it is slow to import
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        d = docx.Document(io.BytesIO(data))
    except Exception as e:
        raise DocumentRejected(f"{name} is not a valid .docx file ({type(e).__name__})") from e
    out = _Builder()
    headings = _Headings()
    title = (d.core_properties.title or "").strip()
    for el in d.element.body.iterchildren():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "p":
            p = Paragraph(el, d)
            text = _collapse(p.text)
            if not text:
                continue
            style = p.style.name if p.style is not None else ""
            m = _DOCX_HEADING.match(style or "")
            if style == "Title":
                title = title or text
                headings.push(0, text)
            elif m:
                headings.push(int(m.group(1)), text)
            out.add(text, headings.path, heading=style == "Title" or bool(m))
        elif tag == "tbl":
            for row in Table(el, d).rows:
                cells = [_collapse(c.text) for c in row.cells]
                # Merged cells repeat; keep each distinct cell once, in order.
                line = " | ".join(dict.fromkeys(c for c in cells if c))
                out.add(line, headings.path)
    return out.build(title or Path(name).stem)


# --- PDF ----------------------------------------------------------------------------------
def load_pdf(data: bytes, name: str) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as e:
        raise DocumentRejected(f"{name} is not a readable PDF ({_short(e)})") from e
    if encrypted:
        # Owner-password-only PDFs open with an empty user password; those are fine.
        try:
            ok = reader.decrypt("")
        except (DependencyError, Exception):
            ok = 0
        if not ok:
            raise DocumentRejected(f"{name} is encrypted; remove the password and upload it again")
    out = _Builder()
    try:
        pages = reader.pages
        if len(pages) > MAX_PDF_PAGES:
            raise DocumentRejected(f"{name} has {len(pages)} pages, over {MAX_PDF_PAGES}")
        for number, page in enumerate(pages, start=1):
            try:
                page_text = page.extract_text() or ""
            except Exception as e:
                log.warning("%s: page %d unreadable (%s)", name, number, _short(e))
                continue
            page_text = page_text.replace("\r\n", "\n").replace("\r", "\n")
            for s, e in _paragraph_spans(page_text):
                out.add(page_text[s:e], page=number)
        meta = reader.metadata
        meta_title = str(meta.title).strip() if meta is not None and meta.title else ""
    except DocumentRejected:
        raise
    except Exception as e:
        raise DocumentRejected(f"{name} is not a readable PDF ({_short(e)})") from e
    if not out.blocks:
        raise DocumentRejected(
            f"{name} has no extractable text (it may be a scanned image without OCR)"
        )
    return out.build(meta_title or Path(name).stem)


def _short(e: Exception) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg[:80]}" if msg else type(e).__name__


# --- entry point --------------------------------------------------------------------------
_LOADERS: dict[str, Callable[[bytes, str], Document]] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".docx": load_docx,
    ".pdf": load_pdf,
}


def _too_big(name: str, size: int, max_bytes: int) -> DocumentRejected:
    mb = 1024 * 1024
    return DocumentRejected(f"{name} is {size / mb:.1f} MB, over the {max_bytes / mb:g} MB limit")


def load_bytes(data: bytes, name: str, max_bytes: int) -> Document:
    """Parse `data` as the file `name` (its extension picks the loader)."""
    ext = Path(name).suffix.lower()
    loader = _LOADERS.get(ext)
    if loader is None:
        raise DocumentRejected(f"{name}: {ext or 'extension-less'} files are not supported")
    if len(data) > max_bytes:
        raise _too_big(name, len(data), max_bytes)
    if not data.strip():
        raise DocumentRejected(f"{name} is empty")
    doc = loader(data, name)
    if not doc.blocks:
        raise DocumentRejected(f"{name} has no text to index")
    return doc


def read_file(path: Path, max_bytes: int, name: str | None = None) -> bytes:
    """The file's bytes, refusing oversized or unreadable files before reading them."""
    name = name or path.name
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_big(name, size, max_bytes)
        return path.read_bytes()
    except OSError as e:
        raise DocumentRejected(f"{name} could not be read ({e.strerror or e})") from e


def parse_document(data: bytes, name: str, max_bytes: int) -> Document:
    """`load_bytes`, with any unexpected parser failure turned into DocumentRejected."""
    try:
        return load_bytes(data, name, max_bytes)
    except DocumentRejected:
        raise
    except RecursionError as e:
        raise DocumentRejected(f"{name} is too deeply nested to parse") from e
    except Exception as e:  # a parser bug must not take the app down
        log.exception("unexpected error parsing %s", name)
        raise DocumentRejected(f"{name} could not be parsed ({_short(e)})") from e


def load_document(path: Path, max_bytes: int, name: str | None = None) -> Document:
    """Read and parse one file. Raises DocumentRejected; never anything else."""
    name = name or path.name
    return parse_document(read_file(path, max_bytes, name), name, max_bytes)
