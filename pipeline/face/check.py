"""The face check a person sees when they choose a portrait: what the renderer will animate.

``check_face(path)`` loads the photo exactly as a render would (``load_portrait``: EXIF orientation,
transparency, auto-framing of a small face, the working size) and draws on that working image the
face box and the 478 mesh landmarks of the face that will be animated. What it shows is therefore
what the renderer gets — a crop made by auto-framing included — not the photo as uploaded.

Anything that would stop a render (no face, a face too small, an unreadable or huge file) is the
same ``BadInput`` the render would raise, with the same words, so the studio can refuse a portrait
when it is chosen instead of when the first video fails.

``FaceFacts`` holds the numbers a person can act on (faces found, face size in the working image
and in the original, the notes of the loader such as auto-framing) and ``lines()`` words them.
Cost: one portrait load (one or two face-mesh passes, ~5 ms each once the mesh is built) plus the
drawing (~1 ms): fast enough to run on upload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..settings import DEFAULT_MAX_SIDE
from .mesh import FACE_OVAL, Face
from .portrait import load_portrait

BOX_COLOUR = (46, 204, 113)  # RGB green: the frame the renderer animates
LANDMARK_COLOUR = (255, 215, 0)  # RGB gold: visible on skin and on dark backgrounds
OVAL_COLOUR = (52, 152, 219)  # RGB blue: the face outline, so the mesh reads as a face at a glance


@dataclass(frozen=True)
class FaceFacts:
    """What the check found, in the working image (the one the renderer animates)."""

    faces_found: int
    face_size: tuple[int, int]  # (width, height) of the animated face's box, working px
    image_size: tuple[int, int]  # (width, height) of the working image
    source_size: tuple[int, int]  # (width, height) of the photo as uploaded (after EXIF orientation)
    landmarks: int
    notes: list[str] = field(default_factory=list)

    @property
    def auto_framed(self) -> bool:
        return any("cropped a head-and-shoulders frame" in note for note in self.notes)

    def lines(self) -> list[str]:
        """The facts in words, one per line, most important first."""
        faces = "1 face found" if self.faces_found == 1 else f"{self.faces_found} faces found; the largest is animated"
        width, height = self.face_size
        frame = (f"face {width}×{height} px in a {self.image_size[0]}×{self.image_size[1]} px frame "
                 f"(the photo is {self.source_size[0]}×{self.source_size[1]} px)")
        lines = [faces, frame, f"{self.landmarks} landmarks tracked"]
        lines += [note for note in self.notes if not note.startswith("found ")]  # "found N faces" is said above
        return lines


def check_face(path: Path | str, *, max_side: int = DEFAULT_MAX_SIDE,
               display_name: str | None = None) -> tuple[np.ndarray, FaceFacts]:
    """The working image with the animated face's box and landmarks drawn on it, and the facts.

    Raises ``BadInput`` (the loader's message, naming ``display_name`` or the file) when the photo
    cannot be animated."""
    portrait = load_portrait(path, max_side=max_side, display_name=display_name)
    face = portrait.face
    facts = FaceFacts(
        faces_found=max(1, face.faces_found), face_size=(face.width, face.height), image_size=portrait.size,
        source_size=tuple(portrait.source_size), landmarks=len(face.landmarks), notes=list(portrait.notes),
    )
    return draw_face(portrait.image, face), facts


def draw_face(image: np.ndarray, face: Face) -> np.ndarray:
    """A copy of ``image`` (RGB) with ``face``'s box, outline and landmarks drawn on it."""
    canvas = np.ascontiguousarray(image.copy())
    # Line widths and dot sizes follow the face, so a 256 px and a 1080 px frame look alike.
    unit = max(1, round(face.width / 120))
    x0, y0, x1, y1 = (int(v) for v in face.bbox)
    cv2.rectangle(canvas, (x0, y0), (x1, y1), BOX_COLOUR, unit + 1, cv2.LINE_AA)
    oval = np.round(face.landmarks[list(FACE_OVAL)]).astype(np.int32)
    cv2.polylines(canvas, [oval], True, OVAL_COLOUR, unit, cv2.LINE_AA)
    radius = max(1, unit // 2 + (1 if face.width > 160 else 0))
    for x, y in np.round(face.landmarks).astype(np.int32):
        cv2.circle(canvas, (int(x), int(y)), radius, LANDMARK_COLOUR, -1, cv2.LINE_AA)
    return canvas
