"""The face animator: draws one frame of the portrait for a ``FrameState``, in 1–2 ms.

Every facial movement is a *displacement field*: for each output pixel, how far the content
there has moved. Fields are built once per portrait (``FaceAnimator.__init__``) from the face
mesh, in the face's own axes and in units of the inter-ocular distance (IOD), so they fit any
face size and any roll in the photo. A frame is then a weighted sum of a few precomputed fields
and one ``cv2.remap`` of the head's box, so per-frame Python work stays around 1–2 ms and the
H.264 encoder (a separate ffmpeg process) is the bottleneck.

Fields are *backward* maps: the output at ``q`` is the portrait at ``q − d(q)``. A backward field
is exact where it is flat, so each field that must move a feature rigidly (lower lip and chin,
upper lip, brows, eyelids) has a plateau that covers the feature's *moved* position and does its
stretching in skin that can take it. The one sharp edge that must exist — between the upper and
lower lip, whose gap opens — is put inside the mouth, where the painted mouth interior covers it.

Two kinds of fields:

* Expression fields (jaw, smile, frown, brows, eyelids, …): local, stored at full resolution in
  their own small boxes; emotions are fixed mixtures of them (``EMOTION_TEMPLATES``).
* Head motion (roll about a pivot under the chin, sway): smooth and large, stored at half
  resolution. Roll by θ is exact through two fields, ``w·(p−c)`` times ``1−cos θ`` and
  ``w·J(p−c)`` times ``sin θ``, with a weight ``w`` that is 1 on the head and 0 on the shoulders.
  Expressions are applied in the head's own (rotated) frame by composing the two maps, so the
  lips' sharp edge follows the head.

When the jaw opens past the portrait's own lip gap, a mouth interior is painted into the gap
between the moved inner-lip contours: the portrait's own teeth if it shows them (else a drawn
upper-teeth band), a dark cavity and a hint of tongue, fading in with the opening. Their colours
come from the portrait: its lips' colour and lightness for the cavity and tongue, its highlights
for drawn teeth, so a greyscale photo stays greyscale.

``motion.plan_motion`` makes the per-frame states; ``embedded.EmbeddedRenderer`` streams the
frames into an H.264 file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ...controls import EMOTIONS
from ...face.mesh import (
    FACE_OVAL, LEFT_BROW_LOWER, LEFT_BROW_UPPER, LEFT_EYE_LOWER, LEFT_EYE_UPPER, LOWER_INNER_LIP,
    RIGHT_BROW_LOWER, RIGHT_BROW_UPPER, RIGHT_EYE_LOWER, RIGHT_EYE_UPPER, UPPER_INNER_LIP, FaceFrame,
)
from ...face.portrait import Portrait
from .motion import FrameState, smoothstep


# Amplitudes of the expression fields at coefficient 1, in IODs.
JAW_DROP = 0.42  # lower lip and chin move down this far; the upper lip rises 15% of it
UPPER_LIP_WITH_JAW = 0.15
SMILE_LIFT, FROWN_DROP, PUCKER_IN = 0.13, 0.11, 0.09
BROW_LIFT, INNER_BROW_LIFT, FURROW_DROP, FURROW_IN = 0.16, 0.13, 0.1, 0.08
LIP_RAISE, EYE_WIDEN = 0.09, 0.09

# The lips' body: (outer contour, inner contour) landmark pairs whose midpoints lie on the lips,
# where the mouth interior's colours are sampled (upper lip centre and sides, then the lower's).
LIP_BODY = ((0, 13), (37, 82), (267, 312), (17, 14), (84, 87), (314, 317))

# How each emotion at full strength mixes the expression fields. "squint" closes the lids a
# little (folded into blink); "wide" opens them (suppressed while blinking).
EMOTION_TEMPLATES: dict[str, dict[str, float]] = {
    "happy": {"smile": 1.0, "squint": 0.15, "brow": 0.1},
    "sad": {"frown": 0.9, "inner_brow": 1.0, "squint": 0.12},
    "angry": {"furrow": 1.0, "brow": -0.3, "frown": 0.35, "squint": 0.12},
    "fearful": {"inner_brow": 1.0, "brow": 0.35, "wide": 0.8, "pucker": -0.3},
    "disgusted": {"lip_raise": 1.0, "furrow": 0.6, "squint": 0.2, "frown": 0.2},
    "surprised": {"brow": 1.0, "wide": 1.0, "jaw": 0.25},
    "neutral": {},
}
assert set(EMOTION_TEMPLATES) == set(EMOTIONS)

_EPS = 1e-4
_MOUTH_FIELDS = frozenset({"jaw", "lip_raise"})  # the fields that open the lip gap


def _curve(points: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The polyline ``points`` (face coordinates) as v(u), constant beyond its ends."""
    order = np.argsort(points[:, 0])
    return np.interp(u, points[order, 0], points[order, 1])


def _gauss(u, v, centre, sigma):
    return np.exp(-((u - centre[0]) ** 2 + (v - centre[1]) ** 2) / (2 * sigma * sigma))


@dataclass(frozen=True)
class _Field:
    """A displacement field (px) living in a box of the animator's region: ``data[y, x] = (dx, dy)``."""

    rows: slice
    cols: slice
    data: np.ndarray


class FaceAnimator:
    """Precomputes a portrait's displacement fields; ``frame(state)`` draws one frame (~1–2 ms)."""

    def __init__(self, portrait: Portrait) -> None:
        self.image = np.ascontiguousarray(portrait.image)
        self.image.setflags(write=False)
        self.height, self.width = self.image.shape[:2]
        self.landmarks = portrait.face.landmarks.astype(np.float64)
        self.axes = axes = FaceFrame.of(self.landmarks)
        self.iod = axes.iod
        self._p = axes.to_face(self.landmarks) / self.iod  # landmarks in face coordinates, IODs
        self._region()
        self.fields: dict[str, _Field] = {}
        self._build_mouth_fields()
        self._build_brow_fields()
        self._build_eye_fields()
        self._build_head_fields()
        self._prepare_mouth_interior()

    # --- the region and its coordinates -------------------------------------------------------

    def _region(self) -> None:
        """The box every field lives in: the head with hair, the neck, room for the roll."""
        p = self._p
        oval = p[list(FACE_OVAL)]
        face_h = p[152, 1] - p[10, 1]
        u_left, u_right = oval[:, 0].min(), oval[:, 0].max()
        top = p[10, 1] - 0.5 * face_h  # hair
        self._head_centre = np.array([(u_left + u_right) / 2, (top + p[152, 1]) / 2])
        self._head_axes = np.array([0.62 * (u_right - u_left), (p[152, 1] - top) / 2])
        self._head_falloff = 1.55  # weight reaches 0 at this many ellipse radii
        self._pivot = np.array([(p[152, 0] + self._head_centre[0]) / 2, p[152, 1] + 0.3 * face_h])
        # Bounding box of the falloff ellipse, in image pixels.
        angle = np.linspace(0, 2 * np.pi, 64)
        ring = self._head_centre + self._head_falloff * self._head_axes * np.stack([np.cos(angle), np.sin(angle)], 1)
        ring_px = self.axes.to_image(ring * self.iod)
        x0, y0 = np.floor(ring_px.min(0)).astype(int) - 2
        x1, y1 = np.ceil(ring_px.max(0)).astype(int) + 2
        self.x0, self.y0 = max(0, x0), max(0, y0)
        self.x1, self.y1 = min(self.width, x1), min(self.height, y1)
        ys, xs = np.mgrid[0:self.y1 - self.y0, 0:self.x1 - self.x0].astype(np.float32)
        self._grid = np.ascontiguousarray(np.stack([xs, ys], axis=-1))  # the region's own pixels
        self._region_image = self.image[self.y0:self.y1, self.x0:self.x1]  # a view
        face = self.axes.to_face(self._grid.reshape(-1, 2) + [self.x0, self.y0]) / self.iod
        shape = self._grid.shape[:2]
        self._u = face[:, 0].reshape(shape)
        self._v = face[:, 1].reshape(shape)

    def _add_field(self, name: str, du: np.ndarray, dv: np.ndarray, *, blur_px: float = 0.0) -> None:
        """Store a field given in face coordinates (IODs) over the region, cropped to its support."""
        ex, ey = self.axes.x_axis, self.axes.y_axis
        scale = self.iod
        field = np.stack([(du * ex[0] + dv * ey[0]) * scale, (du * ex[1] + dv * ey[1]) * scale], -1)
        field = field.astype(np.float32)
        if blur_px > 0:
            field = cv2.GaussianBlur(field, (0, 0), blur_px)
        moving = np.abs(field).max(axis=-1) > 0.02
        if not moving.any():
            return
        rows, cols = np.nonzero(moving.any(axis=1))[0], np.nonzero(moving.any(axis=0))[0]
        r = slice(int(rows[0]), int(rows[-1]) + 1)
        c = slice(int(cols[0]), int(cols[-1]) + 1)
        self.fields[name] = _Field(r, c, np.ascontiguousarray(field[r, c]))

    # --- expression fields --------------------------------------------------------------------

    def _build_mouth_fields(self) -> None:
        p, u, v = self._p, self._u, self._v
        upper, lower = p[list(UPPER_INNER_LIP)], p[list(LOWER_INNER_LIP)]
        split = upper + 0.4 * (lower - upper)  # the sharp edge lies inside the lip gap
        mouth_u = (p[61, 0] + p[291, 0]) / 2
        half_w = (p[291, 0] - p[61, 0]) / 2
        inner_half_w = (p[308, 0] - p[78, 0]) / 2
        lateral = np.abs(u - mouth_u)
        beyond = np.maximum(0.0, lateral - inner_half_w)
        # Sharp across the lips, soft across the cheeks beyond the corners.
        sharp = max(1.0 / self.iod, 0.025)
        sigma = sharp + (0.2 - sharp) * smoothstep(0.0, 0.25, beyond)
        below = 0.5 * (1 + np.tanh((v - _curve(split, u)) / sigma))

        # Mandible: the lower face down to just past where the chin will be when fully open.
        oval = p[list(FACE_OVAL)]
        jaw_line = oval[oval[:, 1] > p[1, 1]]  # contour below the nose tip
        jaw_line = jaw_line[np.argsort(np.arctan2(jaw_line[:, 1] - p[1, 1], jaw_line[:, 0] - mouth_u))]
        centre = np.array([mouth_u, p[1, 1]])
        poly = centre + (jaw_line - centre) * np.array([0.92, 1.0])
        chin_weight = smoothstep(p[14, 1], p[152, 1], poly[:, 1])
        poly[:, 1] += 1.1 * JAW_DROP * chin_weight
        poly = np.vstack([poly, [[poly[-1, 0], p[1, 1] - 0.3], [poly[0, 0], p[1, 1] - 0.3]]])
        mandible = self._polygon_mask(poly, blur=0.15)
        face_half_w = (oval[:, 0].max() - oval[:, 0].min()) / 2
        mandible *= 1 - 0.45 * smoothstep(0.45, 1.0, lateral / face_half_w)
        # The lips open as an arc that closes at the corners, so the painted interior always
        # covers the gap (moving the corners too would push the upper lip into the fold); the
        # chin below moves as one piece.
        arc = 1 - np.clip(lateral / inner_half_w, 0, 1) ** 2
        arc_jaw = arc + (1 - arc) * smoothstep(p[17, 1], p[152, 1], v)
        jaw = below * mandible * arc_jaw
        upper_region = smoothstep(p[1, 1], p[0, 1], v) * (1 - smoothstep(half_w, half_w + 0.3, lateral))
        upper_lip = (1 - below) * upper_region
        upper_arc = upper_lip * arc
        self._add_field("jaw", np.zeros_like(u), JAW_DROP * (jaw - UPPER_LIP_WITH_JAW * upper_arc))
        side = 0.6 + 0.4 * smoothstep(0.0, half_w, lateral)
        self._add_field("lip_raise", np.zeros_like(u), -LIP_RAISE * upper_lip * side)

        left, right = p[61] - [0.05, 0], p[291] + [0.05, 0]
        g_left, g_right = _gauss(u, v, left, 0.22), _gauss(u, v, right, 0.22)
        cheeks = _gauss(u, v, p[205], 0.3) + _gauss(u, v, p[425], 0.3)
        lift = SMILE_LIFT / math.hypot(0.45, 1)
        self._add_field("smile", lift * 0.45 * (g_right - g_left),
                        -lift * (g_left + g_right) - 0.4 * SMILE_LIFT * cheeks)
        drop = FROWN_DROP / math.hypot(0.15, 1)
        self._add_field("frown", drop * 0.15 * (g_right - g_left), drop * (g_left + g_right))
        g_left, g_right = _gauss(u, v, p[61], 0.15), _gauss(u, v, p[291], 0.15)
        self._add_field("pucker", PUCKER_IN * (g_left - g_right), np.zeros_like(u))

    def _build_brow_fields(self) -> None:
        p, u, v = self._p, self._u, self._v
        lid = _curve(p[list(LEFT_EYE_UPPER + RIGHT_EYE_UPPER)], u)
        brow_low = _curve(p[list(LEFT_BROW_LOWER + RIGHT_BROW_LOWER)], u)
        brow_up = _curve(p[list(LEFT_BROW_UPPER + RIGHT_BROW_UPPER)], u)

        def lid_ramp(end):
            """Linear from 0 just above the lashes to 1 at ``end``: the lid skin stretches evenly."""
            start = lid - 0.03
            return np.clip((start - v) / np.maximum(start - end, 0.03), 0, 1)

        # The forehead follows, less and less towards the hairline; the hair stays.
        forehead = 1 - 0.65 * smoothstep(brow_up - 0.2, brow_up - 1.0, v)
        forehead *= 1 - smoothstep(brow_up - 1.0, brow_up - 1.5, v)
        brow_span = np.abs(p[list(LEFT_BROW_UPPER + RIGHT_BROW_UPPER), 0]).max()
        lateral = 1 - smoothstep(brow_span + 0.1, brow_span + 0.5, np.abs(u))
        lateral *= 1 - 0.2 * np.exp(-(u / 0.2) ** 2)
        self._add_field("brow", np.zeros_like(u), -BROW_LIFT * lid_ramp(brow_low - BROW_LIFT) * forehead * lateral)

        inner_left = (p[55] + p[107]) / 2
        inner_right = (p[285] + p[336]) / 2
        guard = lid_ramp(brow_low + FURROW_DROP)
        g_left, g_right = _gauss(u, v, inner_left, 0.22), _gauss(u, v, inner_right, 0.22)
        self._add_field("furrow", FURROW_IN * (g_left - g_right) * guard,
                        FURROW_DROP * (g_left + g_right) * guard)
        g_left, g_right = _gauss(u, v, inner_left, 0.25), _gauss(u, v, inner_right, 0.25)
        middle = _gauss(u, v, ((inner_left + inner_right) / 2) - [0, 0.4], 0.35)
        guard = lid_ramp(brow_low - INNER_BROW_LIFT)
        self._add_field("inner_brow", 0.02 * (g_left - g_right) * guard,
                        -(INNER_BROW_LIFT * (g_left + g_right) + 0.06 * middle) * guard)

    def _build_eye_fields(self) -> None:
        """Blink: the upper lid slides down to just above the lower lid, which rises a little;
        the skin between lid and brow stretches. Wide: the upper lid rises, the eye stretches."""
        p, u, v = self._p, self._u, self._v
        brow_low = _curve(p[list(LEFT_BROW_LOWER + RIGHT_BROW_LOWER)], u)
        blink = np.zeros_like(u)
        wide = np.zeros_like(u)
        for upper_ids, lower_ids in ((LEFT_EYE_UPPER, LEFT_EYE_LOWER), (RIGHT_EYE_UPPER, RIGHT_EYE_LOWER)):
            upper, lower = p[list(upper_ids)], p[list(lower_ids)]
            u_min, u_max = upper[:, 0].min(), upper[:, 0].max()
            inside = (u > u_min - 0.05) & (u < u_max + 0.05)
            top, bottom = _curve(upper, u), _curve(lower, u)
            height = np.maximum(bottom - top, 0.0)
            brow = np.minimum(brow_low, top - 0.15)
            closed = bottom - 0.15 * height
            above = (v <= closed) & inside
            # At the seam the lid shows the skin just above its lashes, not the eye.
            reach_down = 0.85 * height + 0.5 / self.iod
            blink += np.where(above, reach_down * np.clip((v - brow) / (closed - brow), 0, 1), 0.0)
            reach = bottom + 0.25
            below = (v > closed) & inside
            blink -= np.where(below, 0.15 * height * np.clip(1 - (v - closed) / (reach - closed), 0, 1), 0.0)

            lift = EYE_WIDEN * np.sqrt(height / max(height.max(), 1e-6))
            in_eye = np.clip((bottom - v) / np.maximum(height, 1e-6), 0, 1) * (v >= top)
            over = np.clip((v - brow) / np.maximum(top - 1.3 * lift - brow, 1e-6), 0, 1) * (v < top)
            wide -= np.where(inside, lift * (in_eye + over), 0.0)
        self._add_field("blink", np.zeros_like(u), blink)  # no blur: a soft seam would show the eye
        self._add_field("wide", np.zeros_like(u), wide, blur_px=0.6)

    def _polygon_mask(self, poly_face: np.ndarray, *, blur: float) -> np.ndarray:
        """A filled polygon (face coordinates, IODs) rasterised over the region and blurred."""
        pts = self.axes.to_image(poly_face * self.iod) - [self.x0, self.y0]
        mask = np.zeros(self._u.shape, np.float32)
        cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=4)
        return cv2.GaussianBlur(mask, (0, 0), blur * self.iod).astype(np.float64)

    # --- head motion --------------------------------------------------------------------------

    def _build_head_fields(self) -> None:
        """Half-resolution weight and lever arms for roll and sway (see the module docstring)."""
        rel = (np.stack([self._u, self._v], -1) - self._head_centre) / self._head_axes
        radius = np.hypot(rel[..., 0], rel[..., 1])
        weight = 1 - smoothstep(1.0, self._head_falloff, radius)
        pivot_px = self.axes.to_image(self._pivot * self.iod)
        half = (max(1, (self.x1 - self.x0) // 2), max(1, (self.y1 - self.y0) // 2))
        weight = cv2.resize(weight.astype(np.float32), half, interpolation=cv2.INTER_AREA)
        grid = cv2.resize(self._grid, half, interpolation=cv2.INTER_AREA)
        self._head_weight = weight
        self._head_arm_x = (weight * (grid[..., 0] + self.x0 - pivot_px[0])).astype(np.float32)
        self._head_arm_y = (weight * (grid[..., 1] + self.y0 - pivot_px[1])).astype(np.float32)
        self.pivot = pivot_px

    # --- one frame ----------------------------------------------------------------------------

    def coefficients(self, state: FrameState) -> dict[str, float]:
        """Expression-field weights for a frame state (its emotion's template mixed in)."""
        coefs = {"jaw": state.jaw, "brow": state.brow, "pucker": state.pucker}
        for name, amount in EMOTION_TEMPLATES.get(state.emotion, {}).items():
            coefs[name] = coefs.get(name, 0.0) + amount * state.expression
        blink = min(1.0, max(0.0, state.blink))
        squint = coefs.pop("squint", 0.0)
        coefs["blink"] = blink + (1 - blink) * squint
        if "wide" in coefs:
            coefs["wide"] *= 1 - blink
        return {name: c for name, c in coefs.items() if abs(c) > _EPS and name in self.fields}

    def frame(self, state: FrameState) -> np.ndarray:
        """The portrait in ``state``: an H×W×3 uint8 RGB image (a new array)."""
        coefs = self.coefficients(state)
        theta = math.radians(state.roll_deg)
        moving_head = abs(theta) > 1e-5 or abs(state.sway_x) > 1e-3 or abs(state.sway_y) > 1e-3
        out = self.image.copy()
        if not coefs and not moving_head:
            return out

        expression = None
        if coefs:
            expression = np.zeros(self._grid.shape, np.float32)
            for name, c in coefs.items():
                f = self.fields[name]
                box = expression[f.rows, f.cols]
                cv2.scaleAdd(f.data, float(c), box, dst=box)
        # Maps are in the region's own pixels; the region of the portrait is the source.
        head = None
        if moving_head:
            a, b = 1 - math.cos(theta), math.sin(theta)
            dx = a * self._head_arm_x - b * self._head_arm_y + state.sway_x * self._head_weight
            dy = a * self._head_arm_y + b * self._head_arm_x + state.sway_y * self._head_weight
            size = (self.x1 - self.x0, self.y1 - self.y0)
            head = self._grid - cv2.resize(cv2.merge([dx, dy]), size, interpolation=cv2.INTER_LINEAR)
            source = head
            if expression is not None:
                # Expressions happen in the head's own frame: look them up where the head came from.
                source = head - cv2.remap(expression, head, None, cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        else:
            source = self._grid - expression
        region = out[self.y0:self.y1, self.x0:self.x1]
        cv2.remap(self._region_image, source, None, cv2.INTER_LINEAR, dst=region,
                  borderMode=cv2.BORDER_REFLECT_101)

        motion = (expression, head)
        if not _MOUTH_FIELDS.isdisjoint(coefs):
            self._paint_mouth(out, motion)
        if coefs.get("blink", 0.0) > 0.3:
            self._darken_lashes(out, motion, coefs["blink"])
        return out

    def moved(self, points: np.ndarray, motion, *, inward: np.ndarray | float = 0.0) -> np.ndarray:
        """Where portrait points (pixels) end up in a frame, given its (expression, head) fields.

        Solved by fixed-point iteration, first through the expression (within the face), then
        through the smooth head motion. Points on the edge of a fold (the lip gap, the closing
        eyelid) are ambiguous — the fold shows their neighbourhood twice — so the expression is
        read ``inward`` px inside the feature they belong to (negative: towards the forehead),
        where it moves as one piece."""
        expression, head = motion
        origin = np.float64([self.x0, self.y0])
        points = np.asarray(points, np.float64) - origin  # region coordinates from here on
        moved = points.copy()
        if expression is not None:
            offset = np.asarray(inward, np.float64).reshape(-1, 1) * self.axes.y_axis
            for _ in range(3):
                moved = points + _bilinear(expression, moved + offset)
        if head is not None:
            target = moved.copy()
            for _ in range(3):
                target += moved - _bilinear(head, target)
            moved = target
        return moved + origin

    # --- mouth interior -----------------------------------------------------------------------

    def _prepare_mouth_interior(self) -> None:
        lm = self.landmarks
        self._lip_ids = np.array(UPPER_INNER_LIP + LOWER_INNER_LIP)
        step = max(1.5, 0.04 * self.iod)  # past the sharp edge, into the lip's body
        self._lip_inward = np.repeat([-step, step], len(UPPER_INNER_LIP))
        upper, lower = lm[list(UPPER_INNER_LIP)], lm[list(LOWER_INNER_LIP)]
        self._rest_gap = float(np.mean(np.hypot(*(lower[4:7] - upper[4:7]).T)))
        o, ex, ey = _axes_between(lm[78], lm[308])
        self._rest_mouth = (o, ex, ey)
        rest_upper, rest_lower = _in_axes(upper, o, ex, ey), _in_axes(lower, o, ex, ey)
        self._rest_upper = rest_upper
        self._rest_half_w = max(float(np.hypot(*(lm[308] - lm[78]))) / 2, 1.0)
        lat = rest_upper[:, 0] / self._rest_half_w  # of each upper-lip point, −1 … 1

        # Does the portrait show its teeth? Its lip gap is then bright and hardly saturated.
        poly = np.vstack([upper, lower[::-1]]).astype(np.float32)
        mask = np.zeros(self.image.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
        mask = cv2.erode(mask, np.ones((2, 2), np.uint8))
        pixels = self.image[mask > 0].astype(np.float32)
        self.shows_teeth = False
        if self._rest_gap >= max(2.5, 0.05 * self.iod) and len(pixels) >= 8:
            luma = pixels @ np.float32([0.299, 0.587, 0.114])
            bright = pixels[luma >= np.percentile(luma, 60)]
            saturation = (bright.max(axis=1) - bright.min(axis=1)) / np.maximum(bright.max(axis=1), 1)
            self.shows_teeth = bool((bright @ np.float32([0.299, 0.587, 0.114])).mean() > 120
                                    and saturation.mean() < 0.35)

        # The upper teeth hang from the upper lip: a band (its depth below each upper-lip point)
        # textured from an image aligned with the portrait's mouth at rest — the portrait itself
        # when it shows its teeth, else teeth drawn once here. Each frame warps it into place.
        if self.shows_teeth:
            self._teeth_depth = 0.85 * np.maximum(rest_lower[:, 1] - rest_upper[:, 1], 0)
            self._teeth_image, self._teeth_offset = self.image, np.zeros(2)
        else:
            arch = np.sqrt(np.clip(1 - (lat / 0.85) ** 2, 0, 1))
            self._teeth_depth = 0.13 * self.iod * arch
            self._teeth_image, self._teeth_offset = self._drawn_teeth(rest_upper)
        self._cavity_top, self._cavity_bottom, self._tongue = self._interior_palette()

    def _interior_palette(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The cavity's top and bottom colours and the tongue's, from the portrait's own lips (see
        ``_lip_colour``): darker than they are, and redder only as far as they are coloured, so a
        black-and-white photo gets a grey mouth, and a warm or a dim light carries into it."""
        grey, chroma = self._lip_colour()
        redder = np.float32([1.0, -0.45, -0.55]) * min(float(np.abs(chroma).max()), 40.0)

        def tone(share: float) -> np.ndarray:  # ``share`` of the lips' own lightness
            return np.clip(share * (grey + chroma + 0.35 * redder), 0, 255).astype(np.float32)

        return tone(0.16), tone(0.36), tone(0.68)

    def _lip_colour(self) -> tuple[float, np.ndarray]:
        """The lips' lightness (luma) and colour (RGB less that lightness: zero in a greyscale photo),
        the median of 3×3 px halfway between the outer and the inner lip contours (``LIP_BODY``)."""
        lm, image = self.landmarks, self.image.astype(np.float32)
        samples = []
        for outer, inner in LIP_BODY:
            x, y = np.round((lm[outer] + lm[inner]) / 2).astype(int)
            if 1 <= x < self.width - 1 and 1 <= y < self.height - 1:
                samples.append(image[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3))
        lip = np.median(np.vstack(samples), axis=0) if samples else np.float32([170, 95, 85])
        grey = float(lip @ np.float32([0.299, 0.587, 0.114]))
        return grey, (lip - grey).astype(np.float32)

    def _drawn_teeth(self, rest_upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Off-white upper teeth with faint separations, shaded towards their edge and the mouth
        corners, drawn under the rest upper lip in a small image; returns it and its offset."""
        o, ex, ey = self._rest_mouth
        half_w, band = self._rest_half_w, 0.13 * self.iod
        reach = 1.3 * half_w + band + 6  # the box covers the mouth at any roll
        x0, y0 = np.floor(o - reach).astype(int)
        x1, y1 = np.ceil(o + reach).astype(int)
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        u = (xs - o[0]) * ex[0] + (ys - o[1]) * ex[1]
        depth = (xs - o[0]) * ey[0] + (ys - o[1]) * ey[1] - _curve(rest_upper, u)
        edges = np.array([0.0, 0.13, 0.23, 0.31]) * self.iod  # incisors, laterals, canines
        nearest = np.min(np.abs(np.abs(u)[..., None] - edges), axis=-1)
        gaps = 1 - 0.16 * np.exp(-4 * nearest ** 2)
        shade = (1 - 0.15 * np.clip(depth / band, 0, 1)) * (0.78 + 0.22 * np.clip(depth / 1.5, 0, 1))
        shade *= (1 - 0.35 * np.clip(u / half_w, -1, 1) ** 2) * gaps
        colour = self._teeth_colour() * shade[..., None]
        return np.clip(colour, 0, 255).astype(np.uint8), np.array([x0, y0], np.float64)

    def _teeth_colour(self) -> np.ndarray:
        """Drawn teeth: off-white a little under the face's own highlights (a dim photo gets dim
        teeth, never a white band), tinted by the lips' colour and warmed as far as the lips are
        coloured (grey in a greyscale photo)."""
        x0, y0, x1, y1 = (int(v) for v in self._face_box())
        face = self.image[y0:y1, x0:x1].reshape(-1, 3).astype(np.float32)
        luma = face @ np.float32([0.299, 0.587, 0.114]) if len(face) else np.float32([230])
        level = float(np.clip(0.86 * np.percentile(luma, 97), 80, 215))  # inside the mouth: under the face's light
        _, chroma = self._lip_colour()
        warmth = min(float(np.abs(chroma).max()), 40.0) / 40.0
        return np.clip(level + 0.2 * chroma + warmth * np.float32([6, 0, -16]), 0, 255).astype(np.float32)

    def _face_box(self) -> tuple[float, float, float, float]:
        """The face's landmarks' bounding box, inside the image."""
        low, high = self.landmarks.min(0), self.landmarks.max(0)
        return (max(low[0], 0), max(low[1], 0), min(high[0], self.width), min(high[1], self.height))

    def _paint_mouth(self, out: np.ndarray, motion) -> None:
        """Paint the open mouth between the moved inner-lip contours. Runs on every voiced frame,
        so the shapes are OpenCV's anti-aliased polygons and the per-pixel work is a few planes
        over the mouth's box."""
        points = self.moved(self.landmarks[self._lip_ids], motion, inward=self._lip_inward)
        n = len(UPPER_INNER_LIP)
        upper, lower = points[:n], points[n:]
        for end in (0, -1):  # the corners belong to both lips: one point, so the gap closes there
            upper[end] = lower[end] = (upper[end] + lower[end]) / 2
        gap = float(np.mean(np.hypot(*(lower[4:7] - upper[4:7]).T)))
        alpha_open = float(smoothstep(0.3, max(2.0, 0.05 * self.iod), gap - self._rest_gap))
        if alpha_open <= 0.01:
            return
        x0, y0 = np.floor(points.min(0)).astype(int) - 2
        x1, y1 = np.ceil(points.max(0)).astype(int) + 3
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.width), min(y1, self.height)
        if x1 - x0 < 3 or y1 - y0 < 3:
            return
        size = (y1 - y0, x1 - x0)
        o, ex, ey = _axes_between(upper[0], upper[-1])
        half_w = max(float(np.hypot(*(upper[-1] - upper[0]))) / 2, 1.0)
        box = np.float64([x0, y0])

        def polygon(pts: np.ndarray) -> np.ndarray:
            mask = np.zeros(size, np.uint8)
            cv2.fillPoly(mask, [np.round((pts - box) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
            return mask

        inside = polygon(np.vstack([upper, lower[-2:0:-1]]))
        teeth_edge = upper + self._teeth_depth[:, None] * ey
        teeth_mask = polygon(np.vstack([upper, teeth_edge[::-1]]))
        if not self.shows_teeth:  # drawn teeth: a soft edge, not a pasted-on band
            teeth_mask = cv2.GaussianBlur(teeth_mask, (0, 0), max(0.6, 0.012 * self.iod))

        # The cavity: dark and warm under the teeth, lighter towards the lower lip, darker at the
        # corners; u and v are the mouth's own axes, as planes over the box.
        rx = np.arange(x0, x1, dtype=np.float32) - np.float32(o[0])
        ry = (np.arange(y0, y1, dtype=np.float32) - np.float32(o[1]))[:, None]
        u = rx * np.float32(ex[0]) + ry * np.float32(ex[1])  # (h, w) planes
        v = rx * np.float32(ey[0]) + ry * np.float32(ey[1])
        top, height = float((upper[5] - o) @ ey), max(gap, 1.0)
        t = np.clip((v - np.float32(top)) * np.float32(1 / height), 0, 1)
        shade = 1 - 0.5 * np.minimum((u * np.float32(1 / half_w)) ** 2, 1)
        colour = self._cavity_top + (self._cavity_bottom - self._cavity_top) * t[..., None]
        colour *= shade[..., None]
        # A hint of tongue rising from the lower lip once the mouth is well open.
        tongue_alpha = 0.6 * float(smoothstep(0.1, 0.25, gap / self.iod))
        if tongue_alpha > 0.01:
            tongue = np.zeros(size, np.uint8)
            centre = (lower[5] - box - 0.12 * gap * ey) * 16
            axes = (int(0.55 * half_w * 16), int(0.3 * gap * 16))
            angle = math.degrees(math.atan2(ex[1], ex[0]))
            cv2.ellipse(tongue, (int(centre[0]), int(centre[1])), axes, angle, 180, 360, 255, -1, cv2.LINE_AA, 4)
            tongue = cv2.GaussianBlur(tongue, (0, 0), max(1.0, 0.06 * gap))  # a soft rise, not a shape
            weight = tongue.astype(np.float32) * np.float32(tongue_alpha / 255)
            colour += (self._tongue * shade[..., None] - colour) * weight[..., None]
        # The teeth: the rest mouth's teeth image, carried along with the upper lip.
        top_curve = _curve(_in_axes(upper, o, ex, ey), u).astype(np.float32)
        teeth = self._warp_teeth(u, v, top_curve, half_w)
        colour += (teeth - colour) * (teeth_mask.astype(np.float32) * np.float32(1 / 255))[..., None]

        alpha = inside.astype(np.float32) * np.float32(alpha_open / 255)
        patch = out[y0:y1, x0:x1].astype(np.float32)
        patch += (colour - patch) * alpha[..., None]
        out[y0:y1, x0:x1] = np.clip(patch + 0.5, 0, 255).astype(np.uint8)

    def _warp_teeth(self, u: np.ndarray, v: np.ndarray, top: np.ndarray, half_w: float) -> np.ndarray:
        """The teeth image carried from the rest mouth to this frame's: along the mouth scaled
        with its width, across it hanging from the upper lip (``top``: its v over the box)."""
        ro, rex, rey = self._rest_mouth
        ur = u * np.float32(self._rest_half_w / half_w)
        vr = v - top + _curve(self._rest_upper, ur).astype(np.float32)
        base = ro - self._teeth_offset
        sx = np.float32(base[0]) + ur * np.float32(rex[0]) + vr * np.float32(rey[0])
        sy = np.float32(base[1]) + ur * np.float32(rex[1]) + vr * np.float32(rey[1])
        teeth = cv2.remap(self._teeth_image, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return teeth.astype(np.float32)

    def _darken_lashes(self, out: np.ndarray, motion, blink: float) -> None:
        """Closing lids bring the lash line together: a soft dark line along the upper lid."""
        strength = 0.4 * float(smoothstep(0.3, 1.0, blink))
        for ids in (LEFT_EYE_UPPER, RIGHT_EYE_UPPER):
            lid = self.moved(self.landmarks[list(ids)], motion, inward=-1.0)
            x0, y0 = np.floor(lid.min(0)).astype(int) - 2
            x1, y1 = np.ceil(lid.max(0)).astype(int) + 3
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.width), min(y1, self.height)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            o, ex, ey = _axes_between(lid[0], lid[-1])
            ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            rx, ry = xs - o[0], ys - o[1]
            u, v = rx * ex[0] + ry * ex[1], rx * ey[0] + ry * ey[1]
            rel = _in_axes(lid, o, ex, ey)
            half = max(float(np.hypot(*(lid[-1] - lid[0]))) / 2, 1.0)
            taper = np.clip(1 - (u / half) ** 4, 0, 1)
            dark = 1 - strength * taper * np.exp(-((v - _curve(rel, u) - 0.5) / 1.3) ** 2)
            patch = out[y0:y1, x0:x1].astype(np.float32) * dark[..., None]
            out[y0:y1, x0:x1] = np.clip(patch + 0.5, 0, 255).astype(np.uint8)


def _in_axes(points: np.ndarray, origin: np.ndarray, ex: np.ndarray, ey: np.ndarray) -> np.ndarray:
    rel = points - origin
    return np.stack([rel @ ex, rel @ ey], 1)


def _axes_between(left: np.ndarray, right: np.ndarray):
    """Axes along a feature: origin midway between its ends, x from left to right end, y down."""
    delta = np.asarray(right, np.float64) - left
    ex = delta / max(float(np.hypot(*delta)), 1e-6)
    return (np.asarray(left, np.float64) + right) / 2, ex, np.array([-ex[1], ex[0]])


def _bilinear(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Sample an (H, W, 2) float32 field at fractional (x, y) points, clamped to its edges."""
    where = np.ascontiguousarray(points, np.float32).reshape(1, -1, 2)
    sampled = cv2.remap(field, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return sampled.reshape(-1, 2).astype(np.float64)


# --- motion planning ---------------------------------------------------------------------------

