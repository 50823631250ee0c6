"""Sentences out of a reply that is still being written: where a live answer can be spoken.

A live reply is spoken (and drawn) one sentence at a time while the model is still writing the
next, so the splitter works on a stream: ``SentenceSplitter.feed(tokens)`` returns the sentences
that are now complete and keeps the rest, ``flush()`` returns what is left at the end. A sentence
is only known to have ended once the first character after the gap that follows it has arrived —
"3." may become "3.14", "Dr." is followed by a name — so a sentence comes out one token after its
last word, never before. ``split_sentences(text)`` is the same splitter fed the whole text at
once, and gives the same sentences however the text is cut into tokens (tested).

Where a sentence ends:

- after a run of ``.``, ``!``, ``?`` or ``…`` (with any closing quotes or brackets after it)
  followed by white space, unless the next character is a lower-case letter ("approx. five",
  "the 5 p.m. call", '"Stop!" she said') or the full stop belongs to
- an abbreviation that does not end sentences in practice (``NEVER_FINAL``: "Dr.", "e.g.",
  "vs.", "No. 5"), an initial ("J. R. R. Tolkien", any single letter), or a list number at the start
  of a line ("1. Preheat the oven"). Words such as "etc." and "Inc." do end sentences before a
  capital, so they are not in the list;
- at a line break, always: models write lists and headings one per line, and a line is a unit of
  speech even without a full stop.

A run-on without a sentence end would hold back everything behind it, so a sentence longer than
``max_chars`` is cut at its last clause mark (``,;:`` or a dash) before that length, else at its
last space; a run with no space at all waits for its end. The cut depends only on the text, so
the stream and the whole text still agree.

``complete_part(text)`` is a reply cut off by the model's token limit, trimmed back to its last
whole sentence, so a spoken reply never stops mid-sentence; ``first_sentences(text, n)`` is at
most ``n`` of them, for a reply spoken short.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_SENTENCE_CHARS = 240  # about 15 s of speech: longer runs are cut at a clause so speech can start
# Abbreviations that are followed by more of the same sentence (a name, a number, an example).
NEVER_FINAL = frozenset({
    "mr", "mrs", "ms", "mx", "dr", "prof", "rev", "hon", "st", "mt", "ft", "gen", "col", "lt", "sgt", "capt",
    "e.g", "i.e", "cf", "vs", "viz", "approx", "ca", "no", "nos", "fig", "figs", "vol", "vols", "ch", "sec",
    "p", "pp", "para", "art", "eq", "ref", "dept", "est", "al",
})
_CLOSERS = "\"'”’)]»"
# A candidate end: a run of end marks with its closers and the gap after it, or a bare line break.
_CANDIDATE = re.compile(rf"([.!?…]+[{re.escape(_CLOSERS)}]*)(\s+)|([ \t]*\n\s*)")
_WORD_BEFORE = re.compile(r"([A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*)$")
_CLAUSE = re.compile(r"[,;:]\s|\s[–—-]\s")
_COMPLETE = re.compile(rf"[.!?…][{re.escape(_CLOSERS)}]*\s*$")


class SentenceSplitter:
    """Feed it text as it arrives; it hands back each sentence once it is sure the sentence ended."""

    def __init__(self, *, max_chars: int = MAX_SENTENCE_CHARS) -> None:
        if max_chars < 20:
            raise ValueError(f"max_chars must be at least 20, got {max_chars}")
        self.max_chars = max_chars
        self._buffer = ""
        self._line_start = True  # the buffer starts a line (a list number there is not a sentence end)

    def feed(self, text: str) -> list[str]:
        """The sentences ``text`` completes, in order (often none)."""
        self._buffer += text
        return self._take()

    def flush(self) -> list[str]:
        """What is left once the reply is over (the last sentence, complete or not)."""
        sentences = self._take()
        rest = self._buffer.strip()
        self._buffer, self._line_start = "", True
        return sentences + ([rest] if rest else [])

    @property
    def pending(self) -> str:
        """The text received that is not yet part of a returned sentence."""
        return self._buffer

    def _take(self) -> list[str]:
        sentences = []
        while True:
            cut = self._next_cut()
            if cut is None:
                return sentences
            end, start, line_break = cut
            sentence = self._buffer[:end].strip()
            self._buffer = self._buffer[start:]
            self._line_start = line_break
            if sentence:
                sentences.append(sentence)

    def _next_cut(self) -> tuple[int, int, bool] | None:
        """(end of the sentence, start of the next, whether the next starts a line), or None while undecided."""
        text = self._buffer.lstrip()
        skipped = len(self._buffer) - len(text)
        line_start = self._line_start or "\n" in self._buffer[:skipped]
        clause_tried = False
        for match in _CANDIDATE.finditer(text):
            if match.start() > self.max_chars and not clause_tried:  # a run-on: cut at a clause if it has one
                clause_tried = True
                if (cut := self._clause_cut(text, skipped)) is not None:
                    return cut
            if match.end() == len(text):  # nothing after the gap yet (or ever, at the end): the next text decides
                return None
            if match.group(3) is not None:  # a line break
                if text[:match.start()].strip():
                    return skipped + match.start(), skipped + match.end(), True
                continue
            if _ends_here(text, match, line_start):
                return skipped + match.end(1), skipped + match.end(), "\n" in match.group(2)
        if len(text.rstrip()) > self.max_chars and not clause_tried:
            return self._clause_cut(text, skipped)
        return None

    def _clause_cut(self, text: str, skipped: int) -> tuple[int, int, bool] | None:
        head = text[:self.max_chars]
        marks = list(_CLAUSE.finditer(head))
        if marks:  # "…, " keeps its comma; " – " is the pause itself, dropped from both halves
            mark = marks[-1]
            end = mark.start() + 1 if head[mark.start()] in ",;:" else mark.start()
            return skipped + end, skipped + mark.end(), False
        space = head.rfind(" ")
        if space > 0:
            return skipped + space, skipped + space + 1, False
        return None


def _ends_here(text: str, match: re.Match, line_start: bool) -> bool:
    """Whether the end marks in ``match`` end a sentence (see the module docstring)."""
    marks, gap = match.group(1), match.group(2)
    if "\n" in gap:
        return True
    after = text[match.end()]
    if after.islower():
        return False
    if marks.rstrip(_CLOSERS) != ".":  # "!", "?", "…", "?!", "..." end a sentence before anything but lower case
        return True
    before = _WORD_BEFORE.search(text[:match.start()])
    if before is None:
        return True
    word = before.group(1)
    if word.lower() in NEVER_FINAL or (len(word) == 1 and word.isalpha()):
        return False
    starts_line = before.start() == 0 and line_start or text[:before.start()].endswith("\n")
    return not (word.isdigit() and starts_line)  # "1. Preheat the oven": a list number


def split_sentences(text: str, *, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """``text``'s sentences, as the streaming splitter gives them."""
    splitter = SentenceSplitter(max_chars=max_chars)
    return splitter.feed(text) + splitter.flush()


def is_complete(sentence: str) -> bool:
    """Whether ``sentence`` ends with an end mark (a closing quote or bracket may follow it)."""
    return bool(_COMPLETE.search(sentence))


def complete_part(text: str) -> str:
    """``text`` without an unfinished last sentence: what a reply cut off at the token limit should
    say. A reply with no complete sentence at all is kept whole — better a fragment than silence."""
    sentences = split_sentences(text, max_chars=max(len(text), 20))
    while len(sentences) > 1 and not is_complete(sentences[-1]):
        sentences.pop()
    return _join(text, sentences)


def first_sentences(text: str, count: int) -> str:
    """At most ``count`` sentences from the start of ``text`` (a spoken reply's length)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    return _join(text, split_sentences(text, max_chars=max(len(text), 20))[:count])


def _join(text: str, sentences: Iterable[str]) -> str:
    """The kept sentences with the white space between them as it was in ``text`` (line breaks kept)."""
    kept = list(sentences)
    if not kept:
        return ""
    start = text.index(kept[0])
    end = start
    for sentence in kept:
        end = text.index(sentence, end) + len(sentence)
    return text[start:end]
