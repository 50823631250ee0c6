"""Documents to text and text to passages, on real files made here: PDFs from fpdf2 (and pypdf for
the encrypted ones), a Word file from python-docx, Markdown, HTML and text written byte for byte.

Errors are checked the way a person meets them: one line, starting with the name they know the
file by, saying what is wrong.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from documents import text_pdf
from pipeline.errors import BadInput
from pipeline.knowledge.chunk import Chunk, chunk_document
from pipeline.knowledge.convert import DEFAULT_MAX_BYTES, SUPPORTED, Document, Section, convert

PORTRAIT = Path(__file__).resolve().parent.parent / "assets" / "astronaut.png"
APPLES = "The orchard grows apples of many kinds. Apples ripen in late summer. "
PEARS = "Pears are picked while still firm. They soften in a cool room. "


def refused(path: Path, starts: str, **kwargs) -> str:
    """The BadInput message converting ``path`` gives: one line, starting with ``starts``."""
    with pytest.raises(BadInput) as caught:
        convert(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(starts), message
    assert str(path.parent) not in message
    return message


def encrypted_pdf(source: Path, path: Path, **passwords) -> Path:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(source))
    writer.encrypt(**passwords)
    with open(path, "wb") as handle:
        writer.write(handle)
    return path


@pytest.fixture
def two_pages(tmp_path) -> Path:
    return text_pdf(tmp_path / "orchard.pdf", [APPLES * 4, PEARS * 4])


# -- PDF ------------------------------------------------------------------------------------------
def test_pdf_gives_a_section_per_page(two_pages):
    document = convert(two_pages)
    assert (document.name, document.kind, document.pages) == ("orchard.pdf", "PDF", 2)
    assert [section.locator for section in document.sections] == ["page 1", "page 2"]
    assert "apples of many kinds" in document.sections[0].text and "Pears" not in document.sections[0].text
    assert "soften in a cool room" in document.sections[1].text
    assert document.chars == sum(len(section.text) for section in document.sections)


def test_pdf_skips_pages_without_text(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, APPLES)
    pdf.add_page()
    pdf.image(str(PORTRAIT), x=10, y=10, w=80)
    pdf.add_page()
    pdf.multi_cell(0, 8, PEARS)
    pdf.output(str(tmp_path / "mixed.pdf"))
    document = convert(tmp_path / "mixed.pdf")
    assert document.pages == 3
    assert [section.locator for section in document.sections] == ["page 1", "page 3"]


def test_password_protected_pdf_is_refused(two_pages, tmp_path):
    locked = encrypted_pdf(two_pages, tmp_path / "secret.pdf", user_password="pw", algorithm="AES-128")
    assert refused(locked, "“secret.pdf”") == \
        "“secret.pdf” is password-protected — remove the password and add it again"


def test_pdf_with_only_an_owner_password_is_read(two_pages, tmp_path):
    restricted = encrypted_pdf(two_pages, tmp_path / "restricted.pdf", user_password="", owner_password="owner",
                               algorithm="AES-128")
    document = convert(restricted)
    assert [section.locator for section in document.sections] == ["page 1", "page 2"]
    assert "apples of many kinds" in document.sections[0].text


def test_image_only_pdf_needs_ocr(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.image(str(PORTRAIT), x=10, y=10, w=120)
    pdf.output(str(tmp_path / "scan.pdf"))
    assert refused(tmp_path / "scan.pdf", "“scan.pdf”") == \
        "“scan.pdf” has no text layer (a scanned document?) — run OCR on it first, or add a text version"


@pytest.mark.parametrize("damage", ["truncated", "not a pdf"])
def test_corrupt_pdf_is_refused(two_pages, tmp_path, damage):
    broken = tmp_path / "broken.pdf"
    data = two_pages.read_bytes()
    broken.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"Just some words, no PDF.\n" * 20)
    message = refused(broken, "“broken.pdf” could not be read as a PDF (")
    assert message.endswith(")")


def test_display_name_is_used_and_server_path_is_not_shown(two_pages, tmp_path):
    upload = tmp_path / "tmp8f3k2" / "upload.pdf"
    upload.parent.mkdir()
    upload.write_bytes(two_pages.read_bytes()[:300])
    message = refused(upload, "“Quarterly report.pdf” could not be read", display_name="Quarterly report.pdf")
    assert "tmp8f3k2" not in message and "upload" not in message
    assert convert(two_pages, display_name="Orchard notes.pdf").name == "Orchard notes.pdf"


# -- Word -----------------------------------------------------------------------------------------
def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Field guide", level=0)
    document.add_paragraph("An introduction to the valley.")
    document.add_heading("Birds", level=1)
    document.add_paragraph("Herons wade in the shallows.")
    document.add_heading("Nesting", level=2)
    document.add_paragraph("Herons nest in colonies high in the trees.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Species", "Clutch size"
    table.cell(1, 0).text, table.cell(1, 1).text = "Grey heron", "four eggs"
    document.add_heading("Trees", level=1)
    document.add_paragraph("Alders line the river.")
    document.save(str(path))
    return path


def test_docx_sections_follow_the_heading_path(tmp_path):
    document = convert(make_docx(tmp_path / "guide.docx"))
    assert document.kind == "Word document" and document.pages is None
    located = {section.locator: section.text for section in document.sections}
    assert list(located) == ["Field guide", "Field guide › Birds", "Field guide › Birds › Nesting",
                             "Field guide › Trees"]
    assert located["Field guide"] == "An introduction to the valley."
    assert "Herons nest in colonies" in located["Field guide › Birds › Nesting"]
    assert "Grey heron" in located["Field guide › Birds › Nesting"]
    assert "four eggs" in located["Field guide › Birds › Nesting"]
    assert "Alders" in located["Field guide › Trees"] and "Herons" not in located["Field guide › Trees"]


@pytest.mark.parametrize("damage", ["not a zip", "missing parts"])
def test_corrupt_docx_is_refused(tmp_path, damage):
    bad = tmp_path / "bad.docx"
    if damage == "not a zip":
        bad.write_bytes(b"This was never a Word document.\n" * 10)
    else:
        with zipfile.ZipFile(bad, "w") as archive:
            archive.writestr("word/document.xml", "<w:document/>")
    message = refused(bad, "“bad.docx” could not be read as a Word document (")
    if damage == "not a zip":
        assert message == ("“bad.docx” could not be read as a Word document (it is not a .docx file; "
                           "save an old .doc as .docx first)")
    else:
        assert "[Content_Types].xml" in message


# -- Markdown, HTML, text -------------------------------------------------------------------------
def test_markdown_headings_outside_code_fences(tmp_path):
    source = tmp_path / "notes.md"
    source.write_text(
        "Intro before any heading.\n\n"
        "# Install\n\nRun the installer.\n\n"
        "## From source\n\nClone it, then build:\n\n"
        "```sh\n# not a heading\nmake install\n```\n\n"
        "Done.\n\n"
        "# Use\n\nStart the app. #hashtag\n", encoding="utf-8")
    document = convert(source)
    assert document.kind == "Markdown"
    located = {section.locator: section.text for section in document.sections}
    assert list(located) == ["", "Install", "Install › From source", "Use"]
    assert located[""] == "Intro before any heading."
    assert located["Install › From source"] == \
        "Clone it, then build:\n\n```sh\n# not a heading\nmake install\n```\n\nDone."
    assert located["Use"] == "Start the app. #hashtag"


def test_html_drops_scripts_and_follows_nested_headings(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("""<!doctype html><html><head><title>Site</title>
        <style>body { color: red }</style><script>var secret = "SCRIPT-TEXT";</script></head>
        <body><nav>Home | About</nav><header>Site banner</header>
        <h1>Guide</h1><p>Welcome   to the
           <b>guide</b>.</p>
        <section><h2>Setup</h2><ul><li>Install it.</li><li>Run it.</li></ul>
          <h3>Options</h3><table><tr><td>port</td><td>8080</td></tr></table></section>
        <h2>Help</h2><blockquote>Ask anyone.</blockquote><!-- a comment -->
        <footer>Copyright</footer><noscript>Enable JS</noscript></body></html>""", encoding="utf-8")
    document = convert(page)
    located = {section.locator: section.text for section in document.sections}
    assert list(located) == ["Guide", "Guide › Setup", "Guide › Setup › Options", "Guide › Help"]
    assert located["Guide"] == "Welcome to the guide."
    assert located["Guide › Setup"] == "Install it.\n\nRun it."
    assert located["Guide › Setup › Options"] == "port\n\n8080"
    assert located["Guide › Help"] == "Ask anyone."
    everything = " ".join(located.values())
    for hidden in ("SCRIPT-TEXT", "color", "Home", "banner", "Copyright", "Enable JS", "comment", "Site"):
        assert hidden not in everything


def test_text_in_cp1252_and_utf8_with_bom(tmp_path):
    legacy = tmp_path / "legacy.txt"
    legacy.write_bytes("Café crème – naïve “quotes”.\r\nSecond line.".encode("cp1252"))
    document = convert(legacy)
    assert document.kind == "text"
    assert [section.locator for section in document.sections] == [""]
    assert document.sections[0].text == "Café crème – naïve “quotes”.\nSecond line."
    modern = tmp_path / "modern.txt"
    modern.write_bytes("\ufeffZürich ☃".encode("utf-8"))
    assert convert(modern).sections[0].text == "Zürich ☃"


# -- refusals -------------------------------------------------------------------------------------
def test_empty_file_is_refused(tmp_path):
    (tmp_path / "empty.pdf").write_bytes(b"")
    assert refused(tmp_path / "empty.pdf", "“empty.pdf”") == "“empty.pdf” is empty (0 bytes)"


def test_file_over_the_limit_is_refused(tmp_path, two_pages):
    assert DEFAULT_MAX_BYTES == 25 * 1024 * 1024
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (3 * 1024 * 1024 + 200 * 1024))
    assert refused(big, "“big.txt”", max_bytes=2 * 1024 * 1024) == "“big.txt” is 3.2 MB; the limit is 2 MB"
    just_over = refused(two_pages, "“orchard.pdf”", max_bytes=two_pages.stat().st_size - 1)
    assert re.fullmatch(r"“orchard\.pdf” is [\d,]+ bytes; the limit is [\d,]+ bytes", just_over)


def test_unsupported_type_is_refused(tmp_path):
    (tmp_path / "notes.xyz").write_text("words")
    assert refused(tmp_path / "notes.xyz", "“notes.xyz”") == \
        "“notes.xyz”: .xyz files are not supported — add PDF, Word (.docx), Markdown, text or HTML"
    assert set(SUPPORTED) == {".pdf", ".docx", ".md", ".markdown", ".txt", ".html", ".htm"}


def test_missing_file_and_folder_are_refused(tmp_path):
    assert refused(tmp_path / "gone.pdf", "“gone.pdf”") == "“gone.pdf” was not found — add the file again"
    (tmp_path / "papers").mkdir()
    assert refused(tmp_path / "papers", "“papers”") == \
        "“papers” is a folder — add the documents in it one by one"


@pytest.mark.parametrize("name, content", [
    ("blank.md", "\n\n   \n"), ("blank.txt", " \t\n"), ("blank.html", "<html><script>x()</script><p> </p></html>")])
def test_document_without_text_is_refused(tmp_path, name, content):
    (tmp_path / name).write_text(content)
    assert refused(tmp_path / name, f"“{name}”") == f"“{name}” has no text to learn from"


def test_binary_data_named_txt_is_refused(tmp_path):
    (tmp_path / "image.txt").write_bytes(PORTRAIT.read_bytes()[:4096])
    refused(tmp_path / "image.txt", "“image.txt” could not be read as text (")


# -- chunking -------------------------------------------------------------------------------------
def sentences(count: int, start: int = 0) -> str:
    return " ".join(f"Sentence number {i} tells of the {['river', 'valley', 'heron', 'alder'][i % 4]} "
                    f"and what it {'saw' if i % 2 else 'heard'} there." for i in range(start, start + count))


def overlap_of(previous: str, following: str) -> str:
    """The longest end of ``previous`` that ``following`` starts with."""
    for length in range(min(len(previous), len(following)) - 1, 0, -1):
        if following.startswith(previous[-length:]):
            return previous[-length:]
    return ""


@pytest.fixture
def long_document() -> Document:
    paragraphs = "\n\n".join(sentences(4, start) for start in range(0, 80, 4))
    return Document("long.md", "Markdown", [Section(paragraphs, "Part one"), Section(sentences(30, 100), "Part two"),
                                            Section("A short  closing\nnote.", "")], None, 0)


def test_chunks_respect_size_and_overlap_at_word_boundaries(long_document):
    chunks = chunk_document(long_document, size=400, overlap=120)
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    assert all(0 < len(chunk.text) <= 400 and chunk.text == chunk.text.strip() for chunk in chunks)
    assert chunks[-1] == Chunk(len(chunks) - 1, "", "A short closing\nnote.".replace("\n", " "))
    pairs = [(a, b) for a, b in zip(chunks, chunks[1:]) if a.locator == b.locator]
    assert len(pairs) >= 5
    for previous, following in pairs:
        shared = overlap_of(previous.text, following.text)
        assert 30 <= len(shared) <= 120, (previous.text, following.text)
        assert previous.text[-len(shared) - 1].isspace()  # the overlap starts at a word
        assert following.text != shared  # and something new follows it


def test_chunks_never_cross_sections(long_document):
    chunks = chunk_document(long_document, size=400, overlap=120)
    assert [chunk.locator for chunk in chunks] == sorted(
        (chunk.locator for chunk in chunks), key=["Part one", "Part two", ""].index)
    for chunk in chunks:
        section = next(section for section in long_document.sections if section.locator == chunk.locator)
        for word in chunk.text.split():
            assert word in section.text


def test_chunks_pack_whole_paragraphs(long_document):
    chunks = chunk_document(long_document, size=900, overlap=0)
    paragraphs = long_document.sections[0].text.split("\n\n")
    for chunk in (chunk for chunk in chunks if chunk.locator == "Part one"):
        assert all(piece in paragraphs for piece in chunk.text.split("\n\n"))


def test_long_paragraph_is_split_at_sentence_ends():
    paragraph = sentences(82)
    assert len(paragraph) >= 5000 and "\n" not in paragraph
    chunks = chunk_document(Document("one.txt", "text", [Section(paragraph, "")], None, len(paragraph)))
    assert len(chunks) >= 6
    for chunk in chunks:
        assert len(chunk.text) <= 900
        assert chunk.text.endswith("there.")
    for previous, following in zip(chunks, chunks[1:]):
        assert len(overlap_of(previous.text, following.text)) >= 50


def test_a_sentence_longer_than_the_size_is_split_between_words():
    words = " ".join(f"word{i}" for i in range(400))
    chunks = chunk_document(Document("w.txt", "text", [Section(words, "")], None, 0), size=200, overlap=40)
    assert all(len(chunk.text) <= 200 for chunk in chunks)
    assert all(re.fullmatch(r"word\d+( word\d+)*", chunk.text) for chunk in chunks)
    assert chunks[0].text.startswith("word0 ") and chunks[-1].text.endswith(" word399")


def test_whitespace_is_normalised_and_empty_paragraphs_dropped():
    section = Section("  One\tline\n  continued.  \n\n \n\n\nTwo.  ", "x")
    chunks = chunk_document(Document("s.txt", "text", [section, Section(" \n\n ", "y")], None, 0))
    assert [(chunk.locator, chunk.text) for chunk in chunks] == [("x", "One line continued.\n\nTwo.")]


def test_chunking_is_deterministic(long_document, tmp_path):
    assert chunk_document(long_document) == chunk_document(long_document)
    document = convert(make_docx(tmp_path / "guide.docx"))
    assert chunk_document(document, size=60, overlap=20) == chunk_document(document, size=60, overlap=20)
