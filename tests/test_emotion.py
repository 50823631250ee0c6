"""The emotion stage: the decision, its confidence, and whether the evidence explains it."""

from __future__ import annotations

import json

import pytest

from pipeline.analysis import Analysis, analyse
from pipeline.controls import EMOTIONS
from pipeline.emotion import EmotionResult, detect_emotion
from audio_fixtures import piper_voice, speechlike, spoken, write_wav  # noqa: F401


def voice(energy: float, semitones: float | None, syllables: float, voiced_s: float = 3.0) -> Analysis:
    """An analysis with the given voice features (what ``analyse`` would report for such a voice)."""
    return Analysis(
        duration_s=voiced_s, fps=25, n_frames=round(voiced_s * 25), envelope=[0.5] * round(voiced_s * 25),
        voiced_spans=[(0.0, voiced_s)], energy=energy,
        features={"pitch_semitones_std": semitones, "syllable_rate": syllables, "voiced_s": voiced_s},
    )  # fmt: skip


CALM = voice(0.55, 2.0, 4.5)  # an ordinary voice: neither lively nor flat
LIVELY = voice(0.85, 4.5, 5.5)
FLAT = voice(0.25, 0.8, 2.5)


@pytest.fixture(scope="module")
def piper_analysis(tmp_path_factory, piper_voice):  # noqa: F811
    """The analysis of real TTS speech, as the pipeline would pass it."""
    samples, rate = spoken("The quick brown fox jumps over the lazy dog.")
    return analyse(write_wav(tmp_path_factory.mktemp("emotion") / "speech.wav", samples, rate))


@pytest.mark.parametrize(
    ("text", "emotion"),
    [
        ("I'm so happy, this is wonderful news!", "happy"),
        ("We won the championship, I'm thrilled and so proud of everyone.", "happy"),
        ("I feel so sad and lonely since my grandmother passed away.", "sad"),
        ("Unfortunately the trip is cancelled and I'm really disappointed.", "sad"),
        ("This is absolutely unacceptable and I am furious about it!", "angry"),
        ("How dare you lie to me? I hate this.", "angry"),
        ("Wow, I did not expect that at all!", "surprised"),
        ("What?! You got married?", "surprised"),
        ("I'm terrified of what might happen in the dark.", "fearful"),
        ("I'm worried and anxious about the surgery tomorrow.", "fearful"),
        ("Ugh, that smell is disgusting, the fridge is full of rotten food.", "disgusted"),
        ("Yuck, this soup is revolting.", "disgusted"),
        ("The meeting is scheduled for three o'clock in room four.", "neutral"),
        ("Please send the quarterly report to the finance team by Friday.", "neutral"),
    ],
)
def test_clear_sentences(text, emotion, piper_analysis):
    result = detect_emotion(text, piper_analysis)
    assert result.emotion == emotion, result.evidence["decision"]
    assert result.evidence["decision"].startswith(f"{emotion}:")
    assert 0.5 <= result.confidence <= 0.95


def test_negation_stops_a_cue_from_counting_and_says_so():
    result = detect_emotion("I am not happy about this.", CALM)
    assert result.emotion == "neutral"
    assert result.evidence["cues"]["happy"] == [{"cue": "happy", "negated_by": "not", "counted": False}]
    assert result.evidence["scores"]["happy"] == 0.0
    assert "negated" in result.evidence["decision"]


@pytest.mark.parametrize(
    ("text", "emotion"),
    [
        ("I don't feel sad at all, I'm thrilled!", "happy"),  # n't negates sad; the comma ends it
        ("I'm not angry, but I am a bit scared.", "fearful"),  # "but" ends the negation
        ("I'm never happy here.", "neutral"),
        ("I have never been so happy in my life.", "happy"),  # emphasis, not negation
        ("I can't wait to see you!", "happy"),  # a phrase, not a negated "wait"
        ("There is no way this is happening!", "surprised"),
    ],
)
def test_negation_scope(text, emotion):
    result = detect_emotion(text, CALM)
    assert result.emotion == emotion, result.evidence


def test_intensifiers_exclamations_and_capitals_raise_the_score():
    plain = detect_emotion("I am happy.", CALM).evidence["scores"]["happy"]
    very = detect_emotion("I am very happy.", CALM).evidence["scores"]["happy"]
    bang = detect_emotion("I am very happy!!", CALM).evidence["scores"]["happy"]
    caps = detect_emotion("I am very HAPPY!!", CALM).evidence["scores"]["happy"]
    slightly = detect_emotion("I am slightly happy.", CALM).evidence["scores"]["happy"]
    assert slightly < plain < very < bang < caps
    evidence = detect_emotion("I am very HAPPY!!", CALM).evidence
    assert evidence["cues"]["happy"] == [
        {"cue": "HAPPY", "weight": 2.25, "counted": True, "modifier": "very", "caps": True}
    ]
    assert evidence["punctuation"]["exclamations"] == 2
    assert evidence["punctuation"]["effects"] == ["2 '!' multiply happy by 1.30"]


def test_shouting_without_cue_words_leans_angry_with_low_confidence():
    result = detect_emotion("GET OUT OF MY HOUSE RIGHT NOW", CALM)
    assert result.emotion == "angry" and result.confidence < 0.5
    assert result.evidence["punctuation"]["shouting"] is True
    assert "punctuation/capitals" in result.evidence["decision"]


def test_emoji_and_emoticons_are_cues():
    assert detect_emotion("See you tomorrow :)", CALM).emotion == "happy"
    assert detect_emotion("My flight got cancelled 😭", CALM).emotion == "sad"
    assert detect_emotion("The ratio:data file", CALM).emotion == "neutral"  # not an emoticon


def test_text_dominates_the_voice():
    # A lively voice reading a neutral script stays neutral: TTS voices are lively by design.
    neutral = detect_emotion("The train leaves from platform two at noon.", LIVELY)
    assert neutral.emotion == "neutral"
    assert neutral.evidence["audio"]["arousal"] == "high" and neutral.evidence["audio"]["used"] is False
    # ...but it does strengthen what the words say.
    calm = detect_emotion("I am happy.", CALM)
    lively = detect_emotion("I am happy.", LIVELY)
    assert lively.evidence["scores"]["happy"] == pytest.approx(1.2 * calm.evidence["scores"]["happy"])
    assert lively.evidence["method"] == "text+audio"


def test_audio_alone_decides_with_lower_confidence():
    lively = detect_emotion(None, LIVELY)
    flat = detect_emotion(None, FLAT)
    calm = detect_emotion(None, CALM)
    assert lively.emotion in {"happy", "angry", "surprised", "fearful"} and lively.confidence <= 0.5
    assert flat.emotion == "sad" and flat.confidence <= 0.5
    assert calm.emotion == "neutral" and calm.confidence <= 0.5
    assert flat.evidence["method"] == "audio" and flat.evidence["audio"]["arousal"] == "low"
    text_sad = detect_emotion("I am sad.", FLAT)
    assert text_sad.emotion == "sad" and text_sad.confidence > flat.confidence


def test_audio_only_on_real_recordings(tmp_path):
    # Loud, fast, with a wide pitch swing vs quiet, slow and monotone.
    lively_voice = speechlike(3.0, amplitude=0.6, syllables_per_s=5.5, glide_semitones=6)
    lively = analyse(write_wav(tmp_path / "l.wav", lively_voice, 44100))
    flat = analyse(write_wav(tmp_path / "f.wav", speechlike(3.0, amplitude=0.01, syllables_per_s=2.0), 44100))
    assert detect_emotion(None, lively).evidence["audio"]["arousal"] == "high"
    assert detect_emotion(None, flat).emotion == "sad"


def test_too_little_speech_to_judge_the_voice():
    result = detect_emotion(None, voice(0.9, 5.0, 6.0, voiced_s=0.1))
    assert result.emotion == "neutral"
    assert result.evidence["audio"]["arousal"] == "unknown"


def test_evidence_explains_the_decision():
    result = detect_emotion("Oh no, I'm so scared of the storm tonight!", CALM)
    evidence = result.evidence
    assert result.emotion == "fearful"
    assert set(evidence) == {"decision", "method", "scores", "cues", "punctuation", "audio"}
    assert set(evidence["scores"]) == set(EMOTIONS) - {"neutral"}
    assert max(evidence["scores"], key=evidence["scores"].get) == "fearful"
    assert [c["cue"] for c in evidence["cues"]["fearful"]] == ["Oh no", "scared"]
    assert evidence["cues"]["fearful"][1]["modifier"] == "so"
    assert "fearful: highest score" in evidence["decision"]
    json.dumps(result.to_dict(), allow_nan=False)


def test_ties_are_broken_openly():
    result = detect_emotion("I am happy and sad.", CALM)
    assert result.emotion == "happy"
    assert "tied with sad" in result.evidence["decision"]
    assert result.confidence < 0.5


def test_deterministic_and_always_a_known_emotion(piper_analysis):
    texts = ["I love it!", "meh", "", None, "No. Never. Not again.", "WOW!!! 😱", "a" * 5000, "gross? no: lovely!"]
    for text in texts:
        first, second = detect_emotion(text, piper_analysis), detect_emotion(text, piper_analysis)
        assert first == second and isinstance(first, EmotionResult)
        assert first.emotion in EMOTIONS and 0.0 <= first.confidence <= 1.0
        assert json.loads(json.dumps(first.to_dict())) == first.to_dict()


def test_emoji_alone_is_text_not_voice():
    result = detect_emotion("😡😡", CALM)
    assert result.emotion == "angry" and result.evidence["method"] == "text"
