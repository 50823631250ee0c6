"""A persona's voice speed and pitch (``voice_tuning``; ``pipeline/speech/tuning.py``): measured from
the audio the voice makes — its length for the speed, its fundamental frequency (autocorrelation)
for the pitch — and followed from the persona file and the editor through a render, a spoken chat
reply and a job's record. At the default nothing changes: not the call to Piper, not a file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import fake_llm
from conftest import run_app
from personas import PersonaStore
from personas.form import blank_form, form_from_persona, persona_from_form, save_form
from personas.model import Persona
from pipeline.chat import Chat, ChatRequest
from pipeline.db import JobStore
from pipeline.errors import BadInput
from pipeline.history import rerender_request
from pipeline.speech import get_voice, make_speech
from pipeline.speech.tuning import VoiceTuning, resample, resample_counts
from audio_fixtures import piper_voice  # noqa: F401  (fixture)

SCRIPT = "We measured the voice today, and it sounded calm, clear and steady all along."


def duration(tuning: VoiceTuning, runs: int = 2) -> float:
    """Seconds of speech the default voice makes of ``SCRIPT`` at ``tuning`` (mean of ``runs``: Piper's
    durations vary by a percent or two from one run to the next)."""
    voice = get_voice(None, tuning=tuning)
    return float(np.mean([len(s.samples) / s.sample_rate for s in (voice.synthesize(SCRIPT) for _ in range(runs))]))


def median_f0(samples: np.ndarray, rate: int, low_hz: float = 50.0, high_hz: float = 400.0) -> float:
    """The median fundamental frequency of the voiced 40 ms frames, from each frame's autocorrelation."""
    frame, samples = int(0.04 * rate), np.asarray(samples, dtype=np.float64)
    starts = range(0, len(samples) - frame, frame // 2)
    loudness = np.array([np.sqrt(np.mean(samples[s:s + frame] ** 2)) for s in starts])
    shortest, longest = int(rate / high_hz), int(rate / low_hz)
    found = []
    for start, rms in zip(starts, loudness):
        if rms < 0.2 * loudness.max():
            continue  # pauses and consonants
        x = samples[start:start + frame] - samples[start:start + frame].mean()
        correlation = np.correlate(x, x, "full")[frame - 1:]
        lag = shortest + int(np.argmax(correlation[shortest:longest]))
        if correlation[lag] > 0.5 * correlation[0]:  # periodic: a voiced frame
            found.append(rate / lag)
    assert len(found) > 20, "too few voiced frames to measure a pitch"
    return float(np.median(found))


# ---- the values ------------------------------------------------------------------------------------


def test_tuning_is_checked_and_only_what_differs_from_the_default_is_kept():
    assert VoiceTuning().is_default and VoiceTuning().to_data() == {}
    assert VoiceTuning(speed=1.25).to_data() == {"speed": 1.25}
    assert VoiceTuning.from_data({"pitch": -3}) == VoiceTuning(pitch=-3.0)
    for bad, message in (({"speed": 0.2}, "speed must be a number from 0.5 to 2"),
                         ({"speed": "fast"}, "speed must be a number from 0.5 to 2 .*got 'fast'"),
                         ({"pitch": 13}, "pitch must be a number from -12 to 12 \\(semitones\\), got 13"),
                         ({"pitch": float("nan")}, "pitch must be a number"), ({"speed": True}, "speed must be"),
                         ({"tempo": 1}, "unknown key 'tempo'; voice_tuning has: speed, pitch"),
                         ("fast", "voice_tuning must be a mapping")):
        with pytest.raises(BadInput, match=f"^voice_tuning: {message}|^{message}"):
            VoiceTuning.from_data(bad)


def test_resampling_moves_every_frequency_and_keeps_phoneme_counts_whole():
    rate = 22050
    tone = 0.5 * np.sin(2 * np.pi * 200 * np.arange(rate) / rate)
    higher = resample(tone, round(rate / 1.5))  # read at the same rate: 1.5 × every frequency
    spectrum = np.abs(np.fft.rfft(higher))
    assert np.argmax(spectrum) * rate / len(higher) == pytest.approx(300, abs=2)
    assert np.abs(higher).max() == pytest.approx(0.5, abs=0.02)  # as loud as it was
    assert resample_counts([100, 250, 50], 400, 300) == [75, 187, 38]  # boundaries 75, 262, 300
    assert sum(resample_counts([7, 13, 9, 11], 40, 31)) == 31


# ---- measured from the voice ------------------------------------------------------------------------


def test_speed_changes_the_length_of_the_speech(piper_voice):  # noqa: F811
    own = duration(VoiceTuning())
    assert duration(VoiceTuning(speed=1.5)) == pytest.approx(own / 1.5, rel=0.08)
    assert duration(VoiceTuning(speed=0.75)) == pytest.approx(own / 0.75, rel=0.08)


@pytest.mark.parametrize("semitones", [4.0, -4.0])
def test_pitch_moves_the_fundamental_and_keeps_the_length(piper_voice, semitones):  # noqa: F811
    plain = get_voice(None).synthesize(SCRIPT)
    tuned = get_voice(None, tuning=VoiceTuning(pitch=semitones)).synthesize(SCRIPT)
    assert tuned.sample_rate == plain.sample_rate
    ratio = median_f0(tuned.samples, tuned.sample_rate) / median_f0(plain.samples, plain.sample_rate)
    # Within 2 semitones of the shift asked for (+4: × 1.26, -4: × 0.79), the right way, and never none.
    # Piper speaks a little higher when asked to speak faster (the engine's half of a shift down), so -4
    # measures -2.3 to -3.6 semitones over repeated syntheses (its noise varies the prosody call to call).
    shifted = 12 * np.log2(ratio)
    assert abs(shifted - semitones) <= 2.0 and shifted * semitones > 0, f"{shifted:+.2f} semitones for {semitones:+}"
    assert len(tuned.samples) == pytest.approx(len(plain.samples), rel=0.08)
    assert tuned.phonemes is not None  # still lip-synced: the timings tile the shifted clip
    assert tuned.phonemes[-1].end == pytest.approx(len(tuned.samples) / tuned.sample_rate, abs=1e-4)


def test_the_default_tuning_is_the_voice_as_it_was(piper_voice, tmp_path):  # noqa: F811
    voice = get_voice(None)
    assert voice.tuned(VoiceTuning()) is voice and voice.tuning.is_default
    make_speech(text="Hello there.", audio_path=None, out_dir=tmp_path, tuning=VoiceTuning())
    assert "voice_tuning" not in json.loads((tmp_path / "speech.json").read_text())
    assert Persona(id="mira", name="Mira", identity="x").to_data().get("voice_tuning") is None


# ---- the persona, the editor and the jobs ------------------------------------------------------------


def form(**changes) -> dict:
    return {**blank_form(), "name": "Mira Okafor", "identity": "You are a structural engineer.", **changes}


def test_the_persona_file_keeps_a_tuning_only_when_set(settings):
    store = PersonaStore(settings)
    plain = save_form(store, form(id="mira"))
    assert plain.voice_tuning.is_default
    assert "voice_tuning" not in (store.user_dir / "mira" / "persona.yaml").read_text()
    tuned = save_form(store, form(id="mira", voice_speed=1.2, voice_pitch=-2.5), loaded_id="mira")
    assert tuned.voice_tuning == VoiceTuning(speed=1.2, pitch=-2.5)
    text = (store.user_dir / "mira" / "persona.yaml").read_text()
    assert "voice_tuning:\n  speed: 1.2\n  pitch: -2.5\n" in text
    values = form_from_persona(store.get("mira"))
    assert (values["voice_speed"], values["voice_pitch"]) == (1.2, -2.5)
    with pytest.raises(BadInput, match="^Voice speed and pitch: voice_tuning: speed must be a number from 0.5 to 2"):
        persona_from_form(form(id="mira", voice_speed=3))
    with pytest.raises(BadInput, match="persona.yaml: voice_tuning: unknown key 'tempo'"):
        Persona.from_dict({"id": "mira", "name": "Mira", "identity": "x", "voice_tuning": {"tempo": 2}},
                          source="persona.yaml")


@pytest.fixture
def tuned_jenniel(settings):
    store = PersonaStore(settings)
    jenniel = store.get("jenniel")
    store.save(Persona.from_dict({**jenniel.to_data(), "voice_tuning": {"speed": 1.3, "pitch": 2}}),
               portrait=store.portrait_path(jenniel))
    return store.get("jenniel")


def test_a_render_for_the_persona_speaks_at_its_tuning_and_records_it(settings, tuned_jenniel, capsys):
    code, out, err = run_app(capsys, "render", "--persona", "jenniel", "--text", "Profit logic first.", "--json")
    assert code == 0, err
    job = JobStore(settings.db_path).get(json.loads(out)["job_id"])
    assert job.options["voice_tuning"] == {"speed": 1.3, "pitch": 2.0}
    speech = json.loads((settings.job_dir(job.id) / "speech.json").read_text())
    assert speech["voice_tuning"] == {"speed": 1.3, "pitch": 2.0}
    assert rerender_request(settings, job, "embedded").voice_tuning == VoiceTuning(speed=1.3, pitch=2)


def test_a_spoken_chat_reply_uses_the_persona_s_tuning(settings, tuned_jenniel):
    fake_llm.install().enqueue("Profit logic first, always.")
    reply = Chat(settings).ask(ChatRequest(persona="jenniel", message="What first?", llm="fake", output="audio"))
    speech = json.loads((Path(reply.audio).parent / "speech.json").read_text())
    assert speech["voice_tuning"] == {"speed": 1.3, "pitch": 2.0}
