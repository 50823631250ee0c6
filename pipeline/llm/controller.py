"""The LLM controller: an LLM proposes the five animation controls as JSON.

It is told the detected emotion and its confidence, the speech's energy and loudness, and the
transcript, and asked for ``{blink_rate, head_tilt, expression_intensity, mouth_openness,
eyebrow_raise}``, each 0–1 — schema-constrained on backends that support it, asked for in the
prompt on the others. Whatever comes back is checked, never trusted:

- ``llm``           all five present and in range: used as given;
- ``llm-clamped``   some values were outside 0–1 and were clamped (the raw values are kept);
- ``llm-partial``   some fields were missing or not numbers and were filled in by the rules;
- ``rules-fallback`` the call failed, or the answer was not JSON, not an object, or had none of
                    the five: the rule-based controller's proposal is used, with the reason.

The record (path taken, raw answer, backend, model, what was clamped or filled, the error)
goes on the job (``controller_detail``) and in ``controls.json``. The emotion always comes from
the emotion stage, and the user's own values are laid on top afterwards, as with the rules.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..controls import CONTROL_NAMES, Controls, clamp01, propose_rule_based
from ..errors import StudioError
from .base import LLMBackend

MAX_TRANSCRIPT_CHARS = 800

CONTROLS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {name: {"type": "number", "minimum": 0, "maximum": 1} for name in CONTROL_NAMES},
    "required": list(CONTROL_NAMES),
    "additionalProperties": False,
}

SYSTEM_PROMPT = """You direct the face of a talking-head avatar. From what is said and how it sounds, \
choose five animation controls, each a number from 0 to 1:
- blink_rate: 0 rarely blinks (focused, intense), 1 blinks often (nervous, excited)
- head_tilt: 0 head still and level, 1 lively head tilts and nods
- expression_intensity: 0 subtle, 1 strongly expressive face
- mouth_openness: 0 small mouth movements (quiet, calm), 1 wide (loud, energetic)
- eyebrow_raise: 0 lowered brows (serious, angry), 1 raised (surprised, curious, happy)
Answer with one JSON object with exactly these five keys."""


def _user_prompt(emotion: str, confidence: float, energy: float, loudness_db: float | None, transcript: str) -> str:
    facts = {"emotion": emotion, "emotion_confidence": round(confidence, 2), "speech_energy": round(energy, 2)}
    if loudness_db is not None:
        facts["speech_loudness_dbfs"] = round(loudness_db, 1)
    text = (transcript or "").strip()
    if len(text) > MAX_TRANSCRIPT_CHARS:
        text = text[:MAX_TRANSCRIPT_CHARS] + " …"
    return json.dumps(facts) + "\nTranscript: " + (text or "(no transcript: uploaded audio)")


def propose_with_llm(llm: LLMBackend, *, emotion: str, confidence: float, energy: float,
                     loudness_db: float | None = None, transcript: str = "") -> tuple[Controls, dict[str, Any]]:
    """Controls from the LLM (checked, clamped, completed), and the record of what happened."""
    rules, reasons = propose_rule_based(emotion, confidence, energy)
    record: dict[str, Any] = {"backend": llm.name, "model": llm.model, "raw": None}
    messages = [{"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": _user_prompt(emotion, confidence, energy, loudness_db, transcript)}]
    try:
        answer = llm.complete_json(messages, CONTROLS_SCHEMA)
    except StudioError as error:
        return rules, {**record, "path": "rules-fallback", "error": f"the LLM call failed: {error}", "reasons": reasons}
    record.update(raw=answer.completion.text, constrained=answer.constrained, latency_s=answer.completion.latency_s)
    value = answer.value
    if value is None:
        return rules, {**record, "path": "rules-fallback", "error": answer.error, "reasons": reasons}
    if not isinstance(value, dict):
        return rules, {**record, "path": "rules-fallback", "reasons": reasons,
                       "error": f"the answer is JSON but not an object: {type(value).__name__}"}
    chosen: dict[str, float] = {}
    clamped: dict[str, float] = {}
    filled: list[str] = []
    for name in CONTROL_NAMES:
        number = _as_number(value.get(name))
        if number is None:
            filled.append(name)
            chosen[name] = getattr(rules, name)
        else:
            chosen[name] = clamp01(number)
            if chosen[name] != number:
                clamped[name] = number
    if len(filled) == len(CONTROL_NAMES):
        return rules, {**record, "path": "rules-fallback", "reasons": reasons,
                       "error": f"the answer has none of the five controls: {sorted(value)[:8]}"}
    path = "llm-partial" if filled else "llm-clamped" if clamped else "llm"
    record["path"] = path
    if clamped:
        record["clamped"] = clamped
    if filled:
        record["filled_from_rules"] = filled
    ignored = sorted(set(value) - set(CONTROL_NAMES))
    if ignored:
        record["ignored_keys"] = ignored[:10]
    return Controls(**chosen, emotion=rules.emotion), record


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # numbers, and numbers sent as strings ("0.7")
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number
