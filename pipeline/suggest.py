"""Suggested controls: what the controller would choose for a script or a recording, without a job.

The Render lab's "Suggest controls" fills the sliders before anything is rendered. It runs the
real stages — speech → analysis → emotion → control (``stages.py``) — through a ``StageContext``
on a scratch folder that is thrown away afterwards, so a suggestion is exactly what a render of
the same input would propose, and no job row or job folder is made. Only the controller differs
from a render's default: the LLM controller is asked first (it falls back to the rules, and says
why, when its answer is unusable); ``controller="rules"`` gives the instant rule-based proposal.
An LLM that cannot answer in JSON (``LLMBackend.follows_json``: the bundled 135M model) is not
asked unless it was named in the call: the rules answer at once, and ``why`` says how to get
an LLM's suggestions instead of a fallback eight seconds later.

The answer carries the five controls and the emotion, and ``why``: one line on the emotion (the
emotion stage's own decision) and the controller's path and reasons — what was clamped or filled
in, or why the rules took over.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .controls import CONTROL_NAMES, Controls, check_emotion
from .errors import BadInput
from .llm import llms
from .settings import CONTROLLERS, Settings
from .speech.tuning import tuning_option
from .stages import STAGE_FUNCTIONS, StageContext

SUGGEST_STAGES = ("speech", "analysis", "emotion", "control")


@dataclass(frozen=True)
class Suggestion:
    """The proposed controls (five values and the emotion) and why."""

    controls: Controls
    confidence: float  # of the emotion (1.0 when you set it)
    controller: str  # "llm" or "rules"
    path: str  # llm, llm-clamped, llm-partial, rules-fallback, rules
    why: list[str]
    detail: dict = field(default_factory=dict)  # the controller's record: raw answer, backend, model, …
    evidence: dict = field(default_factory=dict)  # the emotion stage's evidence
    duration_s: float = 0.0  # of the speech
    timings: dict = field(default_factory=dict)  # seconds per stage

    @property
    def emotion(self) -> str:
        return self.controls.emotion

    def values(self) -> dict[str, float]:
        return {name: getattr(self.controls, name) for name in CONTROL_NAMES}


def suggest_controls(settings: Settings, *, text: str | None = None, audio: str | Path | None = None,
                     portrait: str | Path | None = None, emotion: str | None = None, persona: str | None = None,
                     llm: str | None = None, model: str | None = None, controller: str = "llm",
                     owner: str | None = None) -> Suggestion:
    """Controls for saying ``text`` (or the recording ``audio``), proposed by ``controller``.

    ``emotion`` forces the emotion (else it is detected); ``persona`` lends its voice (the speech's
    energy depends on it) and its preferred LLM; ``llm``/``model`` choose the LLM outright. A
    ``portrait``, when given, is checked like a render's, so its problems show up now. ``owner``:
    whose personas ``persona`` is looked up among, in a studio with users."""
    text = None if text is None or (audio is not None and not text.strip()) else text
    if text is not None and audio is not None:
        raise BadInput("give either a script or an audio file, not both")
    if text is None and audio is None:
        raise BadInput("Nothing to say — type a script or upload an audio file to suggest controls for.")
    if controller not in CONTROLLERS:
        raise BadInput(f"controller must be one of {', '.join(CONTROLLERS)}, got {controller!r}")
    if emotion is not None:
        emotion = check_emotion(emotion)
    voice, tuning, named = None, None, llm is not None
    if persona:
        from personas import PersonaStore

        chosen = PersonaStore(settings, owner=owner).get(persona)
        voice, tuning = chosen.voice, chosen.voice_tuning
        llm, model = llm or chosen.llm.backend, model or (chosen.llm.model if not llm else None)
    if llm is not None and llm not in llms.names():
        raise BadInput(f"unknown LLM backend {llm!r}; known: {', '.join(llms.names())}")
    too_small = None
    if controller == "llm" and not named:
        chosen_llm = llms.create(llm or settings.llm, settings, model=model)
        if not chosen_llm.follows_json:
            controller, too_small = "rules", f"{chosen_llm.name} ({chosen_llm.model})"

    scratch = Path(tempfile.mkdtemp(prefix="avatar-suggest-"))
    try:
        ctx = StageContext(
            job_dir=scratch, settings=settings, text=text, image=Path(portrait) if portrait else None,
            audio=Path(audio) if audio is not None else None, backend=settings.renderer,
            options={"voice": voice, **tuning_option(tuning),
                     "fps": settings.fps, "emotion": emotion, "controller": controller,
                     "llm": llm or settings.llm, "llm_model": model, "max_side": settings.max_side,
                     "image_name": Path(portrait).name if portrait else None,
                     "audio_name": Path(audio).name if audio is not None else None},
        )
        timings = {}
        stages = (("inputs",) if portrait else ()) + SUGGEST_STAGES
        if not portrait:
            ctx.write_json("inputs.json", {"notes": []})  # what the control stage reads for notes
        for stage in stages:
            began = time.perf_counter()
            STAGE_FUNCTIONS[stage](ctx)
            timings[stage] = round(time.perf_counter() - began, 4)
        record = ctx.read_json("controls.json")
        found = ctx.read_json("emotion.json")
        duration_s = ctx.read_json("analysis.json")["duration_s"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    proposed = Controls.from_dict(record["proposed"])
    why = [_emotion_line(found), *_controller_lines(record)]
    if too_small:
        why.append(f"the LLM configured here, {too_small}, is too small to propose controls, so the rules did — "
                   "for an LLM's suggestions set AVATAR_STUDIO_LLM to a hosted one (openai, gemini or mistral) "
                   "with its key in .env, or pick an LLM by name")
    return Suggestion(controls=proposed, confidence=found["confidence"], controller=record["controller"],
                      path=record["path"], why=why,
                      detail=record["detail"], evidence=found.get("evidence", {}), duration_s=duration_s,
                      timings=timings)


def _emotion_line(found: dict) -> str:
    if found.get("forced_by_user"):
        return f"emotion {found['emotion']}: set by you (detected: {found.get('detected')})"
    decision = (found.get("evidence") or {}).get("decision", "")
    return f"emotion {found['emotion']} (confidence {found['confidence']:.2f}): {decision}"


def _controller_lines(record: dict) -> list[str]:
    detail, path = record.get("detail") or {}, record["path"]
    reasons = list(record.get("reasons") or [])
    who = f"{detail.get('backend')} ({detail.get('model')})"
    if path == "rules":
        return ["rule-based controller: " + "; ".join(reasons)]
    if path == "rules-fallback":
        return [f"{who} gave no usable answer ({detail.get('error')}); the rule-based controller chose: "
                + "; ".join(detail.get("reasons") or reasons)]
    lines = [f"{who} proposed the controls ({path})"]
    if detail.get("clamped"):
        clamped = ", ".join(f"{name} {raw} → {getattr(Controls.from_dict(record['proposed']), name)}"
                            for name, raw in detail["clamped"].items())
        lines.append(f"out of range, clamped to 0–1: {clamped}")
    if detail.get("filled_from_rules"):
        lines.append(f"missing from the answer, filled in by the rules: {', '.join(detail['filled_from_rules'])}")
    if detail.get("ignored_keys"):
        lines.append(f"ignored keys in the answer: {', '.join(detail['ignored_keys'])}")
    return lines
