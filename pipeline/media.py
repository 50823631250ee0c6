"""The bundled ffmpeg: streaming H.264 writer and reader, final mux, and a probe.

Everything goes through the ffmpeg binary that ``imageio-ffmpeg`` ships (libx264 + aac), so no
system ffmpeg is needed. Frames are streamed to ffmpeg's stdin one at a time: a video is never
held in memory. ``VideoWriter`` takes RGB frames but sends them as yuv420p, converted by OpenCV
(BT.601 limited range, exactly what ffmpeg's own conversion gives): half the bytes through the
pipe and no colour conversion in the encoder. The encoder gets all cores but one, which is left
to whoever draws the frames; on two cores that measured 30–50% faster than letting x264 take both.

The render stage writes a video-only H.264 file with ``VideoWriter``; the encode stage muxes it
with the speech as AAC and moves the index to the front (``faststart``) so browsers can play it
while it downloads. ``VideoReader`` is the writer's mirror, for stages that filter a rendered
video frame by frame (the face enhancer): RGB frames out of an ffmpeg pipe, one at a time.
``probe`` reads back what a person would check: streams, codecs, size, frame rate and duration.
``verify_video`` goes further and decodes the whole file: the frame count and not one decode
error, which a header alone cannot show (a file two encoders wrote at once probes fine).

Files are written under a name only that attempt uses (``files.partial_path``) and renamed into
place when ffmpeg has finished, so a half-written video never has a finished one's name and an
encoder left running by a killed process never writes into the next attempt's file.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .errors import BackendUnavailable, BadInput, StudioError
from .files import partial_path

FPS = 25
DEFAULT_PRESET = "veryfast"
DEFAULT_CRF = 20


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the bundled ffmpeg binary."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as error:
        raise BackendUnavailable(f"the bundled ffmpeg is missing — reinstall imageio-ffmpeg ({error})") from None


def run_ffmpeg(args: list[str], *, what: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ffmpeg quietly (in ``cwd``, when a filter names files relative to it); a failure becomes a
    ``StudioError`` naming ``what`` was being done."""
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    result = subprocess.run(command, capture_output=True, cwd=cwd)
    if result.returncode != 0:
        raise StudioError(f"ffmpeg failed while {what}: {_last_line(result.stderr)}")
    return result


def _last_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no message"


class VideoWriter:
    """Streams RGB frames (H×W×3 uint8) into an H.264 yuv420p MP4 — without audio, or with
    ``audio`` (a WAV file) encoded to AAC in the same pass: one ffmpeg where a mux would be a second.

    Use as a context manager; leaving it with an exception kills ffmpeg and removes the partial
    file, so a half-written video never looks like a finished one.
    """

    def __init__(self, path: Path, *, width: int, height: int, fps: int = FPS,
                 preset: str = DEFAULT_PRESET, crf: int = DEFAULT_CRF, threads: int | None = None,
                 audio: Path | None = None, audio_bitrate: str = "128k") -> None:
        if width % 2 or height % 2:
            raise ValueError(f"yuv420p needs even dimensions, got {width}x{height}")
        self.path = Path(path)
        self.width, self.height, self.fps = width, height, fps
        self.frames_written = 0
        self._tmp = partial_path(self.path)  # this attempt's own file: see files.partial_path
        command = [
            ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-r", str(fps),
            "-i", "pipe:0",
            *(["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", audio_bitrate]
              if audio is not None else ["-an"]),
            "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
            "-threads", str(threads or max(1, (os.cpu_count() or 2) - 1)),
            "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(self._tmp),
        ]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"expected a {self.height}x{self.width}x3 uint8 frame, got {frame.shape} {frame.dtype}")
        try:
            self._process.stdin.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).data)
        except BrokenPipeError:
            self._process.wait()
            raise StudioError(f"ffmpeg stopped while encoding video: {_last_line(self._process.stderr.read())}") from None
        self.frames_written += 1

    def close(self) -> None:
        self._process.stdin.close()
        stderr = self._process.stderr.read()
        if self._process.wait() != 0:
            raise StudioError(f"ffmpeg failed while encoding video: {_last_line(stderr)}")
        self._tmp.replace(self.path)

    def abort(self) -> None:
        self._process.kill()
        self._process.wait()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class VideoReader:
    """Streams a video's frames as RGB arrays (H×W×3 uint8), one at a time, decoded by ffmpeg.

    Only one frame is in memory at a time. Frames come out exactly as stored (``-fps_mode
    passthrough``: none dropped or repeated to fit a frame rate), so a filter that writes one frame
    per frame read keeps the frame count. ``size`` (width, height) scales every frame on the way
    (area filter). Use as a context manager; leaving it early stops ffmpeg.
    """

    def __init__(self, path: Path, *, size: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        stream = probe(self.path).video
        if stream is None or not stream.width or not stream.height:
            raise BadInput(f"{self.path.name} has no video stream")
        self.width, self.height = size or (stream.width, stream.height)
        self.fps = stream.fps
        self.frames_read = 0
        self._frame_bytes = self.width * self.height * 3
        scale = ["-vf", f"scale={self.width}:{self.height}:flags=area"] if size else []
        command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(self.path),
                   "-map", "0:v:0", "-an", "-fps_mode", "passthrough", *scale,
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def __iter__(self):
        while True:
            raw = self._process.stdout.read(self._frame_bytes)
            if len(raw) < self._frame_bytes:
                break
            self.frames_read += 1
            yield np.frombuffer(raw, np.uint8).reshape(self.height, self.width, 3)
        stderr = self._process.stderr.read()
        if self._process.wait() != 0:
            raise StudioError(f"ffmpeg failed while reading {self.path.name}: {_last_line(stderr)}")

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for pipe in (self._process.stdout, self._process.stderr):
            pipe.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


def mux(video: Path, audio: Path, out: Path, *, audio_bitrate: str = "128k") -> None:
    """Final MP4: the H.264 stream copied as-is, the speech encoded to AAC, index at the front."""
    tmp = partial_path(out)
    try:
        run_ffmpeg(
            ["-i", str(video), "-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
             "-c:a", "aac", "-b:a", audio_bitrate, "-movflags", "+faststart", str(tmp)],
            what="adding the audio to the video",
        )
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class Stream:
    kind: str  # "video" | "audio"
    codec: str
    width: int = 0
    height: int = 0
    fps: float = 0.0
    pix_fmt: str = ""
    sample_rate: int = 0
    channels: str = ""


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float
    streams: list[Stream] = field(default_factory=list)

    @property
    def video(self) -> Stream | None:
        return next((s for s in self.streams if s.kind == "video"), None)

    @property
    def audio(self) -> Stream | None:
        return next((s for s in self.streams if s.kind == "audio"), None)


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+: Video: (\w+)[^,]*, (\w+)[^,]*(?:\([^)]*\))?[^,]*, (\d+)x(\d+).*?(?:([\d.]+) fps)?")
_AUDIO = re.compile(r"Stream #\S+: Audio: (\w+)[^,]*, (\d+) Hz, ([\w.]+)")
_FPS = re.compile(r"([\d.]+) fps")


def probe(path: Path) -> MediaInfo:
    """Streams and duration of a media file, read from ``ffmpeg -i``'s report."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"no such file: {path}")
    result = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path)], capture_output=True)
    report = result.stderr.decode("utf-8", "replace")
    duration = _DURATION.search(report)
    if not duration:
        raise BadInput(f"{path.name} is not a readable media file")
    hours, minutes, seconds = duration.groups()
    streams = []
    for line in report.splitlines():
        if (match := _VIDEO.search(line)) and ": Video: " in line:
            fps = _FPS.search(line)
            streams.append(Stream("video", match.group(1), width=int(match.group(3)), height=int(match.group(4)),
                                  fps=float(fps.group(1)) if fps else 0.0, pix_fmt=match.group(2)))
        elif match := _AUDIO.search(line):
            streams.append(Stream("audio", match.group(1), sample_rate=int(match.group(2)), channels=match.group(3)))
    return MediaInfo(int(hours) * 3600 + int(minutes) * 60 + float(seconds), streams)


def is_faststart(path: Path) -> bool:
    """True when the MP4's index (moov) comes before its media data (mdat)."""
    with open(path, "rb") as handle:
        while header := handle.read(8):
            if len(header) < 8:
                return False
            size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if kind == b"moov":
                return True
            if kind == b"mdat":
                return False
            if size == 1:
                size = int.from_bytes(handle.read(8), "big") - 8
            elif size == 0:
                return False
            handle.seek(size - 8, 1)
    return False


@dataclass(frozen=True)
class DecodeCheck:
    """What decoding a whole file found (``verify_video`` raises unless it is all clean)."""

    frames: int  # video frames decoded
    audio: bool  # an audio stream was decoded as well
    duration_s: float


_PROGRESS_FRAME = re.compile(rb"^frame=(\d+)\s*$", re.MULTILINE)
_LOG_PREFIX = re.compile(r"^(?:\[[^\]]* @ 0x[0-9a-f]+\]\s*)+")


def verify_video(path: Path, *, frames: int | None = None, audio: bool | None = None,
                 name: str | None = None, info: MediaInfo | None = None) -> DecodeCheck:
    """Decode all of ``path`` — every video frame and, unless ``audio`` is False, the audio — and
    raise a ``StudioError`` unless it decodes without a single error (and, with ``frames``, has
    exactly that many video frames). ``audio=True``: it must have an audio stream. ``name``: the
    file as messages call it (an unfinished file is checked under its final name). ``info``: its
    ``probe``, when the caller has it already.

    A header can be perfect over a body that is not (two encoders writing one file, a download
    cut short), which is why this reads everything: ffmpeg at ``-v error`` decodes into its null
    muxer, every error line is counted, and ``-progress`` reports the frames decoded. Frames pass
    through as stored (``-fps_mode passthrough``), so none is dropped or repeated to fit a rate."""
    path = Path(path)
    name = name or path.name
    try:
        info = info or probe(path)
    except BadInput:
        raise StudioError(f"{name} does not decode: it is not a readable media file") from None
    if info.video is None:
        raise StudioError(f"{name} has no video stream")
    if audio and info.audio is None:
        raise StudioError(f"{name} has no audio stream")
    with_audio = audio is not False and info.audio is not None
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-nostats", "-progress", "pipe:1",
               "-i", str(path), "-map", "0:v:0", *(["-map", "0:a:0"] if with_audio else []),
               "-fps_mode", "passthrough", "-f", "null", "-"]
    result = subprocess.run(command, capture_output=True)
    errors = [_LOG_PREFIX.sub("", line).strip()
              for line in result.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    if result.returncode != 0 and not errors:
        errors = [f"ffmpeg exited with status {result.returncode}"]
    if errors:
        count = f"{len(errors)} decode error{'s' if len(errors) != 1 else ''}"
        raise StudioError(f"{name} does not decode cleanly: {count}, first: {errors[0]}")
    counted = _PROGRESS_FRAME.findall(result.stdout)
    decoded = int(counted[-1]) if counted else 0
    if frames is not None and decoded != frames:
        raise StudioError(f"{name} has {decoded} frames, expected {frames}")
    return DecodeCheck(frames=decoded, audio=with_audio, duration_s=info.duration_s)


def check_deliverable(path: Path, *, frames: int | None = None, name: str = "output.mp4") -> MediaInfo:
    """What the encode stage hands over, checked as a browser will take it: a video and an audio
    stream, the index at the front (``faststart``), and all of it decoding without an error — with
    ``frames`` frames when given. Returns its ``probe``."""
    info = probe(path)
    if info.video is None or info.audio is None or not is_faststart(path):
        raise StudioError("the encoded video is missing a stream or its index; please report this job")
    verify_video(path, frames=frames, audio=True, name=name, info=info)
    return info
