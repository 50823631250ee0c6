"""Audio for the speech, analysis and emotion tests, made on the fly.

Real audio only: speech from the bundled Piper voice (its model loaded once per process by the TTS module,
and each sentence synthesised once per test session), speech-like signals from numpy, and other
formats made from them with the bundled ffmpeg.
"""

from __future__ import annotations

import functools
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from pipeline.speech.tts import get_voice
from pipeline.media import ffmpeg_exe

ENCODERS = {
    "wav": ["-c:a", "pcm_s16le"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "96k"],
    "ogg": ["-c:a", "libvorbis"],
    "m4a": ["-c:a", "aac", "-b:a", "96k"],
    "webm": ["-c:a", "libopus", "-b:a", "48k"],
    "flac": ["-c:a", "flac"],
}

TTS_LOAD_SECONDS: dict[str, float] = {}


@pytest.fixture(scope="session")
def piper_voice():
    """The default voice, loaded (the first test to ask pays the ~2 s)."""
    backend = get_voice(None)
    started = time.perf_counter()
    backend.load()
    TTS_LOAD_SECONDS.setdefault("load", time.perf_counter() - started)
    return backend


@functools.cache
def spoken(text: str) -> tuple[np.ndarray, int]:
    """``text`` spoken by the default voice: (float32 samples, sample rate), made once per session."""
    synthesis = get_voice(None).synthesize(text)
    samples = synthesis.samples
    samples.setflags(write=False)
    return samples, synthesis.sample_rate


def speechlike(seconds: float, *, rate: int = 44100, f0: float = 120.0, syllables_per_s: float = 4.0,
               amplitude: float = 0.3, glide_semitones: float = 0.0) -> np.ndarray:  # fmt: skip
    """A voiced, syllable-modulated harmonic tone: periodic like a vowel, pulsing like speech."""
    t = np.arange(int(round(seconds * rate))) / rate
    pitch = f0 * 2 ** (glide_semitones / 12 * np.sin(2 * np.pi * 0.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    pulses = np.sin(np.pi * syllables_per_s * t) ** 2  # syllables_per_s bumps per second
    return (amplitude * voice / 2.0 * pulses).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int, *, channels: int = 1) -> Path:
    """Write a 16-bit WAV with the standard library (independent of the code under test)."""
    pcm = np.clip(np.round(np.asarray(samples) * 32767), -32768, 32767).astype("<i2")
    if channels > 1:
        pcm = np.repeat(pcm[:, None], channels, axis=1)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())
    return path


def read_wav_info(path: Path) -> dict:
    with wave.open(str(path), "rb") as wav:
        frames = wav.readframes(wav.getnframes())
        return {
            "channels": wav.getnchannels(),
            "sample_width": wav.getsampwidth(),
            "rate": wav.getframerate(),
            "frames": wav.getnframes(),
            "samples": np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768,
        }


def convert(source: Path, target: Path) -> Path:
    """Encode ``source`` into ``target``'s format with the bundled ffmpeg."""
    return ffmpeg_generate(target, "-i", str(source), *ENCODERS[target.suffix.lstrip(".")])


def ffmpeg_generate(target: Path, *args: str) -> Path:
    """Run the bundled ffmpeg with ``args`` (inputs, lavfi sources, codecs) writing ``target``."""
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", *args, "-y", str(target)]
    subprocess.run(command, check=True)
    return target
