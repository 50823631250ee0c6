"""A creator's style, measured from their own writing: what a persona should sound like.

``samples_from_files`` turns what a creator uploads — posts or captions as text or Markdown (one
per paragraph), a transcript, a Word or PDF document, a CSV export (the column holding the most
text, one row per sample) — into a list of samples. ``analyse(samples, cache)`` measures them:

- **signature phrases**: words and two- and three-word phrases the creator uses in several samples
  and ordinary English rarely does. Each candidate is scored by how many samples use it times how
  rare it is in English (``wordfreq``'s Zipf frequency, a log scale where "the" is about 7.7 and a
  rare word below 3; the data ships inside the wheel); phrases made only of common words, and
  words inside a better-scoring phrase, are left out;
- **sentences**: median and mean words per sentence;
- **habits**: emoji per 100 words and the favourite ones, exclamation and question marks per
  sentence, ellipses, words in capitals, hashtags and mentions per sample;
- **representative samples**: the few closest to the centre of all samples by meaning (the
  bundled WordLlama vectors), each a different one — what a person is shown of the profile;
- **the pool**: up to ``POOL`` samples a persona keeps to draw few-shot examples from, one
  question at a time. The most central sample comes first, then each next is the one that best
  balances closeness to the centre against likeness to those already taken (maximal marginal
  relevance, ``POOL_DIVERSITY``): a pool of the 24 most central posts would all be about the
  creator's commonest subject, and a question on any other would find no example near it. Very
  short samples ("Thanks!") show no manner and are left out while longer ones remain.

Samples and examples longer than ``SAMPLE_CHARS`` are cut at a word and end in "…".

The profile is plain data (``to_dict``/``from_dict``): a persona stores the part it needs (its
``style`` section: the habits in words, the phrases, the pool; see ``personas.style``), the editor
shows it for the creator to accept or change, and the prompt uses it.
"""

from __future__ import annotations

import csv
import io
import math
import re
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import BadInput

MIN_SAMPLES = 3
MAX_SAMPLES = 5000
MAX_PHRASES = 12
MIN_PHRASE_SAMPLES = 2  # a phrase used in one sample only is that sample's, not the creator's habit
COMMON_ZIPF = 5.0  # words at least this frequent in English ("people", "really") are ordinary
REPRESENTATIVE = 4
POOL = 24  # samples kept to pick few-shot examples from
POOL_DIVERSITY = 0.7  # weight of unlikeness to the samples already in the pool, against centrality
POOL_MIN_WORDS = 5  # shorter samples show little of a manner: in the pool only when nothing longer is left
NEAR_DUPLICATE = 0.95  # cosine similarity at which two samples are the same sample
SAMPLE_CHARS = 600  # a representative sample or a pooled one is kept up to this long
_WORD = re.compile(r"[#@]?[\w'’-]+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f]")  # carry nothing; a persona file refuses them


@dataclass(frozen=True)
class StyleProfile:
    samples: int
    words: int
    phrases: list[str]  # signature phrases, most distinctive first
    sentence_words_median: float
    sentence_words_mean: float
    emoji_per_100_words: float
    top_emoji: list[str]
    exclamations_per_sentence: float
    questions_per_sentence: float
    ellipses_per_sample: float
    capitals_per_100_words: float  # words written in capitals ("HUGE"), two letters or more
    hashtags_per_sample: float
    mentions_per_sample: float
    examples: list[str] = field(default_factory=list)  # representative samples
    pool: list[str] = field(default_factory=list)  # representative and diverse: few-shot examples come from here

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StyleProfile:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    def habits(self) -> list[str]:
        """The measured habits in words: "sentences of about 9 words", "no emoji", …"""
        habits = [f"sentences of about {self.sentence_words_median:g} words"]
        if self.emoji_per_100_words >= 0.5:
            habits.append(f"emoji now and then ({' '.join(self.top_emoji[:3])})" if self.top_emoji else "emoji")
        else:
            habits.append("no emoji")
        if self.exclamations_per_sentence >= 0.2:
            habits.append("frequent exclamation marks")
        if self.questions_per_sentence >= 0.2:
            habits.append("many questions to the reader")
        if self.ellipses_per_sample >= 0.3:
            habits.append("trailing ellipses…")
        if self.capitals_per_100_words >= 1:
            habits.append("a word in CAPITALS for emphasis")
        if self.hashtags_per_sample >= 0.5:
            habits.append("hashtags")
        return habits

    def describe(self) -> str:
        """The profile in a few sentences, for a system prompt or a person."""
        text = "Write like the creator: " + ", ".join(self.habits()) + "."
        if self.phrases:
            text += " Phrases they use: " + ", ".join(f'"{phrase}"' for phrase in self.phrases[:8]) + "."
        return text


def samples_from_text(text: str) -> list[str]:
    """Samples from free text: one per paragraph (a blank line between them)."""
    return [" ".join(part.split()) for part in re.split(r"\n\s*\n", text) if part.strip()]


def samples_from_csv(text: str, name: str = "the CSV file") -> list[str]:
    """Samples from a CSV export: the column holding the most text, one sample per row."""
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as error:
        raise BadInput(f"{name} could not be read as CSV ({error})") from None
    if len(rows) < 2:
        raise BadInput(f"{name} has no rows under its header")
    header, body = rows[0], rows[1:]
    totals = [sum(len(row[column]) for row in body if column < len(row)) for column in range(len(header))]
    if not totals or max(totals) == 0:
        raise BadInput(f"{name} has no text in any column")
    column = totals.index(max(totals))
    return [" ".join(row[column].split()) for row in body if column < len(row) and row[column].strip()]


def samples_from_files(paths: Sequence[tuple[Path, str]]) -> list[str]:
    """Samples from uploaded files ((path, name the user knows it by)): CSV exports by column,
    everything else through the knowledge converter (PDF, Word, Markdown, text, HTML) by paragraph."""
    from .knowledge.convert import convert

    samples: list[str] = []
    for path, name in paths:
        if Path(name).suffix.lower() == ".csv":
            raw = Path(path).read_bytes()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = raw.decode("cp1252", errors="replace")
            samples += samples_from_csv(text, f"“{name}”")
        else:
            document = convert(Path(path), display_name=name)
            samples += [sample for section in document.sections for sample in samples_from_text(section.text)]
    return samples


def analyse(samples: Sequence[str], cache: Path, *, pool: int = POOL) -> StyleProfile:
    """The style of ``samples`` (at least ``MIN_SAMPLES`` non-empty ones), with up to ``pool``
    samples pooled for few-shot examples; see the module docstring."""
    cleaned = (" ".join(_CONTROL.sub("", str(sample or "")).split()) for sample in samples)
    samples = [sample for sample in cleaned if sample][:MAX_SAMPLES]
    if len(samples) < MIN_SAMPLES:
        raise BadInput(f"give at least {MIN_SAMPLES} samples of your writing (posts, captions, a transcript); "
                       f"got {len(samples)}")
    words = [[word.strip("'’-") for word in _WORD.findall(sample)] for sample in samples]
    all_words = [word for sample in words for word in sample if word]
    sentences = [part for sample in samples for part in _SENTENCE_END.split(sample) if _WORD.search(part)]
    lengths = [len(_WORD.findall(sentence)) for sentence in sentences] or [0]
    emoji_found = _emoji(samples)
    vectors = _vectors(samples, cache)
    per_100 = 100 / max(1, len(all_words))
    return StyleProfile(
        samples=len(samples), words=len(all_words), phrases=signature_phrases(words),
        sentence_words_median=float(statistics.median(lengths)),
        sentence_words_mean=round(statistics.fmean(lengths), 1),
        emoji_per_100_words=round(len(emoji_found) * per_100, 2),
        top_emoji=[symbol for symbol, _ in Counter(emoji_found).most_common(5)],
        exclamations_per_sentence=round(sum(s.count("!") for s in samples) / max(1, len(sentences)), 3),
        questions_per_sentence=round(sum(s.count("?") for s in samples) / max(1, len(sentences)), 3),
        ellipses_per_sample=round(sum(s.count("...") + s.count("…") for s in samples) / len(samples), 3),
        capitals_per_100_words=round(sum(1 for w in all_words if len(w) > 1 and w.isupper()
                                         and any(c.isalpha() for c in w)) * per_100, 2),
        hashtags_per_sample=round(sum(1 for w in all_words if w.startswith("#")) / len(samples), 3),
        mentions_per_sample=round(sum(1 for w in all_words if w.startswith("@")) / len(samples), 3),
        examples=_central(samples, vectors, REPRESENTATIVE), pool=_diverse(samples, vectors, pool),
    )


def signature_phrases(samples_words: Sequence[Sequence[str]], limit: int = MAX_PHRASES) -> list[str]:
    """Phrases of one to three words used in several samples and rare in ordinary English."""
    from wordfreq import zipf_frequency

    used_in: Counter = Counter()
    for words in samples_words:
        lowered = [word.lower() for word in words if word and not word.startswith(("#", "@"))]
        grams = {tuple(lowered[i:i + n]) for n in (1, 2, 3) for i in range(len(lowered) - n + 1)}
        used_in.update(grams)
    scored = []
    for gram, count in used_in.items():
        if count < MIN_PHRASE_SAMPLES or any(not any(c.isalpha() for c in word) for word in gram):
            continue
        rarities = [zipf_frequency(word, "en") for word in gram]
        if min(rarities) >= COMMON_ZIPF:  # only common words: "a lot of", "I think"
            continue
        if len(gram) > 1 and (rarities[0] >= 6.5 or rarities[-1] >= 6.5):  # starts or ends on "the", "and"
            continue
        rarity = 8.0 - statistics.fmean(rarities)
        rare = frozenset(word for word, zipf in zip(gram, rarities) if zipf < COMMON_ZIPF)
        scored.append((count * rarity * (1 + 0.5 * (len(gram) - 1)), gram, rare))
    chosen: list[tuple[str, ...]] = []
    taken: set[str] = set()
    for _, gram, rare in sorted(scored, key=lambda item: (-item[0], item[1])):
        if rare & taken:
            continue  # "profit" or "about willingness" when "profit logic", "willingness to pay" are in
        chosen.append(gram)
        taken |= rare
        if len(chosen) == limit:
            break
    return [" ".join(gram) for gram in chosen]


def _emoji(samples: Sequence[str]) -> list[str]:
    import emoji

    return [found["emoji"] for sample in samples for found in emoji.emoji_list(sample)]


def representative(samples: Sequence[str], cache: Path, count: int = REPRESENTATIVE) -> list[str]:
    """The samples nearest the centre of all of them by meaning, no two near-duplicates."""
    return _central(list(samples), _vectors(samples, cache), count)


def clip(text: str, limit: int = SAMPLE_CHARS) -> str:
    """``text`` if it is at most ``limit`` characters, else cut at the last word that fits, with "…"."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:") + "…"


def _vectors(samples: Sequence[str], cache: Path) -> np.ndarray:
    from .knowledge.embed import embed

    return embed(cache, list(samples))


def _closeness(vectors: np.ndarray) -> np.ndarray | None:
    """Each vector's cosine similarity to the centre of all of them (None: they have no centre)."""
    centre = vectors.mean(axis=0)
    norm = float(np.linalg.norm(centre))
    if not math.isfinite(norm) or norm == 0:
        return None
    return vectors @ (centre / norm)


def _central(samples: list[str], vectors: np.ndarray, count: int) -> list[str]:
    closeness = _closeness(vectors)
    if closeness is None:
        return [clip(sample) for sample in samples[:count]]
    chosen: list[int] = []
    for index in np.argsort(-closeness):
        if all(float(vectors[index] @ vectors[other]) < NEAR_DUPLICATE for other in chosen):
            chosen.append(int(index))
        if len(chosen) == count:
            break
    return [clip(samples[index]) for index in chosen]


def _diverse(samples: list[str], vectors: np.ndarray, count: int) -> list[str]:
    """Maximal marginal relevance over closeness to the centre; see the module docstring."""
    closeness = _closeness(vectors)
    if closeness is None:
        closeness = np.zeros(len(samples), np.float32)
    words = [len(_WORD.findall(sample)) for sample in samples]
    long_enough = [i for i, size in enumerate(words) if size >= POOL_MIN_WORDS]
    short = [i for i, size in enumerate(words) if size < POOL_MIN_WORDS]
    chosen: list[int] = []
    texts: set[str] = set()
    for candidates in (long_enough, short):  # the short ones only when the long ones run out
        candidates = [i for i in candidates if all(float(vectors[i] @ vectors[c]) < NEAR_DUPLICATE for c in chosen)]
        while candidates and len(chosen) < count:
            likeness = (vectors[candidates] @ vectors[chosen].T).max(axis=1) if chosen else np.zeros(len(candidates))
            value = (1 - POOL_DIVERSITY) * closeness[candidates] - POOL_DIVERSITY * likeness
            index = candidates.pop(int(np.argmax(value)))
            text = clip(samples[index])
            if text.casefold() in texts:  # the same words (vectors of no known word are all alike: zero)
                continue
            chosen.append(index)
            texts.add(text.casefold())
            # Near-duplicates of the one taken go at once: 5000 copies of one post are one sample.
            kept = (vectors[candidates] @ vectors[index]) < NEAR_DUPLICATE if candidates else []
            candidates = [i for i, keep in zip(candidates, kept) if keep]
    return [clip(samples[index]) for index in chosen]


def style_similarity(replies: Sequence[str], examples: Sequence[str], cache: Path) -> float | None:
    """How close ``replies`` are to ``examples`` in meaning and manner (mean of each reply's best
    cosine similarity to an example, 0–1), or None without both."""
    from .knowledge.embed import embed

    replies = [reply for reply in replies if reply and reply.strip()]
    if not replies or not examples:
        return None
    similarity = embed(cache, replies) @ embed(cache, list(examples)).T
    return round(float(np.clip(similarity.max(axis=1), 0, 1).mean()), 4)
