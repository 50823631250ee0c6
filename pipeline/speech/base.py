"""The speech contracts — voices (TTS) and transcribers (STT) — and their registries.

A **voice** (``Voice``; registry ``voices``, kind "tts", entry points ``avatar_studio.voices``)
has a ``name`` and ``synthesize(text) -> Synthesis``: mono float32 samples in [-1, 1], their
sample rate, and — when it can tell — the time span of every phoneme (None when it cannot: the
embedded renderer then shapes the mouth from loudness alone).

A **transcriber** (``Transcriber``; registry ``transcribers``, kind "stt", entry points
``avatar_studio.transcribers``) has a ``name``, a ``model`` and ``transcribe(audio_path, *,
language, progress, display_name) -> Transcript``; ``from_settings(settings, model=None)``.

Both, like every backend: ``unavailable(settings)`` (class method, cheap: imports and loads
nothing) says why one cannot run here now, and ``from_settings`` makes one per call — loaded
models are kept in module-level caches, so a new object costs nothing twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..registry import Backend, Registry

Progress = Callable[[float, str], None]  # (fraction done, what is happening)


@dataclass(frozen=True)
class PhonemeTiming:
    phoneme: str
    start: float  # seconds from the start of the clip
    end: float

    def to_dict(self) -> dict[str, Any]:
        return {"phoneme": self.phoneme, "start": self.start, "end": self.end}


class Synthesis(NamedTuple):
    samples: np.ndarray  # float32, mono, in [-1, 1]
    sample_rate: int
    phonemes: tuple[PhonemeTiming, ...] | None  # None: the backend could not time them


@dataclass
class Transcript:
    text: str  # the segments' text joined by spaces; "" when nothing was said
    language: str  # the language code used or detected, e.g. "en"
    duration_s: float  # length of the audio
    segments: list[dict[str, Any]] = field(default_factory=list)  # {"start", "end", "text"}, seconds
    backend: str = ""
    model: str = ""
    elapsed_s: float = 0.0  # from the call to the result: decoding, (first-time) model load, recognition

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Voice(Backend, ABC):
    """A TTS voice; see the module docstring."""

    @abstractmethod
    def synthesize(self, text: str) -> Synthesis:
        """The whole text spoken, with phoneme timings when the voice can give them."""


class Transcriber(Backend, ABC):
    """An STT backend; see the module docstring."""

    model: str = ""

    @classmethod
    @abstractmethod
    def from_settings(cls, settings, model: str | None = None) -> "Transcriber":
        """One for ``model`` (None: the configured or the default one)."""

    @abstractmethod
    def transcribe(self, audio_path: str | Path, *, language: str | None = None, progress: Progress | None = None,
                   display_name: str | None = None) -> Transcript:
        """What was said in the file."""


voices: Registry[Voice] = Registry("tts", "avatar_studio.voices")
voices.register("en_US-joe-medium", "pipeline.speech.tts:BundledVoice")
transcribers: Registry[Transcriber] = Registry("stt", "avatar_studio.transcribers")
transcribers.register("faster-whisper", "pipeline.speech.stt:FasterWhisperSTT")
transcribers.register("openai-whisper", "pipeline.speech.stt:OpenAIWhisperSTT")
