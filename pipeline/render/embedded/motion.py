"""Motion planning: a speech envelope and the five controls → one ``FrameState`` per frame.

Everything here is a timeline and nothing is drawn: the mouth follows the shaped loudness
envelope (exactly at rest outside voiced spans, closing on bilabials and rounding on rounded
vowels when phoneme timings are known), blinks come from a seeded schedule at the rate that
``blink_rate`` asks for, brows lift on emphasis, the head eases into a tilt and sways, and the
emotion eases in so the first frame is the portrait itself. Deterministic for a given seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...controls import Controls


@dataclass(frozen=True)
class FrameState:
    """Everything needed to draw one frame."""

    jaw: float = 0.0  # 0 rest … 1 widest (already scaled by mouth_openness)
    blink: float = 0.0  # 0 open … 1 closed
    brow: float = 0.0  # 0 rest … 1 raised (scaled by eyebrow_raise)
    roll_deg: float = 0.0  # head roll, positive = clockwise on screen
    sway_x: float = 0.0  # head translation, px at working size
    sway_y: float = 0.0
    expression: float = 0.0  # 0 … 1 strength of the emotion (scaled by expression_intensity)
    emotion: str = "neutral"
    pucker: float = 0.0  # 0 … 1 lips drawn together (rounded vowels)




def smoothstep(edge0, edge1, x):
    """0 at edge0, 1 at edge1 (either order), smooth in between; works on arrays."""
    span = np.asarray(edge1 - edge0, np.float64)
    span = np.where(np.abs(span) < 1e-9, np.copysign(1e-9, span), span)
    t = np.clip((x - edge0) / span, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


BLINK_MIN_START_S = 0.3
EXPRESSION_EASE_S = 0.4
HEAD_EASE_S = 0.6
MAX_TILT_DEG = 8.0  # the held tilt at head_tilt = 1; the sway on top brings it to ~12°
SAD_HEAD_DROP = 0.05  # a sad head hangs this many face widths lower (× expression, × tilt up to 1/3)
# The emotion breathes instead of holding one face: it rests at EXPRESSION_FLOOR of its strength,
# rises to all of it with the stressed phrases (the emphasis follower) and sinks back in pauses,
# with a slow breath (BREATH_HZ, its share BREATH_SHARE of the rise) under it.
EXPRESSION_FLOOR, BREATH_SHARE, BREATH_HZ = 0.65, 0.3, 0.22
BILABIALS = frozenset("pbm")
ROUNDED_VOWELS = frozenset("uoɔʊwyøœɒ")


def blinks_per_minute(blink_rate: float) -> float:
    """0 → none, 0.5 → 17/min (a calm speaker), 1 → 40/min."""
    rate = min(1.0, max(0.0, blink_rate))
    return 34.0 * rate if rate <= 0.5 else 17.0 + 46.0 * (rate - 0.5)


def _head_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, 2])


def _side(rng: np.random.Generator) -> float:
    return 1.0 if rng.random() < 0.5 else -1.0


def held_tilt_side(seed: int = 0) -> float:
    """Which way the head leans for this seed: +1 clockwise on screen, −1 the other way (the
    preview uses it to lean the same way as the render will)."""
    return _side(_head_rng(seed))


def plan_motion(*, n_frames: int, fps: int, envelope: Sequence[float], voiced_spans: Sequence[tuple[float, float]],
                controls: Controls, phonemes: list[dict] | None = None, seed: int = 0,
                face_width_px: float = 96.0) -> list[FrameState]:
    """Per-frame states for a clip: mouth from the speech envelope, blinks, brows, head, emotion.

    ``envelope`` is per frame, 0..1 (missing frames count as silence); ``voiced_spans`` are
    ``(start_s, end_s)``; ``phonemes`` optionally ``{"phoneme", "start", "end"}`` (IPA, seconds)
    to close the lips on p/b/m and round them on rounded vowels. Deterministic for a seed; the
    first frame is always the portrait at rest. ``face_width_px`` scales the head sway.
    """
    planner = MotionPlanner(fps=fps, controls=controls, seed=seed, face_width_px=face_width_px)
    return planner.plan(n_frames=n_frames, envelope=envelope, voiced_spans=voiced_spans, phonemes=phonemes)


class MotionPlanner:
    """One take planned in pieces — a live reply sentence by sentence, with idling in between —
    as if it were one clip.

    Everything that moves by the clock (blinks, head sway and tilt, the easing in of the emotion)
    is a function of the take's time, and ``frame`` counts the frames planned so far, so the next
    piece continues exactly where the last one stopped. What follows the speech (the mouth's and
    the emphasis's envelope followers) carries its level over. Each piece's ``envelope``,
    ``voiced_spans`` and ``phonemes`` are its own, timed from the piece's start. Planned in one
    piece, it is ``plan_motion``.
    """

    def __init__(self, *, fps: int, controls: Controls, seed: int = 0, face_width_px: float = 96.0) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        self.controls = controls
        self.seed = seed
        self.face_width_px = face_width_px
        self.frame = 0  # frames planned so far: where the next piece starts on the take's clock
        self._mouth_level = 0.0
        self._emphasis_level = 0.0

    def plan(self, *, n_frames: int, envelope: Sequence[float] = (),
             voiced_spans: Sequence[tuple[float, float]] = (), phonemes: list[dict] | None = None) -> list[FrameState]:
        """The next ``n_frames`` states; no envelope or voiced spans: a silent piece (listening, idling)."""
        if n_frames <= 0:
            return []
        fps, controls = self.fps, self.controls
        local = np.arange(n_frames) / fps  # the piece's own clock: its speech is timed on it
        t = (self.frame + np.arange(n_frames)) / fps  # the take's clock
        env = np.zeros(n_frames)
        values = np.clip(np.asarray(list(envelope)[:n_frames], np.float64), 0, 1)
        env[:len(values)] = np.nan_to_num(values)
        voiced = np.zeros(n_frames, bool)
        for start, end in voiced_spans:
            voiced |= (local >= start) & (local < end)
        env *= voiced

        # Mouth: opens fast, closes a little slower; exactly shut outside speech.
        follow = _follower(env, fps, attack_s=0.02, release_s=0.07, level=self._mouth_level)
        jaw = controls.mouth_openness * follow * voiced
        pucker = np.zeros(n_frames)
        if phonemes:
            closure, rounding = _phoneme_tracks(phonemes, local)
            jaw *= 1 - 0.85 * closure
            pucker = 0.8 * rounding * voiced
        if self.frame == 0:
            jaw[0] = 0.0

        # Emphasis: the slower loudness contour, above its own typical level.
        slow = _follower(env, fps, attack_s=0.08, release_s=0.35, level=self._emphasis_level)
        emphasis = np.clip((slow - 0.35) / 0.65, 0, 1)
        ease_expr = smoothstep(0.0, EXPRESSION_EASE_S, t)
        brow = controls.eyebrow_raise * (0.2 + 0.8 * emphasis) * ease_expr
        breath = 0.5 + 0.5 * np.sin(2 * np.pi * BREATH_HZ * t + _breath_phase(self.seed))
        lift = (1 - BREATH_SHARE) * emphasis + BREATH_SHARE * breath
        expression = controls.expression_intensity * ease_expr * (EXPRESSION_FLOOR + (1 - EXPRESSION_FLOOR) * lift)
        blink = _blink_track(t, fps, blinks_per_minute(controls.blink_rate), np.random.default_rng([self.seed, 1]))

        roll = np.zeros(n_frames)
        sway_x = np.zeros(n_frames)
        sway_y = np.zeros(n_frames)
        tilt = controls.head_tilt
        if tilt > 0:
            rng = _head_rng(self.seed)
            ease = smoothstep(0.0, HEAD_EASE_S, t)
            side = _side(rng)
            wander = (2.5 * np.sin(2 * np.pi * rng.uniform(0.08, 0.16) * t + rng.uniform(0, 2 * np.pi))
                      + 1.3 * np.sin(2 * np.pi * rng.uniform(0.22, 0.35) * t + rng.uniform(0, 2 * np.pi)))
            roll = tilt * ease * np.clip(side * MAX_TILT_DEG + wander, -12.0, 12.0)
            scale = self.face_width_px * tilt * ease
            sway_x = scale * 0.03 * np.sin(2 * np.pi * rng.uniform(0.1, 0.2) * t + rng.uniform(0, 2 * np.pi))
            sway_y = scale * (0.012 * np.sin(2 * np.pi * rng.uniform(0.15, 0.3) * t + rng.uniform(0, 2 * np.pi))
                              + 0.015 * slow)  # a small nod with the stressed syllables
            if controls.emotion == "sad":
                sway_y += SAD_HEAD_DROP * self.face_width_px * expression * min(1.0, 3 * tilt)

        self.frame += n_frames
        self._mouth_level, self._emphasis_level = float(follow[-1]), float(slow[-1])
        emotion = controls.emotion
        return [FrameState(jaw=float(jaw[i]), blink=float(blink[i]), brow=float(brow[i]), roll_deg=float(roll[i]),
                           sway_x=float(sway_x[i]), sway_y=float(sway_y[i]), expression=float(expression[i]),
                           emotion=emotion, pucker=float(pucker[i]))
                for i in range(n_frames)]


def _breath_phase(seed: int) -> float:
    return float(np.random.default_rng([seed, 7]).uniform(0, 2 * np.pi))


def _follower(signal: np.ndarray, fps: float, *, attack_s: float, release_s: float, level: float = 0.0) -> np.ndarray:
    """One-pole envelope follower starting at ``level``: rises with time constant attack_s, falls with release_s."""
    up = 1 - math.exp(-1 / (fps * attack_s))
    down = 1 - math.exp(-1 / (fps * release_s))
    out = np.empty_like(signal)
    for i, x in enumerate(signal):
        level += (x - level) * (up if x > level else down)
        out[i] = level
    return out


def _blink_track(t: np.ndarray, fps: float, per_minute: float, rng: np.random.Generator) -> np.ndarray:
    """Blinks of 150–250 ms (fast close, slower open), each fully closed on one frame, at
    gamma-distributed intervals around the rate; none in the first 0.3 s."""
    track = np.zeros_like(t)
    if per_minute <= 0 or len(t) == 0:
        return track
    mean_gap = 60.0 / per_minute
    when = BLINK_MIN_START_S + rng.uniform(0.1, 1.0) * min(mean_gap, 3.0)
    while when < t[-1] + 0.3:
        duration = rng.uniform(0.15, 0.25)
        closing, opening = 0.35 * duration, 0.65 * duration
        peak = max(math.ceil((BLINK_MIN_START_S + closing) * fps), round(when * fps)) / fps
        rise = smoothstep(peak - closing, peak, t) * (t <= peak)
        fall = (1 - smoothstep(peak, peak + opening, t)) * (t > peak)
        track = np.maximum(track, rise + fall)
        when = peak + max(duration + 0.3, mean_gap * rng.gamma(4.0, 0.25))
    return track


def _phoneme_tracks(phonemes: list[dict], t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame lip closure (p, b, m) and rounding (rounded vowels), softened over ~2 frames."""
    closure, rounding = np.zeros_like(t), np.zeros_like(t)
    for item in phonemes:
        symbol = str(item.get("phoneme", "")).strip()
        try:
            start, end = float(item["start"]), float(item["end"])
        except (KeyError, TypeError, ValueError):
            continue
        if not symbol or end <= start:
            continue
        inside = (t >= start) & (t < max(end, start + 0.02))
        if symbol[0] in BILABIALS:
            closure[inside] = 1.0
        elif symbol[0] in ROUNDED_VOWELS:
            rounding[inside] = 1.0
    kernel = np.array([0.25, 0.5, 0.25])
    closure = np.clip(np.convolve(closure, kernel, mode="same") * 1.5, 0, 1)
    rounding = np.convolve(rounding, kernel, mode="same")
    return closure, rounding
