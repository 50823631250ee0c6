"""Helpers for tests that look at what a user gets: decoded frames and stream facts."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

from pipeline.media import ffmpeg_exe, probe


def decode_frames(path: Path) -> np.ndarray:
    """All frames of a video as an (N, H, W, 3) uint8 array (tests only: short clips)."""
    info = probe(path).video
    raw = subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "pipe:1"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, info.height, info.width, 3)


def decode_all(path: Path) -> tuple[int, str]:
    """Decode every stream of a file to the end: (video frames, ffmpeg's error output — "" when
    clean). Frames are counted from ffmpeg's per-frame checksums (stream 0: the video)."""
    result = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0",
                             "-f", "framecrc", "-"], capture_output=True, text=True)
    frames = sum(1 for line in result.stdout.splitlines() if line.startswith("0,"))
    return frames, result.stderr.strip()


def wav_duration(path: Path) -> float:
    with wave.open(str(path), "rb") as handle:
        return handle.getnframes() / handle.getframerate()
