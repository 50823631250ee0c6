"""Hands-free turns (pipeline.turns) on real speech: Piper's voice as the microphone, through the
real Silero VAD model from faster-whisper's wheel. Fed at 48 kHz in 0.2 s chunks: the rate a
browser that cannot record at 16 kHz sends, in the longer chunks a page that fell behind sends
(the Live tab's recorder normally sends 0.1 s at 16 kHz: tests/test_live_mic.py)."""

from __future__ import annotations

import numpy as np
import pytest
from audio_fixtures import spoken, write_wav

from pipeline.turns import (
    EARLY_S,
    END_SILENCE_S,
    PRE_ROLL_S,
    WINDOW,
    ToVADRate,
    TurnDetector,
    VADState,
    to_vad_rate,
    vad_model,
)

MIC_RATE = 48_000
CHUNK = MIC_RATE // 5  # 0.2 s
QUESTION = "How do I find the customers who pay more than they cost?"
SECOND = "And what should we measure every quarter?"


def at_mic_rate(text: str) -> np.ndarray:
    samples, rate = spoken(text)
    count = int(len(samples) * MIC_RATE / rate)
    resampled = np.interp(np.arange(count) * (rate / MIC_RATE), np.arange(len(samples)), samples)
    return (np.clip(resampled, -1, 1) * 32767).astype(np.int16)


def quiet(seconds: float, *, seed: int = 0) -> np.ndarray:
    """A room: low noise, no voice."""
    return (np.random.default_rng(seed).standard_normal(int(seconds * MIC_RATE)) * 30).astype(np.int16)


def listen(audio: np.ndarray, detector: TurnDetector | None = None, chunk: int = CHUNK, *,
           pauses: bool = False) -> list:
    """The detector's events for ``audio`` fed in chunks (``pause`` ones only when asked for)."""
    detector = detector or TurnDetector()
    events = [event for start in range(0, len(audio), chunk) for event in detector.feed(MIC_RATE, audio[start:start + chunk])]
    return [event for event in events if pauses or event.kind != "pause"]


@pytest.fixture(scope="module")
def question() -> np.ndarray:
    return at_mic_rate(QUESTION)


def test_a_room_with_nobody_talking_is_no_turn():
    assert listen(quiet(5.0)) == []


def test_a_question_is_one_onset_then_one_turn_a_pause_after_it_ends(question, settings, tmp_path):
    from pipeline.speech.stt import transcribe_file

    audio = np.concatenate([quiet(1.0), question, quiet(1.5, seed=1)])
    events = listen(audio)
    assert [event.kind for event in events] == ["speech", "turn"]
    onset, turn = events
    spoken_s = len(question) / MIC_RATE
    assert 1.0 <= onset.started_s <= 1.35 and onset.at_s - onset.started_s == pytest.approx(0.096, abs=1e-6)
    assert turn.started_s == onset.started_s
    assert 1.0 + spoken_s - 0.5 <= turn.ended_s <= 1.0 + spoken_s + 0.05
    assert turn.at_s - turn.ended_s == pytest.approx(END_SILENCE_S, abs=WINDOW / 16_000 + 1e-6)
    assert turn.rate == MIC_RATE and turn.audio.dtype == np.int16
    assert len(turn.audio) == pytest.approx((turn.ended_s - turn.started_s + PRE_ROLL_S) * MIC_RATE, abs=2)
    heard = transcribe_file(settings, write_wav(tmp_path / "turn.wav", turn.audio / 32768.0, MIC_RATE)).text.lower()
    assert "customers" in heard and "cost" in heard, heard


def test_a_pause_says_early_what_the_turn_will_be(question):
    """``pause`` comes EARLY_S after the speech stops, with the very audio the turn then has: what
    lets the Live tab transcribe the question while it waits for the end-of-turn pause."""
    events = listen(np.concatenate([quiet(1.0), question, quiet(1.5, seed=1)]), pauses=True)
    kinds = [event.kind for event in events]
    assert kinds[0] == "speech" and kinds[-2:] == ["pause", "turn"], kinds
    pause, turn = events[-2:]
    assert pause.at_s - pause.ended_s == pytest.approx(EARLY_S, abs=WINDOW / 16_000 + 1e-6)
    assert pause.at_s < turn.at_s and pause.rate == turn.rate
    assert (pause.started_s, pause.ended_s, pause.continues) == (turn.started_s, turn.ended_s, turn.continues)
    assert np.array_equal(pause.audio, turn.audio)


def test_a_breath_is_a_pause_that_a_later_one_replaces(question):
    second = at_mic_rate(SECOND)
    events = listen(np.concatenate([quiet(0.5), question, quiet(0.3), second, quiet(1.2)]), pauses=True)
    pauses = [event for event in events if event.kind == "pause"]
    turn = events[-1]
    assert turn.kind == "turn" and [event.kind for event in events].count("turn") == 1
    breath = [pause for pause in pauses if pause.ended_s < 0.5 + len(question) / MIC_RATE + 0.1]
    assert breath and all(pause.ended_s < turn.ended_s for pause in breath)  # its guess is not the question
    assert pauses[-1].ended_s == turn.ended_s and np.array_equal(pauses[-1].audio, turn.audio)
    assert len({pause.ended_s for pause in pauses}) == len(pauses)  # one pause per stop in the speech


def test_chunk_size_does_not_change_what_is_heard(question):
    audio = np.concatenate([quiet(0.7), question, quiet(1.2)])
    by_chunks = [(event.kind, event.at_s, event.started_s, event.ended_s) for event in listen(audio)]
    odd = [(event.kind, event.at_s, event.started_s, event.ended_s) for event in listen(audio, chunk=4_321)]
    whole = [(event.kind, event.at_s, event.started_s, event.ended_s) for event in listen(audio, chunk=len(audio))]
    assert by_chunks == odd == whole and len(by_chunks) == 2


def test_the_model_reads_a_stream_in_pieces_as_it_would_read_it_whole(question):
    audio = to_vad_rate(question, MIC_RATE)
    audio = audio[:len(audio) // WINDOW * WINDOW]
    model = vad_model()
    whole = model.probabilities(VADState(), audio)
    state = VADState()
    pieces = np.concatenate([model.probabilities(state, audio[start:start + 3 * WINDOW])
                             for start in range(0, len(audio), 3 * WINDOW)])
    assert len(whole) == len(audio) // WINDOW and np.array_equal(whole, pieces)
    assert whole.max() > 0.9 and whole.min() < 0.2  # it hears speech, and the gaps between words


def test_a_breath_between_phrases_is_one_turn_a_real_pause_is_two(question):
    second = at_mic_rate(SECOND)
    breath = listen(np.concatenate([quiet(0.5), question, quiet(0.3), second, quiet(1.2)]))
    assert [event.kind for event in breath] == ["speech", "turn"]
    assert breath[1].ended_s - breath[1].started_s > (len(question) + len(second)) / MIC_RATE - 0.8
    two = listen(np.concatenate([quiet(0.5), question, quiet(2.5), second, quiet(1.2)]))
    assert [event.kind for event in two] == ["speech", "turn", "speech", "turn"]
    assert not two[3].continues and two[3].started_s > two[1].ended_s + 2.0


def test_going_on_after_a_turn_ended_asks_the_whole_question(question, settings, tmp_path):
    """A pause long enough to end a turn, then more: the first half is a turn (its answer starts, and
    the "speech" that follows stops it), and the next turn is the whole question."""
    from pipeline.speech.stt import transcribe_file

    second = at_mic_rate(SECOND)
    events = listen(np.concatenate([quiet(0.5), question, quiet(1.0), second, quiet(1.2)]))
    assert [event.kind for event in events] == ["speech", "turn", "speech", "turn"]
    first, whole = events[1], events[3]
    assert not first.continues and whole.continues and whole.started_s == first.started_s
    assert len(whole.audio) > len(question) + len(second)
    heard = transcribe_file(settings, write_wav(tmp_path / "whole.wav", whole.audio / 32768.0, MIC_RATE)).text.lower()
    assert "customers" in heard and "quarter" in heard, heard


def test_a_monologue_is_refused_then_the_next_question_is_heard(question):
    detector = TurnDetector(max_turn_s=2.0)
    short = at_mic_rate("Where do we start?")
    assert len(short) / MIC_RATE < 2.0 < len(question) / MIC_RATE
    events = listen(np.concatenate([quiet(0.5), question, quiet(1.0), short, quiet(1.2)]), detector)
    assert [event.kind for event in events] == ["speech", "too_long", "speech", "turn"]
    assert events[1].at_s - events[0].started_s == pytest.approx(2.0, abs=0.05)
    assert events[3].started_s > 0.5 + len(question) / MIC_RATE  # the second question, not the rest of the first


def test_a_click_is_not_a_question():
    click = np.zeros(int(0.03 * MIC_RATE), np.int16)
    click[::7] = 20_000
    events = listen(np.concatenate([quiet(0.5), click, quiet(1.5)]))
    assert "turn" not in [event.kind for event in events]


def test_stereo_float_and_other_rates_are_read_too(question):
    mono = to_vad_rate(question, MIC_RATE)
    stereo = np.stack([question, question], axis=1).astype(np.float32) / 32768.0
    assert np.allclose(to_vad_rate(stereo, MIC_RATE), mono, atol=1e-6)
    at_44k = to_vad_rate(question[:44_100], 44_100)
    assert len(at_44k) == 16_000
    for rate in (44_100, 48_000, 16_000, 22_050):  # read in odd pieces, the same samples as read whole
        resample = ToVADRate(rate)
        pieces = np.concatenate([resample(question[start:start + 4_321]) for start in range(0, 88_200, 4_321)])
        whole = to_vad_rate(question[:88_200 + 4_321 - 88_200 % 4_321], rate)
        assert len(pieces) == len(whole) and np.allclose(pieces, whole, atol=1e-5), rate
    detector = TurnDetector()
    detector.feed(MIC_RATE, quiet(0.2))
    with pytest.raises(ValueError, match="changed from 48000 to 44100"):
        detector.feed(44_100, quiet(0.2))
