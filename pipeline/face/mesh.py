"""Faces in an image: the MediaPipe face mesh, and the measurements the renderer is judged by.

``find_faces`` runs MediaPipe's 478-point face mesh (refined eyes and lips) and returns every
face found, largest first, with landmarks in pixel coordinates. The mesh object is not
thread-safe, so each thread gets its own (``threading.local``); building one costs ~50 ms, using
it ~5 ms per 512 px image.

``measure`` turns one image into the numbers a person would judge an animated face by — how far
the mouth is open, how open the eyes are, the head's roll, how high the brows sit, whether the
mouth corners are up or down. Tests use them to check that each control moves the face the right
way; the studio can use them to describe a portrait. Lengths are divided by the distance between
the eye centres and vertical offsets are taken across the eye line, so zoom and roll do not fake
a change.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import types
from dataclasses import dataclass

import numpy as np

# Landmark indices of the 478-point mesh (refine_landmarks=True).
UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MOUTH_CORNERS = (61, 291)
# Eyes as seen in the image: "left" is the eye on the image's left (the person's right).
LEFT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
LEFT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
RIGHT_EYE_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
RIGHT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
LEFT_BROW_UPPER = (70, 63, 105, 66, 107)
LEFT_BROW_LOWER = (46, 53, 52, 65, 55)
RIGHT_BROW_UPPER = (300, 293, 334, 296, 336)
RIGHT_BROW_LOWER = (276, 283, 282, 295, 285)
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
CHIN, FOREHEAD, NOSE_TIP = 152, 10, 1

N_LANDMARKS = 478


@dataclass(frozen=True)
class Face:
    """One face: 478 landmarks in pixel coordinates and its bounding box ``(x0, y0, x1, y1)``."""

    landmarks: np.ndarray  # (478, 2) float32, x then y, in pixels of the image it was found in
    bbox: tuple[int, int, int, int]
    faces_found: int = 1

    @property
    def width(self) -> int:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> int:
        return self.bbox[3] - self.bbox[1]

    def scaled(self, factor: float, offset: tuple[float, float] = (0.0, 0.0)) -> "Face":
        """The same face in an image that was cropped at ``offset`` and then scaled by ``factor``."""
        points = ((self.landmarks - np.asarray(offset, np.float32)) * factor).astype(np.float32)
        return Face(points, _bbox(points), self.faces_found)


def _bbox(points: np.ndarray) -> tuple[int, int, int, int]:
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


_local = threading.local()


@contextlib.contextmanager
def _native_stderr_silenced():
    """MediaPipe's C++ side (TFLite, absl) prints INFO/WARNING lines straight to file descriptor 2
    while a graph starts and runs its first image; they would break the CLI's one-line errors. The
    descriptor is pointed at /dev/null for that moment only."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _face_mesh_module():
    """``mediapipe.python.solutions.face_mesh``, imported without matplotlib.

    Importing mediapipe imports every one of its solutions, and its drawing helpers import
    ``matplotlib.pyplot`` — about half a second of a cold render's start, for plotting the studio
    never does. While mediapipe is first imported, empty stand-ins take matplotlib's place; they
    are taken away afterwards, so anything else importing matplotlib gets the real one."""
    if "mediapipe" in sys.modules or "matplotlib.pyplot" in sys.modules:
        from mediapipe.python.solutions import face_mesh

        return face_mesh
    stand_ins = {name: types.ModuleType(name) for name in ("matplotlib", "matplotlib.pyplot")}
    stand_ins["matplotlib"].pyplot = stand_ins["matplotlib.pyplot"]
    had = {name: sys.modules.get(name) for name in stand_ins}
    sys.modules.update(stand_ins)
    try:
        from mediapipe.python.solutions import face_mesh
    finally:
        for name, module in had.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return face_mesh


def _mesh():
    mesh = getattr(_local, "mesh", None)
    if mesh is None:
        with _native_stderr_silenced():
            face_mesh = _face_mesh_module()  # heavy import, only when needed
            mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=5, refine_landmarks=True,
                                      min_detection_confidence=0.5)
        _local.mesh, _local.found_a_face = mesh, False
    return mesh


def _process(image: np.ndarray):
    """The mesh's result for one image; silenced until this thread's mesh has seen a face, as the
    landmark stage prints its own warning the first time it runs."""
    mesh = _mesh()
    if _local.found_a_face:
        return mesh.process(image)
    with _native_stderr_silenced():
        result = mesh.process(image)
    _local.found_a_face = bool(result.multi_face_landmarks)
    return result


def find_faces(image: np.ndarray) -> list[Face]:
    """Every face the mesh finds in an RGB uint8 image, largest (widest) first."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 RGB image, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    result = _process(np.ascontiguousarray(image))
    found = result.multi_face_landmarks or []
    faces = []
    for face_landmarks in found:
        points = np.array([(p.x * width, p.y * height) for p in face_landmarks.landmark], np.float32)
        faces.append(Face(points, _bbox(points), len(found)))
    return sorted(faces, key=lambda face: face.width, reverse=True)


@dataclass(frozen=True)
class FaceFrame:
    """The face's own axes: origin between the eyes, x along the eye line, y towards the chin.

    ``iod`` is the distance between the eye centres in pixels; it is the unit every measurement
    and every animation amplitude is expressed in.
    """

    origin: np.ndarray  # (2,)
    x_axis: np.ndarray  # (2,) unit vector from the image-left eye to the image-right eye
    y_axis: np.ndarray  # (2,) unit vector perpendicular to it, pointing down the face
    iod: float

    @classmethod
    def of(cls, landmarks: np.ndarray) -> "FaceFrame":
        left, right = eye_centres(landmarks)
        delta = right - left
        iod = float(np.hypot(*delta))
        x_axis = delta / max(iod, 1e-6)
        y_axis = np.array([-x_axis[1], x_axis[0]])
        return cls((left + right) / 2, x_axis, y_axis, iod)

    def to_face(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates → face coordinates (still in pixels), shape (..., 2)."""
        rel = np.asarray(points, np.float64) - self.origin
        return np.stack([rel @ self.x_axis, rel @ self.y_axis], axis=-1)

    def to_image(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, np.float64)
        return self.origin + points[..., :1] * self.x_axis + points[..., 1:2] * self.y_axis

    @property
    def roll_deg(self) -> float:
        return math.degrees(math.atan2(self.x_axis[1], self.x_axis[0]))


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the (image-)left and right eyes: midpoints of the eye corners, which do not
    move when the eye blinks."""
    lm = np.asarray(landmarks, np.float64)
    return (lm[33] + lm[133]) / 2, (lm[263] + lm[362]) / 2


@dataclass(frozen=True)
class FaceMeasure:
    """What a person would judge an animated face by, in units of the inter-ocular distance."""

    mouth_aperture: float  # inner-lip gap (mean of the three central pairs, 13↔14 in the middle)
    eye_openness: float  # eye aspect ratio, both eyes averaged; ~0.25 open, < 0.1 closed
    roll_deg: float  # angle of the line between the eye centres; positive = clockwise on screen
    brow_height: float  # brows above the eye centres, across the eye line
    smile: float  # mouth corners above the upper-lip centre; positive = corners up
    face_width: float  # pixels, for reference


def measure_landmarks(landmarks: np.ndarray) -> FaceMeasure:
    lm = np.asarray(landmarks, np.float64)
    frame = FaceFrame.of(lm)
    unit = max(frame.iod, 1e-6)
    pairs = ((82, 87), (13, 14), (312, 317))
    aperture = np.mean([np.hypot(*(lm[b] - lm[a])) for a, b in pairs]) / unit

    def eye_ratio(upper, lower):
        width = np.hypot(*(lm[upper[0]] - lm[upper[-1]]))
        heights = [np.hypot(*(lm[upper[i]] - lm[lower[i]])) for i in (3, 4, 5)]
        return float(np.mean(heights) / max(width, 1e-6))

    openness = (eye_ratio(LEFT_EYE_UPPER, LEFT_EYE_LOWER) + eye_ratio(RIGHT_EYE_UPPER, RIGHT_EYE_LOWER)) / 2
    face = frame.to_face(lm)
    brows = face[list(LEFT_BROW_UPPER + RIGHT_BROW_UPPER), 1]
    brow_height = float(-brows.mean() / unit)  # eye centres are at y = 0 in face coordinates
    corners_y = face[list(MOUTH_CORNERS), 1].mean()
    smile = float((face[13, 1] - corners_y) / unit)
    x0, _, x1, _ = _bbox(lm.astype(np.float32))
    return FaceMeasure(float(aperture), float(openness), frame.roll_deg, brow_height, smile, float(x1 - x0))


def measure(image: np.ndarray) -> FaceMeasure | None:
    """Measurements of the largest face in an RGB image, or ``None`` when no face is found."""
    faces = find_faces(image)
    return measure_landmarks(faces[0].landmarks) if faces else None
