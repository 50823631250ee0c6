"""How fast and how high a voice speaks: ``VoiceTuning`` (a persona's ``voice_tuning``), and the
resampling that moves a voice's pitch.

``speed`` is a factor on the voice's own pace (1.25: a quarter faster, 0.8: slower); ``pitch`` is in
semitones (+2: a whole tone higher). Both are checked where they are built, with the ranges below,
and the default (1.0, 0) is the voice as it is: a voice at the default tuning runs exactly as it
did before tuning existed, so nothing a creator did not set changes their output.

A voice applies its tuning itself (``Voice.tuned``), because only the engine can change the pace
without touching the sound: Piper stretches its phoneme durations (``length_scale``). The pitch is
then moved by **resampling**: audio made ``r`` times longer than wanted and played back ``r`` times
faster keeps its length and has every frequency multiplied by ``r`` (``r = 2 ** (pitch / 12)``).
So a pitch shift costs the engine a slower pace (``length_scale × r``) plus one band-limited
resample (``resample``: FFT, numpy only) — no phase vocoder, none of its smearing. Formants move
with the pitch, as in any resampling shift: a few semitones keep the voice natural, a full octave
sounds like a different (or cartoon) speaker. Phoneme timings scale with the samples
(``resample_counts``), so a tuned voice keeps its lip-sync.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BadInput

SPEED_RANGE = (0.5, 2.0)  # beyond these Piper's phonemes smear or clip; hosted voices cap lower still
PITCH_RANGE = (-12.0, 12.0)  # semitones: an octave either way
TUNING_KEYS = ("speed", "pitch")


@dataclass(frozen=True)
class VoiceTuning:
    """A voice's speed (× its own pace) and pitch (semitones); see the module docstring."""

    speed: float = 1.0
    pitch: float = 0.0

    def __post_init__(self) -> None:
        for name, (low, high), unit in (("speed", SPEED_RANGE, "× the voice's pace"),
                                        ("pitch", PITCH_RANGE, "semitones")):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not low <= value <= high:
                shown = value if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)
                raise BadInput(f"{name} must be a number from {low:g} to {high:g} ({unit}), got {shown}")
            object.__setattr__(self, name, float(value))

    @property
    def is_default(self) -> bool:
        return self == VoiceTuning()

    @property
    def pitch_ratio(self) -> float:
        """What every frequency is multiplied by: 2 ** (pitch / 12)."""
        return 2.0 ** (self.pitch / 12.0)

    def to_data(self) -> dict[str, float]:
        """The values that differ from the default, as a persona file and a job record keep them."""
        return {name: getattr(self, name) for name in TUNING_KEYS if getattr(self, name) != getattr(DEFAULT, name)}

    @classmethod
    def from_data(cls, value: Any, where: str = "voice_tuning") -> VoiceTuning:
        """From a file's or a record's mapping (None: the default); a mistake names ``where``."""
        if isinstance(value, VoiceTuning):
            return value
        if value is None:
            return DEFAULT
        if not isinstance(value, Mapping):
            raise BadInput(f"{where} must be a mapping (speed: 1.1, pitch: -2), got {type(value).__name__}")
        for key in value:
            if key not in TUNING_KEYS:
                raise BadInput(f"{where}: unknown key {str(key)[:40]!r}; {where} has: {', '.join(TUNING_KEYS)}")
        try:
            return cls(**{key: value[key] for key in TUNING_KEYS if key in value})
        except BadInput as error:
            raise BadInput(f"{where}: {error}") from None


DEFAULT = VoiceTuning()


def tuning_option(tuning: VoiceTuning | Mapping | None) -> dict[str, Any]:
    """``{"voice_tuning": {...}}`` for a job's options, or nothing at the default tuning: the record
    of a job nobody tuned stays as it always was."""
    tuning = VoiceTuning.from_data(tuning)
    return {} if tuning.is_default else {"voice_tuning": tuning.to_data()}


def resample(samples: np.ndarray, length: int) -> np.ndarray:
    """``samples`` stretched or squeezed to ``length`` samples by band-limited (FFT) resampling:
    read at the original rate, every frequency is multiplied by ``len(samples) / length``.

    The spectrum is cut (shorter: content above the new Nyquist frequency is dropped, not folded
    back) or zero-padded (longer), so nothing aliases. The FFT treats the clip as periodic; a
    sentence from a TTS voice starts and ends in silence, so its ends do not ring."""
    samples = np.asarray(samples, dtype=np.float64).reshape(-1)
    if length == len(samples) or len(samples) == 0:
        return samples.astype(np.float32)
    spectrum = np.fft.rfft(samples)
    bins = length // 2 + 1
    if bins <= len(spectrum):
        spectrum = spectrum[:bins].copy()
        if length % 2 == 0:  # the new Nyquist bin holds the sum of a conjugate pair: halve it
            spectrum[-1] *= 0.5
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins - len(spectrum), dtype=spectrum.dtype)])
    out = np.fft.irfft(spectrum, n=length) * (length / len(samples))
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def resample_counts(counts: Sequence[int], old_length: int, new_length: int) -> list[int]:
    """Sample counts (one per phoneme along a clip of ``old_length`` samples) for the clip resampled
    to ``new_length``: the boundaries between phonemes scale and round, so no phoneme drifts and
    counts that added up to the clip's length still do."""
    if old_length <= 0:
        return [0] * len(counts)
    bounds = np.round(np.cumsum([0, *counts]) * (new_length / old_length)).astype(int)
    return [int(b - a) for a, b in zip(bounds[:-1], bounds[1:])]
