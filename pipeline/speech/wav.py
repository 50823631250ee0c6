"""Reading and writing the pipeline's WAV files.

Every audio file a stage hands to the next is mono, signed 16-bit PCM, so this module only has to
speak that format (plus stereo on read, folded to mono, because a WAV from elsewhere may be).
Inside the pipeline audio is float32 in [-1, 1]. Writes go to a temporary file in the same folder
and are renamed into place, so a crashed or failed stage never leaves a half-written file that a
resumed job would mistake for a finished one.
"""

from __future__ import annotations

import io
import os
import wave
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..files import partial_path

_INT16_SCALE = 32768.0


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples (float32, mono, in [-1, 1]) and the sample rate of a 16-bit PCM WAV file."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as wav:
            channels = wav.getnchannels()
            width = wav.getsampwidth()
            rate = wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as error:
        raise BadInput(f"'{path.name}' is not a readable WAV file ({error})") from None
    if width != 2:
        raise BadInput(f"'{path.name}' has {8 * width}-bit samples; expected 16-bit PCM")
    samples = np.frombuffer(raw, dtype="<i2")
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    return samples.astype(np.float32) / _INT16_SCALE, rate


def mono_float(samples: np.ndarray) -> np.ndarray:
    """Mono float32 in [-1, 1], from int16 or float, mono or (samples, channels)."""
    audio = np.asarray(samples)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if np.issubdtype(audio.dtype, np.integer):
        return audio.astype(np.float32) / 32768.0
    return audio.astype(np.float32)


def _write_pcm(target, samples: np.ndarray, sample_rate: int) -> None:
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float32) * 32767.0), -32768, 32767)
    with wave.open(target, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(int(sample_rate))
        wav.writeframes(pcm.astype("<i2").tobytes())


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """Float samples in [-1, 1] as the bytes of a mono 16-bit PCM WAV file, in memory."""
    buffer = io.BytesIO()
    _write_pcm(buffer, samples, sample_rate)
    return buffer.getvalue()


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write float samples in [-1, 1] as a mono 16-bit PCM WAV, atomically. Returns the path."""
    path = Path(path)
    tmp = partial_path(path)
    try:
        _write_pcm(str(tmp), samples, sample_rate)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def peak_dbfs(samples: np.ndarray) -> float:
    """Peak level in dBFS after removing any DC offset (-inf dB is reported as -120)."""
    if len(samples) == 0:
        return -120.0
    centred = samples - float(np.mean(samples, dtype=np.float64))
    peak = float(np.max(np.abs(centred)))
    return max(-120.0, 20.0 * np.log10(peak)) if peak > 0 else -120.0
