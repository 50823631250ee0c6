"""Output formats: the video framed for where it will be posted — as it is, square (1:1), vertical
(9:16: Reels, Shorts, TikTok) or wide (16:9) — with the face where each platform leaves it alone.

``frame(preset, video_size, face_box)`` is the geometry, a ``Framing``; ``compose.compose_video``
draws it. This module is only arithmetic, so it is tested exactly.

The canvas is the smallest one of the preset's shape that holds the rendered video at its own size:
a 448×512 render becomes 512×512, 448×796 or 910×512. The video is never scaled up (that would only
blur it), and scaled down only when its face would not fit the safe area otherwise. The rest of the
canvas is the background: the frame itself scaled to cover the canvas and blurred (``blurred``), or
the video's edge pixels drawn outwards (``extended``; it suits a plain studio backdrop).

The safe area is where a platform draws none of its own buttons, names and captions: for 9:16 the
band between the top 12% and the bottom 28% and clear of the right-hand column of buttons, for the
others the 90% "title safe" centre. The video is placed so the face's centre lands on the safe
area's centre as nearly as the canvas allows (the video never leaves the canvas); when that still
leaves part of the face outside, the video is made smaller, step by step, until it fits.

A face that would have to shrink below ``MIN_SCALE`` of its rendered size, or below ``MIN_FACE_PX``
across, to sit inside the safe area cannot be framed in that format: a ``BadInput`` naming the
format and what to do instead, checked at the inputs stage from the portrait's own face (before
anything is spoken or drawn) and again on the rendered video.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .errors import BadInput

AS_IS = "as-is"
PRESETS = (AS_IS, "1:1", "9:16", "16:9")
BACKGROUNDS = ("blurred", "extended")
ASPECTS = {"1:1": (1, 1), "9:16": (9, 16), "16:9": (16, 9)}
# (left, top, right, bottom) as shares of the canvas
SAFE_AREAS = {"1:1": (0.05, 0.05, 0.95, 0.95), "9:16": (0.06, 0.12, 0.86, 0.72), "16:9": (0.05, 0.05, 0.95, 0.95)}
MIN_SCALE = 0.5
MIN_FACE_PX = 48
SHRINK_STEP = 0.95


@dataclass(frozen=True)
class Framing:
    """Where the video goes on the canvas, in pixels."""

    preset: str
    canvas: tuple[int, int]  # width, height
    size: tuple[int, int]  # the video as placed (scaled), width, height
    position: tuple[int, int]  # its top-left corner on the canvas
    face: tuple[int, int, int, int]  # the face's box on the canvas: left, top, right, bottom
    safe: tuple[int, int, int, int]  # the safe area on the canvas

    def to_dict(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


def check_format(preset: str | None, background: str | None) -> None:
    """A ``BadInput`` for a format or a background the studio does not know."""
    if preset not in (None, *PRESETS):
        raise BadInput(f"unknown format {preset!r}; the formats are {', '.join(PRESETS)}")
    if background not in (None, *BACKGROUNDS):
        raise BadInput(f"unknown background {background!r}; the backgrounds are {', '.join(BACKGROUNDS)}")


def _even_up(value: float) -> int:
    return 2 * math.ceil(value / 2 - 1e-9)


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def frame(preset: str, video_size: tuple[int, int], face_box: tuple[float, float, float, float]) -> Framing | None:
    """The framing of a ``video_size`` video whose face is at ``face_box`` (left, top, right, bottom,
    in the video's pixels) in ``preset``; None for "as-is" (see the module docstring)."""
    check_format(preset, None)
    if preset in (None, AS_IS):
        return None
    width, height = video_size
    across, down = ASPECTS[preset]
    if width * down >= height * across:  # the video is wider than the format: its width sets the canvas
        canvas = (_even_up(width), _even_up(width * down / across))
    else:
        canvas = (_even_up(height * across / down), _even_up(height))
    left, top, right, bottom = SAFE_AREAS[preset]
    safe = (round(left * canvas[0]), round(top * canvas[1]), round(right * canvas[0]), round(bottom * canvas[1]))
    face_w, face_h = face_box[2] - face_box[0], face_box[3] - face_box[1]
    scale = min(1.0, (safe[2] - safe[0]) / face_w, (safe[3] - safe[1]) / face_h)
    while scale >= MIN_SCALE and face_w * scale >= MIN_FACE_PX:
        framing = _placed(preset, canvas, safe, (width, height), face_box, scale)
        if _inside(framing.face, safe):
            return framing
        scale *= SHRINK_STEP
    shown = min(scale / SHRINK_STEP, 1.0)
    raise BadInput(f"the face cannot be framed in {preset}: to sit inside the format's safe area it would have to "
                   f"shrink to {shown:.0%} of the render ({face_w * shown:.0f} px across) — use the format "
                   "as-is, or a portrait with more room around the face")


def _placed(preset, canvas, safe, video_size, face_box, scale) -> Framing:
    size = (min(canvas[0], _even(video_size[0] * scale)), min(canvas[1], _even(video_size[1] * scale)))
    sx, sy = size[0] / video_size[0], size[1] / video_size[1]
    centre = ((face_box[0] + face_box[2]) / 2 * sx, (face_box[1] + face_box[3]) / 2 * sy)
    target = ((safe[0] + safe[2]) / 2, (safe[1] + safe[3]) / 2)
    x = min(max(0, 2 * round((target[0] - centre[0]) / 2)), canvas[0] - size[0])  # even: whole chroma samples
    y = min(max(0, 2 * round((target[1] - centre[1]) / 2)), canvas[1] - size[1])
    face = (round(x + face_box[0] * sx), round(y + face_box[1] * sy), round(x + face_box[2] * sx),
            round(y + face_box[3] * sy))
    return Framing(preset=preset, canvas=canvas, size=size, position=(x, y), face=face, safe=safe)


def _inside(box, area) -> bool:
    return box[0] >= area[0] and box[1] >= area[1] and box[2] <= area[2] and box[3] <= area[3]
