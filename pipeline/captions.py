"""Captions: the words that were spoken, cut into cues a viewer can read, as WebVTT and SRT.

Where the words and their times come from is the caller's (``stages.stage_captions``): the TTS's
word timings for a script, Whisper's word timestamps for a recording, or, for a voice that gives no
timings, the script's words spread over the voiced spans (``estimated_words``). This module only
turns timed words into cues and writes them.

What makes a cue readable, as broadcasters' caption guidelines put it (BBC, Netflix): at most two
lines of at most 42 characters, a cue that stays up long enough to be read (``MIN_CUE_S``, unless
the speech itself is shorter), and breaks where the sentence breaks. So the words are first cut at
every sentence end and every long pause (a cue never spans a silence); a piece that is still too
long for two lines, or on screen longer than ``MAX_CUE_S``, is cut in two at its best phrase
boundary — after a comma, a colon or a dash, at a pause, near the middle, and not straight after
"the" or "of" — and each half again until every cue fits. A cue shorter than ``MIN_CUE_S`` is
joined to a neighbour when the two still fit; otherwise it stays up longer, into the silence after
it. Lines are split where the two come out most even, a phrase boundary winning a near tie.

Times are milliseconds inside the video (0 ≤ start < end ≤ duration) and increasing, cues never
overlap: a player shows one cue at a time.

The script's own words, punctuation and capitals included, are what a cue shows for a script
(``display_words``): the TTS times the words that ``speech.words.SCRIPT_WORD`` finds, and each
whitespace-separated piece of the script takes the times of the words inside it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .files import partial_path
from .speech.words import SCRIPT_WORD

MAX_LINE_CHARS = 42
MAX_LINES = 2
MIN_CUE_S = 0.8
MAX_CUE_S = 7.0
PAUSE_BREAK_S = 0.8  # a silence this long between two words ends a cue: captions follow the speech
LINGER_S = 0.3  # a cue stays up this much after its last word when the next one is not waiting
CAPTION_FILES = ("output.vtt", "output.srt")  # beside output.mp4: players that open a video load its captions
CAPTIONS_JSON = "captions.json"

_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*$")
_PHRASE_END = re.compile(r"[,;:—–-]+[\"'”’»)\]]*$")
# A cue or a line that ends on one of these reads as cut off ("… in the / market").
_WEAK_ENDINGS = frozenset("a an the and or but of to in on at for with by from as that is are was were be my your "
                          "our their his her its this these those not no every each very than if so because when "
                          "while which who".split())


@dataclass(frozen=True)
class TimedWord:
    text: str  # as shown: the script's piece with its punctuation, or the word Whisper heard
    start: float
    end: float


@dataclass(frozen=True)
class Cue:
    start: float  # seconds, to the millisecond
    end: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "lines": list(self.lines)}


# -- the words ------------------------------------------------------------------------------------

def display_words(script: str, timings: Sequence[tuple[str, float, float]]) -> list[TimedWord]:
    """The script's whitespace-separated pieces ("Hello!", "can't", "2024.") with the times of the
    timed words inside them (``timings``: ``speech.words.word_timings`` of this script, one per
    ``SCRIPT_WORD``). A piece with no word in it — a dash, an ampersand, an emoji — is shown with
    the word before it (the first word, when it comes first)."""
    pieces = script.split()
    if sum(len(SCRIPT_WORD.findall(piece)) for piece in pieces) != len(timings):
        raise ValueError(f"the script has {sum(len(SCRIPT_WORD.findall(p)) for p in pieces)} words "
                         f"but {len(timings)} were timed")
    words: list[TimedWord] = []
    timed = iter(timings)
    waiting = ""  # wordless pieces before the first word
    for piece in pieces:
        count = len(SCRIPT_WORD.findall(piece))
        if count == 0:
            if words:
                last = words[-1]
                words[-1] = TimedWord(f"{last.text} {piece}", last.start, last.end)
            else:
                waiting += f"{piece} "
            continue
        inside = [next(timed) for _ in range(count)]
        words.append(TimedWord(waiting + piece, float(inside[0][1]), float(inside[-1][2])))
        waiting = ""
    return words


def heard_words(words: Sequence[dict[str, Any]]) -> list[TimedWord]:
    """Whisper's words (``{"word", "start", "end"}``, each with its leading space) as shown."""
    return [TimedWord(str(w["word"]).strip(), float(w["start"]), float(w["end"]))
            for w in words if str(w["word"]).strip()]


def estimated_words(script: str, spans: Sequence[Sequence[float]], duration_s: float) -> list[TimedWord]:
    """The script's pieces spread over the voiced ``spans`` (start, end in seconds) in proportion to
    their letters, for speech whose voice gave no timings. The cues then change near where the
    speech does, not exactly: better than one cue for the whole clip."""
    pieces = script.split()
    if not pieces:
        return []
    spans = [(float(a), float(b)) for a, b in spans if float(b) > float(a)] or [(0.0, float(duration_s))]
    voiced = sum(b - a for a, b in spans)
    weights = [max(1, sum(ch.isalnum() for ch in piece)) for piece in pieces]
    per_weight = voiced / sum(weights)
    words, offset = [], 0.0  # offset: voiced seconds used so far
    for piece, weight in zip(pieces, weights):
        start = _voiced_time(spans, offset)
        offset += weight * per_weight
        words.append(TimedWord(piece, start, _voiced_time(spans, offset)))
    return words


def _voiced_time(spans: Sequence[tuple[float, float]], voiced_s: float) -> float:
    """The clip time at which ``voiced_s`` seconds of voiced speech have gone by."""
    for start, end in spans:
        if voiced_s <= end - start + 1e-9:
            return start + voiced_s
        voiced_s -= end - start
    return spans[-1][1]


# -- words into cues ------------------------------------------------------------------------------

def cues_from_words(words: Sequence[TimedWord], duration_s: float) -> list[Cue]:
    """Readable cues for ``words`` inside a video of ``duration_s`` (see the module docstring)."""
    end_ms = math.floor(float(duration_s) * 1000) / 1000
    clean = [TimedWord(w.text, min(max(0.0, w.start), end_ms), min(max(0.0, w.end, w.start), end_ms))
             for w in sorted(words, key=lambda w: w.start) if w.text.strip()]
    groups: list[list[TimedWord]] = []
    for run in _runs(clean):
        groups.extend(_split(run))
    return _timed(_join_short(groups, end_ms), end_ms)


def _runs(words: list[TimedWord]) -> list[list[TimedWord]]:
    """The words cut after each sentence's end and at each long pause."""
    runs: list[list[TimedWord]] = []
    current: list[TimedWord] = []
    for index, word in enumerate(words):
        current.append(word)
        following = words[index + 1] if index + 1 < len(words) else None
        if following is None or _SENTENCE_END.search(word.text) or following.start - word.end >= PAUSE_BREAK_S:
            runs.append(current)
            current = []
    return runs


def _fits(group: Sequence[TimedWord]) -> bool:
    return _lines(group) is not None and (len(group) == 1 or group[-1].end - group[0].start <= MAX_CUE_S)


def _lines(group: Sequence[TimedWord]) -> tuple[str, ...] | None:
    """The group's text in at most ``MAX_LINES`` lines of at most ``MAX_LINE_CHARS`` characters
    (one line when it fits), split where the lines come out most even; None when it cannot be."""
    texts = [word.text for word in group]
    whole = " ".join(texts)
    if len(whole) <= MAX_LINE_CHARS or len(texts) == 1:  # a single word longer than a line is left whole
        return (whole,)
    best, best_cost = None, math.inf
    for cut in range(1, len(texts)):
        top, bottom = " ".join(texts[:cut]), " ".join(texts[cut:])
        if len(top) > MAX_LINE_CHARS or len(bottom) > MAX_LINE_CHARS:
            continue
        cost = abs(len(top) - len(bottom)) / len(whole)
        cost -= 0.15 if _PHRASE_END.search(texts[cut - 1]) else 0.0
        cost += 0.25 if _bare(texts[cut - 1]) in _WEAK_ENDINGS else 0.0
        if cost < best_cost:
            best, best_cost = (top, bottom), cost
    return best


def _split(run: list[TimedWord]) -> list[list[TimedWord]]:
    """``run`` cut into the fewest cues that fit, at the best boundaries: a shortest path over the
    places a cue may end (each cue costs 1, a cut that is not a phrase boundary more, a cue shorter
    than ``MIN_CUE_S`` more still)."""
    count = len(run)
    best: list[tuple[float, int]] = [(0.0, 0)] + [(math.inf, 0)] * count  # best[j]: cost of run[:j], last cut
    for end in range(1, count + 1):
        for start in range(end - 1, -1, -1):
            group = run[start:end]
            if not _fits(group):
                if len(group) > 1 and len(" ".join(w.text for w in group)) > MAX_LINES * MAX_LINE_CHARS:
                    break  # longer groups only get longer
                continue
            cost = best[start][0] + 1.0 + _cut_cost(run, end)
            if group[-1].end - group[0].start < MIN_CUE_S:
                cost += 1.0
            if cost < best[end][0]:
                best[end] = (cost, start)
    cuts, end = [], count
    while end > 0:
        start = best[end][1]
        cuts.append(run[start:end])
        end = start
    return cuts[::-1]


def _cut_cost(run: list[TimedWord], end: int) -> float:
    """What ending a cue after ``run[end - 1]`` costs: nothing at the run's end or after a comma, colon
    or dash; less at a pause; more straight after a word that leads into the next ("the", "of"), or
    when the next cue would open on the word that ends this phrase."""
    if end == len(run) or _PHRASE_END.search(run[end - 1].text):
        return 0.0
    before, after = run[end - 1], run[end]
    cost = 0.6 - min(0.4, max(0.0, after.start - before.end))
    cost += 0.6 if _bare(before.text) in _WEAK_ENDINGS else 0.0
    # the next cue opening on the last word of this one's phrase ("… every single / time, and …")
    return cost + (0.4 if _PHRASE_END.search(after.text) or _SENTENCE_END.search(after.text) else 0.0)


def _join_short(groups: list[list[TimedWord]], end_ms: float) -> list[list[TimedWord]]:
    """A cue spoken in under ``MIN_CUE_S`` that cannot stay up that long (the next one starts
    sooner) joined to a neighbour (the nearer in time) where the two still fit and no long pause
    lies between them."""
    groups = [list(group) for group in groups]
    index = 0
    while index < len(groups):
        group = groups[index]
        room = (groups[index + 1][0].start if index + 1 < len(groups) else end_ms) - group[0].start
        if group[-1].end - group[0].start >= MIN_CUE_S or room >= MIN_CUE_S:
            index += 1
            continue
        candidates = []
        if index + 1 < len(groups):
            candidates.append((groups[index + 1][0].start - group[-1].end, index, index + 1))
        if index > 0:
            candidates.append((group[0].start - groups[index - 1][-1].end, index - 1, index))
        for gap, first, second in sorted(candidates):
            joined = groups[first] + groups[second]
            if gap < PAUSE_BREAK_S and _fits(joined):
                groups[first:second + 1] = [joined]
                index = first
                break
        else:
            index += 1
    return groups


def _timed(groups: list[list[TimedWord]], end_ms: float) -> list[Cue]:
    cues: list[Cue] = []
    for index, group in enumerate(groups):
        start = round(group[0].start, 3)
        following = round(groups[index + 1][0].start, 3) if index + 1 < len(groups) else end_ms
        wanted = max(group[-1].end + LINGER_S, start + MIN_CUE_S)
        end = round(min(wanted, following, end_ms), 3)
        if cues and start < cues[-1].end:
            start = cues[-1].end
        if end <= start:  # a word squeezed to nothing at the very end of the clip
            continue
        cues.append(Cue(start, end, _lines(group) or (" ".join(word.text for word in group),)))
    return cues


def _bare(text: str) -> str:
    return re.sub(r"[^\w']", "", text).lower()


# -- files ----------------------------------------------------------------------------------------

def _stamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def webvtt(cues: Sequence[Cue]) -> str:
    """The cues as a WebVTT file (what browsers' ``<track>`` plays): numbered, text escaped."""
    blocks = ["WEBVTT\n"]
    for number, cue in enumerate(cues, 1):
        text = "\n".join(line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for line in cue.lines)
        blocks.append(f"{number}\n{_stamp(cue.start, '.')} --> {_stamp(cue.end, '.')}\n{text}\n")
    return "\n".join(blocks)


def srt(cues: Sequence[Cue]) -> str:
    """The cues as SubRip (what editors and social sites take): an empty file when there are none."""
    blocks = []
    for number, cue in enumerate(cues, 1):
        text = "\n".join(line.replace("-->", "->") for line in cue.lines)
        blocks.append(f"{number}\n{_stamp(cue.start, ',')} --> {_stamp(cue.end, ',')}\n{text}\n")
    return "\n".join(blocks)


@dataclass(frozen=True)
class Captions:
    """What ``captions.json`` keeps: the cues, where the words came from and the words themselves."""

    cues: tuple[Cue, ...]
    source: str  # "tts", "transcribed", "estimated", or "none" (nothing could tell the words)
    words: tuple[TimedWord, ...]
    notes: tuple[str, ...] = ()  # what the viewer should know (the times are estimated, no words were heard)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "notes": list(self.notes), "cues": [cue.to_dict() for cue in self.cues],
                "words": [asdict(word) for word in self.words]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Captions":
        return cls(cues=tuple(Cue(c["start"], c["end"], tuple(c["lines"])) for c in data["cues"]),
                   source=data["source"], words=tuple(TimedWord(**w) for w in data.get("words", [])),
                   notes=tuple(data.get("notes", [])))

    @classmethod
    def load(cls, folder: Path) -> "Captions":
        return cls.from_dict(json.loads((Path(folder) / CAPTIONS_JSON).read_text(encoding="utf-8")))


def write_captions(folder: Path, captions: Captions) -> dict[str, Any]:
    """``output.vtt``, ``output.srt`` and ``captions.json`` in ``folder``, each written under a name of
    its own first and renamed into place (``captions.json`` last: it says the captions are done).
    Returns the job record's ``captions`` field."""
    folder = Path(folder)
    vtt, subrip = (folder / name for name in CAPTION_FILES)
    for path, text in ((vtt, webvtt(captions.cues)), (subrip, srt(captions.cues)),
                       (folder / CAPTIONS_JSON, json.dumps(captions.to_dict(), indent=1, ensure_ascii=False))):
        partial = partial_path(path)
        try:
            partial.write_text(text, encoding="utf-8")
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
    return {"vtt": str(vtt), "srt": str(subrip), "cues": len(captions.cues), "source": captions.source}
