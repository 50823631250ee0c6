"""Face enhancers: restore the face in a rendered video, frame by frame, without flicker.

An enhancer (``gfpgan``, found through the registry as kind ``"enhancer"``) runs between the render
and encode stages. This module is the part every face-restoration network needs around it; the
network itself is the enhancer's own module. ``restore_faces`` streams a video through five steps:

1. **Track.** Each frame's face is found with the bundled MediaPipe mesh (``face/mesh.py``; the
   largest face when there are several). Its landmarks are averaged over a centred window of
   ``2 × LANDMARK_RADIUS + 1`` frames with Gaussian weights, so the crop does not jitter with the
   detector's sub-pixel noise and does not lag behind a moving head either. A neighbour whose
   eyes are more than ``JUMP_IOD`` inter-ocular distances away (a cut, another face) is left out.
   Only that window of frames is ever held in memory.
2. **Align.** Five points (the eye centres, the nose tip, the mouth corners) are mapped onto the
   FFHQ five-point template at 512×512 — the alignment the GFPGAN family was trained on — by the
   least-squares similarity transform (rotation, uniform scale, shift).
3. **Restore.** The enhancer's ``restore(crop)`` turns the aligned RGB crop into a restored one.
4. **Smooth over time** (``TemporalBlend``), motion-adaptive: each restored pixel is blended with
   the previous frame's result by ``strength × max(0, 1 − change / MOTION_LEVELS)``, where
   ``change`` is how much the aligned *input* moved there since the previous frame (grey levels,
   blurred past codec noise). Where the input is still (cheeks, forehead, closed lips) the result
   is a running average, so the network's frame-to-frame noise does not flicker; where it moves
   (the mouth, blinking eyes) the new restoration is used as it is, so nothing lags. Blending
   happens in the aligned crop, where a point of the face stays put while the head moves.
   A frame without a face starts the average again.
5. **Paste back.** The restored crop goes back through the inverse transform under a feathered
   mask of the face oval (the mesh's outline, eroded then blurred in crop space, so the seam sits
   inside the face and is soft); hair, background and everything else stay the decoded frame.
   When the face is smaller in the frame than in the crop, the crop is first shrunk with area
   averaging, so pasting back does not alias.

Frames with no face are written unchanged and counted. Every frame read is written: the video
keeps its exact frame count, frame rate and size. ``enhance_video`` runs all of it from one video
file to another (``VideoReader`` in, ``VideoWriter`` out, only the landmark window of frames in
memory); ``copy_audio`` puts a source's sound back beside the enhanced picture.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np

from ..files import partial_path
from ..media import VideoReader, VideoWriter, run_ffmpeg
from ..face.mesh import FACE_OVAL, MOUTH_CORNERS, NOSE_TIP, FaceFrame, eye_centres, find_faces

CROP_SIZE = 512
# The FFHQ 512×512 five-point template (image-left eye, image-right eye, nose tip, image-left and
# image-right mouth corners), as published with the FFHQ-aligned face-restoration models.
FFHQ_FIVE_POINTS = np.array([[192.98138, 239.94708], [318.90277, 240.19360], [256.63416, 314.01935],
                             [201.26117, 371.41043], [313.08905, 371.15118]], np.float64)
LANDMARK_RADIUS = 2  # frames either side in the landmark average (a 5-frame window: 0.2 s at 25 fps)
JUMP_IOD = 0.25  # a neighbour's eyes this far off (in inter-ocular distances) is another shot or face
MOTION_LEVELS = 12.0  # input change (grey levels, 0–255) at which the previous restoration is dropped
MOTION_BLUR_SIGMA = 3.0  # crop pixels: smooths codec noise out of the change measure
MASK_ERODE = 0.06  # of the crop size: how far inside the face oval the mask is fully on…
MASK_FEATHER = 0.035  # …and the Gaussian feather's sigma, of the crop size
OUTPUT_CRF = 18  # the picture is decoded and encoded once more: a little more quality than a render's 20


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners of a 478-point mesh, in the template's order."""
    left_eye, right_eye = eye_centres(landmarks)
    lm = np.asarray(landmarks, np.float64)
    return np.stack([left_eye, right_eye, lm[NOSE_TIP], lm[MOUTH_CORNERS[0]], lm[MOUTH_CORNERS[1]]])


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2×3 rotation + uniform scale + shift that maps ``source`` points closest (least squares)
    onto ``target``. As complex numbers the linear part is one factor, found in closed form."""
    src, dst = np.asarray(source, np.float64), np.asarray(target, np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    a = (src - src_mean) @ (1, 1j)
    b = (dst - dst_mean) @ (1, 1j)
    factor = (np.conj(a) @ b) / max(float((np.conj(a) @ a).real), 1e-12)
    linear = np.array([[factor.real, -factor.imag], [factor.imag, factor.real]])
    return np.hstack([linear, (dst_mean - linear @ src_mean)[:, None]])


def alignment(landmarks: np.ndarray) -> np.ndarray:
    """Frame → aligned crop (``CROP_SIZE`` square) for a face's landmarks."""
    return similarity_transform(five_points(landmarks), FFHQ_FIVE_POINTS * (CROP_SIZE / 512))


def _largest_face(frame: np.ndarray) -> np.ndarray | None:
    faces = find_faces(frame)
    return faces[0].landmarks.astype(np.float64) if faces else None


def track_faces(frames: Iterable[np.ndarray], *, radius: int = LANDMARK_RADIUS,
                detect: Callable[[np.ndarray], np.ndarray | None] = _largest_face,
                ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Each frame with its face's landmarks averaged over ±``radius`` frames (None: no face)."""
    window: deque[tuple[int, np.ndarray, np.ndarray | None]] = deque(maxlen=2 * radius + 1)
    emitted = read = 0
    for frame in frames:
        window.append((read, frame, detect(frame)))
        read += 1
        while emitted <= read - 1 - radius:
            yield _smoothed(window, emitted, radius)
            emitted += 1
    while emitted < read:
        yield _smoothed(window, emitted, radius)
        emitted += 1


def _smoothed(window, index: int, radius: int) -> tuple[np.ndarray, np.ndarray | None]:
    _, frame, centre = next(entry for entry in window if entry[0] == index)
    if centre is None or radius == 0:
        return frame, centre
    face = FaceFrame.of(centre)  # origin: between the eyes; iod: the distance between them
    sigma = radius / 2
    total, weight_sum = np.zeros_like(centre), 0.0
    for other_index, _, landmarks in window:
        if landmarks is None or abs(other_index - index) > radius:
            continue
        if np.hypot(*(FaceFrame.of(landmarks).origin - face.origin)) > JUMP_IOD * face.iod:
            continue
        weight = float(np.exp(-0.5 * ((other_index - index) / sigma) ** 2))
        total += weight * landmarks
        weight_sum += weight
    return frame, total / weight_sum


class TemporalBlend:
    """Motion-adaptive running average of restored crops (the module docstring, step 4)."""

    def __init__(self, strength: float, *, motion_levels: float = MOTION_LEVELS) -> None:
        self.strength = float(min(1.0, max(0.0, strength)))
        self.motion_levels = motion_levels
        self.reset()

    def reset(self) -> None:
        self._input: np.ndarray | None = None
        self._output: np.ndarray | None = None

    def __call__(self, aligned: np.ndarray, restored: np.ndarray) -> np.ndarray:
        """``aligned``: the crop given to the network (uint8 RGB); ``restored``: its output (float32
        RGB, 0–255). Returns the blended restoration."""
        grey = cv2.GaussianBlur(cv2.cvtColor(aligned, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0),
                                MOTION_BLUR_SIGMA)
        output = restored
        if self.strength > 0 and self._input is not None:
            change = np.abs(grey - self._input)
            keep = self.strength * np.clip(1.0 - change / self.motion_levels, 0.0, 1.0)[..., None]
            output = keep * self._output + (1.0 - keep) * restored
        self._input, self._output = grey, output.astype(np.float32)
        return self._output


def face_mask(landmarks: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The feathered face-oval mask in crop space (float32, 0–1). Drawn at a quarter of the crop's
    side and scaled up: a soft mask loses nothing, and eroding at full size cost more than the rest
    of the CPU work on a frame."""
    side = CROP_SIZE // 4
    oval = np.asarray(landmarks, np.float64)[list(FACE_OVAL)] @ matrix[:, :2].T + matrix[:, 2]
    mask = np.zeros((side, side), np.float32)
    cv2.fillPoly(mask, [np.round((oval + 0.5) * side / CROP_SIZE - 0.5).astype(np.int32)], 1.0)
    erode = max(1, round(MASK_ERODE * side))
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1)))
    mask = cv2.GaussianBlur(mask, (0, 0), MASK_FEATHER * side)
    return cv2.resize(mask, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR)


def paste_back(frame: np.ndarray, restored: np.ndarray, mask: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``frame`` with the restored crop put back where ``matrix`` took it from, under ``mask``."""
    scale = float(np.hypot(*matrix[:, 0]))  # crop pixels per frame pixel
    if scale > 1.0:  # shrink first (area averaging), then the warp back is about 1:1
        side = max(8, round(CROP_SIZE / scale))
        restored = cv2.resize(restored, (side, side), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (side, side), interpolation=cv2.INTER_AREA)
        shrink = side / CROP_SIZE
        matrix = matrix * shrink
        matrix[:, 2] += 0.5 * shrink - 0.5  # resize maps pixel centres, not corners
    inverse = cv2.invertAffineTransform(matrix)
    height, width = frame.shape[:2]
    corners = np.array([[0, 0, 1], [mask.shape[1], 0, 1], [0, mask.shape[0], 1], [mask.shape[1], mask.shape[0], 1]],
                       np.float64) @ inverse.T
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int), (width, height))
    if x1 <= x0 or y1 <= y0:
        return frame
    shifted = inverse.copy()
    shifted[:, 2] -= (x0, y0)
    size = (int(x1 - x0), int(y1 - y0))
    face = cv2.warpAffine(restored, shifted, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, shifted, size, flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    out = frame.copy()
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(alpha * face + (1.0 - alpha) * region + 0.5, 0, 255).astype(np.uint8)
    return out


@dataclass
class RestoreCounts:
    frames: int = 0
    faces_restored: int = 0
    frames_without_face: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def notes(self, enhancer: str) -> list[str]:
        """What a person should know about the frames left as they were."""
        if not self.frames_without_face:
            return []
        if self.frames_without_face == self.frames:
            return [f"{enhancer} found no face in any frame; the video is unchanged"]
        return [(f"{enhancer} found no face in {self.frames_without_face} of {self.frames} frames; "
                 "those frames are unchanged")]


def restore_faces(frames: Iterable[np.ndarray], write: Callable[[np.ndarray], None],
                  restore: Callable[[np.ndarray], np.ndarray], *, smoothing: float,
                  radius: int = LANDMARK_RADIUS, on_frame: Callable[[int], None] | None = None) -> RestoreCounts:
    """Stream ``frames`` through track → align → ``restore`` → smooth → paste back into ``write``.

    ``restore`` takes an aligned ``CROP_SIZE`` RGB uint8 crop and returns the restored crop as RGB
    (float32 0–255 or uint8). ``on_frame(count)`` is called after each frame is written."""
    counts = RestoreCounts()
    blend = TemporalBlend(smoothing)
    for frame, landmarks in track_faces(frames, radius=radius):
        if landmarks is None:
            blend.reset()
            write(frame)
            counts.frames_without_face += 1
        else:
            matrix = alignment(landmarks)
            aligned = cv2.warpAffine(frame, matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT101)
            restored = blend(aligned, np.asarray(restore(aligned), np.float32))
            write(paste_back(frame, restored, face_mask(landmarks, matrix), matrix))
            counts.faces_restored += 1
        counts.frames += 1
        if on_frame is not None:
            on_frame(counts.frames)
    return counts


def enhance_video(source: Path, out: Path, restore: Callable[[np.ndarray], np.ndarray], *, smoothing: float,
                  fps: float | None = None, on_frame: Callable[[int], None] | None = None,
                  crf: int = OUTPUT_CRF) -> RestoreCounts:
    """``restore_faces`` from the video ``source`` into a video-only H.264 ``out``, streamed, at the
    source's size and frame rate (``fps`` when the caller knows it better than the probe)."""
    with VideoReader(source) as reader, \
            VideoWriter(out, width=reader.width, height=reader.height, fps=_rate(fps or reader.fps or 25.0),
                        crf=crf) as writer:
        return restore_faces(reader, writer.write, restore, smoothing=smoothing, on_frame=on_frame)


def _rate(fps: float) -> float | int:
    """A frame rate for ffmpeg's ``-r``: whole numbers as such (25, not 25.0)."""
    return round(fps) if abs(fps - round(fps)) < 1e-3 else fps


def copy_audio(video_only: Path, source: Path, out: Path) -> None:
    """``out``: the picture of ``video_only`` with the sound of ``source``, both copied as they are;
    ``video_only`` is removed."""
    tmp = partial_path(out)
    try:
        run_ffmpeg(["-i", str(video_only), "-i", str(source), "-map", "0:v:0", "-map", "1:a:0", "-c", "copy",
                    "-movflags", "+faststart", str(tmp)], what="copying the sound into the enhanced video")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
        video_only.unlink(missing_ok=True)
