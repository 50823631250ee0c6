"""Decoding a photo for the portrait loader: 8-bit RGB, upright, no bigger than needed.

``check_header`` refuses from the header alone what cannot be opened, or opened safely: not an
image, a decompression bomb, more pixels than ``MAX_PIXELS``, or — for any format but JPEG — more
than ``MAX_FULL_DECODE_PIXELS``. ``decode_rgb`` then decodes:

- A JPEG decodes at a reduced size (``Image.draft``: 1/2, 1/4 or 1/8 scale), so a 6000×4000 photo
  costs a few MB rather than 72.
- Other formats (PNG, WebP, TIFF…) decode at full size, at 4 bytes a pixel in Pillow whatever the
  mode: 8000×8000 is 256 MB. That buffer is the only full-size one: conversion to RGB
  (transparency flattened onto white; greyscale, palette, CMYK, 16-bit and float scaled to 8
  bits), and the box reduction to the size asked for, run a strip of rows at a time.
- The EXIF orientation is applied to the small result. A crop (``box``, in upright pixels) is
  mapped back to the stored pixels first, so auto-framing decodes only the part it keeps.

Every failure is a one-line ``BadInput`` naming the file.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import BadInput

MAX_PIXELS = 80_000_000  # ~10000×8000; larger uploads are refused before any decoding
# Formats other than JPEG decode at full size, at 4 bytes a pixel in Pillow: 8000×8000 is 256 MB,
# which keeps a render under its 600 MB budget (bench/big_portrait.py); more is refused up front.
MAX_FULL_DECODE_PIXELS = 64_000_000
STRIP_PIXELS = 1_000_000  # full-size pixels converted at a time: ~20 MB of float maths for a transparent one
# Pillow allocates a big image in 16 MB blocks. Once glibc has seen such a block freed it serves the
# next ones from its heap and keeps them when they are freed, so after one big decode the process
# stayed ~250 MB larger through the TTS and the render. Blocks over glibc's 32 MB ceiling for that
# are always mapped on their own and go back to the system the moment the decoded image is freed.
# A small image still takes only the lines it needs.
DECODE_BLOCK_BYTES = 64 * 1024 * 1024
EXIF_ORIENTATION = 0x0112
# EXIF orientation → the transpose that makes the stored pixels upright (as ``ImageOps.exif_transpose``).
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}


def check_header(path: Path, name: str) -> None:
    """Refuse what cannot be opened, or opened safely, from the header alone: before any decoding
    (the EXIF orientation waits for the decode — a PNG's EXIF may follow its pixels)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                kind = image.format or "image"
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
    if kind != "JPEG" and width * height > MAX_FULL_DECODE_PIXELS:
        raise BadInput(f"'{name}' is {width}×{height} px; a {kind} is decoded at full size, so the limit for it is "
                       f"{MAX_FULL_DECODE_PIXELS // 1_000_000} megapixels ({MAX_PIXELS // 1_000_000} for a JPEG) — "
                       "scale it down or save it as a JPEG.")


def decode_rgb(path: Path, name: str, *, long_side: int, notes: list[str],
               box: tuple[float, float, float, float] | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode to 8-bit RGB, upright, at a long side (of the whole picture) of at least ``long_side``;
    with ``box`` (x0, y0, x1, y1 in upright source pixels), only that part of it. Returns the pixels
    and the picture's full size, upright (width, height).

    A JPEG decodes at a reduced size (``Image.draft``); other formats decode at full size, which is
    the one full-size buffer this makes: it is converted to RGB and box-reduced a strip at a time
    (``_reduced_rgb``), so the RGB copy, the alpha flattening and the float maths never exist at full size."""
    Image.core.set_block_size(max(DECODE_BLOCK_BYTES, Image.core.get_block_size()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                stored = image.size
                if image.format == "JPEG" and max(stored) > long_side:
                    factor = long_side / max(stored)
                    image.draft(image.mode, (math.ceil(stored[0] * factor), math.ceil(stored[1] * factor)))
                image.load()  # before the EXIF: a PNG's may follow its pixels, and reading it would decode them
                orientation = image.getexif().get(EXIF_ORIENTATION, 1)
                if orientation not in (1, None):
                    notes.append("applied the photo's EXIF orientation")
                scale = image.size[0] / stored[0]  # < 1 after a JPEG draft
                region = (0, 0, *image.size) if box is None else _stored_region(box, orientation, stored, scale)
                reduced = _reduced_rgb(image, region, max(1, max(image.size) // long_side), notes)
    except Image.DecompressionBombError:
        raise BadInput(f"'{name}' is too large to open safely.") from None
    except UnidentifiedImageError:
        raise BadInput(f"could not read '{name}' as an image: unknown or corrupt image format") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadInput(f"could not read '{name}' as an image: {_one_line(error)}") from None
    if orientation in _UPRIGHT:
        reduced = reduced.transpose(_UPRIGHT[orientation])
    upright = (stored[1], stored[0]) if orientation in (5, 6, 7, 8) else stored
    return np.asarray(reduced), upright


def _stored_region(box, orientation: int | None, stored: tuple[int, int], scale: float) -> tuple[int, int, int, int]:
    """An upright-pixel box as the box of the stored (not yet turned) pixels it comes from, at ``scale``."""
    width, height = stored
    to_stored = {
        2: lambda x, y: (width - x, y), 3: lambda x, y: (width - x, height - y), 4: lambda x, y: (x, height - y),
        5: lambda x, y: (y, x), 6: lambda x, y: (y, height - x), 7: lambda x, y: (width - y, height - x),
        8: lambda x, y: (width - y, x),
    }.get(orientation, lambda x, y: (x, y))
    x0, y0, x1, y1 = box
    xs, ys = zip(to_stored(x0, y0), to_stored(x1, y1))
    return (max(0, math.floor(min(xs) * scale)), max(0, math.floor(min(ys) * scale)),
            min(math.ceil(width * scale), math.ceil(max(xs) * scale)),
            min(math.ceil(height * scale), math.ceil(max(ys) * scale)))


def _reduced_rgb(image: Image.Image, region: tuple[int, int, int, int], factor: int, notes: list[str]) -> Image.Image:
    """``region`` of a decoded image as 8-bit RGB, reduced by ``factor`` (a box filter), a strip of
    rows at a time: memory beyond the decoded image is one strip plus the small result."""
    x0, y0, x1, y1 = region
    out_w, out_h = max(1, (x1 - x0) // factor), max(1, (y1 - y0) // factor)
    rows = max(1, STRIP_PIXELS // max(1, (x1 - x0) * factor)) * factor
    peak = _peak(image) if image.mode in ("I", "F") or image.mode.startswith("I;16") else None
    result = Image.new("RGB", (out_w, out_h))
    for top in range(y0, y0 + out_h * factor, rows):
        bottom = min(top + rows, y0 + out_h * factor)
        strip = image.crop((x0, top, x0 + out_w * factor, bottom))
        rgb = Image.fromarray(_to_rgb(strip, notes, peak))
        result.paste(rgb.reduce(factor) if factor > 1 else rgb, (0, (top - y0) // factor))
    return result


def _peak(image: Image.Image) -> float:
    """The largest value of a 16/32-bit or float image (read off it, no copy), for scaling to 8 bits."""
    extrema = image.getextrema()
    return float(extrema[1]) if extrema else 1.0


def _to_rgb(image: Image.Image, notes: list[str], peak: float | None = None) -> np.ndarray:
    """8-bit RGB: transparency flattened onto white, 16-bit and float scaled by the whole image's
    ``peak`` (a strip of it cannot tell on its own)."""
    mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), np.float32)
        alpha = rgba[..., 3:] / 255.0
        if (alpha < 1).any() and "flattened the transparent background onto white" not in notes:
            notes.append("flattened the transparent background onto white")
        return np.clip(rgba[..., :3] * alpha + 255.0 * (1 - alpha) + 0.5, 0, 255).astype(np.uint8)
    if mode in ("I", "F") or mode.startswith("I;16"):
        values = np.asarray(image).astype(np.float32)
        if peak is None:
            peak = values.max() if values.size else 1.0
        if mode == "F":
            scale = 255.0 if peak <= 1.0 else 1.0
        else:
            scale = 255.0 / 65535.0 if peak > 255 else 1.0
        grey = np.clip(values * scale + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
