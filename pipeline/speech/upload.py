"""Uploaded audio → the pipeline's speech WAV (mono, 16-bit PCM, 44.1 kHz).

Whatever a person uploads (wav, mp3, m4a, ogg, webm, flac, or a video with a sound track) is
decoded by the ffmpeg binary that ``imageio-ffmpeg`` bundles, so there is no system dependency.
Everything that can go wrong with the file itself is a ``BadInput`` whose message names the file
and says what is wrong in words; ffmpeg's own last error line is added in parentheses only where
it helps (it is stripped of ffmpeg's ``[in#0 @ 0x…]`` prefixes and of our temporary paths).

Decoding stops just past ``MAX_AUDIO_SECONDS``, so a three-hour podcast is rejected after reading
ten minutes of it rather than after converting all of it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from ..errors import BadInput
from ..files import partial_path
from ..media import ffmpeg_exe
from .wav import peak_dbfs, read_wav

UPLOAD_SAMPLE_RATE = 44100
MAX_AUDIO_SECONDS = 600
SILENCE_PEAK_DBFS = -50.0
DECODE_TIMEOUT_S = 180

_FFMPEG_PREFIX = re.compile(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*")


def normalise_upload(
    audio_path: str | Path, out_wav: Path, *, display_name: str | None = None,
    sample_rate: int = UPLOAD_SAMPLE_RATE, refuse_silence: bool = True,
) -> tuple[int, float]:
    """Decode ``audio_path`` into ``out_wav``; returns (sample rate, duration in seconds).

    ``out_wav`` is written only if the audio is usable, and atomically. Messages name the file as
    ``display_name`` (the name the user gave it) when the job works on its own copy. ``sample_rate``:
    the rate to resample to (speech recognition wants 16 kHz). ``refuse_silence``: a silent file is
    a ``BadInput`` (nothing to animate); speech recognition turns it off, as silence is an answer
    there — no words.
    """
    source = Path(audio_path)
    name = display_name or source.name
    if not source.exists():
        raise BadInput(f"The audio file '{name}' was not found — upload it again.")
    if not source.is_file():
        raise BadInput(f"'{name}' is a folder, not an audio file.")
    if source.stat().st_size == 0:
        raise BadInput(f"The audio file '{name}' is empty (0 bytes) — upload it again.")

    out_wav = Path(out_wav)
    tmp = partial_path(out_wav)
    try:
        _decode(source, tmp, name, sample_rate)
        samples, rate = read_wav(tmp)
        if len(samples) == 0:
            raise BadInput(f"The audio file '{name}' contains no sound (it has no audio samples).")
        duration = len(samples) / rate
        if duration > MAX_AUDIO_SECONDS:
            raise BadInput(
                f"The audio is longer than {MAX_AUDIO_SECONDS // 60} minutes, the limit — "
                "trim it and upload it again."
            )
        if refuse_silence and peak_dbfs(samples) < SILENCE_PEAK_DBFS:
            raise BadInput("The audio is silent — there is no speech to animate.")
        os.replace(tmp, out_wav)
    finally:
        tmp.unlink(missing_ok=True)
    return rate, duration


def _decode(source: Path, out_wav: Path, name: str, sample_rate: int) -> None:
    command = [
        ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-i", str(source),
        "-t", str(MAX_AUDIO_SECONDS + 1),  # enough to know it is too long, no more
        "-vn", "-ac", "1", "-ar", str(sample_rate), "-c:a", "pcm_s16le",
        "-y", str(out_wav),
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, timeout=DECODE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise BadInput(
            f"Decoding the audio file '{name}' took too long — try a shorter or simpler file."
        ) from None
    if done.returncode == 0:
        return
    detail = _last_error_line(done.stderr.decode("utf-8", "replace"), source, out_wav, name)
    if "does not contain any stream" in detail:
        raise BadInput(f"'{name}' has no audio track — there is no speech to animate.")
    suffix = f" (ffmpeg: {detail})" if detail else ""
    raise BadInput(
        f"could not read the audio file '{name}': it is not a supported audio format or is damaged{suffix}"
    )


def _last_error_line(stderr: str, source: Path, out_wav: Path, name: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ""
    # "Error opening output files: Invalid argument" hides the real cause one line up.
    wanted = next((line for line in lines if "does not contain any stream" in line), lines[-1])
    line = _FFMPEG_PREFIX.sub("", wanted)
    return line.replace(str(source), name).replace(str(out_wav), "output")
