"""Voices a persona can speak with, and a short sample of each ("Hear it").

``voice_choices()`` lists what a picker offers: first "the default voice" (a persona whose
``voice`` is unset speaks with the bundled one), then every voice in the registry (kind "tts").

``voice_sample(settings, voice, text)`` speaks ``text`` (default: a fixed line) in that voice and
keeps the WAV under ``<cache>/voice-samples/``, named by a hash of the voice and the text, so a
second click on "Hear it" reads a file instead of running the voice (the first costs about a
second of synthesis plus, once per process, the voice's ~2 s load). ``voice_sample_audio`` returns
the same sample as ``(sample_rate, int16 samples)``, the shape an audio player in the studio takes
directly: the cache is not among the folders the studio serves, and need not be.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..settings import Settings
from .tts import DEFAULT_VOICE, get_voice, list_voices
from .wav import read_wav, write_wav

SAMPLE_TEXT = "Hello! This is how I sound. Ask me anything, and I will answer in this voice."
MAX_SAMPLE_CHARS = 500  # a greeting's length: enough to judge a voice, quick to synthesise
SAMPLES_FOLDER = "voice-samples"
DEFAULT_CHOICE = ""  # the picker's value for "no voice set": the persona speaks with the default voice

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def voice_choices() -> list[tuple[str, str]]:
    """(label, value) for a voice picker: the default first (value ``DEFAULT_CHOICE``), then every
    registered voice by name."""
    return [(f"Default ({DEFAULT_VOICE})", DEFAULT_CHOICE)] + [(name, name) for name in list_voices()]


def sample_text(text: str | None) -> str:
    """The text a sample speaks: ``text`` on one line, or ``SAMPLE_TEXT`` when it is blank."""
    cleaned = " ".join(str(text or "").split())
    if not cleaned:
        return SAMPLE_TEXT
    if len(cleaned) > MAX_SAMPLE_CHARS:
        raise BadInput(f"a voice sample speaks at most {MAX_SAMPLE_CHARS} characters; this text has {len(cleaned)}")
    return cleaned


def voice_sample(settings: Settings, voice: str | None = None, text: str | None = None) -> Path:
    """A WAV of ``text`` spoken by ``voice`` (None or "": the default voice), from the cache when
    this voice has spoken this text before. Unknown voice or silent result → ``BadInput``."""
    backend = get_voice(voice or None)  # an unknown name is a BadInput listing the known voices
    spoken = sample_text(text)
    digest = hashlib.sha256(f"{backend.name}\n{spoken}".encode()).hexdigest()[:20]
    path = settings.cache / SAMPLES_FOLDER / f"{_UNSAFE.sub('-', backend.name)}-{digest}.wav"
    if path.is_file():
        return path
    synthesis = backend.synthesize(spoken)
    samples = np.asarray(synthesis.samples, dtype=np.float32)
    if samples.size == 0 or float(np.abs(samples).max()) < 1e-4:
        raise BadInput(f"the voice {backend.name!r} produced only silence for this text; try plain words")
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_wav(path, samples, synthesis.sample_rate)  # atomic: a reader never sees half a file


def voice_sample_audio(settings: Settings, voice: str | None = None,
                       text: str | None = None) -> tuple[int, np.ndarray]:
    """The sample as ``(sample_rate, int16 samples)``, ready for an audio player."""
    samples, rate = read_wav(voice_sample(settings, voice, text))
    return rate, np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)
