"""Hosted voices (``pipeline/speech/hosted.py``) against real HTTP servers on 127.0.0.1 that answer
like the vendors (``tests/fake_vendors.py``): an OpenAI-compatible ``/v1/audio/speech`` and
ElevenLabs' text-to-speech. Success is audio the pipeline uses — a render included, though the
vendors give no phoneme timings; 401, 429, 5xx and timeouts are one clear message, and a render
that meets one is a failed job with that message."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_app
from fake_vendors import SPEECH_KEY, FakeElevenLabs, FakeOpenAISpeech, delayed
from pipeline.db import JobStore
from pipeline.errors import AuthFailed, BackendUnavailable, RateLimited, RemoteError, RemoteTimeout
from pipeline.settings import resolve
from pipeline.speech import get_voice, make_speech
from pipeline.speech.samples import voice_catalog
from pipeline.speech.tuning import VoiceTuning
from test_voice_tuning import median_f0


@pytest.fixture
def openai_speech(monkeypatch):
    with FakeOpenAISpeech() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", SPEECH_KEY)
        monkeypatch.setenv("OPENAI_TTS_BASE_URL", fake.base_url)
        monkeypatch.setenv("AVATAR_STUDIO_TTS_RETRIES", "0")
        yield fake


@pytest.fixture
def elevenlabs(monkeypatch):
    with FakeElevenLabs() as fake:
        monkeypatch.setenv("ELEVENLABS_API_KEY", SPEECH_KEY)
        monkeypatch.setenv("ELEVENLABS_BASE_URL", fake.base_url)
        monkeypatch.setenv("AVATAR_STUDIO_TTS_RETRIES", "0")
        yield fake


def speak(voice: str, out_dir, tuning: VoiceTuning | None = None) -> dict:
    """``speech.json`` after the stage spoke a line with ``voice``."""
    make_speech(text="Profit logic beats market share.", audio_path=None, out_dir=out_dir, voice=voice,
                settings=resolve(dotenv=False), tuning=tuning)
    return json.loads((out_dir / "speech.json").read_text())


def test_without_keys_they_are_listed_with_what_to_set(settings):
    listed = {info.name: info for info in voice_catalog(settings)}
    assert listed["openai-tts"].reason.startswith("OPENAI_API_KEY is not set")
    assert listed["elevenlabs"].reason.startswith("ELEVENLABS_API_KEY is not set")
    with pytest.raises(BackendUnavailable, match="^OPENAI_API_KEY is not set"):
        get_voice("openai-tts:nova", settings)


def test_an_openai_compatible_server_speaks_with_the_voice_asked_for(openai_speech, tmp_path):
    speech = speak("openai-tts:nova", tmp_path)
    assert speech["voice"] == "openai-tts:nova" and speech["sample_rate"] == 24_000
    assert "phonemes" not in speech and "words" not in speech  # the vendor does not say when each was spoken
    [request] = openai_speech.requests_to("speech")
    assert request.header("authorization") == f"Bearer {SPEECH_KEY}"
    assert request.body == {"model": "gpt-4o-mini-tts", "input": "Profit logic beats market share.",
                            "voice": "nova", "response_format": "wav"}
    assert speech["duration_s"] == pytest.approx(len("Profit logic beats market share.") * 0.06, abs=0.01)


def test_a_self_hosted_server_needs_no_key(openai_speech, monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY")
    openai_speech.key = None
    assert speak("openai-tts", tmp_path)["voice"] == "openai-tts"  # OPENAI_TTS_VOICE's default: alloy
    [request] = openai_speech.requests_to("speech")
    assert request.header("authorization") is None and request.body["voice"] == "alloy"


def test_speed_and_pitch_of_a_hosted_voice(openai_speech):
    settings = resolve(dotenv=False)
    plain = get_voice("openai-tts", settings).synthesize("A steady tone for the measurement, please.")
    tuned = get_voice("openai-tts", settings, VoiceTuning(speed=1.25, pitch=4)).synthesize(
        "A steady tone for the measurement, please.")
    assert openai_speech.requests_to("speech")[1].body["speed"] == pytest.approx(1.25 / 2 ** (4 / 12), abs=1e-3)
    assert len(tuned.samples) == pytest.approx(len(plain.samples) / 1.25, rel=0.02)
    ratio = median_f0(tuned.samples, tuned.sample_rate) / median_f0(plain.samples, plain.sample_rate)
    assert ratio == pytest.approx(2 ** (4 / 12), rel=0.03)


def test_elevenlabs_speaks_pcm_with_its_voice_id_and_speed(elevenlabs, tmp_path):
    speech = speak("elevenlabs:EXAVITQu4vr4xnSDxMaL", tmp_path, VoiceTuning(speed=1.1))
    assert speech["voice"] == "elevenlabs:EXAVITQu4vr4xnSDxMaL" and speech["sample_rate"] == 24_000
    assert speech["voice_tuning"] == {"speed": 1.1} and "phonemes" not in speech
    [request] = elevenlabs.requests_to("speech")
    assert request.params["voice_id"] == "EXAVITQu4vr4xnSDxMaL" and request.query["output_format"] == ["pcm_24000"]
    assert request.header("xi-api-key") == SPEECH_KEY
    assert request.body == {"text": "Profit logic beats market share.", "model_id": "eleven_multilingual_v2",
                            "voice_settings": {"speed": 1.1}}


def test_elevenlabs_refuses_a_tuning_beyond_its_speeds_in_words(elevenlabs):
    with pytest.raises(BackendUnavailable, match=r"^ElevenLabs speaks at 0.7–1.2 × its pace; speed 1.5 with pitch "
                                                 r"\+0 needs 1.50"):
        get_voice("elevenlabs", resolve(dotenv=False), VoiceTuning(speed=1.5))
    assert elevenlabs.requests == []


def test_a_rejected_key_is_one_message_that_names_the_variable(elevenlabs, monkeypatch, tmp_path):
    monkeypatch.setenv("ELEVENLABS_API_KEY", "sk-wrong-key-9876543210")
    with pytest.raises(AuthFailed) as caught:
        speak("elevenlabs", tmp_path)
    assert str(caught.value) == ("ElevenLabs rejected the API key (HTTP 401) — check ELEVENLABS_API_KEY: "
                                 "Invalid API key")
    assert not (tmp_path / "speech.wav").exists()


def test_openai_echoing_the_key_is_redacted(openai_speech, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-9876543210")
    with pytest.raises(AuthFailed, match=r"^OpenAI-compatible speech server at 127.0.0.1:\d+ rejected the API key "
                                         r"\(HTTP 401\) — check OPENAI_API_KEY: Incorrect API key") as caught:
        speak("openai-tts", tmp_path)
    assert "9876543210" not in str(caught.value) and "[redacted]" in str(caught.value)


def test_rate_limits_are_waited_out_or_said(elevenlabs, monkeypatch, tmp_path):
    elevenlabs.script("speech", elevenlabs.failure(429, retry_after=0))
    with pytest.raises(RateLimited, match=r"^ElevenLabs is rate limiting requests \(HTTP 429, asking to wait 0 s\)"):
        speak("elevenlabs", tmp_path / "a")
    monkeypatch.setenv("AVATAR_STUDIO_TTS_RETRIES", "1")
    elevenlabs.script("speech", elevenlabs.failure(429, retry_after=0))
    assert speak("elevenlabs", tmp_path / "b")["sample_rate"] == 24_000  # the retry got the audio
    assert len(elevenlabs.requests_to("speech")) == 3


def test_server_errors_and_timeouts_are_one_message(openai_speech, monkeypatch, tmp_path):
    openai_speech.script("speech", openai_speech.failure(503))
    with pytest.raises(RemoteError, match=r"had a server error \(HTTP 503\) — usually temporary, try again shortly: "
                                          r"Service unavailable$"):
        speak("openai-tts", tmp_path / "a")
    monkeypatch.setenv("AVATAR_STUDIO_TTS_TIMEOUT", "1")
    openai_speech.script("speech", delayed(3, openai_speech.failure(500)))
    with pytest.raises(RemoteTimeout, match=r"did not answer within 1 s — try again, or raise "
                                            r"AVATAR_STUDIO_TTS_TIMEOUT$"):
        speak("openai-tts", tmp_path / "b")


def test_a_render_with_a_hosted_voice_moves_the_mouth_from_the_loudness(openai_speech, settings, capsys):
    code, out, err = run_app(capsys, "render", "--image", "assets/astronaut.png", "--text", "Profit logic first.",
                             "--voice", "openai-tts:onyx", "--json")
    assert code == 0, err
    job = JobStore(settings.db_path).get(json.loads(out)["job_id"])
    assert job.status == "done" and job.options["voice"] == "openai-tts:onyx"
    speech = json.loads((settings.job_dir(job.id) / "speech.json").read_text())
    assert speech["voice"] == "openai-tts:onyx" and "phonemes" not in speech
    analysis = json.loads((settings.job_dir(job.id) / "analysis.json").read_text())
    assert np.ptp(analysis["envelope"]) > 0.2  # the tone's syllables: what the mouth follows


def test_a_render_whose_voice_fails_is_a_failed_job_with_the_reason(openai_speech, settings, capsys):
    openai_speech.script("speech", openai_speech.failure(401, "Incorrect API key provided."))
    code, out, err = run_app(capsys, "render", "--image", "assets/astronaut.png", "--text", "Profit logic first.",
                             "--voice", "openai-tts", "--json")
    assert code == 1 and len(err.splitlines()) == 1 and "rejected the API key (HTTP 401)" in err
    job = JobStore(settings.db_path).get(json.loads(out)["job_id"])
    assert (job.status, job.error_stage) == ("failed", "speech") and "rejected the API key" in job.error


def test_a_bad_setting_makes_the_voice_unavailable_not_the_listing(monkeypatch, settings):
    monkeypatch.setenv("AVATAR_STUDIO_TTS_TIMEOUT", "soon")
    monkeypatch.setenv("OPENAI_TTS_BASE_URL", "http://127.0.0.1:9/v1")
    listed = {info.name: info for info in voice_catalog(resolve(dotenv=False))}
    assert listed["openai-tts"].reason == "AVATAR_STUDIO_TTS_TIMEOUT must be a number of seconds, got 'soon'"
    assert listed["en_US-joe-medium"].available
