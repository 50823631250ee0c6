"""Voices a persona can speak with, and a short sample of each ("Hear it").

``voice_catalog(settings)`` is every voice there is, as a listing shows it (``app.py voices``):
the registered ones (the bundled voice first, plugins, the creator's voice files the registry
finds) with their language, quality, sample rate, where they come from and why one cannot be used,
then the files that cannot be a voice at all (a name a persona cannot hold, a name taken twice).
Nothing here loads a model: a broken file is a line with its reason, never an error.

``voice_choices(settings)`` is what a picker offers: first "the default voice" (a persona whose
``voice`` is unset speaks with the settings' default, else the bundled one), then every registered
voice by name, labelled with its language and quality — or with why it cannot be used, so a
broken file is seen in the picker and picking it says why in one line.

``voice_sample(settings, voice, text)`` speaks ``text`` (default: a fixed line) in that voice and
keeps the WAV under ``<cache>/voice-samples/``, named by a hash of the voice and the text, so a
second click on "Hear it" reads a file instead of running the voice (the first costs about a
second of synthesis plus, once per process, the voice's ~2 s load). A tuning (speed, pitch) is part
of the key, so a creator moving the sliders hears each setting. ``voice_sample_audio`` returns
the same sample as ``(sample_rate, int16 samples)``, the shape an audio player in the studio takes
directly: the cache is not among the folders the studio serves, and need not be.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import BadInput, StudioError, UnknownBackend
from ..settings import Settings
from .base import VoiceInfo, voices
from .piper_files import PiperFileVoice, scan
from .tts import DEFAULT_VOICE, get_voice, list_voices
from .tuning import DEFAULT, VoiceTuning
from .wav import read_wav, write_wav

SAMPLE_TEXT = "Hello! This is how I sound. Ask me anything, and I will answer in this voice."
MAX_SAMPLE_CHARS = 500  # a greeting's length: enough to judge a voice, quick to synthesise
SAMPLES_FOLDER = "voice-samples"
DEFAULT_CHOICE = ""  # the picker's value for "no voice set": the persona speaks with the default voice

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def voice_catalog(settings: Settings) -> list[VoiceInfo]:
    """Every voice and voice file, as ``app.py voices`` lists them; see the module docstring."""
    listed = registered_voices(settings)
    for file in scan(settings):
        if not file.registrable:
            listed.append(file.info())
        elif voices.backend_class(file.name) is not PiperFileVoice.for_file(file):
            taken_by = voices.backend_class(file.name).describe(settings).source
            listed.append(file.info(f"the name {file.name!r} is taken by {taken_by}"))
    return listed


def registered_voices(settings: Settings) -> list[VoiceInfo]:
    """The voices a persona can name (the voice files found included), the bundled one first."""
    listed = []
    for name in list_voices(settings):
        try:
            described = voices.backend_class(name).describe(settings)
        except UnknownBackend:  # a plugin whose module does not import: unavailable says why
            described = VoiceInfo(name=name, source="plugin")
        except StudioError:  # its own settings are wrong (a hosted voice's timeout): unavailable says why
            described = VoiceInfo(name=name, source=voices.backend_class(name).__module__)
        listed.append(replace(described, name=name, reason=voices.unavailable(name, settings)))
    return listed


def voice_choices(settings: Settings | None = None) -> list[tuple[str, str]]:
    """(label, value) for a voice picker: the default first (value ``DEFAULT_CHOICE``), then every
    registered voice by name (with ``settings``: the creator's voice files too), labelled with its
    language and quality, or with why it cannot be used."""
    default = (settings.voice if settings is not None else None) or DEFAULT_VOICE
    others = ([(name, name) for name in list_voices()] if settings is None
              else [(choice_label(info), info.name) for info in registered_voices(settings)])
    return [(f"Default ({default})", DEFAULT_CHOICE), *others]


def choice_label(info: VoiceInfo) -> str:
    """"en_US-amy-medium · en_US, medium", or "broken · unavailable: <why>"."""
    if not info.available:
        return f"{info.name} · unavailable: {info.reason}"
    facts = ", ".join(str(fact) for fact in (info.language, info.quality) if fact)
    return f"{info.name} · {facts}" if facts else info.name


def sample_text(text: str | None) -> str:
    """The text a sample speaks: ``text`` on one line, or ``SAMPLE_TEXT`` when it is blank."""
    cleaned = " ".join(str(text or "").split())
    if not cleaned:
        return SAMPLE_TEXT
    if len(cleaned) > MAX_SAMPLE_CHARS:
        raise BadInput(f"a voice sample speaks at most {MAX_SAMPLE_CHARS} characters; this text has {len(cleaned)}")
    return cleaned


def voice_sample(settings: Settings, voice: str | None = None, text: str | None = None,
                 tuning: VoiceTuning = DEFAULT) -> Path:
    """A WAV of ``text`` spoken by ``voice`` (None or "": the default voice) at ``tuning``, from the
    cache when this voice has spoken this text so before. Unknown voice or silent result → ``BadInput``."""
    backend = get_voice(voice or None, settings, tuning)  # an unknown name is a BadInput listing the known voices
    spoken = sample_text(text)
    tuned = "" if tuning.is_default else f"\n{tuning.speed:g} {tuning.pitch:g}"
    digest = hashlib.sha256(f"{backend.name}\n{spoken}{tuned}".encode()).hexdigest()[:20]
    path = settings.cache / SAMPLES_FOLDER / f"{_UNSAFE.sub('-', backend.name)}-{digest}.wav"
    if path.is_file():
        return path
    synthesis = backend.synthesize(spoken)
    samples = np.asarray(synthesis.samples, dtype=np.float32)
    if samples.size == 0 or float(np.abs(samples).max()) < 1e-4:
        raise BadInput(f"the voice {backend.name!r} produced only silence for this text; try plain words")
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_wav(path, samples, synthesis.sample_rate)  # atomic: a reader never sees half a file


def voice_sample_audio(settings: Settings, voice: str | None = None, text: str | None = None,
                       tuning: VoiceTuning = DEFAULT) -> tuple[int, np.ndarray]:
    """The sample as ``(sample_rate, int16 samples)``, ready for an audio player."""
    samples, rate = read_wav(voice_sample(settings, voice, text, tuning))
    return rate, np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)
