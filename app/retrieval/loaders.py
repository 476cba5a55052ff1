"""File -> `Document`: the extracted text plus blocks that keep what citations need.

Each block is a span of `Document.text` with its heading path (Markdown, DOCX, HTML) or
1-based page (PDF). Anything that cannot be indexed raises `DocumentRejected` with a
short reason naming the file; nothing else escapes `load_document`.

Every loader here is linear in its input (the HTML and DOCX XML go through lxml's
streaming interfaces, never a whole-file tree or the quadratic stdlib `html.parser`) and
stops once `max_chars` of text are extracted, marking the document `truncated`. Files
from users are still parsed in a child process with CPU and memory limits
(`app.retrieval.isolation`), because no parser is trusted to be bug-free.
"""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from app.retrieval.file_rules import FILE_TYPES, size_problem, type_problem
from app.retrieval.types import DocumentRejected

log = logging.getLogger(__name__)

SECTION_SEP = " › "

# A .docx is a zip; refuse archives that would inflate past these limits.
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024
MAX_MEMBER_RATIO = 100  # for members over 1 MiB; real DOCX XML compresses ~10-20x
MAX_PDF_PAGES = 5000
NEEDS_TOO_MUCH_MEMORY = "needs too much memory to read"
# Extracted text kept per file (MAX_EXTRACTED_CHARS); the rest is dropped and flagged.
DEFAULT_MAX_CHARS = 2_000_000


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
    truncated: bool = False  # text beyond max_chars was dropped


class _Builder:
    """Accumulates blocks into one text, separated by blank lines, up to `max_chars`."""

    def __init__(self, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.parts: list[str] = []
        self.blocks: list[Block] = []
        self.pos = 0
        self.max_chars = max_chars
        self.full = False  # loaders stop reading once this is set

    def add(
        self,
        text: str,
        section: str | None = None,
        page: int | None = None,
        *,
        heading: bool = False,
    ) -> None:
        text = text.strip()
        if not text or self.full:
            return
        room = self.max_chars - self.pos - (2 if self.parts else 0)
        if len(text) > room:
            self.full = True
            text, _ = cap_text(text, max(room, 0))
            if not text:
                return
        if self.parts:
            self.parts.append("\n\n")
            self.pos += 2
        self.parts.append(text)
        self.blocks.append(Block(self.pos, self.pos + len(text), section, page, heading))
        self.pos += len(text)

    def build(self, title: str) -> Document:
        return Document(title, "".join(self.parts), tuple(self.blocks), self.full)


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


def cap_text(text: str, max_chars: int) -> tuple[str, bool]:
    """At most `max_chars` of `text`, cut at a whitespace when one is near; (text, cut?)."""
    if len(text) <= max_chars:
        return text, False
    head = text[:max_chars]
    space = max(head.rfind(" "), head.rfind("\n"))
    # Don't split a word in two, unless that would throw away much of the allowance.
    return (head[:space] if space > max_chars * 0.9 else head).rstrip(), True


# --- plain text ---------------------------------------------------------------------------
# Unicode category Cc (C0 and C1 controls) minus the whitespace ones text files use; a
# regex counts them in C, where a per-character category() call cost 13% of a cold start.
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when `data` looks like BOM-less UTF-16, else None.

    Text in Latin, Greek or Cyrillic script saved as UTF-16 has a NUL as the high byte of
    nearly every character: NULs at odd offsets (little-endian) or even ones (big-endian).
    Binary files have NULs too, but not confined to one parity. (CJK text in BOM-less
    UTF-16 has few NULs and stays undetected; it is refused as binary or not-UTF-8.)
    """
    sample = data[:65536]
    if len(sample) < 4 or len(sample) % 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    pairs = len(sample) // 2
    if odd > pairs * 0.3 and even <= pairs * 0.02:
        return "utf-16-le"
    if even > pairs * 0.3 and odd <= pairs * 0.02:
        return "utf-16-be"
    return None


def _decode_utf16(data: bytes, codec: str, name: str) -> str:
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as e:
        raise DocumentRejected(f"{name} is not valid UTF-16 text") from e
    return _reject_controls(text.removeprefix("\ufeff"), name)


def _reject_controls(text: str, name: str) -> str:
    sample = text[:65536]
    if len(_CONTROL.findall(sample)) > max(8, len(sample) // 100):
        raise DocumentRejected(f"{name} contains binary data, not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_text(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode_utf16(data, "utf-16", name)
    if b"\x00" in data:
        codec = utf16_without_bom(data)
        if codec is None:
            raise DocumentRejected(f"{name} contains binary data, not text")
        return _decode_utf16(data, codec, name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DocumentRejected(
            f"{name} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "save it as UTF-8 and upload it again"
        ) from e
    return _reject_controls(text, name)


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


def load_text(data: bytes, name: str, max_chars: int = DEFAULT_MAX_CHARS) -> Document:
    text, truncated = cap_text(decode_text(data, name), max_chars)
    blocks = tuple(Block(s, e) for s, e in _paragraph_spans(text))
    return Document(Path(name).stem, text, blocks, truncated)


# --- Markdown -----------------------------------------------------------------------------
# Only the opening of an ATX heading is matched by a regex; the closing `#`s are trimmed
# by `_atx_text`. (One regex for the whole line backtracked quadratically: 10 s of CPU
# for a single 20 KB line of spaces.)
_ATX_OPEN = re.compile(r" {0,3}(#{1,6})(?:[ \t]|$)")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def _atx_text(rest: str) -> str:
    """A heading's text without its optional closing `#`s (`## Title ##`)."""
    return rest.strip(" \t").rstrip("#").rstrip(" \t")


def _after_front_matter(lines: list[str]) -> tuple[int, list[str]]:
    """The offset and the lines after YAML front matter (metadata, not prose), if any."""
    if lines and lines[0].strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].strip() in ("---", "..."):
                return sum(len(x) + 1 for x in lines[: i + 1]), lines[i + 1 :]
    return 0, lines


class _MarkdownBlocks:
    """Paragraphs, code blocks and headings of Markdown text, as blocks."""

    __slots__ = ("blocks", "headings", "para", "text", "title")

    def __init__(self, text: str) -> None:
        self.text = text
        self.headings = _Headings()
        self.blocks: list[Block] = []
        self.title: str | None = None
        self.para: list[tuple[int, int]] = []  # (start, end) of the open paragraph's lines

    def flush(self) -> None:
        if self.para:
            self.blocks.append(Block(self.para[0][0], self.para[-1][1], self.headings.path))
            self.para.clear()

    def feed(self, lines: list[str], pos: int) -> None:
        """Read `lines`, the first of which starts at offset `pos` of the text."""
        para, fence = self.para, None
        for line in lines:
            start, end = pos, pos + len(line)
            pos = end + 1
            if fence is not None:
                para.append((start, end))
                if line.strip().startswith(fence):
                    fence = None
                    self.flush()  # a code block is a paragraph of its own
                continue
            m = _FENCE.match(line)
            if m:
                self.flush()
                fence = m.group(1)
                para.append((start, end))
            elif not line.strip():
                if para:
                    self.flush()
            elif (atx := _ATX_OPEN.match(line)) or (len(para) == 1 and _SETEXT.match(line)):
                self._heading(line, start, end, atx)
            else:
                para.append((start, end))
        self.flush()

    def _heading(self, line: str, start: int, end: int, atx: re.Match[str] | None) -> None:
        """An ATX heading line, or the underline of a one-line setext heading."""
        if atx:
            self.flush()
            level = len(atx.group(1))
            heading = _collapse(_atx_text(line[atx.end() :]))
        else:
            level = 1 if line.lstrip()[0] == "=" else 2
            start, text_end = self.para.pop()  # the heading spans its text and underline
            heading = _collapse(self.text[start:text_end])
        if heading:
            self.headings.push(level, heading)
            if level == 1 and self.title is None:
                self.title = heading
            self.blocks.append(Block(start, end, self.headings.path, heading=True))


def load_markdown(data: bytes, name: str, max_chars: int = DEFAULT_MAX_CHARS) -> Document:
    text, truncated = cap_text(decode_text(data, name), max_chars)
    pos, lines = _after_front_matter(text.split("\n"))
    md = _MarkdownBlocks(text)
    md.feed(lines, pos)
    return Document(md.title or Path(name).stem, text, tuple(md.blocks), truncated)


# --- HTML ---------------------------------------------------------------------------------
_HTML_BLOCK_TAGS = (
    "address article aside blockquote body br caption dd details div dl dt fieldset "
    "figcaption figure footer form header hr li main nav ol p pre section summary table "
    "tbody td tfoot th thead tr ul"
)
_HTML_BLOCK = frozenset(_HTML_BLOCK_TAGS.split())
_HTML_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
_HTML_HEADING = {f"h{i}": i for i in range(1, 7)}


class _HTMLText:
    """lxml parser target: turns start/end/data events into blocks under heading paths.

    libxml2's HTML parser is linear on the malformed markup that makes the stdlib
    `html.parser` quadratic (thousands of unclosed tags or comments)."""

    def __init__(self, max_chars: int) -> None:
        self.out = _Builder(max_chars)
        self.headings = _Headings()
        self.buf: list[str] = []
        self.buffered = 0
        self.skip_depth = 0
        self.in_title = False
        self.title = ""
        self.first_h1: str | None = None

    def _flush(self) -> None:
        self.out.add(_collapse("".join(self.buf)), self.headings.path)
        self.buf.clear()
        self.buffered = 0

    def start(self, tag: str, attrib: object) -> None:
        if not isinstance(tag, str):  # comments and processing instructions
            return
        if tag == "title":
            self.in_title = True
        if tag in _HTML_SKIP:
            self.skip_depth += 1
        elif tag in _HTML_BLOCK or tag in _HTML_HEADING:
            self._flush()

    def end(self, tag: str) -> None:
        if not isinstance(tag, str):
            return
        if tag == "title":
            self.in_title = False
        if tag in _HTML_SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _HTML_HEADING:
            heading = _collapse("".join(self.buf))
            self.buf.clear()
            self.buffered = 0
            if heading:
                self.headings.push(_HTML_HEADING[tag], heading)
                if tag == "h1" and self.first_h1 is None:
                    self.first_h1 = heading
                self.out.add(heading, self.headings.path, heading=True)
        elif tag in _HTML_BLOCK:
            self._flush()

    def data(self, data: str) -> None:
        if self.in_title:
            if len(self.title) < 1000:
                self.title += data
        elif not self.skip_depth and self.buffered <= self.out.max_chars:
            # One huge block without tags: keep no more than could ever be indexed.
            self.buf.append(data)
            self.buffered += len(data)

    def close(self) -> None:
        self._flush()


_HTML_FEED = 64 * 1024


def _raise_if_out_of_memory(e: Exception) -> None:
    # libxml2 reports a failed allocation as a syntax error ("Memory allocation failed").
    if "memory" in str(e).lower():
        raise MemoryError(str(e)) from e


def load_html(data: bytes, name: str, max_chars: int = DEFAULT_MAX_CHARS) -> Document:
    text = decode_text(data, name)
    target = _HTMLText(max_chars)
    parser = etree.HTMLParser(
        target=target, recover=True, no_network=True, huge_tree=False, remove_comments=True
    )
    try:
        # Fed in pieces so that a document past max_chars stops being read.
        for i in range(0, len(text), _HTML_FEED):
            parser.feed(text[i : i + _HTML_FEED])
            if target.out.full:
                break
        parser.close()
    except etree.LxmlError as e:  # recover=True makes this rare
        _raise_if_out_of_memory(e)
        raise DocumentRejected(f"{name} could not be parsed as HTML ({_short(e)})") from e
    target.close()
    title = _collapse(target.title)[:300] or target.first_h1 or Path(name).stem
    return target.out.build(title)


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


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
_DOCX_HEADING = re.compile(r"^heading ?(\d)$")
# Streaming, never a whole tree: a 17 MB .docx can hold 240 MB of XML, which as a
# python-docx tree took 8 GB. No entities, no network, libxml2's default size limits.
_XML_OPTS = {"huge_tree": False, "resolve_entities": False, "no_network": True}


def _iter_xml(zf: zipfile.ZipFile, member: str, tags: tuple[str, ...], events=("end",)):
    """(event, element) for `tags` in one zip member, freeing elements once seen."""
    with zf.open(member) as f:
        for event, el in etree.iterparse(f, events=events, tag=tags, **_XML_OPTS):
            yield event, el
            if event == "end" and el.getparent() is not None and el.tag in _FREE_AFTER:
                # Drop what is done with: this element's content and earlier siblings.
                el.clear()
                parent = el.getparent()
                while el.getprevious() is not None:
                    del parent[0]


_FREE_AFTER = frozenset({f"{_W}p", f"{_W}tbl", f"{_W}style", f"{_W}t"})


def _docx_styles(zf: zipfile.ZipFile) -> dict[str, str]:
    """styleId -> lower-case style name ("heading 1", "title", …)."""
    if "word/styles.xml" not in zf.namelist():
        return {}
    styles: dict[str, Any] = {}
    for _, el in _iter_xml(zf, "word/styles.xml", (f"{_W}style",)):
        sid, name = el.get(f"{_W}styleId"), el.find(f"{_W}name")
        if sid and name is not None and len(styles) < 10_000:
            styles[sid] = (name.get(f"{_W}val") or "").strip().lower()
    return styles


def _docx_title(zf: zipfile.ZipFile) -> str:
    if "docProps/core.xml" not in zf.namelist():
        return ""
    for _, el in _iter_xml(zf, "docProps/core.xml", (_DC_TITLE,)):
        return _collapse(el.text or "")[:300]
    return ""


class _Para:
    """Text of one open paragraph, bounded so one giant paragraph can't hold gigabytes."""

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self.style = ""

    def append(self, text: str) -> None:
        if self.size <= self.limit:
            self.parts.append(text)
            self.size += len(text)

    @property
    def text(self) -> str:
        return _collapse("".join(self.parts))


_DOCX_TAGS = tuple(f"{_W}{t}" for t in ("p", "t", "tab", "br", "cr", "pStyle", "tbl", "tr", "tc"))


class _DocxBody:
    """word/document.xml's paragraphs and table rows into a _Builder, as they stream by."""

    def __init__(self, out: _Builder, styles: dict[str, str]) -> None:
        self.out, self.styles = out, styles
        self.headings = _Headings()
        self.title = ""  # the first paragraph styled Title
        self.paras: list[_Para] = []  # open paragraphs (text boxes nest them)
        self.tables: list[list[str]] = []  # per open table: cells of the open row
        self.cells: list[list[str]] = []  # per open cell: its paragraphs

    def start(self, tag: str) -> None:
        if tag == "p":
            self.paras.append(_Para(self.out.max_chars))
        elif tag == "tbl":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1] = []
        elif tag == "tc":
            self.cells.append([])

    def end(self, tag: str, el: Any) -> None:
        paras, tables, cells = self.paras, self.tables, self.cells
        if tag == "t" and paras:
            paras[-1].append(el.text or "")
        elif tag in ("tab", "br", "cr") and paras:
            paras[-1].append(" ")
        elif tag == "pStyle" and paras:
            sid = el.get(f"{_W}val") or ""
            paras[-1].style = self.styles.get(sid, sid.lower())
        elif tag == "p" and paras:
            self._paragraph(paras.pop())
        elif tag == "tc" and cells:
            cell = _collapse(" ".join(cells.pop()))
            if tables:
                tables[-1].append(cell)
        elif tag == "tr" and tables:
            # Merged cells repeat; keep each distinct cell once, in order.
            line = " | ".join(dict.fromkeys(c for c in tables[-1] if c))
            if len(tables) > 1 and cells:  # a table inside a cell: part of that cell
                cells[-1].append(line)
            else:
                self.out.add(line, self.headings.path)
        elif tag == "tbl" and tables:
            tables.pop()

    def _paragraph(self, para: _Para) -> None:
        text = para.text
        if not text:
            return
        if self.cells:  # inside a table cell: part of that cell's text
            self.cells[-1].append(text)
            return
        m = _DOCX_HEADING.match(para.style)
        if para.style == "title":
            self.title = self.title or text
            self.headings.push(0, text)
        elif m:
            self.headings.push(int(m.group(1)), text)
        self.out.add(text, self.headings.path, heading=para.style == "title" or bool(m))


def _docx_body(zf: zipfile.ZipFile, out: _Builder, styles: dict[str, str]) -> str:
    """Paragraphs and table rows of word/document.xml into `out`; returns a Title, if any."""
    body = _DocxBody(out, styles)
    for event, el in _iter_xml(zf, "word/document.xml", _DOCX_TAGS, ("start", "end")):
        tag = el.tag[len(_W) :]
        if event == "start":
            body.start(tag)
            continue
        body.end(tag, el)
        if out.full:
            break
    return body.title


def load_docx(data: bytes, name: str, max_chars: int = DEFAULT_MAX_CHARS) -> Document:
    _check_zip(data, name)
    out = _Builder(max_chars)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            styles = _docx_styles(zf)
            core_title = _docx_title(zf)
            body_title = _docx_body(zf, out, styles)
    except (etree.LxmlError, zipfile.BadZipFile, KeyError, EOFError, ValueError) as e:
        _raise_if_out_of_memory(e)
        raise DocumentRejected(f"{name} is not a valid .docx file ({type(e).__name__})") from e
    return out.build(core_title or body_title or Path(name).stem)


# --- PDF ----------------------------------------------------------------------------------
def load_pdf(data: bytes, name: str, max_chars: int = DEFAULT_MAX_CHARS) -> Document:
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
            ok = bool(reader.decrypt(""))
        except (DependencyError, Exception):
            ok = False
        if not ok:
            raise DocumentRejected(f"{name} is encrypted; remove the password and upload it again")
    out = _Builder(max_chars)
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
            for s, end in _paragraph_spans(page_text):
                out.add(page_text[s:end], page=number)
            if out.full:
                break
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
# By MIME type: the extensions that have each are listed once, in file_rules.FILE_TYPES.
_LOADERS: dict[str, Callable[[bytes, str, int], Document]] = {
    "text/markdown": load_markdown,
    "text/plain": load_text,
    "text/html": load_html,
    FILE_TYPES[".docx"]: load_docx,
    "application/pdf": load_pdf,
}
_KNOWN = frozenset(FILE_TYPES)


def _check_size(name: str, size: int, max_bytes: int) -> None:
    problem = size_problem(size, max_bytes)
    if problem:
        raise DocumentRejected(f"{name}: {problem}")


def load_bytes(
    data: bytes, name: str, max_bytes: int, max_chars: int = DEFAULT_MAX_CHARS
) -> Document:
    """Parse `data` as the file `name` (its extension picks the loader)."""
    problem = type_problem(name, _KNOWN)
    if problem:
        raise DocumentRejected(f"{name}: {problem}")
    _check_size(name, len(data), max_bytes)
    if not data.strip():
        raise DocumentRejected(f"{name} is empty")
    doc = _LOADERS[FILE_TYPES[Path(name).suffix.lower()]](data, name, max_chars)
    if not doc.blocks:
        raise DocumentRejected(f"{name} has no text to index")
    return doc


def read_file(path: str | Path, max_bytes: int, name: str | None = None) -> bytes:
    """The file's bytes, refusing oversized or unreadable files before reading them."""
    name = name or Path(path).name
    try:
        # Plain os calls on a string: a folder scan reads 20,000 files this way, and
        # pathlib's objects and wrappers cost as much as the reading.
        with open(path, "rb") as f:
            _check_size(name, os.fstat(f.fileno()).st_size, max_bytes)
            return f.read()
    except OSError as e:
        raise DocumentRejected(f"{name} could not be read ({e.strerror or e})") from e


def parse_document(
    data: bytes, name: str, max_bytes: int, max_chars: int = DEFAULT_MAX_CHARS
) -> Document:
    """`load_bytes`, with any unexpected parser failure turned into DocumentRejected."""
    try:
        return load_bytes(data, name, max_bytes, max_chars)
    except DocumentRejected:
        raise
    except RecursionError as e:
        raise DocumentRejected(f"{name} is too deeply nested to parse") from e
    except MemoryError as e:
        raise DocumentRejected(f"{name} {NEEDS_TOO_MUCH_MEMORY}") from e
    except Exception as e:  # a parser bug must not take the app down
        log.exception("unexpected error parsing %s", name)
        raise DocumentRejected(f"{name} could not be parsed ({_short(e)})") from e


def load_document(
    path: Path, max_bytes: int, name: str | None = None, max_chars: int = DEFAULT_MAX_CHARS
) -> Document:
    """Read and parse one file (in this process). Raises DocumentRejected; nothing else."""
    name = name or path.name
    return parse_document(read_file(path, max_bytes, name), name, max_bytes, max_chars)
