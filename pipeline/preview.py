"""Live preview: one still of the portrait as the five controls and the emotion would show it.

The Render lab calls ``render_preview`` on every slider move, so it has to answer in well under
50 ms of server time on a two-core CPU. Drawing a frame with the embedded renderer's
``FaceAnimator`` costs 1–10 ms; what is slow is getting there — decoding the portrait, running the
face mesh and building the displacement fields (``load_portrait`` + ``FaceAnimator``, ~1–2 s).
So those are kept in a small LRU (``PreviewCache``) keyed by the file's SHA-256 and the working
size: the first preview of a portrait is slow and says so (``PreviewResult.prepared_s``), every
later one only draws. Keying by content rather than path means the same photo uploaded twice, or
copied into a job folder, is prepared once; the hash itself is remembered per (path, size, mtime)
so a 20 MB photo is not re-read on every slider move.

A still cannot show time, so each control is shown as the video would show it mid-sentence
(``preview_state``): the jaw at a typical stressed syllable scaled by ``mouth_openness``, the brows
at a middling emphasis scaled by ``eyebrow_raise``, the head at the held tilt ``motion.py`` eases
into (same side for the same seed), the emotion's expression at ``expression_intensity``. Blinks
would only be a closed eye at a random moment, so ``blink_rate`` is reported as blinks per minute
instead. With every control at 0 the preview is exactly the portrait.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .controls import CONTROL_NAMES, Controls, check_emotion
from .errors import BadInput
from .files import file_sha256
from .render.embedded.animator import FaceAnimator
from .render.embedded.motion import (
    MAX_TILT_DEG,
    SAD_HEAD_DROP,
    FrameState,
    blinks_per_minute,
    held_tilt_side,
)
from .face.portrait import Portrait, check_face_number, load_portrait
from .settings import DEFAULT_MAX_SIDE

PREVIEW_MAX_SIDE = DEFAULT_MAX_SIDE  # the default render size; larger renders preview at this size
CACHE_SIZE = 4  # portraits kept prepared (~5 MB each at 512 px): a persona or two and an upload
# A still stands for a moment of speech. Over the voiced frames of a sample script, plan_motion's
# jaw is 0.64 × mouth_openness at the median and its brow 0.59 × eyebrow_raise: show that moment.
MID_SPEECH_JAW = 0.6
MID_SPEECH_BROW = 0.6


@dataclass(frozen=True)
class PreviewResult:
    """A preview still and what it cost. ``image`` is H×W×3 RGB uint8 at the preview size."""

    image: np.ndarray
    server_s: float  # the whole call: preparing (on a miss), the state and the drawing
    draw_s: float  # drawing the frame alone
    cached: bool  # the portrait was already prepared when this preview was asked for
    prepared_s: float  # preparing the portrait (or waiting for another preview to); 0 when cached
    blinks_per_minute: float
    state: FrameState
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the UI: blinks (which a still cannot show), the time taken, any notes."""
        parts = [f"blinks {self.blinks_per_minute:.0f}/min (not visible in a still)",
                 f"preview {self.server_s * 1000:.0f} ms"]
        if not self.cached:
            parts.append(f"first look at this portrait: face found and prepared in {self.prepared_s:.1f} s; "
                         "later previews only draw")
        return " · ".join(parts + self.notes)


@dataclass(frozen=True)
class _Prepared:
    portrait: Portrait
    animator: FaceAnimator


class PreviewCache:
    """Prepared portraits (face + animator) by (content SHA-256, max_side, face); thread-safe LRU.

    Handlers run in threads, so two previews of a new portrait may arrive together: the second
    waits for the first to finish preparing instead of preparing it again."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple, _Prepared] = OrderedDict()
        self._preparing: dict[tuple, threading.Lock] = {}
        self._hashes: OrderedDict[tuple[str, int, int], str] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, path: Path, *, max_side: int, display_name: str | None = None,
            face: int | None = None) -> tuple[_Prepared, bool]:
        """The prepared portrait (``face``: the face animated, as ``load_portrait`` numbers it), and
        whether it was ready when asked (False: this call prepared it or waited while another did);
        ``BadInput`` as ``load_portrait``."""
        key = (self.content_hash(path, display_name), int(max_side), face)
        with self._lock:
            if key in self._entries:
                return self._hit(key), True
            preparing = self._preparing.setdefault(key, threading.Lock())
        with preparing:
            with self._lock:
                if key in self._entries:  # another thread prepared it while this one waited
                    return self._hit(key), False
            try:
                portrait = load_portrait(path, max_side=max_side, display_name=display_name, face=face)
                prepared = _Prepared(portrait, FaceAnimator(portrait))
            finally:
                with self._lock:
                    self._preparing.pop(key, None)
            with self._lock:
                self.misses += 1
                self._entries[key] = prepared
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return prepared, False

    def _hit(self, key: tuple) -> _Prepared:
        self.hits += 1
        self._entries.move_to_end(key)
        return self._entries[key]

    def content_hash(self, path: Path, display_name: str | None = None) -> str:
        """SHA-256 of the file, remembered per (path, size, mtime) so it is read once."""
        name = Path(display_name).name if display_name else path.name
        try:
            stat = path.stat()
        except OSError:
            raise BadInput(f"portrait not found: {name}") from None
        if not path.is_file():
            raise BadInput(f"portrait not found: {name}")
        file_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._hashes.get(file_key)
        if known is not None:
            return known
        digest = file_sha256(path)
        with self._lock:
            self._hashes[file_key] = digest
            while len(self._hashes) > 64:
                self._hashes.popitem(last=False)
        return digest

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._hashes.clear()


DEFAULT_CACHE = PreviewCache()


def preview_state(controls: Controls, *, face_width_px: float, seed: int = 0) -> FrameState:
    """The frame a still shows for these controls: mid-speech, after the ease-in (see the module
    docstring). Every control at 0 gives the rest state, which draws the portrait unchanged."""
    sway_y = 0.0
    if controls.emotion == "sad":
        sway_y = SAD_HEAD_DROP * face_width_px * controls.expression_intensity * min(1.0, 3 * controls.head_tilt)
    return FrameState(
        jaw=MID_SPEECH_JAW * controls.mouth_openness,
        brow=MID_SPEECH_BROW * controls.eyebrow_raise,
        roll_deg=held_tilt_side(seed) * MAX_TILT_DEG * controls.head_tilt,
        sway_y=sway_y,
        expression=controls.expression_intensity,
        emotion=controls.emotion,
    )


def render_preview(portrait: str | Path | None, controls: Controls | Mapping[str, Any], *,
                   emotion: str | None = None, max_side: int = PREVIEW_MAX_SIDE, seed: int = 0,
                   display_name: str | None = None, cache: PreviewCache | None = None,
                   face: int | None = None) -> PreviewResult:
    """A preview still of ``portrait`` for ``controls`` (the five values; an ``emotion`` key or
    argument picks the expression). ``emotion=None`` means "detect it from the speech at render
    time": the still then shows no emotion and says so. Bad portraits raise ``BadInput``."""
    began = time.perf_counter()
    cache = DEFAULT_CACHE if cache is None else cache  # (an empty cache is falsy)
    if portrait is None or str(portrait).strip() == "":
        raise BadInput("choose a portrait to preview: a persona's, or upload a photo")
    values = controls.to_dict() if isinstance(controls, Controls) else dict(controls)
    values = {name: values[name] for name in CONTROL_NAMES if name in values}
    notes = []
    if emotion is None:
        notes.append("emotion auto: found in the speech when you render; pick one to preview it")
    chosen = Controls.from_dict({**values, "emotion": check_emotion(emotion) if emotion else "neutral"})
    prepared, cached = cache.get(Path(portrait), max_side=min(int(max_side), PREVIEW_MAX_SIDE),
                                 display_name=display_name, face=check_face_number(face))
    prepared_s = 0.0 if cached else time.perf_counter() - began
    state = preview_state(chosen, face_width_px=float(prepared.portrait.face.width), seed=seed)
    drawing = time.perf_counter()
    image = prepared.animator.frame(state)
    done = time.perf_counter()
    return PreviewResult(image=image, server_s=done - began, draw_s=done - drawing, cached=cached,
                         prepared_s=prepared_s, blinks_per_minute=round(blinks_per_minute(chosen.blink_rate), 1),
                         state=state, notes=notes + list(prepared.portrait.notes))


def portrait_image(path: str | Path):
    """A portrait file as an upright RGB ``PIL.Image`` for display (EXIF rotation applied), so the
    studio can show a persona's portrait without serving files from outside the job folders."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            return ImageOps.exif_transpose(image).convert("RGB")
    except FileNotFoundError:
        raise BadInput(f"portrait not found: {path.name}") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise BadInput(f"could not read '{path.name}' as an image") from None


def faces_in(portrait: str | Path | None, *, cache: PreviewCache | None = None) -> tuple[str, ...]:
    """Where each face of ``portrait`` lies ("left", "middle", "right"), numbered from the left as
    a render's ``face`` counts them; nothing when it cannot be animated (the preview says why).
    Read from the preview's cache, so a new portrait's preview and its faces are prepared once
    between them, whichever asks first."""
    if portrait is None or str(portrait).strip() == "":
        return ()
    cache = DEFAULT_CACHE if cache is None else cache
    try:
        return cache.get(Path(portrait), max_side=PREVIEW_MAX_SIDE)[0].portrait.places
    except BadInput:
        return ()


__all__ = ["DEFAULT_CACHE", "PreviewCache", "PreviewResult", "faces_in", "portrait_image", "preview_state",
           "render_preview"]
