"""Word timings from phoneme timings.

A TTS voice that reports phoneme timings (piper does) separates spoken words with ' ' phonemes,
and sentences with '^'/'$' (and our '_' pauses), so every run of letter phonemes is a spoken word.
Pairing those runs with the script's words in order is exact when the counts match. They often
do not, for two reasons:

- espeak joins short function words to the next word: "out of the house" is spoken as three
  runs, "ˌaʊɾəv ðə hˈaʊs", and "on the mat" as two, "ɔnðə mˈæt";
- it expands numbers and symbols: "1999" is four runs ("nineteen ninety-nine").

So words are aligned with runs by dynamic programming: one word to one run is the plain case, a
group of two or three words may share one run (a join), or one word may span up to four runs (an
expansion). A pairing costs how far its number of sounds is from what the words' letters predict
(sounds per letter measured on the clip itself; a digit counts as three letters), plus a penalty
for each join or expansion, so one-to-one wins wherever it fits. A run shared by several words is
divided between them in proportion to their letters, so those timings are estimates. If even the
best alignment fits poorly (more than 0.5 mean |log| mismatch per word: the speech does not
follow the script) there are no word timings.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Sequence

from .tts import PhonemeTiming

# A word of the script: letters/digits with inner apostrophes ("can't", "it's", "5th").
SCRIPT_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_NON_WORD_PHONEMES = {"^", "$", "_", " "}
_MOVES = ((1, 1), (2, 1), (3, 1), (1, 2), (1, 3), (1, 4))  # (words, runs) paired in one step
_GROUP_PENALTY = 0.5  # per extra word or run in a step: prefer one-to-one where it fits
_BAND = 25  # how far (in words) the alignment may drift from the diagonal
_MAX_MEAN_MISMATCH = 0.5  # typical scripts: 0.1–0.2 per word; above this the speech is not the script


def word_timings(text: str, phonemes: Sequence[PhonemeTiming]) -> list[tuple[str, float, float]] | None:
    """(word, start, end) for each word of ``text``, or None when they cannot be placed."""
    words = SCRIPT_WORD.findall(text)
    runs = spoken_runs(phonemes)
    if not words or not runs:
        return None
    letters = [_letters(w) for w in words]
    steps = _align(letters, [size for _, _, size in runs])
    if steps is None:
        return None
    timings: list[tuple[str, float, float]] = []
    i = j = 0
    for n_words, n_runs in steps:
        start, end = runs[j][0], runs[j + n_runs - 1][1]
        group = range(i, i + n_words)
        group_letters = sum(letters[k] for k in group)
        edge = start
        for k in group:
            share = (end - start) * letters[k] / group_letters
            timings.append((words[k], round(edge, 5), round(edge + share, 5)))
            edge += share
        i, j = i + n_words, j + n_runs
    return timings


def spoken_runs(phonemes: Sequence[PhonemeTiming]) -> list[tuple[float, float, int]]:
    """(start, end, number of sounds) of each run of word phonemes."""
    runs = []
    current: list[PhonemeTiming] = []
    for timing in (*phonemes, PhonemeTiming(" ", 0.0, 0.0)):  # the sentinel closes the last run
        if _is_word_phoneme(timing.phoneme):
            current.append(timing)
            continue
        sounds = sum(1 for p in current if any(ch.isalpha() and not _is_modifier(ch) for ch in p.phoneme))
        if sounds:
            runs.append((current[0].start, current[-1].end, sounds))
        current = []
    return runs


def _align(letters: list[int], sizes: list[int]) -> list[tuple[int, int]] | None:
    """The cheapest monotonic pairing of words with runs, as (words, runs) steps, or None."""
    n_words, n_runs = len(letters), len(sizes)
    ratio = sum(sizes) / sum(letters)  # sounds per letter, for this voice and this script
    letter_sums = [0, *itertools.accumulate(letters)]
    size_sums = [0, *itertools.accumulate(sizes)]
    # best[(i, j)] = (cost with penalties, mismatch alone, last step) for i words on j runs
    best: dict[tuple[int, int], tuple[float, float, tuple[int, int]]] = {(0, 0): (0.0, 0.0, (0, 0))}
    for i in range(n_words + 1):
        diagonal = round(i * n_runs / n_words)
        for j in range(max(0, diagonal - _BAND), min(n_runs, diagonal + _BAND) + 1):
            if (i, j) not in best:
                continue
            cost, mismatch, _ = best[(i, j)]
            for a, b in _MOVES:
                if i + a > n_words or j + b > n_runs:
                    continue
                expected = ratio * (letter_sums[i + a] - letter_sums[i])
                off = abs(math.log((size_sums[j + b] - size_sums[j]) / expected))
                candidate = (cost + off + _GROUP_PENALTY * (a + b - 2), mismatch + off, (a, b))
                if candidate[0] < best.get((i + a, j + b), (math.inf,))[0]:
                    best[(i + a, j + b)] = candidate
    if (n_words, n_runs) not in best or best[(n_words, n_runs)][1] / n_words > _MAX_MEAN_MISMATCH:
        return None
    steps = []
    i, j = n_words, n_runs
    while (i, j) != (0, 0):
        a, b = best[(i, j)][2]
        steps.append((a, b))
        i, j = i - a, j - b
    return steps[::-1]


def _letters(word: str) -> int:
    # A digit is read as a whole word ("7" → "seven"): count it as three letters.
    return max(1, sum(3 if ch.isdigit() else 1 for ch in word if ch.isalnum()))


def _is_word_phoneme(phoneme: str) -> bool:
    if phoneme in _NON_WORD_PHONEMES:
        return False
    # Punctuation phonemes (',', '.', '?', '"', '-', …) are pauses between words.
    return not all(unicodedata.category(ch)[0] in "PZ" for ch in phoneme)


def _is_modifier(ch: str) -> bool:
    # Stress and length marks (ˈ ˌ ː) are letters to Python but not sounds of their own.
    return unicodedata.category(ch) == "Lm"
