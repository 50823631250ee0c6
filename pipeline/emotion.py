"""The emotion stage: which of ``EMOTIONS`` the avatar should show, and why.

``detect_emotion(text, analysis)`` is deterministic and explainable: it adds up cues and keeps a
record of every one of them in ``EmotionResult.evidence``, so a person can see why a script came
out "sad". No model, no randomness; the same input always gives the same answer.

Text cues (the script, or later a transcript) dominate:

- a hand-written lexicon per emotion: words and stems ("furious", "disappoint*") with weights, a
  few phrases ("can't wait", "how dare", "no way") and emoji/emoticons;
- negation: a cue within three words after not/no/never/…n't (and before any punctuation or
  "but") does not count — "not happy" is not happy. It is not turned into the opposite either:
  "not happy" could be sad or angry, and guessing would make the evidence lie. Exception: "never
  been so happy"/"never been happier" is a superlative, not a negation;
- intensifiers and downtoners just before a cue scale it ("so happy" ×1.5, "a bit sad" ×0.6);
  a cue written in CAPITALS counts 1.5×;
- punctuation: each '!' (up to three) raises the aroused emotions already present by 15%; "?!"
  and "??" are surprise; a script that is mostly CAPITALS is shouting: aroused emotions ×1.3, or
  a lean towards angry if there is nothing else.

Audio cues come from ``Analysis`` (energy, pitch movement in semitones, syllables per second).
High energy with a lively pitch is arousal; low energy, flat pitch and slow speech is low arousal.
With text they only amplify what the words already say (×1.2 — a neutral script read by a lively
TTS voice stays neutral); with no text they decide alone, with at most half the confidence, since
arousal without words says little about which emotion it is.

The winner needs a score of at least ``MIN_SCORE`` (one ordinary cue word); otherwise the result
is neutral. Confidence grows with the winning score and shrinks when other emotions score too.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .analysis import Analysis
from .controls import EMOTIONS

MIN_SCORE = 0.5
AROUSED = ("happy", "angry", "surprised", "fearful")

# Weights: 1.0 a clear cue, 1.5 a strong one, below 1 a word that often means something else.
# A trailing '*' matches any ending ("disappoint*": disappointed, disappointing, disappointment).
LEXICON: dict[str, dict[str, float]] = {
    "happy": {
        "happy": 1, "happi*": 1, "glad": 1, "joy": 1, "joyful": 1.2, "joyous": 1.2, "delight*": 1.2,
        "thrilled": 1.5, "excited": 1.2, "exciting": 1, "excitement": 1, "wonderful": 1.2,
        "fantastic": 1.2, "awesome": 1, "amazing": 0.7, "love": 1, "loved": 1, "lovely": 1,
        "loving": 0.8, "enjoy*": 0.8, "cheerful": 1.2, "cheers": 0.7, "celebrat*": 1,
        "congratulat*": 1.2, "grateful": 1, "thankful": 1, "thanks": 0.5, "thank": 0.5, "yay": 1.5,
        "hooray": 1.5, "proud": 1, "pleased": 1, "smile": 0.8, "smiling": 0.8, "laugh*": 0.8,
        "fun": 0.7, "brilliant": 1, "perfect": 0.6, "great": 0.6, "excellent": 0.8, "terrific": 1,
        "superb": 1, "marvellous": 1, "marvelous": 1, "beautiful": 0.6, "won": 0.7, "win": 0.6,
        "ecstatic": 1.5, "overjoyed": 1.5, "elated": 1.5, "blessed": 0.8, "hopeful": 0.6,
        "nice": 0.5, "best": 0.5, "fortunate": 0.7, "lucky": 0.7,
    },
    "sad": {
        "sad": 1, "sadly": 1, "sadness": 1, "sadder": 1, "saddest": 1.2, "unhappy": 1,
        "miserable": 1.5, "depress*": 1.2, "heartbroken": 1.5, "heartbreak*": 1.5, "grief": 1.5,
        "griev*": 1.2, "mourn*": 1.2, "cry": 1, "cried": 1, "crying": 1, "tears": 1, "tearful": 1,
        "sorrow*": 1.2, "sorry": 0.6, "lonely": 1, "loneliness": 1, "alone": 0.5, "loss": 0.8,
        "lost": 0.5, "gloomy": 1, "gloom": 1, "hopeless": 1.2, "despair*": 1.5, "devastat*": 1.5,
        "disappoint*": 1, "regret*": 0.8, "unfortunately": 0.7, "tragic": 1.2, "tragedy": 1.2,
        "funeral": 1, "died": 1, "death": 0.8, "dead": 0.6, "hurt": 0.7, "hurts": 0.7, "pain": 0.6,
        "painful": 0.8, "weep*": 1.2, "sob": 1, "sobbing": 1.2, "broken": 0.6, "farewell": 0.5,
        "goodbye": 0.4, "melancholy": 1.2, "upset": 0.7, "blue": 0.3, "gone": 0.3, "miss": 0.5,
    },
    "angry": {
        "angry": 1, "angrier": 1, "angrily": 1, "anger": 1, "furious": 1.5, "fury": 1.5,
        "rage": 1.5, "raging": 1.2, "enraged": 1.5, "mad": 0.7, "livid": 1.5, "outrag*": 1.2,
        "annoy*": 0.8, "irritat*": 0.8, "infuriat*": 1.5, "frustrat*": 0.8, "hate": 1.2, "hated": 1.2,
        "hatred": 1.2, "hateful": 1.2, "resent*": 1, "hostile": 1, "unacceptable": 1,
        "ridiculous": 0.7, "disgrace*": 0.8, "damn": 0.7, "dammit": 1, "idiot*": 0.8, "stupid": 0.6,
        "pissed": 1, "fuming": 1.5, "seething": 1.5, "irate": 1.5, "cross": 0.3, "betray*": 1,
        "insult*": 0.8, "liar": 0.8, "lied": 0.6, "sick": 0.3,
    },
    "fearful": {
        "afraid": 1, "scared": 1.2, "scary": 1, "scares": 1, "fear": 1, "feared": 1, "fearful": 1.2,
        "frighten*": 1.2, "terrified": 1.5, "terrifying": 1.5, "terror": 1.5, "horror": 0.7,
        "panic*": 1.2, "anxious": 1, "anxiety": 1, "nervous": 0.8, "worry": 0.8, "worried": 1,
        "worrying": 0.8, "worries": 0.8, "dread*": 1.2, "alarm*": 0.6, "threat": 0.7,
        "threaten*": 0.8, "danger": 0.8, "dangerous": 0.8, "creepy": 0.7, "spooky": 0.7,
        "uneasy": 0.8, "tense": 0.5, "nightmare": 1, "trembl*": 1, "shaking": 0.6, "helpless": 0.8,
        "petrified": 1.5, "horrified": 1, "scream*": 0.7,
    },
    "disgusted": {
        "disgust*": 1.5, "gross": 1, "revolting": 1.5, "revolted": 1.5, "repuls*": 1.5, "nasty": 1,
        "vile": 1.2, "yuck": 1.5, "eww": 1.5, "ew": 1.2, "ugh": 0.7, "sickening": 1.2, "sickened": 1.2,
        "nauseat*": 1.2, "nauseous": 1, "foul": 0.8, "filthy": 1, "filth": 1, "rotten": 1,
        "stink*": 1, "stench": 1, "putrid": 1.5, "icky": 1, "gag": 0.6, "vomit*": 1, "puke": 1,
        "appalled": 0.8, "appalling": 0.8, "distasteful": 1, "slimy": 0.8, "mouldy": 0.8,
        "moldy": 0.8, "grossed": 1, "sick": 0.4,
    },
    "surprised": {
        "surpris*": 1.2, "wow": 1.5, "whoa": 1.5, "woah": 1.5, "omg": 1.5, "astonish*": 1.2,
        "amazed": 1, "amazing": 0.4, "astound*": 1.2, "stunned": 1.2, "shock*": 1,
        "unbelievable": 1, "incredible": 0.6, "unexpected*": 1, "suddenly": 0.6, "speechless": 1,
        "startled": 1.2, "gosh": 0.8, "blimey": 1, "huh": 0.6,
    },
}
PHRASES: dict[tuple[str, ...], dict[str, float]] = {
    ("can't", "wait"): {"happy": 1.2},
    ("cannot", "wait"): {"happy": 1.2},
    ("good", "news"): {"happy": 1.0},
    ("well", "done"): {"happy": 0.8},
    ("passed", "away"): {"sad": 1.5},
    ("miss", "you"): {"sad": 0.8},
    ("how", "dare"): {"angry": 1.5},
    ("fed", "up"): {"angry": 1.0},
    ("shut", "up"): {"angry": 1.0},
    ("sick", "of"): {"angry": 0.8, "disgusted": 0.4},
    ("sick", "and", "tired"): {"angry": 1.2},
    ("grossed", "out"): {"disgusted": 1.5},
    ("oh", "no"): {"fearful": 0.6, "surprised": 0.4},
    ("no", "way"): {"surprised": 1.2},
    ("oh", "my", "god"): {"surprised": 1.2},
    ("oh", "my", "gosh"): {"surprised": 1.2},
    ("can't", "believe"): {"surprised": 1.2},
    ("cannot", "believe"): {"surprised": 1.2},
    ("didn't", "expect"): {"surprised": 1.0},
    ("did", "not", "expect"): {"surprised": 1.0},
}
EMOJI: dict[str, str] = {
    **dict.fromkeys(["😀", "😃", "😄", "😁", "😊", "🙂", "😍", "🥳", "❤", "😂", "🎉"], "happy"),
    **dict.fromkeys([":)", ":-)", ":d", ":-d"], "happy"),
    **dict.fromkeys(["😢", "😭", "☹", "🙁", "😞", "💔", "😔", ":(", ":-(", ":'("], "sad"),
    **dict.fromkeys(["😠", "😡", "🤬", "👿"], "angry"),
    **dict.fromkeys(["😱", "😨", "😰", "😧"], "fearful"),
    **dict.fromkeys(["🤢", "🤮"], "disgusted"),
    **dict.fromkeys(["😮", "😲", "🤯", "😯"], "surprised"),
}
NEGATORS = {"not", "no", "never", "without", "hardly", "barely", "neither", "nor", "cannot", "nobody",
            "nothing", "none", "nowhere", "dont", "cant", "wont", "isnt", "wasnt", "didnt", "doesnt",
            "arent", "aint", "couldnt", "wouldnt", "shouldnt"}  # fmt: skip
NEGATION_WINDOW = 3
MODIFIERS = {"very": 1.5, "so": 1.5, "really": 1.5, "extremely": 1.8, "absolutely": 1.8, "totally": 1.5,
             "incredibly": 1.8, "utterly": 1.8, "completely": 1.5, "truly": 1.5, "super": 1.5, "too": 1.3,
             "deeply": 1.5, "terribly": 1.5, "awfully": 1.5, "such": 1.3, "most": 1.3, "quite": 1.2,
             "pretty": 1.2, "bloody": 1.5, "slightly": 0.6, "somewhat": 0.6, "mildly": 0.6, "bit": 0.6,
             "little": 0.6}  # fmt: skip
SURPRISE_QUESTIONS = {"really", "what", "seriously", "huh", "wait"}  # "Really?" alone is surprise
_PHRASES_LONGEST_FIRST = sorted(PHRASES, key=len, reverse=True)

_TOKEN = re.compile(
    r"(?:(?<=\s)|^)(?::'\(|[:;]-?[()dDpP])(?!\w)|"  # emoticons, standing alone
    r"[^\W\d_]+(?:'[^\W\d_]+)*|"  # words, with inner apostrophes
    r"[!?]+|[.,;:—–]|"
    r"[\U0001F300-\U0001FAFF\u2600-\u27BF]"  # emoji
)


@dataclass(frozen=True)
class EmotionResult:
    emotion: str
    confidence: float
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"emotion": self.emotion, "confidence": self.confidence, "evidence": self.evidence}


def detect_emotion(text: str | None, analysis: Analysis) -> EmotionResult:
    """The emotion to show for this speech, its confidence (0–1) and the evidence."""
    scores = {emotion: 0.0 for emotion in EMOTIONS if emotion != "neutral"}
    tokens = _tokens(text or "")
    words = [t for t in tokens if t[0].isalpha()]
    has_text = bool(words) or any(t.lower() in EMOJI for t in tokens)
    cues = _text_cues(tokens, scores)
    punctuation = _punctuation(text or "", words, scores)
    text_scored = any(score > 0 for score in scores.values())
    audio = _audio(analysis, scores, mode="amplify" if text_scored else ("ignore" if has_text else "decide"))

    ranked = sorted(scores, key=lambda e: (-scores[e], EMOTIONS.index(e)))
    top, runner_up = ranked[0], ranked[1]
    top_score, second_score = scores[top], scores[runner_up]
    method = "+".join(name for name, present in (("text", has_text), ("audio", audio["used"])) if present)
    method = method or "none"
    sources = [
        name
        for name, present in (
            ("words", any(c.get("counted") for found in cues.values() for c in found)),
            ("punctuation/capitals", bool(punctuation["effects"])),
            ("voice", audio["used"]),
        )
        if present
    ]
    if top_score >= MIN_SCORE:
        total = sum(score for score in scores.values() if score > 0)
        confidence = (1 - math.exp(-top_score / 1.2)) * (0.4 + 0.6 * top_score / total)
        confidence = min(confidence, 0.95) if has_text else min(0.5 * confidence, 0.5)
        emotion = top
        if second_score == top_score:
            versus = f"tied with {runner_up}; {top} comes first in the list of emotions"
        elif second_score > 0:
            versus = f"next: {runner_up} {second_score:.2f}"
        else:
            versus = "no other emotion scored"
        decision = f"{top}: highest score {top_score:.2f} ({versus}), from {' and '.join(sources)}"
    else:
        emotion = "neutral"
        base = (0.7 if len(words) >= 6 else 0.55) if has_text else 0.4
        confidence = max(0.1, base - 0.4 * top_score)
        negated = sorted({c["cue"] for found in cues.values() for c in found if not c.get("counted")})
        if top_score > 0:
            decision = f"neutral: no emotion reached {MIN_SCORE} (best: {top} {top_score:.2f})"
        elif negated:
            decision = f"neutral: the only cues were negated ({', '.join(negated)})"
        elif has_text:
            decision = "neutral: no emotional cues in the text"
        else:
            decision = "neutral: no text, and the voice gives no clear cue"
    evidence = {
        "decision": decision,
        "method": method,
        "scores": {e: round(s, 3) for e, s in scores.items()},
        "cues": cues,
        "punctuation": punctuation,
        "audio": audio,
    }
    return EmotionResult(emotion=emotion, confidence=round(confidence, 3), evidence=evidence)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.replace("’", "'").replace("‘", "'"))


@functools.lru_cache(maxsize=4096)
def _lookup(word: str) -> tuple[tuple[str, float], ...]:
    """(emotion, weight) pairs for one lower-case word."""
    hits = []
    for emotion, entries in LEXICON.items():
        weight = entries.get(word)
        if weight is None:
            stems = (w for cue, w in entries.items() if cue.endswith("*") and word.startswith(cue[:-1]))
            weight = next(stems, None)
        if weight is not None:
            hits.append((emotion, float(weight)))
    return tuple(hits)


def _is_negator(word: str) -> bool:
    return word in NEGATORS or word.endswith("n't")


def _text_cues(tokens: list[str], scores: dict[str, float]) -> dict[str, list[dict[str, Any]]]:
    """Score the lexicon cues into ``scores``; returns every cue seen, per emotion."""
    cues: dict[str, list[dict[str, Any]]] = {emotion: [] for emotion in scores}
    lower = [t.lower() for t in tokens]
    negator: str | None = None
    negation_left = 0  # words still inside the current negator's window
    between: list[str] = []  # words between the negator and here
    modifier: tuple[str, float] | None = None
    modifier_left = 0
    i = 0
    while i < len(tokens):
        token, word = tokens[i], lower[i]
        phrase = next((p for p in _PHRASES_LONGEST_FIRST if tuple(lower[i : i + len(p)]) == p), None)
        if phrase is not None:
            # A phrase may contain its own negation ("can't wait"); a negator before it still counts.
            found = list(PHRASES[phrase].items())
            label, width = " ".join(tokens[i : i + len(phrase)]), len(phrase)
        elif word in EMOJI:
            found, label, width = [(EMOJI[word], 1.0)], token, 1
        elif not token[0].isalpha():
            previous = lower[i - 1] if i else ""
            if "?" in token and previous in SURPRISE_QUESTIONS and (i == 1 or not tokens[i - 2][0].isalpha()):
                _count(cues, scores, "surprised", tokens[i - 1] + token, 1.0, None, caps=False)
            negation_left = modifier_left = 0  # punctuation ends a clause
            i += 1
            continue
        elif _is_negator(word):
            negator, negation_left, between = word, NEGATION_WINDOW, []
            i += 1
            continue
        elif word == "but":
            negation_left = modifier_left = 0
            i += 1
            continue
        elif word in MODIFIERS and not (i + 1 < len(tokens) and "?" in tokens[i + 1]):
            modifier, modifier_left = (token, MODIFIERS[word]), 2
            found, label, width = [], token, 1
        else:
            found, label, width = list(_lookup(word)), token, 1
        negated = negation_left > 0 and not _superlative_after_never(negator, between, word)
        caps = label[0].isalpha() and len(label) >= 2 and label.isupper()
        for emotion, weight in found:
            if negated:
                cues[emotion].append({"cue": label, "negated_by": negator, "counted": False})
            else:
                _count(cues, scores, emotion, label, weight, modifier if modifier_left else None, caps=caps)
        if found:
            modifier_left = 0
        elif word not in MODIFIERS:
            modifier_left = max(0, modifier_left - 1)
        if negation_left:
            between.append(word)
            negation_left = max(0, negation_left - width)
        i += width
    return {emotion: found for emotion, found in cues.items() if found}


def _superlative_after_never(negator: str | None, between: list[str], word: str) -> bool:
    # "never been so happy", "never been happier", "never felt more alive": emphasis, not negation.
    return negator == "never" and (bool({"so", "more", "this"} & set(between)) or word.endswith(("ier", "est")))


def _count(cues, scores, emotion, cue, weight, modifier, *, caps) -> None:
    final = weight * (modifier[1] if modifier else 1.0) * (1.5 if caps else 1.0)
    entry: dict[str, Any] = {"cue": cue, "weight": round(final, 3), "counted": True}
    if modifier:
        entry["modifier"] = modifier[0]
    if caps:
        entry["caps"] = True
    cues[emotion].append(entry)
    scores[emotion] += final


def _punctuation(text: str, words: list[str], scores: dict[str, float]) -> dict[str, Any]:
    exclamations = text.count("!")
    questions = text.count("?")
    interrobang = "?!" in text or "!?" in text
    caps_words = [w for w in words if len(w) >= 2 and w.isupper()]
    shouting = len(caps_words) >= 2 and len(caps_words) >= 0.3 * len(words)
    effects: list[str] = []
    if interrobang:
        scores["surprised"] += 1.0
        effects.append("'?!' adds 1.0 to surprised")
    elif "??" in text:
        scores["surprised"] += 0.5
        effects.append("'??' adds 0.5 to surprised")
    if exclamations:
        factor = 1 + 0.15 * min(exclamations, 3)
        boosted = [e for e in AROUSED if scores[e] > 0]
        for emotion in boosted:
            scores[emotion] *= factor
        if boosted:
            effects.append(f"{exclamations} '!' multiply {', '.join(boosted)} by {factor:.2f}")
    if shouting:
        boosted = [e for e in AROUSED if scores[e] > 0]
        for emotion in boosted:
            scores[emotion] *= 1.3
        if boosted:
            effects.append(f"shouting (mostly capitals) multiplies {', '.join(boosted)} by 1.30")
        else:
            scores["angry"] += 0.6
            effects.append("shouting (mostly capitals) with no other cue adds 0.6 to angry")
    return {
        "exclamations": exclamations,
        "questions": questions,
        "interrobang": interrobang,
        "caps_words": caps_words,
        "shouting": shouting,
        "effects": effects,
    }


def _audio(analysis: Analysis, scores: dict[str, float], *, mode: str) -> dict[str, Any]:
    features = analysis.features or {}
    semitones = features.get("pitch_semitones_std")
    rate = features.get("syllable_rate") or 0.0
    voiced = features.get("voiced_s") or 0.0
    report: dict[str, Any] = {
        "used": False,
        "energy": analysis.energy,
        "pitch_semitones_std": semitones,
        "syllable_rate": rate,
        "voiced_s": voiced,
    }
    if voiced < 0.3:
        return {**report, "arousal": "unknown", "effect": "too little speech to judge the voice"}
    if analysis.energy >= 0.7 and semitones is not None and semitones >= 3.0:
        arousal = "high"
    elif analysis.energy <= 0.4 and (semitones is None or semitones <= 1.5) and rate <= 3.5:
        arousal = "low"
    else:
        arousal = "medium"
    report["arousal"] = arousal
    if arousal == "medium":
        return {**report, "effect": "the voice is neither especially lively nor especially flat"}
    if mode == "ignore":
        return {**report, "effect": f"{arousal} arousal ignored: the text has words but no emotional cues"}
    if mode == "amplify":
        targets = [e for e in (AROUSED if arousal == "high" else ("sad",)) if scores[e] > 0]
        for emotion in targets:
            scores[emotion] *= 1.2
        effect = f"{arousal} arousal multiplies {', '.join(targets)} by 1.20" if targets else (
            f"{arousal} arousal, but the text supports none of the emotions it fits"
        )
        return {**report, "used": bool(targets), "effect": effect}
    # No text: the voice decides. Lively speech most often reads as enthusiasm, then surprise.
    leans = {"happy": 0.6, "surprised": 0.45, "angry": 0.4, "fearful": 0.3} if arousal == "high" else {"sad": 0.8}
    for emotion, weight in leans.items():
        scores[emotion] += weight
    lean_text = ", ".join(f"{e} +{w}" for e, w in leans.items())
    return {**report, "used": True, "effect": f"{arousal} arousal with no text: {lean_text}"}
