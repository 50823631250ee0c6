"""The analysis stage on real speech (Piper) and on signals whose answers are known."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from pipeline.analysis import Analysis, analyse
from pipeline.errors import BadInput
from audio_fixtures import piper_voice, speechlike, spoken, write_wav  # noqa: F401

FIRST = "The quick brown fox jumps over the lazy dog."
SECOND = "Then everyone went home for a lovely dinner."


@pytest.fixture(scope="module")
def speech_gap_speech(tmp_path_factory, piper_voice):  # noqa: F811
    """Speech, exactly one second of digital silence, speech; returns (analysis, gap start, gap end)."""
    first, rate = spoken(FIRST)
    second, _ = spoken(SECOND)
    audio = np.concatenate([first, np.zeros(rate, np.float32), second])
    path = write_wav(tmp_path_factory.mktemp("gap") / "speech.wav", audio, rate)
    gap_start = len(first) / rate
    return analyse(path), gap_start, gap_start + 1.0


def test_voiced_spans_find_the_inserted_silence(speech_gap_speech):
    analysis, gap_start, gap_end = speech_gap_speech
    gaps = [(a_end, b_start) for (_, a_end), (b_start, _) in zip(analysis.voiced_spans, analysis.voiced_spans[1:])]
    long_gaps = [gap for gap in gaps if gap[1] - gap[0] > 0.5]
    assert len(long_gaps) == 1
    found_start, found_end = long_gaps[0]
    assert found_start == pytest.approx(gap_start, abs=0.1)
    assert found_end == pytest.approx(gap_end, abs=0.1)
    assert analysis.voiced_spans[0][0] < 0.15  # Piper leaves only a short breath before speaking
    assert analysis.voiced_spans[-1][1] > analysis.duration_s - 0.2


def test_envelope_is_high_in_speech_and_zero_in_the_silence(speech_gap_speech):
    analysis, gap_start, gap_end = speech_gap_speech
    assert len(analysis.envelope) == analysis.n_frames == round(analysis.duration_s * 25)
    envelope = np.array(analysis.envelope)
    times = (np.arange(analysis.n_frames) + 0.5) / analysis.fps
    silence = (times > gap_start + 0.12) & (times < gap_end - 0.05)
    speech = (times > 0.2) & (times < gap_start - 0.3)
    assert np.all(envelope[silence] == 0.0)
    assert envelope[speech].mean() > 0.4 and envelope.max() > 0.9
    assert envelope.min() >= 0.0 and envelope.max() <= 1.0


def test_envelope_follows_syllables(tmp_path):
    # Four clear syllable pulses a second: the envelope must rise and fall four times a second,
    # not smear them into one plateau.
    path = write_wav(tmp_path / "pulses.wav", speechlike(3.0, syllables_per_s=4.0), 44100)
    analysis = analyse(path, fps=25)
    envelope = np.array(analysis.envelope)
    peaks = np.flatnonzero((envelope[1:-1] > envelope[:-2]) & (envelope[1:-1] >= envelope[2:]) & (envelope[1:-1] > 0.8))
    assert len(peaks) == pytest.approx(12, abs=1)
    troughs = [envelope[a:b].min() for a, b in zip(peaks, peaks[1:])]
    assert max(troughs) < 0.5  # it really closes between syllables
    assert analysis.features["syllable_rate"] == pytest.approx(4.0, abs=0.8)


@pytest.mark.parametrize(("fps", "seconds", "frames"), [(25, 2.0, 50), (30, 1.01, 30), (24, 0.5, 12), (60, 0.2, 12)])
def test_one_envelope_value_per_video_frame(tmp_path, fps, seconds, frames):
    path = write_wav(tmp_path / "clip.wav", speechlike(seconds), 44100)
    analysis = analyse(path, fps=fps)
    assert analysis.fps == fps and analysis.n_frames == frames and len(analysis.envelope) == frames


def test_a_fifth_of_a_second_works(tmp_path):
    path = write_wav(tmp_path / "short.wav", speechlike(0.2, syllables_per_s=5.0), 44100)
    analysis = analyse(path)
    assert analysis.n_frames == 5 and len(analysis.envelope) == 5
    assert analysis.voiced_spans and max(analysis.envelope) > 0.5
    assert analysis.duration_s == pytest.approx(0.2)


def test_silence_and_empty_audio_have_no_speech(tmp_path):
    for name, samples in [("silence.wav", np.zeros(44100)), ("empty.wav", np.zeros(0))]:
        analysis = analyse(write_wav(tmp_path / name, samples, 44100))
        assert analysis.voiced_spans == [] and set(analysis.envelope) == {0.0}
        assert analysis.energy == 0.0 and analysis.n_frames >= 1
        assert analysis.features["pitch_hz_mean"] is None


def test_background_noise_is_not_speech(tmp_path):
    rng = np.random.default_rng(7)
    noise = (0.003 * rng.standard_normal(44100 * 4)).astype(np.float32)  # about -50 dBFS
    audio = noise.copy()
    audio[: 44100 * 1] += speechlike(1.0)
    audio[44100 * 3 :] += speechlike(1.0)
    analysis = analyse(write_wav(tmp_path / "noisy.wav", audio, 44100))
    assert len(analysis.voiced_spans) == 2
    (_, first_end), (second_start, _) = analysis.voiced_spans
    assert first_end == pytest.approx(1.0, abs=0.15) and second_start == pytest.approx(3.0, abs=0.1)


def test_pitch_of_a_known_voice(tmp_path):
    steady = analyse(write_wav(tmp_path / "steady.wav", speechlike(2.0, f0=150.0), 44100))
    assert steady.features["pitch_hz_median"] == pytest.approx(150.0, abs=3)
    assert steady.features["pitch_semitones_std"] < 0.3
    # ±3 semitone sine glide: its standard deviation is 3/√2 ≈ 2.1 semitones.
    lively = analyse(write_wav(tmp_path / "lively.wav", speechlike(2.0, f0=120.0, glide_semitones=3.0), 44100))
    assert lively.features["pitch_semitones_std"] == pytest.approx(2.12, abs=0.4)


def test_pitch_of_piper_is_a_male_speaking_voice(speech_gap_speech):
    features = speech_gap_speech[0].features
    assert 70 < features["pitch_hz_median"] < 160
    assert 0.5 < features["pitch_semitones_std"] < 6
    assert 2.5 < features["syllable_rate"] < 7
    assert 0.3 < features["voiced_ratio"] < 1.0


def test_louder_livelier_speech_has_more_energy(tmp_path):
    quiet = analyse(write_wav(tmp_path / "q.wav", speechlike(2.0, amplitude=0.02, syllables_per_s=2.5), 44100))
    loud = analyse(write_wav(tmp_path / "l.wav", speechlike(2.0, amplitude=0.6, glide_semitones=5.0), 44100))
    assert 0.0 <= quiet.energy < 0.4 < 0.7 < loud.energy <= 1.0
    assert set(loud.features["energy_parts"]) == {"loudness", "pitch_variation", "rate"}


def test_to_dict_round_trips_through_json(speech_gap_speech):
    analysis = speech_gap_speech[0]
    data = json.loads(json.dumps(analysis.to_dict(), allow_nan=False))
    assert set(data) == {"duration_s", "fps", "n_frames", "envelope", "voiced_spans", "energy", "features"}
    assert Analysis.from_dict(data) == analysis
    with pytest.raises(ValueError, match="envelope has"):
        Analysis.from_dict({**data, "n_frames": data["n_frames"] + 1})


def test_analysis_is_deterministic(tmp_path):
    path = write_wav(tmp_path / "clip.wav", speechlike(1.0, glide_semitones=2.0), 44100)
    assert analyse(path) == analyse(path)


def test_fps_must_be_sensible(tmp_path):
    path = write_wav(tmp_path / "clip.wav", speechlike(0.5), 44100)
    with pytest.raises(BadInput, match="fps must be between 1 and 120"):
        analyse(path, fps=0)


def test_ten_minutes_is_quick(tmp_path):
    rate = 44100
    block = np.concatenate([speechlike(3.0, rate=rate, glide_semitones=2.0), np.zeros(3 * rate, np.float32)])
    path = write_wav(tmp_path / "long.wav", np.tile(block, 100), rate)  # 600 s: 3 s speech, 3 s pause
    started = time.perf_counter()
    analysis = analyse(path)
    elapsed = time.perf_counter() - started
    print(f"\nanalysis of {analysis.duration_s:.0f} s of 44.1 kHz audio: {elapsed:.2f} s")
    assert elapsed < 10.0
    assert analysis.n_frames == 15000 and len(analysis.envelope) == 15000
    assert len(analysis.voiced_spans) == 100
    assert analysis.features["voiced_ratio"] == pytest.approx(0.5, abs=0.05)
