"""The embedded renderer: animates the portrait photo itself, on the CPU, at hundreds of fps.

The default, offline renderer: no model weights beyond the face mesh bundled with mediapipe, no
GPU. ``check_inputs`` (the contract's default) validates a portrait before any speech is made; ``render`` plans the motion
(``motion.py``), draws each frame (``animator.py``) and streams it into an H.264 file on a writer
thread, so drawing the next frame overlaps with handing the last one to ffmpeg and the video is
never held in memory.
"""

from __future__ import annotations

import queue
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ...controls import Controls
from ...errors import BadInput
from ...media import VideoWriter
from .animator import FaceAnimator
from .motion import FrameState, MotionPlanner, plan_motion
from ...face.portrait import DEFAULT_MAX_SIDE, load_portrait
from ..base import Capabilities, Renderer, RenderJob, RenderStream, portrait_facts

__all__ = ["EMBEDDED_HONOURS", "EmbeddedRenderer", "EmbeddedStream", "FaceAnimator", "FrameState", "MotionPlanner",
           "plan_motion"]


# What the embedded renderer does with each control: every one of them, and the emotion.
EMBEDDED_HONOURS = {
    "blink_rate": "blinks per minute (0 → none, 0.5 → 17/min, 1 → 40/min)",
    "head_tilt": "held head roll up to 8° plus sway",
    "expression_intensity": "strength of the emotion's expression",
    "mouth_openness": "how wide the jaw opens on loud syllables",
    "eyebrow_raise": "brow lift on emphasis",
    "emotion": "expression template (happy, sad, angry, …)",
}


class EmbeddedRenderer(Renderer):
    """Animates the portrait photo itself; no model weights, no GPU."""

    name = "embedded"
    label = "Embedded"

    def capabilities(self, settings=None) -> Capabilities:
        return Capabilities(controls=EMBEDDED_HONOURS, streams=True, picks_face=True)

    def open_stream(self, portrait: Path, controls: Controls, *, fps: int, seed: int = 0,
                    max_side: int = DEFAULT_MAX_SIDE, display_name: str | None = None,
                    settings=None) -> EmbeddedStream:
        return EmbeddedStream(portrait, controls, fps=fps, seed=seed, max_side=max_side, display_name=display_name)

    def render(self, job: RenderJob) -> dict:
        """``job.n_frames`` at ``job.fps`` into a video-only H.264 MP4 at ``job.out``.

        Returns what the job record keeps: frames, width, height, notes, and the face used."""
        return self.render_frames(
            portrait_path=job.portrait, n_frames=job.n_frames, fps=job.fps, envelope=job.envelope,
            voiced_spans=job.voiced_spans, controls=job.controls, out_path=job.out, phonemes=job.phonemes,
            seed=job.seed, max_side=job.max_side, progress=job.progress, display_name=job.display_name,
            face=job.face)

    def render_frames(self, *, portrait_path: Path, n_frames: int, fps: int, envelope: Sequence[float],
                      voiced_spans: Sequence[tuple[float, float]], controls: Controls, out_path: Path,
                      phonemes: list[dict] | None = None, seed: int = 0, max_side: int = DEFAULT_MAX_SIDE,
                      progress: Callable[[float], None] | None = None, display_name: str | None = None,
                      face: int | None = None) -> dict:
        """The render itself, from plain values (benchmarks and tests call it without a job)."""
        if int(n_frames) <= 0:
            raise BadInput(f"nothing to render: n_frames must be positive, got {n_frames}")
        if int(fps) <= 0:
            raise BadInput(f"fps must be positive, got {fps}")
        n_frames, fps = int(n_frames), int(fps)
        portrait = load_portrait(portrait_path, max_side=max_side, display_name=display_name, face=face)
        animator = FaceAnimator(portrait)
        states = plan_motion(n_frames=n_frames, fps=fps, envelope=envelope, voiced_spans=voiced_spans,
                             controls=controls, phonemes=phonemes, seed=seed,
                             face_width_px=float(portrait.face.width))
        _write_frames(animator, states, Path(out_path), fps=fps, progress=progress)
        return {"frames": n_frames, **portrait_facts(portrait)}


class EmbeddedStream(RenderStream):
    """A live take of one portrait: loaded once, then each piece planned by one ``MotionPlanner``,
    so the head, the blinks, the expression and the mouth go on across the joins.

    Loading a portrait and preparing its animator takes about a second on two cores — more than a
    live reply may wait — so the last few prepared portraits are kept (``_prepared``, by file,
    modification time and size): the second reply of a conversation starts drawing at once."""

    def __init__(self, portrait_path: Path, controls: Controls, *, fps: int, seed: int = 0,
                 max_side: int = DEFAULT_MAX_SIDE, display_name: str | None = None) -> None:
        if int(fps) <= 0:
            raise BadInput(f"fps must be positive, got {fps}")
        path = Path(portrait_path)
        stat = path.stat() if path.is_file() else None
        key = (str(path.resolve()), stat.st_mtime_ns if stat else None, stat.st_size if stat else None, max_side)
        self.portrait, self.animator = _prepared(key, display_name)
        self.fps = int(fps)
        self.height, self.width = self.portrait.image.shape[:2]
        self.planner = MotionPlanner(fps=self.fps, controls=controls, seed=seed,
                                     face_width_px=float(self.portrait.face.width))
        self.frames = 0

    def segment(self, out: Path, *, n_frames: int, envelope: Sequence[float] = (),
                voiced_spans: Sequence[tuple[float, float]] = (), phonemes: list[dict] | None = None,
                audio: Path | None = None) -> dict:
        if int(n_frames) <= 0:
            raise BadInput(f"nothing to render: n_frames must be positive, got {n_frames}")
        states = self.planner.plan(n_frames=int(n_frames), envelope=envelope, voiced_spans=voiced_spans,
                                   phonemes=phonemes)
        _write_frames(self.animator, states, Path(out), fps=self.fps, audio=audio)
        self.frames += len(states)
        return {"frames": len(states), "width": self.width, "height": self.height}


@lru_cache(maxsize=4)
def _prepared(key: tuple, display_name: str | None) -> tuple[Any, FaceAnimator]:
    """The portrait at ``key`` (path, mtime, size, max side) loaded, with its animator (read-only, shared)."""
    portrait = load_portrait(Path(key[0]), max_side=key[3], display_name=display_name)
    return portrait, FaceAnimator(portrait)


def _write_frames(animator: FaceAnimator, states: Sequence[FrameState], out: Path, *, fps: int,
                  progress: Callable[[float], None] | None = None, audio: Path | None = None) -> None:
    """Draw ``states`` into an H.264 file at ``out`` (with ``audio``, if given), drawing and encoding
    overlapped (``_FrameQueue``)."""
    height, width = animator.height, animator.width
    every = max(1, len(states) // 100)
    with VideoWriter(out, width=width, height=height, fps=fps, audio=audio) as writer:
        pending = _FrameQueue(writer.write)
        try:
            for index, state in enumerate(states):
                pending.put(animator.frame(state))
                if progress is not None and (index + 1) % every == 0:
                    progress((index + 1) / len(states))
        except BaseException:
            pending.close(raise_error=False)
            raise
        pending.close()
    if progress is not None:
        progress(1.0)


class _FrameQueue:
    """Hands frames to ``write`` on a second thread, holding at most ``depth`` of them.

    A write to ffmpeg's pipe blocks until ffmpeg has read the whole frame; on its own thread
    (the write releases the GIL, and so do OpenCV's calls) drawing the next frame overlaps with
    it, worth ~10–15% of render+encode throughput on two cores."""

    def __init__(self, write: Callable[[np.ndarray], None], depth: int = 3) -> None:
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="frame-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (frame := self._queue.get()) is not None:
            if self._error is None:  # after a failure keep draining, so put() never blocks forever
                try:
                    self._write(frame)
                except BaseException as error:  # re-raised on the caller's thread
                    self._error = error

    def put(self, frame: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(frame)

    def close(self, *, raise_error: bool = True) -> None:
        self._queue.put(None)
        self._thread.join()
        if raise_error and self._error is not None:
            raise self._error
