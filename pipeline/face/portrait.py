"""Loading a portrait: any photo a person might upload → a working-size RGB image and its face.

The steps, each of which can end in a one-line ``BadInput`` naming the file:

1. Check the header (``decode.check_header``): missing, not an image, a decompression bomb, or
   too many pixels to decode safely stop here, before any decoding.
2. Decode to 8-bit RGB, upright, no bigger than needed (``decode.decode_rgb``: a JPEG at a
   reduced size, other formats a strip at a time). Too small (< 64 px) stops here.
3. Scale so the long side is ``max_side`` and both sides are even (H.264 needs that). A photo
   smaller than that is enlarged (``upscale``: Lanczos and an unsharp mask) so the video is the
   working size, not the photo's, and a note says so; the face must still be ``MIN_FACE_PX`` wide
   in the photo's own pixels.
4. Find faces. The largest one is animated, or the one asked for (``face=N``: faces are numbered
   from the left, 1 to the number found); with several, a note says which. A number past the faces
   found makes the loader look closer (the tiles below) before it says how many there are.
5. Auto-framing: when the face would be narrower than ``MIN_FACE_PX`` at the working size but is
   wide enough in the original (a full-body shot, a group photo from a phone), decode again at the
   resolution the face needs and crop a head-and-shoulders frame around it.

Remembered. The last few portraits are kept by file (path, size, modification time) and
working size, so the render stage reuses what the inputs stage of the same job prepared. By then
the TTS voice and the face mesh are loaded, and a second full-size decode of a big PNG on top of
them is what took a render past its 600 MB memory budget (bench/big_portrait.py). Refusals are not
remembered; the shared image is read-only.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from ..errors import BadInput
from ..settings import DEFAULT_MAX_SIDE, MAX_SIDE_RANGE
from .decode import check_header, decode_rgb
from .mesh import Face, find_faces

MIN_FACE_PX = 80
MIN_IMAGE_PX = 64
DETECT_LONG_SIDE = 2048  # resolution of the second, closer look for small faces
SAME_SIZE = 0.95  # faces this close to the largest count as large as it (the leftmost is taken)
TILE_SHARE = 0.6  # the square tiles faces are looked for in: this share of the picture's short side
# Head-and-shoulders crop around a small face, in face widths.
FRAME_WIDTH, FRAME_HEIGHT, FRAME_FACE_CENTRE = 3.0, 3.5, 0.4
REMEMBERED = 4  # portraits kept prepared: a few of 1080 px are a few MB
UNSHARP_SIGMA, UNSHARP_AMOUNT = 0.5, 0.6  # enlarging: the unsharp mask's radius (source px) and strength


@dataclass(frozen=True)
class Portrait:
    """The working image (H×W×3 RGB uint8, both sides even) and the face to animate in it."""

    image: np.ndarray
    face: Face
    source_size: tuple[int, int]  # (width, height) of the original, after EXIF orientation
    notes: list[str] = field(default_factory=list)
    face_number: int = 1  # which face is animated, counted from the left of the photo
    # Where each face found lies in the photo ("left", "middle", "right"), numbered from the left:
    # what a person picks from (a studio's face choice)
    places: tuple[str, ...] = ("middle",)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]


def load_portrait(path: Path | str, *, max_side: int = DEFAULT_MAX_SIDE, display_name: str | None = None,
                  face: int | None = None) -> Portrait:
    """Open a portrait photo and find the face to animate; see the module docstring.

    ``face``: the face to animate, numbered from the left of the photo (None: the largest).
    Messages name the file by ``display_name`` (what the user uploaded, when ``path`` is a
    renamed copy), else by the path's basename."""
    path = Path(path)
    name = Path(display_name).name if display_name else path.name
    low, high = MAX_SIDE_RANGE
    if not low <= int(max_side) <= high:
        raise BadInput(f"max_side must be between {low} and {high} px, got {max_side}")
    max_side = int(max_side)
    face = check_face_number(face)
    if not path.is_file():
        raise BadInput(f"portrait not found: {name}")  # the wording the runner uses too
    key = (*_file_key(path, max_side), face)
    with _remembered_lock:
        known = _remembered.get(key)
    if known is not None:
        return replace(known, notes=list(known.notes))
    portrait = _prepare(path, name, max_side, face)
    portrait.image.setflags(write=False)  # shared by every caller that asks for this file again
    with _remembered_lock:
        _remembered[key] = portrait
        while len(_remembered) > REMEMBERED:
            _remembered.popitem(last=False)
    return replace(portrait, notes=list(portrait.notes))


# Portraits prepared lately, by file identity and working size (see the module docstring).
_remembered: OrderedDict[tuple, Portrait] = OrderedDict()
_remembered_lock = threading.Lock()


def check_face_number(face) -> int | None:
    """``face`` as a face number (1 or more), or None for the largest; BadInput for anything else."""
    if face is None or face == "":
        return None
    try:
        number = int(face)
        whole = number == float(face)
    except (TypeError, ValueError):
        whole = False
    if not whole or number < 1:
        raise BadInput(f"face must be a whole number from 1 (the face furthest left), got {face!r}")
    return number


def _file_key(path: Path, max_side: int) -> tuple:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns, max_side


def _prepare(path: Path, name: str, max_side: int, number: int | None = None) -> Portrait:
    check_header(path, name)
    notes: list[str] = []
    decoded, source_size = decode_rgb(path, name, long_side=max_side, notes=notes)
    if min(source_size) < MIN_IMAGE_PX:
        raise BadInput(f"'{name}' is only {source_size[0]}×{source_size[1]} px; a portrait must be at "
                       f"least {MIN_IMAGE_PX} px on each side.")
    working = _fit(decoded, max_side, notes)
    faces = _find_in_tiles(working)
    scale = working.shape[1] / source_size[0]  # working px per source px
    wanted = number or 1
    if len(faces) >= wanted:
        chosen = _choose(faces, number, working.shape[1])
        if chosen.face.width / max(scale, 1.0) >= MIN_FACE_PX:  # wide enough in the photo's own pixels
            notes += _several_faces(chosen, number)
            return Portrait(working, chosen.face, source_size, notes, chosen.number, chosen.places)
    # No face at the working size, fewer than the number asked for, or the face too small there to
    # animate as it is: look closer (a small face in a big photo, the faces of a group), where the
    # faces are also measured better, before saying no or framing one.
    image = working
    if scale < 1.0:
        closer = _fit(decode_rgb(path, name, long_side=DETECT_LONG_SIDE, notes=[])[0], DETECT_LONG_SIDE)
        found = _find_in_tiles(closer)
        if len(found) >= len(faces):
            faces, scale, image = found, closer.shape[1] / source_size[0], closer
    if not faces:
        raise BadInput(f"No face found in '{name}' — use a front-facing portrait where the face "
                       "is clearly visible.")
    if len(faces) < wanted:
        were = "1 face was" if len(faces) == 1 else f"{len(faces)} faces were"
        raise BadInput(f"face {number} was asked for, but {were} found in '{name}' "
                       f"(numbered from the left: 1 to {len(faces)})")
    chosen = _choose(faces, number, image.shape[1])
    source_face_width = chosen.face.width / scale
    if source_face_width < MIN_FACE_PX:
        raise BadInput(f"The face in '{name}' is only {round(source_face_width)} px wide; at least "
                       f"{MIN_FACE_PX} px is needed — use a larger or closer portrait.")
    box = _scaled_box(chosen.face.bbox, 1 / scale)
    return _framed(path, name, box, source_size, max_side, notes, chosen, number)


@dataclass(frozen=True)
class _Chosen:
    face: Face
    number: int  # counted from the left
    places: tuple[str, ...]  # every face's place in the picture, numbered from the left
    count: int


def _choose(faces: list[Face], number: int | None, width: int) -> _Chosen:
    """The face to animate among ``faces`` (largest first, as found) in an image ``width`` px wide:
    face ``number`` counted from the left, else the largest (of faces within ``SAME_SIZE`` of it, the
    one furthest left, so that two people of a size do not swap with a pixel's difference)."""
    order = sorted(range(len(faces)), key=lambda index: faces[index].bbox[0] + faces[index].bbox[2])
    widest = max(face.width for face in faces)
    at = order[number - 1] if number else next(index for index in order if faces[index].width >= SAME_SIZE * widest)
    places = tuple(_place(faces[index].bbox, width) for index in order)
    return _Chosen(faces[at], order.index(at) + 1, places, len(faces))


def _place(box, width: float) -> str:
    centre = (box[0] + box[2]) / 2 / max(width, 1)
    return "left" if centre < 1 / 3 else "right" if centre > 2 / 3 else "middle"


def _several_faces(chosen: _Chosen, number: int | None) -> list[str]:
    """The note for a group photo, saying which face moves: "found 2 faces; animating the largest,
    face 1 (left)"; none for a photo of one face."""
    if chosen.count < 2:
        return []
    which = "face" if number else "the largest, face"
    return [f"found {chosen.count} faces (numbered from the left); animating {which} {chosen.number} "
            f"({chosen.places[chosen.number - 1]})"]


def _framed(path: Path, name: str, box, source_size, max_side: int, notes: list[str], chosen: _Chosen,
            number: int | None) -> Portrait:
    """Crop a head-and-shoulders frame around the face box (source pixels) and fit it to max_side."""
    x0, y0, x1, y1 = box
    face_width = x1 - x0
    # Never frame so loosely that the face ends up under MIN_FACE_PX after fitting to max_side.
    height_factor = min(FRAME_HEIGHT, max_side / (1.1 * MIN_FACE_PX))
    frame_w = face_width * FRAME_WIDTH * height_factor / FRAME_HEIGHT
    frame_h = face_width * height_factor
    centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
    left = _clip_span(centre_x - frame_w / 2, frame_w, source_size[0])
    top = _clip_span(centre_y - FRAME_FACE_CENTRE * frame_h, frame_h, source_size[1])
    right, bottom = min(source_size[0], left + frame_w), min(source_size[1], top + frame_h)

    # Decode the crop alone, at the resolution it needs, not more.
    needed = max(max_side / max(frame_w, frame_h), 1.1 * MIN_FACE_PX / face_width)
    crop, _ = decode_rgb(path, name, long_side=math.ceil(max(source_size) * min(1.0, needed)), notes=[],
                         box=(left, top, right, bottom))
    working = _fit(np.ascontiguousarray(crop), max_side, notes, "the head-and-shoulders frame")
    faces = find_faces(working)
    if not faces:  # the crop lost it (should not happen); say so plainly rather than guess
        raise BadInput(f"No face found in '{name}' — use a front-facing portrait where the face "
                       "is clearly visible.")
    notes.append(f"the face was only {round(face_width * min(1.0, max_side / max(source_size)))} px wide "
                 f"in the whole picture; cropped a head-and-shoulders frame around it")
    notes += _several_faces(chosen, number)
    # The crop may hold a neighbour too: the face is the one nearest where the box put it.
    crop_scale = working.shape[1] / (right - left)
    expected = np.array([(centre_x - left) * crop_scale, (centre_y - top) * crop_scale])
    face = min(faces, key=lambda f: float(np.hypot(*(np.array([(f.bbox[0] + f.bbox[2]) / 2,
                                                              (f.bbox[1] + f.bbox[3]) / 2]) - expected))))
    return Portrait(working, Face(face.landmarks, face.bbox, chosen.count), source_size, notes, chosen.number,
                    chosen.places)


def _clip_span(start: float, length: float, limit: int) -> float:
    return float(min(max(0.0, start), max(0.0, limit - length)))


def _scaled_box(bbox, factor: float) -> tuple[float, float, float, float]:
    return tuple(v * factor for v in bbox)


def _find_in_tiles(image: np.ndarray) -> list[Face]:
    """Faces too small for the detector at full view: look at overlapping square tiles too.

    The detector looks for faces that fill a good part of a square view, so the faces of a group
    side by side can each be missed in the whole picture and found in a tile. Tiles are squares of
    ``TILE_SHARE`` of the short side, overlapping by half, so one face is seen up to four times (see
    below for which of its finds is kept)."""
    height, width = image.shape[:2]
    side = max(int(min(height, width) * TILE_SHARE), 1)
    step = max(side // 2, 1)
    views = [(0, 0, width, height)] + [(left, top, min(side, width), min(side, height))
                                       for top in _starts(height, side, step) for left in _starts(width, side, step)]
    finds: list[tuple[Face, float]] = []  # each face found, and how far it lies inside the view it was found in
    for left, top, view_w, view_h in views:
        view = image if (view_w, view_h) == (width, height) else \
            np.ascontiguousarray(image[top:top + view_h, left:left + view_w])
        for face in find_faces(view):
            x0, y0, x1, y1 = face.bbox
            finds.append((face.scaled(1.0, (-left, -top)), min(x0, y0, view_w - x1, view_h - y1)))
    # One face seen in several views: finds whose centre lies inside a larger find are that face.
    # Of them, the one furthest inside its view is kept (a face cut by a view's edge is measured wrong).
    finds.sort(key=lambda find: find[0].width, reverse=True)
    groups: list[list[tuple[Face, float]]] = []
    for face, margin in finds:
        centre_x, centre_y = (face.bbox[0] + face.bbox[2]) / 2, (face.bbox[1] + face.bbox[3]) / 2
        group = next((group for group in groups if group[0][0].bbox[0] <= centre_x <= group[0][0].bbox[2]
                      and group[0][0].bbox[1] <= centre_y <= group[0][0].bbox[3]), None)
        if group is None:
            groups.append([(face, margin)])
        else:
            group.append((face, margin))
    kept = [max(group, key=lambda find: find[1])[0] for group in groups]
    kept.sort(key=lambda face: face.width, reverse=True)
    return [Face(face.landmarks, face.bbox, len(kept)) for face in kept]


def _starts(length: int, side: int, step: int) -> list[int]:
    """Where tiles of ``side`` start along ``length``, ``step`` apart, the last one flush with the end."""
    starts = list(range(0, max(length - side, 0) + 1, step))
    if starts[-1] + side < length:
        starts.append(length - side)
    return starts


def _fit(image: np.ndarray, max_side: int, notes: list[str] | None = None, what: str = "the portrait") -> np.ndarray:
    """Scale so the long side is max_side — down always; up too when ``notes`` is given (the working
    image: a small photo still makes a video of the working size, and the note says so) — and make
    both sides even."""
    height, width = image.shape[:2]
    scale = max_side / max(width, height)
    if scale < 1.0 or (notes is not None and scale > 1.0):
        new_w = max(2, int(round(width * scale)) // 2 * 2)
        new_h = max(2, int(round(height * scale)) // 2 * 2)
        if scale < 1.0:
            return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        notes.append(f"{what} is only {width}×{height} px: enlarged {scale:.1f}× to {new_w}×{new_h} px, "
                     "the video's size (a larger photo gives a sharper video)")
        return upscale(image, (new_w, new_h))
    return np.ascontiguousarray(image[: height // 2 * 2, : width // 2 * 2])


def upscale(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` enlarged to ``size`` (width, height): Lanczos resampling, then an unsharp mask
    scaled to the enlargement, which restores the edges resampling softens without ringing."""
    enlarged = cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4)
    factor = size[0] / image.shape[1]
    blurred = cv2.GaussianBlur(enlarged, (0, 0), sigmaX=UNSHARP_SIGMA * factor)
    return cv2.addWeighted(enlarged, 1 + UNSHARP_AMOUNT, blurred, -UNSHARP_AMOUNT, 0)
