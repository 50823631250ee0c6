"""Loading a portrait: any photo a person might upload → a working-size RGB image and its face.

The steps, each of which can end in a one-line ``BadInput`` naming the file:

1. Open it with Pillow without decoding (a header read): missing, not an image, decompression
   bomb, or too small (< 64 px) stop here.
2. Decode at a reduced size where the format allows it (``Image.draft`` lets a JPEG decode at
   1/2, 1/4 or 1/8 scale, so a 6000×4000 photo costs a few MB rather than 72), apply the EXIF
   orientation, flatten transparency onto white, and convert greyscale, palette, CMYK and 16-bit
   images to 8-bit RGB.
3. Scale so the long side is at most ``max_side`` and both sides are even (H.264 needs that).
4. Find faces. The largest one is animated; with several, a note says so.
5. Auto-framing: when the face would be narrower than ``MIN_FACE_PX`` at the working size but is
   wide enough in the original (a full-body shot, a group photo from a phone), decode again at the
   resolution the face needs and crop a head-and-shoulders frame around it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import BadInput
from ..settings import DEFAULT_MAX_SIDE, MAX_SIDE_RANGE
from .face import Face, find_faces

MIN_FACE_PX = 80
MIN_IMAGE_PX = 64
MAX_PIXELS = 80_000_000  # ~10000×8000; larger uploads are refused before any decoding
DETECT_LONG_SIDE = 2048  # resolution of the second, closer look for small faces
# Head-and-shoulders crop around a small face, in face widths.
FRAME_WIDTH, FRAME_HEIGHT, FRAME_FACE_CENTRE = 3.0, 3.5, 0.4

_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Portrait:
    """The working image (H×W×3 RGB uint8, both sides even) and the face to animate in it."""

    image: np.ndarray
    face: Face
    source_size: tuple[int, int]  # (width, height) of the original, after EXIF orientation
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]


def load_portrait(path: Path | str, *, max_side: int = DEFAULT_MAX_SIDE, display_name: str | None = None) -> Portrait:
    """Open a portrait photo and find the face to animate; see the module docstring.

    Messages name the file by ``display_name`` (what the user uploaded, when ``path`` is a
    renamed copy), else by the path's basename."""
    path = Path(path)
    name = Path(display_name).name if display_name else path.name
    low, high = MAX_SIDE_RANGE
    if not low <= int(max_side) <= high:
        raise BadInput(f"max_side must be between {low} and {high} px, got {max_side}")
    max_side = int(max_side)
    if not path.is_file():
        raise BadInput(f"portrait not found: {name}")  # the wording the runner uses too

    source_size = _source_size(path, name)
    if min(source_size) < MIN_IMAGE_PX:
        raise BadInput(f"'{name}' is only {source_size[0]}×{source_size[1]} px; a portrait must be at "
                       f"least {MIN_IMAGE_PX} px on each side.")
    notes: list[str] = []
    decoded = _decode(path, name, long_side=max_side, notes=notes)
    working = _fit(decoded, max_side)
    faces = find_faces(working)
    scale = working.shape[1] / source_size[0]  # working px per source px

    if faces and faces[0].width >= MIN_FACE_PX:
        return _portrait(working, faces, source_size, notes)
    if faces:
        source_face_width = faces[0].width / scale
        box = _scaled_box(faces[0].bbox, 1 / scale)
    else:
        # Nothing at the working size: look closer before giving up (a small face in a big photo).
        closer = _fit(_decode(path, name, long_side=DETECT_LONG_SIDE, notes=[]), DETECT_LONG_SIDE)
        faces = find_faces(closer) or _find_in_tiles(closer)
        if not faces:
            raise BadInput(f"No face found in '{name}' — use a front-facing portrait where the face "
                           "is clearly visible.")
        closer_scale = closer.shape[1] / source_size[0]
        source_face_width = faces[0].width / closer_scale
        box = _scaled_box(faces[0].bbox, 1 / closer_scale)
    if source_face_width < MIN_FACE_PX:
        raise BadInput(f"The face in '{name}' is only {round(source_face_width)} px wide; at least "
                       f"{MIN_FACE_PX} px is needed — use a larger or closer portrait.")
    return _framed(path, name, box, source_size, max_side, notes, faces_found=faces[0].faces_found)


def _portrait(image: np.ndarray, faces: list[Face], source_size, notes: list[str]) -> Portrait:
    if len(faces) > 1:
        notes.append(_several_faces(len(faces), faces[0].bbox, image.shape[1]))
    return Portrait(image, faces[0], source_size, notes)


def _several_faces(count: int, box, width: float) -> str:
    """The note for a group photo, saying which face moves: "found 2 faces; animating the largest (left)"."""
    centre = (box[0] + box[2]) / 2 / max(width, 1)
    where = "left" if centre < 1 / 3 else "right" if centre > 2 / 3 else "middle"
    return f"found {count} faces; animating the largest ({where})"


def _framed(path: Path, name: str, box, source_size, max_side: int, notes: list[str], *, faces_found: int) -> Portrait:
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

    # Decode at the resolution the crop needs, not more.
    needed = max(max_side / max(frame_w, frame_h), 1.1 * MIN_FACE_PX / face_width)
    decoded = _decode(path, name, long_side=math.ceil(max(source_size) * min(1.0, needed)), notes=[])
    s = decoded.shape[1] / source_size[0]
    crop = decoded[int(top * s):int(math.ceil(bottom * s)), int(left * s):int(math.ceil(right * s))]
    working = _fit(np.ascontiguousarray(crop), max_side)
    faces = find_faces(working)
    if not faces:  # the crop lost it (should not happen); say so plainly rather than guess
        raise BadInput(f"No face found in '{name}' — use a front-facing portrait where the face "
                       "is clearly visible.")
    notes.append(f"the face was only {round(face_width * min(1.0, max_side / max(source_size)))} px wide "
                 f"in the whole picture; cropped a head-and-shoulders frame around it")
    if faces_found > 1:
        notes.append(_several_faces(faces_found, box, source_size[0]))
    face = faces[0]
    return Portrait(working, Face(face.landmarks, face.bbox, faces_found), source_size, notes)


def _clip_span(start: float, length: float, limit: int) -> float:
    return float(min(max(0.0, start), max(0.0, limit - length)))


def _scaled_box(bbox, factor: float) -> tuple[float, float, float, float]:
    return tuple(v * factor for v in bbox)


def _find_in_tiles(image: np.ndarray) -> list[Face]:
    """Faces too small for the detector at full view: look at overlapping half-size tiles.

    The detector looks for faces that fill a good part of its view, so two faces side by side can
    each be missed in the whole picture and found in a tile. Tiles overlap, so one face is seen up
    to four times: a find whose centre lies inside a larger one already kept is the same face."""
    height, width = image.shape[:2]
    tile_h, tile_w = max(height // 2, 1), max(width // 2, 1)
    found: list[Face] = []
    for top in (0, height // 4, height // 2):
        for left in (0, width // 4, width // 2):
            tile = np.ascontiguousarray(image[top:top + tile_h, left:left + tile_w])
            for face in find_faces(tile):
                found.append(face.scaled(1.0, (-left, -top)))
    found.sort(key=lambda face: face.width, reverse=True)
    distinct: list[Face] = []
    for face in found:
        centre_x, centre_y = (face.bbox[0] + face.bbox[2]) / 2, (face.bbox[1] + face.bbox[3]) / 2
        if not any(x0 <= centre_x <= x1 and y0 <= centre_y <= y1 for x0, y0, x1, y1 in (f.bbox for f in distinct)):
            distinct.append(face)
    return [Face(face.landmarks, face.bbox, len(distinct)) for face in distinct]


def _source_size(path: Path, name: str) -> tuple[int, int]:
    """Size after EXIF orientation, from the header only; refuses decompression bombs."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Image.DecompressionBombError:
        raise BadInput(f"'{name}' is too large to open safely; use a photo under "
                       f"{MAX_PIXELS // 1_000_000} megapixels.") from None
    except UnidentifiedImageError:
        raise BadInput(f"could not read '{name}' as an image: unknown or corrupt image format") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadInput(f"could not read '{name}' as an image: {_one_line(error)}") from None
    if width * height > MAX_PIXELS:
        raise BadInput(f"'{name}' is {width}×{height} px, too large to open safely; use a photo "
                       f"under {MAX_PIXELS // 1_000_000} megapixels.")
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _decode(path: Path, name: str, *, long_side: int, notes: list[str]) -> np.ndarray:
    """Decode to 8-bit RGB, upright, at a long side of at least ``long_side`` where the format
    can decode smaller cheaply (JPEG), else at full size."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if image.format == "JPEG" and max(width, height) > long_side:
                    factor = long_side / max(width, height)
                    image.draft(image.mode, (math.ceil(width * factor), math.ceil(height * factor)))
                if image.getexif().get(_EXIF_ORIENTATION, 1) not in (1, None):
                    notes.append("applied the photo's EXIF orientation")
                image = ImageOps.exif_transpose(image)
                return _to_rgb(image, notes)
    except Image.DecompressionBombError:
        raise BadInput(f"'{name}' is too large to open safely.") from None
    except UnidentifiedImageError:
        raise BadInput(f"could not read '{name}' as an image: unknown or corrupt image format") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadInput(f"could not read '{name}' as an image: {_one_line(error)}") from None


def _to_rgb(image: Image.Image, notes: list[str]) -> np.ndarray:
    mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), np.float32)
        alpha = rgba[..., 3:] / 255.0
        if (alpha < 1).any():
            notes.append("flattened the transparent background onto white")
        return np.clip(rgba[..., :3] * alpha + 255.0 * (1 - alpha) + 0.5, 0, 255).astype(np.uint8)
    if mode in ("I", "F") or mode.startswith("I;16"):
        values = np.asarray(image).astype(np.float32)
        peak = values.max() if values.size else 1.0
        if mode == "F":
            scale = 255.0 if peak <= 1.0 else 1.0
        else:
            scale = 255.0 / 65535.0 if peak > 255 else 1.0
        grey = np.clip(values * scale + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def _fit(image: np.ndarray, max_side: int) -> np.ndarray:
    """Scale down so the long side is at most max_side; make both sides even."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(width, height))
    if scale < 1.0:
        new_w = max(2, int(round(width * scale)) // 2 * 2)
        new_h = max(2, int(round(height * scale)) // 2 * 2)
        return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image[: height // 2 * 2, : width // 2 * 2])


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text
