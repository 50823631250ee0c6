"""Animation controls and the rule-based controller.

``Controls`` is the one shape that crosses every boundary (CLI flags, UI sliders, LLM answers, the
job row, every renderer): five values in 0–1 plus an emotion. It is validated and clamped where it
is built (``Controls.from_dict``), so everything downstream can trust it.

The rule-based controller turns the detected emotion and the speech energy into a proposal; the
values the user set are then laid over the proposal (``merge``) — user values always win. A later
LLM controller proposes through the same ``propose`` seam.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from .errors import BadInput

EMOTIONS = ("happy", "sad", "angry", "fearful", "disgusted", "surprised", "neutral")
CONTROL_NAMES = ("blink_rate", "head_tilt", "expression_intensity", "mouth_openness", "eyebrow_raise")


def clamp01(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


@dataclass(frozen=True)
class Controls:
    """Five animation controls (each 0–1) and the emotion to show."""

    blink_rate: float = 0.5
    head_tilt: float = 0.3
    expression_intensity: float = 0.5
    mouth_openness: float = 0.6
    eyebrow_raise: float = 0.4
    emotion: str = "neutral"

    def __post_init__(self) -> None:
        for name in CONTROL_NAMES:
            object.__setattr__(self, name, round(clamp01(_number(name, getattr(self, name))), 4))
        object.__setattr__(self, "emotion", check_emotion(self.emotion))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Controls":
        """Build from a mapping, clamping numbers to 0–1; unknown keys are a ``BadInput``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise BadInput(f"unknown control {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def merge(self, overrides: Mapping[str, Any]) -> "Controls":
        """These controls with the given (user-set) values laid on top."""
        if not overrides:
            return self
        return Controls.from_dict({**self.to_dict(), **dict(overrides)})


def _number(name: str, value: Any) -> float:
    if value is None:
        raise BadInput(f"{name} has no value; set it as {name}=VALUE with VALUE a number between 0 and 1")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"{name} must be a number between 0 and 1, got {value!r}") from None
    if not math.isfinite(number):  # inf would clamp to 1 as if it were meant
        shown = repr(value) if isinstance(value, str) else "NaN" if math.isnan(number) else str(number)
        raise BadInput(f"{name} must be a number between 0 and 1, got {shown}")
    return number


def check_emotion(emotion: Any) -> str:
    value = str(emotion or "").strip().lower()
    if value not in EMOTIONS:
        raise BadInput(f"unknown emotion {emotion!r}; choose one of: {', '.join(EMOTIONS)}")
    return value


def parse_assignments(items: list[str] | None) -> dict[str, Any]:
    """``["mouth_openness=0.8", ...]`` (the CLI's ``--set``) → ``{"mouth_openness": 0.8}``, as typed.

    Nothing is refused here: a number becomes a float, anything else stays text, and an item
    without ``=`` is a name with no value (None). The render request carries them as they are and
    ``check_user_controls`` judges them when the job is submitted, so a mistake is a failed job in
    the history, in the same words the studio would show."""
    result: dict[str, Any] = {}
    for item in items or []:
        name, sep, raw = item.partition("=")
        result[name.strip()] = _number_or_text(raw.strip()) if sep else None
    return result


def _number_or_text(raw: str) -> float | str:
    try:
        number = float(raw)
    except ValueError:
        return raw
    return number if math.isfinite(number) else raw  # "nan" and "inf" stay words: JSON has no NaN


def check_user_controls(values: Mapping[str, Any]) -> None:
    """The controls a person set (a render request's): known names, each a finite number. Values
    outside 0–1 pass: they are clamped where they are used, with a note (``out_of_range_notes``)."""
    for name, value in values.items():
        if name not in CONTROL_NAMES:
            raise BadInput(f"unknown control {name!r}; known: {', '.join(CONTROL_NAMES)}")
        _number(name, value)


def out_of_range_notes(values: Mapping[str, Any]) -> list[str]:
    """One note per user-set value that was clamped, e.g. "mouth_openness 1.7 is outside 0–1; used 1.0"."""
    notes = []
    for name, value in values.items():
        number = float(value)
        if clamp01(number) != number:
            notes.append(f"{name} {number:g} is outside 0–1; used {clamp01(number):.1f}")
    return notes


# How each emotion leans the controls, as offsets from a calm baseline. Reads as: happy people
# blink a little more and lift their brows; sad ones blink less, tilt the head down and move less.
_EMOTION_LEAN: dict[str, dict[str, float]] = {
    "happy": {"blink_rate": +0.10, "eyebrow_raise": +0.20, "expression_intensity": +0.20, "head_tilt": +0.10},
    "sad": {"blink_rate": -0.20, "eyebrow_raise": -0.10, "head_tilt": +0.15, "mouth_openness": -0.15},
    "angry": {"blink_rate": -0.10, "eyebrow_raise": -0.25, "expression_intensity": +0.25},
    "fearful": {"blink_rate": +0.20, "eyebrow_raise": +0.25, "expression_intensity": +0.15},
    "disgusted": {"eyebrow_raise": -0.15, "expression_intensity": +0.15, "mouth_openness": -0.10},
    "surprised": {"eyebrow_raise": +0.35, "expression_intensity": +0.25, "mouth_openness": +0.10},
    "neutral": {},
}
_BASELINE = Controls(blink_rate=0.5, head_tilt=0.3, expression_intensity=0.4, mouth_openness=0.55, eyebrow_raise=0.35)


def propose_rule_based(emotion: str, confidence: float, energy: float) -> tuple[Controls, list[str]]:
    """Controls proposed from the emotion (weighted by its confidence) and speech energy (0–1).

    Returns the controls and the reasons, one line each, for the job record.
    """
    emotion = check_emotion(emotion)
    weight = clamp01(confidence)
    energy = clamp01(energy)
    values = {name: getattr(_BASELINE, name) for name in CONTROL_NAMES}
    reasons = []
    for name, lean in _EMOTION_LEAN[emotion].items():
        values[name] += lean * (0.5 + 0.5 * weight)
    if _EMOTION_LEAN[emotion]:
        reasons.append(f"{emotion} (confidence {weight:.2f}) leans {', '.join(_EMOTION_LEAN[emotion])}")
    # Energy: loud, lively speech opens the mouth wider and shows more expression.
    values["mouth_openness"] += 0.35 * (energy - 0.5)
    values["expression_intensity"] += 0.30 * (energy - 0.5)
    values["head_tilt"] += 0.10 * (energy - 0.5)
    reasons.append(f"speech energy {energy:.2f} scales mouth_openness and expression_intensity")
    return Controls(**values, emotion=emotion), reasons
