"""The analysis stage: what the speech sounds like, frame by frame, for the renderer and emotion.

``analyse(wav_path, fps=25)`` reads ``speech.wav`` and returns an ``Analysis``:

- ``voiced_spans``: where someone is speaking, from a deterministic energy VAD. Loudness is
  measured every 10 ms over 20 ms; a hop is voiced when it is louder than an adaptive threshold
  set between the clip's noise floor (5th percentile) and its speech level (95th percentile).
  Each voiced run is held 100 ms past its end (hangover), runs closer than 150 ms are merged,
  and runs with under 60 ms of actual voice (clicks, breaths) are dropped.
- ``envelope``: one value per video frame in 0–1, the loudness over a 40 ms window centred on the
  middle of the frame, in dB relative to the clip's own speech level (the 95th percentile of the
  voiced hops → 1, 45 dB below → 0, squared so the dips between syllables come out low), smoothed
  with a fast attack (15 ms) and slower release (60 ms), and 0 outside the spans. It drives mouth
  opening, so it follows syllables: a syllable is 4–6 frames at 25 fps.
- ``features`` and ``energy``: summary numbers for the emotion stage and the controller —
  loudness, voiced ratio, pitch (autocorrelation on up to 2000 loud voiced frames, 60–400 Hz),
  and a speaking-rate proxy (prominent loudness peaks per voiced second, roughly syllables).
  ``energy`` blends loudness (half), pitch movement and speaking rate (a quarter each); the parts
  are in ``features["energy_parts"]``.

Everything is computed from 5 ms blocks of summed squares, so any window is two look-ups in a
cumulative sum; a 10-minute clip takes a fraction of a second. The VAD and envelope are exact
functions of the samples (no randomness, no models), so a resumed job gets the same answer.

``Analysis.to_dict()`` (what the runner stores as ``analysis.json``)::

    {"duration_s": float, "fps": int, "n_frames": int, "envelope": [float, ...],
     "voiced_spans": [[start_s, end_s], ...], "energy": float, "features": {...}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BadInput
from .speech.wav import read_wav

BLOCK_S = 0.005
VAD_HOP_S = 0.010
VAD_WINDOW_S = 0.020
HANGOVER_S = 0.10
MERGE_GAP_S = 0.15
MIN_VOICE_S = 0.06
ENVELOPE_WINDOW_S = 0.040
ENVELOPE_RANGE_DB = 45.0
ATTACK_S = 0.015
RELEASE_S = 0.060
FLOOR_DB = -100.0
PITCH_MIN_HZ, PITCH_MAX_HZ = 60.0, 400.0
PITCH_FRAME_S = 0.050  # three periods of the lowest pitch
PITCH_MAX_FRAMES = 2000
PITCH_MIN_CLARITY = 0.6  # normalised autocorrelation peak below this: not clearly periodic


@dataclass(frozen=True)
class Analysis:
    duration_s: float
    fps: int
    n_frames: int
    envelope: list[float]
    voiced_spans: list[tuple[float, float]]
    energy: float
    features: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration_s": self.duration_s,
            "fps": self.fps,
            "n_frames": self.n_frames,
            "envelope": list(self.envelope),
            "voiced_spans": [[start, end] for start, end in self.voiced_spans],
            "energy": self.energy,
            "features": dict(self.features),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Analysis:
        try:
            analysis = cls(
                duration_s=float(data["duration_s"]),
                fps=int(data["fps"]),
                n_frames=int(data["n_frames"]),
                envelope=[float(v) for v in data["envelope"]],
                voiced_spans=[(float(s), float(e)) for s, e in data["voiced_spans"]],
                energy=float(data["energy"]),
                features=dict(data.get("features") or {}),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not an analysis record: {error!r}") from None
        if len(analysis.envelope) != analysis.n_frames:
            raise ValueError(f"envelope has {len(analysis.envelope)} values for {analysis.n_frames} frames")
        return analysis


def analyse(wav_path: Path, *, fps: int = 25) -> Analysis:
    """Loudness envelope, voiced spans and speech features of a mono 16-bit WAV."""
    if not 1 <= int(fps) <= 120:
        raise BadInput(f"fps must be between 1 and 120, got {fps}")
    fps = int(fps)
    samples, rate = read_wav(wav_path)
    duration = len(samples) / rate if rate else 0.0
    n_frames = max(1, round(duration * fps))
    blocks = _BlockPower(samples, rate)

    hop_db = blocks.db_at((np.arange(int(np.ceil(duration / VAD_HOP_S))) + 0.5) * VAD_HOP_S, VAD_WINDOW_S)
    vad = _voice_activity(hop_db, duration)
    frame_times = (np.arange(n_frames) + 0.5) / fps
    frame_db = blocks.db_at(frame_times, ENVELOPE_WINDOW_S)
    envelope = _envelope(frame_db, frame_times, vad, fps)
    pitch = _pitch(samples, rate, hop_db, vad)
    rate_per_s = _syllable_rate(hop_db, vad)
    energy, parts = _energy(vad["speech_mean_db"], pitch, rate_per_s)

    features = {
        "sample_rate": rate,
        "rms_dbfs_mean": _r(vad["speech_mean_db"], 2),
        "rms_dbfs_peak": _r(float(hop_db.max()) if len(hop_db) else FLOOR_DB, 2),
        "speech_level_dbfs": _r(vad["level_db"], 2),
        "noise_floor_dbfs": _r(vad["floor_db"], 2),
        "vad_threshold_dbfs": _r(vad["threshold_db"], 2),
        "voiced_s": _r(vad["voiced_s"], 3),
        "voiced_ratio": _r(vad["voiced_s"] / duration if duration else 0.0, 3),
        **pitch,
        "syllable_rate": _r(rate_per_s, 2),
        "energy_parts": parts,
    }
    return Analysis(
        duration_s=round(duration, 5),
        fps=fps,
        n_frames=n_frames,
        envelope=[round(float(v), 4) for v in envelope],
        voiced_spans=[(round(float(s), 3), round(float(e), 3)) for s, e in vad["spans"]],
        energy=round(energy, 3),
        features=features,
    )


class _BlockPower:
    """Mean power over any window, from a cumulative sum of 5 ms blocks."""

    def __init__(self, samples: np.ndarray, rate: int) -> None:
        self.block = max(1, round(rate * BLOCK_S))
        self.block_s = self.block / rate if rate else BLOCK_S
        n_blocks = -(-len(samples) // self.block)
        padded = np.zeros(n_blocks * self.block, dtype=np.float32)
        padded[: len(samples)] = samples
        shaped = padded.reshape(n_blocks, self.block)
        power = np.einsum("ij,ij->i", shaped, shaped, dtype=np.float64) / self.block
        self.cumulative = np.concatenate(([0.0], np.cumsum(power)))
        self.n_blocks = n_blocks

    def db_at(self, centres: np.ndarray, width_s: float) -> np.ndarray:
        """Power in dBFS over ``width_s`` windows centred at ``centres`` (seconds)."""
        half = width_s / 2
        lo = np.clip(np.round((centres - half) / self.block_s), 0, self.n_blocks).astype(np.int64)
        hi = np.clip(np.round((centres + half) / self.block_s), 0, self.n_blocks).astype(np.int64)
        # Near the clip's edges the window is cut short: average what is inside it.
        count = np.maximum(hi - lo, 1)
        power = np.maximum(self.cumulative[hi] - self.cumulative[lo], 0.0) / count
        return np.maximum(10.0 * np.log10(power + 1e-12), FLOOR_DB)


def _voice_activity(hop_db: np.ndarray, duration: float) -> dict[str, Any]:
    empty = {"spans": [], "mask": np.zeros(len(hop_db), bool), "voiced_s": 0.0, "speech_mean_db": None}
    if len(hop_db) == 0:
        return {**empty, "floor_db": FLOOR_DB, "level_db": FLOOR_DB, "threshold_db": -60.0}
    floor = float(np.percentile(hop_db, 5))
    level = float(np.percentile(hop_db, 95))
    threshold = max(floor + max(6.0, 0.35 * (level - floor)), level - 40.0)
    # Never above "6 dB under the loud part" (a clip with no pauses is all speech), never below
    # -60 dBFS (digital near-silence is not speech however quiet the rest is).
    threshold = min(threshold, max(level - 6.0, -60.0))
    threshold = max(threshold, -60.0)
    stats = {"floor_db": floor, "level_db": level, "threshold_db": threshold}
    raw = hop_db > threshold
    edges = np.flatnonzero(np.diff(np.concatenate(([0], raw.astype(np.int8), [0]))))
    starts, ends = edges[0::2] * VAD_HOP_S, edges[1::2] * VAD_HOP_S
    if len(starts) == 0:
        return {**empty, **stats}
    voiced = ends - starts
    ends = np.minimum(ends + HANGOVER_S, duration)
    # Merge runs whose gap (after hangover) is short; keep each merged run's true voiced time.
    new_group = np.concatenate(([True], starts[1:] - ends[:-1] >= MERGE_GAP_S))
    first = np.flatnonzero(new_group)
    last = np.concatenate((first[1:] - 1, [len(starts) - 1]))
    span_starts, span_ends = starts[first], ends[last]
    keep = np.add.reduceat(voiced, first) >= MIN_VOICE_S - 1e-9
    spans = list(zip(span_starts[keep].tolist(), span_ends[keep].tolist()))
    mask = _inside(spans, (np.arange(len(hop_db)) + 0.5) * VAD_HOP_S)
    speech_db = hop_db[mask]
    speech_mean = float(10 * np.log10(np.mean(10 ** (speech_db / 10)))) if len(speech_db) else None
    if speech_mean is not None:
        stats["level_db"] = float(np.percentile(speech_db, 95))
    voiced_s = float(sum(e - s for s, e in spans))
    return {**stats, "spans": spans, "mask": mask, "voiced_s": voiced_s, "speech_mean_db": speech_mean}


def _inside(spans: list[tuple[float, float]], times: np.ndarray) -> np.ndarray:
    if not spans:
        return np.zeros(len(times), bool)
    starts = np.array([s for s, _ in spans])
    ends = np.array([e for _, e in spans])
    index = np.searchsorted(starts, times, side="right") - 1
    return (index >= 0) & (times < ends[np.maximum(index, 0)])


def _envelope(frame_db: np.ndarray, frame_times: np.ndarray, vad: dict, fps: int) -> np.ndarray:
    if not vad["spans"]:
        return np.zeros(len(frame_db))
    level = vad["level_db"]
    # Linear in dB would leave the mouth half open on consonants 20 dB down; squaring keeps
    # vowels near the top (-6 dB → 0.75) and lets the dips between syllables close (-20 dB → 0.31).
    target = np.clip((frame_db - (level - ENVELOPE_RANGE_DB)) / ENVELOPE_RANGE_DB, 0.0, 1.0) ** 2
    attack = 1.0 - np.exp(-1.0 / (fps * ATTACK_S))
    release = 1.0 - np.exp(-1.0 / (fps * RELEASE_S))
    smoothed = np.empty_like(target)
    value = 0.0
    for i, goal in enumerate(target.tolist()):  # a one-pole follower; 15 000 frames for 10 min
        value += (attack if goal > value else release) * (goal - value)
        smoothed[i] = value
    return np.where(_inside(vad["spans"], frame_times), smoothed, 0.0)


def _pitch(samples: np.ndarray, rate: int, hop_db: np.ndarray, vad: dict) -> dict[str, Any]:
    """Pitch statistics from autocorrelation of loud voiced frames (decimated to ~8–11 kHz)."""
    none = dict.fromkeys(("pitch_hz_mean", "pitch_hz_median", "pitch_hz_std", "pitch_semitones_std"))
    none["pitch_frames"] = 0
    candidates = np.flatnonzero(vad["mask"] & (hop_db > vad["level_db"] - 20.0))
    if len(candidates) < 3 or not rate:
        return none
    factor = max(1, rate // 8000)
    low = samples[: len(samples) // factor * factor].reshape(-1, factor).mean(axis=1)  # boxcar + decimate
    low_rate = rate / factor
    length = int(round(PITCH_FRAME_S * low_rate))
    if len(low) < length:
        return none
    spread = np.linspace(0, len(candidates) - 1, min(PITCH_MAX_FRAMES, len(candidates))).astype(int)
    picks = candidates[np.unique(spread)]  # evenly over the clip, so the answer is deterministic
    starts = np.clip(((picks + 0.5) * VAD_HOP_S * low_rate - length / 2).astype(np.int64), 0, len(low) - length)
    frames = low[starts[:, None] + np.arange(length)]
    frames = (frames - frames.mean(axis=1, keepdims=True)) * np.hanning(length)
    n_fft = 1 << int(np.ceil(np.log2(2 * length)))
    spectrum = np.fft.rfft(frames, n_fft)
    autocorr = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, n_fft)[:, :length]
    # Divide out the window's own autocorrelation (Boersma 1993): without it the taper shrinks
    # long lags and the estimate jumps an octave up.
    window_spectrum = np.fft.rfft(np.hanning(length), n_fft)
    window_autocorr = np.fft.irfft(np.abs(window_spectrum) ** 2, n_fft)[:length]
    autocorr = autocorr / np.maximum(window_autocorr / window_autocorr[0], 1e-3)
    energy = autocorr[:, :1]
    valid = energy[:, 0] > 1e-10
    autocorr, energy = autocorr[valid], energy[valid]
    lag_lo = max(2, int(low_rate / PITCH_MAX_HZ))
    lag_hi = min(length - 2, int(low_rate / PITCH_MIN_HZ))
    if len(autocorr) == 0 or lag_hi <= lag_lo:
        return none
    normalised = autocorr[:, lag_lo - 1 : lag_hi + 2] / energy
    inner = normalised[:, 1:-1]
    is_peak = (inner >= normalised[:, :-2]) & (inner >= normalised[:, 2:])
    # Multiples of the period correlate as well as the period itself; take the shortest lag
    # that is a peak within 10% of the best one, or the pitch halves now and then.
    good = is_peak & (inner >= 0.9 * inner.max(axis=1, keepdims=True))
    best = np.where(good.any(axis=1), np.argmax(good, axis=1), np.argmax(inner, axis=1))
    clarity = inner[np.arange(len(best)), best]
    lag = best + lag_lo
    # Parabolic interpolation around the peak for sub-sample lag.
    left = autocorr[np.arange(len(lag)), lag - 1]
    mid = autocorr[np.arange(len(lag)), lag]
    right = autocorr[np.arange(len(lag)), lag + 1]
    denominator = left - 2 * mid + right
    safe = np.where(np.abs(denominator) > 1e-12, denominator, np.inf)
    shift = 0.5 * (left - right) / safe
    hz = low_rate / (lag + np.clip(shift, -0.5, 0.5))
    hz = hz[clarity >= PITCH_MIN_CLARITY]
    if len(hz) >= 3:
        # Fricatives and creak still sneak in an octave away from everything else; drop them.
        hz = hz[np.abs(np.log2(hz / np.median(hz))) <= 0.75]
    if len(hz) < 3:
        return {**none, "pitch_frames": int(len(hz))}
    median = float(np.median(hz))
    return {
        "pitch_hz_mean": _r(float(hz.mean()), 1),
        "pitch_hz_median": _r(median, 1),
        "pitch_hz_std": _r(float(hz.std()), 1),
        "pitch_semitones_std": _r(float(np.std(12 * np.log2(hz / median))), 2),
        "pitch_frames": int(len(hz)),
    }


def _syllable_rate(hop_db: np.ndarray, vad: dict) -> float:
    """Prominent loudness peaks per voiced second: a cheap stand-in for syllables per second."""
    if vad["voiced_s"] <= 0 or len(hop_db) < 3:
        return 0.0
    contour = np.convolve(hop_db, np.ones(5) / 5, mode="same")  # 50 ms smoothing
    padded = np.pad(contour, 15, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 31)  # ±150 ms around each hop
    local_max = windows[:, 10:21].max(axis=1)  # ±50 ms: at most one peak per 100 ms
    before = windows[:, :16].min(axis=1)
    after = windows[:, 15:].min(axis=1)
    rising = np.concatenate(([True], contour[1:] > contour[:-1]))
    peaks = (
        (contour >= local_max)
        & rising
        & vad["mask"]
        & (contour > vad["level_db"] - 25.0)
        & (contour - np.maximum(before, after) >= 3.0)  # a dip on both sides: a syllable nucleus
    )
    return float(np.count_nonzero(peaks)) / vad["voiced_s"]


def _energy(speech_mean_db: float | None, pitch: dict, syllables_per_s: float) -> tuple[float, dict[str, Any]]:
    if speech_mean_db is None:
        return 0.0, {"loudness": 0.0, "pitch_variation": None, "rate": 0.0}
    loudness = _clip01((speech_mean_db + 40.0) / 28.0)  # -40 dBFS quiet … -12 dBFS loud
    rate = _clip01((syllables_per_s - 2.0) / 4.0)  # 2 … 6 syllables per second
    semitones = pitch.get("pitch_semitones_std")
    if semitones is None:
        energy = 0.65 * loudness + 0.35 * rate
        variation = None
    else:
        variation = _clip01((semitones - 1.0) / 4.0)  # 1 (monotone) … 5 semitones (lively)
        energy = 0.5 * loudness + 0.25 * variation + 0.25 * rate
    parts = {"loudness": _r(loudness, 3), "pitch_variation": _r(variation, 3), "rate": _r(rate, 3)}
    return float(energy), parts


def _clip01(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)
