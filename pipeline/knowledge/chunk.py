"""A converted document cut into passages small enough to embed and to quote back.

``chunk_document(document, size=900, overlap=150)`` walks the document's sections in order and
numbers the passages it cuts from 0. A passage never spans two sections, so each has exactly one
locator (its page or heading path).

Inside a section the text is split into paragraphs at blank lines, and whitespace inside each
paragraph is collapsed to single spaces. Whole paragraphs are packed into a passage while it
stays within ``size`` characters (joined by a blank line). A paragraph longer than ``size`` is
broken at sentence ends and packed sentence by sentence; a sentence longer than ``size`` is
broken between words. Only a run of more than ``size`` characters without any space — no word,
but a pasted hash or URL — is cut where it must be.

Each passage after the first of a section starts with the end of the one before it: the last
``overlap`` characters or fewer, starting at a sentence start when one is near, else at a word
start, so a fact that straddles a cut is whole in one of the two. The overlap shrinks (or is
left out) when the next piece would not fit in ``size`` with it. The same input always gives the
same passages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .convert import Document

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\f\v\r]*\n")
# The whitespace after a sentence's end (with any closing quote or bracket): a sentence starts after it.
_SENTENCE_GAP = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|(?<=[。！？])\s*")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Chunk:
    """One passage: its 0-based position in the document, its section's locator and its text."""

    ordinal: int
    locator: str
    text: str


def chunk_document(document: Document, *, size: int = 900, overlap: int = 150) -> list[Chunk]:
    """``document``'s passages in reading order, each at most ``size`` characters."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"chunk size must be positive and overlap between 0 and size, got {size} and {overlap}")
    chunks: list[Chunk] = []
    for section in document.sections:
        for text in _section_chunks(section.text, size, overlap):
            chunks.append(Chunk(len(chunks), section.locator, text))
    return chunks


def _section_chunks(text: str, size: int, overlap: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for joiner, piece in _pieces(text, size):
        if not current:
            current = piece
        elif len(current) + len(joiner) + len(piece) <= size:
            current += joiner + piece
        else:
            chunks.append(current)
            tail = _tail(current, min(overlap, size - len(joiner) - len(piece)))
            current = tail + joiner + piece if tail else piece
    if current:
        chunks.append(current)
    return chunks


def _pieces(text: str, size: int) -> list[tuple[str, str]]:
    """The units packed into passages, each at most ``size`` characters, with what joins each to
    the one before it: a blank line between paragraphs, a space between sentences or words of one
    paragraph, nothing between the parts of an over-long run of non-spaces."""
    pieces = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        units = [(" ", paragraph)]
        if len(paragraph) > size:
            units = []
            for sentence in _sentences(paragraph):
                units.extend([(" ", sentence)] if len(sentence) <= size else _words(sentence, size))
        pieces.append(("\n\n", units[0][1]))
        pieces.extend(units[1:])
    return pieces


def _sentences(paragraph: str) -> list[str]:
    sentences, start = [], 0
    for gap in _SENTENCE_GAP.finditer(paragraph):
        if gap.end() > start and gap.end() < len(paragraph):
            sentences.append(paragraph[start:gap.end()].strip())
            start = gap.end()
    sentences.append(paragraph[start:].strip())
    return [sentence for sentence in sentences if sentence]


def _words(sentence: str, size: int) -> list[tuple[str, str]]:
    """A sentence too long for one passage as (joiner, part) units: its words, and any single
    run of non-spaces longer than ``size`` in ``size``-character parts."""
    parts = []
    for word in sentence.split(" "):
        cuts = [word[i:i + size] for i in range(0, len(word), size)]
        parts.append((" ", cuts[0]))
        parts.extend(("", cut) for cut in cuts[1:])
    return parts


def _tail(text: str, limit: int) -> str:
    """The end of ``text`` that the next passage repeats: at most ``limit`` characters, starting at a
    sentence start if one leaves at least a third of ``limit``, else at the first word start."""
    if limit <= 0:
        return ""
    start = max(len(text) - limit, 1)
    for gap in _SENTENCE_GAP.finditer(text, max(start - 4, 0)):
        if start <= gap.end() < len(text):
            if len(text) - gap.end() >= limit // 3:
                return text[gap.end():]
            break
    for gap in _SPACE.finditer(text, start - 1):
        if gap.end() < len(text):
            return text[gap.end():]
    return ""
