"""Documents to plain text, in parts that remember where they came from.

``convert(path)`` reads one PDF, Word (.docx), Markdown, text or HTML file and returns a
``Document``: its ``Section``s in reading order, each a run of plain text (paragraphs separated by
a blank line) with a ``locator`` saying where it is — ``"page 3"`` for a PDF, the heading path
(``"Install › From source"``) for Word, Markdown and HTML, ``""`` where there is none. A heading
starts a new section and is carried by the locator, not repeated in the text.

The parsing is the maintained libraries' — pypdf, python-docx, BeautifulSoup with the standard
library's ``html.parser`` — and this module only walks what they give back. Markdown is read line
by line for ATX headings alone (``#`` lines inside fenced code are code), and its text is kept
as written; text files are UTF-8 (with or without a BOM, or UTF-16 with one) or else cp1252.

Everything that can go wrong with the file is a ``BadInput`` whose message is one line that
starts with the quoted display name (never the path on the server), says what is wrong and,
where the person can do something, what: an unsupported type, a missing file or a folder, an
empty or oversized file, a file the library cannot read, a password-protected or scanned PDF, a
document with no text at all. Libraries that raise assorted exceptions on corrupt input are
caught broadly around their own calls only, and their reason is kept, shortened, in brackets.
"""

from __future__ import annotations

import logging

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import BackendUnavailable, BadInput

SUPPORTED = {".pdf": "PDF", ".docx": "Word document", ".md": "Markdown", ".markdown": "Markdown",
             ".txt": "text", ".html": "HTML", ".htm": "HTML"}
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
HEADING_SEPARATOR = " › "
REASON_CHARS = 100  # a library's reason, as quoted in a message

_DROPPED_HTML = ("script", "style", "noscript", "nav", "header", "footer", "template", "title")
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}
# Elements whose text is a paragraph of its own; any other element's text flows into its parent's.
_HTML_BLOCKS = set(_HTML_HEADINGS) | {
    "[document]", "html", "body", "main", "article", "section", "aside", "div", "p", "pre", "blockquote",
    "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption",
    "figure", "figcaption", "address", "details", "summary", "form", "fieldset", "legend", "hr", "br"}
_MD_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_MD_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+|$)(.*)$")
_MD_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_DOCX_HEADING = re.compile(r"^Heading\s*(\d*)")
_PATHLIKE = re.compile(r"(?:[A-Za-z]:)?[/\\][^\s'\"]*[/\\][^\s'\"]*")


@dataclass(frozen=True)
class Section:
    """Plain text of one part of a document (paragraphs separated by a blank line) and where it is."""

    text: str
    locator: str


@dataclass(frozen=True)
class Document:
    """A converted file: its display name, its kind ("PDF", "Word document", …), its sections in
    reading order, its page count (PDFs only) and its number of text characters."""

    name: str
    kind: str
    sections: list[Section]
    pages: int | None
    chars: int


def convert(path: Path, *, display_name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """``path`` read as the document the person calls ``display_name`` (default: the file's name)."""
    path = Path(path)
    name = display_name or path.name
    quoted = f"“{name}”"
    if not path.exists():
        raise BadInput(f"{quoted} was not found — add the file again")
    if path.is_dir():
        raise BadInput(f"{quoted} is a folder — add the documents in it one by one")
    suffix = Path(name).suffix.lower() if Path(name).suffix else path.suffix.lower()
    kind = SUPPORTED.get(suffix)
    if kind is None:
        what = f"{suffix} files are" if suffix else "files without an extension are"
        raise BadInput(f"{quoted}: {what} not supported — add PDF, Word (.docx), Markdown, text or HTML")
    size = path.stat().st_size
    if size == 0:
        raise BadInput(f"{quoted} is empty (0 bytes)")
    if size > max_bytes:
        shown, limit = _megabytes(size), _megabytes(max_bytes)
        if shown == limit or max_bytes < 1024 * 1024:  # rounding would make them look equal, or the limit 0 MB
            shown, limit = f"{size:,} bytes", f"{max_bytes:,} bytes"
        raise BadInput(f"{quoted} is {shown}; the limit is {limit}")
    try:
        if kind == "PDF":
            return _pdf(path, name)
        sections = {"Word document": _docx, "Markdown": _markdown, "text": _text, "HTML": _html}[kind](path, name)
    except OSError as error:
        raise BadInput(f"{quoted} could not be opened ({error.strerror or type(error).__name__})") from None
    return _document(name, kind, sections, pages=None)


def _document(name: str, kind: str, sections: list[Section], pages: int | None) -> Document:
    sections = [section for section in sections if section.text.strip()]
    if not sections:
        raise BadInput(f"“{name}” has no text to learn from")
    return Document(name, kind, sections, pages, sum(len(section.text) for section in sections))


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def _unreadable(name: str, kind: str, path: Path, error: BaseException) -> BadInput:
    """The one-line BadInput for a file a library could not read, with its reason shortened and
    stripped of server paths."""
    reason = (str(error).strip().splitlines() or [""])[0]
    for form in (str(path.resolve()), str(path), path.name):  # longest first: the whole path, then the name
        reason = reason.replace(form, name)
    reason = _PATHLIKE.sub("…", reason).strip(" :") or type(error).__name__
    if len(reason) > REASON_CHARS:
        reason = reason[:REASON_CHARS - 1].rstrip() + "…"
    article = "a " if kind in ("PDF", "Word document") else ""
    return BadInput(f"“{name}” could not be read as {article}{kind} ({reason})")


class _Outline:
    """Sections cut at headings: a heading closes the current section and sets the heading path
    (deeper levels below it are dropped), and later paragraphs go under the new path."""

    def __init__(self) -> None:
        self.path: list[tuple[int, str]] = []
        self.paragraphs: list[str] = []
        self.sections: list[Section] = []

    def heading(self, level: int, text: str) -> None:
        self.close()
        self.path = [(depth, title) for depth, title in self.path if depth < level]
        if text := " ".join(text.split()):
            self.path.append((level, text))

    def paragraph(self, text: str) -> None:
        if text := text.strip():
            self.paragraphs.append(text)

    def close(self) -> None:
        if self.paragraphs:
            locator = HEADING_SEPARATOR.join(title for _, title in self.path)
            self.sections.append(Section("\n\n".join(self.paragraphs), locator))
            self.paragraphs = []

    def finish(self) -> list[Section]:
        self.close()
        return self.sections


# -- PDF ------------------------------------------------------------------------------------------
def _pdf(path: Path, name: str) -> Document:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    # pypdf logs what it repairs in a damaged file ("EOF marker not found"); the one message a
    # refused file gets is ours, so its warnings stay out of the user's terminal.
    logging.getLogger("pypdf").setLevel(logging.ERROR)

    locked = BadInput(f"“{name}” is password-protected — remove the password and add it again")
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise locked
        pages = list(reader.pages)
    except (BadInput, OSError):
        raise
    except FileNotDecryptedError:
        raise locked from None
    except DependencyError as error:  # AES needs the cryptography package
        raise BackendUnavailable(f"“{name}” is encrypted and reading it needs the cryptography package "
                                 f"({error})") from None
    except Exception as error:  # pypdf raises many kinds of error on a damaged file
        raise _unreadable(name, "PDF", path, error) from None
    sections = []
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except FileNotDecryptedError:
            raise locked from None
        except Exception as error:
            raise _unreadable(name, "PDF", path, error) from None
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in text.splitlines())).strip()
        if text:
            sections.append(Section(text, f"page {number}"))
    if pages and not sections:
        raise BadInput(f"“{name}” has no text layer (a scanned document?) — run OCR on it first, "
                       "or add a text version")
    return _document(name, "PDF", sections, pages=len(pages))


# -- Word -----------------------------------------------------------------------------------------
def _docx(path: Path, name: str) -> list[Section]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    outline = _Outline()
    try:
        for block in docx.Document(str(path)).iter_inner_content():
            if isinstance(block, Table):
                for row in _table_rows(block):
                    outline.paragraph(row)
                continue
            style = (block.style.name if block.style is not None else "") or ""
            if style == "Title":
                outline.heading(0, block.text)
            elif heading := _DOCX_HEADING.match(style):
                outline.heading(int(heading.group(1) or 1), block.text)
            else:
                outline.paragraph(block.text)
    except PackageNotFoundError:  # python-docx's word for "not a zip file", whatever the file is
        raise BadInput(f"“{name}” could not be read as a Word document (it is not a .docx file; "
                       "save an old .doc as .docx first)") from None
    except Exception as error:  # missing parts, broken XML: python-docx's errors vary
        raise _unreadable(name, "Word document", path, error) from None
    return outline.finish()


def _table_rows(table) -> list[str]:
    """Each row's cell texts joined by " | "; a merged cell (the same cell in several grid
    positions) counted once."""
    rows = []
    for row in table.rows:
        seen, cells = set(), []
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            if text := " ".join(cell.text.split()):
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return rows


# -- Markdown and text ----------------------------------------------------------------------------
def _decoded(path: Path, name: str, kind: str) -> str:
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    elif b"\x00" in data:
        raise BadInput(f"“{name}” could not be read as {kind} (it holds binary data, not text)")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _text(path: Path, name: str) -> list[Section]:
    return [Section(_decoded(path, name, "text").strip(), "")]


def _markdown(path: Path, name: str) -> list[Section]:
    outline = _Outline()
    lines: list[str] = []
    fence = ""  # the open fence's marker, "" outside code
    for line in _decoded(path, name, "Markdown").split("\n"):
        if marker := _MD_FENCE.match(line):
            if not fence:
                fence = marker.group(1)
            elif marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence) \
                    and not line.strip().strip(fence[0]):
                fence = ""
        elif not fence and (heading := _MD_HEADING.match(line)):
            outline.paragraph("\n".join(lines))
            lines = []
            outline.heading(len(heading.group(1)), _MD_CLOSING_HASHES.sub("", heading.group(2)))
            continue
        lines.append(line)
    outline.paragraph("\n".join(lines))
    return outline.finish()


# -- HTML -----------------------------------------------------------------------------------------
def _html(path: Path, name: str) -> list[Section]:
    from bs4 import BeautifulSoup
    from bs4.element import NavigableString, PreformattedString

    data = path.read_bytes()
    try:
        soup = BeautifulSoup(data, "html.parser")
    except Exception as error:  # html.parser copes with almost anything; this is for the rest
        raise _unreadable(name, "HTML", path, error) from None
    for element in soup.find_all(_DROPPED_HTML):
        element.decompose()
    outline = _Outline()
    block, pieces = None, []

    def flush() -> None:
        text = " ".join("".join(pieces).split())
        if block is not None and block.name in _HTML_HEADINGS:
            outline.heading(_HTML_HEADINGS[block.name], text)
        else:
            outline.paragraph(text)
        pieces.clear()

    # Strings in document order; a change of the nearest block element ends a paragraph.
    for string in soup.descendants:
        if not isinstance(string, NavigableString) or isinstance(string, PreformattedString):
            continue
        owner = next(parent for parent in string.parents if parent.name in _HTML_BLOCKS)
        if owner is not block:
            flush()
            block = owner
        pieces.append(str(string))
    flush()
    return outline.finish()
