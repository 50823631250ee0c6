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
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ...controls import Controls
from ...errors import BadInput
from ...media import VideoWriter
from .animator import FaceAnimator
from .motion import FrameState, plan_motion
from ...face.portrait import DEFAULT_MAX_SIDE, load_portrait
from ..base import Capabilities, Renderer, RenderJob, portrait_facts

__all__ = ["EMBEDDED_HONOURS", "EmbeddedRenderer", "FaceAnimator", "FrameState", "plan_motion"]


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
        return Capabilities(controls=EMBEDDED_HONOURS)

    def render(self, job: RenderJob) -> dict:
        """``job.n_frames`` at ``job.fps`` into a video-only H.264 MP4 at ``job.out``.

        Returns what the job record keeps: frames, width, height, notes, and the face used."""
        return self.render_frames(
            portrait_path=job.portrait, n_frames=job.n_frames, fps=job.fps, envelope=job.envelope,
            voiced_spans=job.voiced_spans, controls=job.controls, out_path=job.out, phonemes=job.phonemes,
            seed=job.seed, max_side=job.max_side, progress=job.progress, display_name=job.display_name)

    def render_frames(self, *, portrait_path: Path, n_frames: int, fps: int, envelope: Sequence[float],
                      voiced_spans: Sequence[tuple[float, float]], controls: Controls, out_path: Path,
                      phonemes: list[dict] | None = None, seed: int = 0, max_side: int = DEFAULT_MAX_SIDE,
                      progress: Callable[[float], None] | None = None, display_name: str | None = None) -> dict:
        """The render itself, from plain values (benchmarks and tests call it without a job)."""
        if int(n_frames) <= 0:
            raise BadInput(f"nothing to render: n_frames must be positive, got {n_frames}")
        if int(fps) <= 0:
            raise BadInput(f"fps must be positive, got {fps}")
        n_frames, fps = int(n_frames), int(fps)
        portrait = load_portrait(portrait_path, max_side=max_side, display_name=display_name)
        animator = FaceAnimator(portrait)
        states = plan_motion(n_frames=n_frames, fps=fps, envelope=envelope, voiced_spans=voiced_spans,
                             controls=controls, phonemes=phonemes, seed=seed,
                             face_width_px=float(portrait.face.width))
        height, width = portrait.image.shape[:2]
        every = max(1, n_frames // 100)
        with VideoWriter(Path(out_path), width=width, height=height, fps=fps) as writer:
            pending = _FrameQueue(writer.write)
            try:
                for index, state in enumerate(states):
                    pending.put(animator.frame(state))
                    if progress is not None and (index + 1) % every == 0:
                        progress((index + 1) / n_frames)
            except BaseException:
                pending.close(raise_error=False)
                raise
            pending.close()
        if progress is not None:
            progress(1.0)
        return {"frames": n_frames, **portrait_facts(portrait)}


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
