"""What the Render lab shows, and the shapes its API answers in: a job's details (the /render
answer), the job in a few lines of Markdown, what a renderer honours, a suggestion for
gradio_client. Presentation only: the work is the pipeline's."""

from __future__ import annotations

from typing import Any

from pipeline.db import Job
from pipeline.errors import StudioError
from pipeline.render import ALL_CONTROLS, renderers
from pipeline.runner import job_result
from pipeline.stages import timings_to_show
from pipeline.suggest import Suggestion


def suggestion_answer(found: Suggestion) -> dict[str, Any]:
    """A suggestion as plain JSON. The controller's path is ``controller_path`` and no key is called
    "path": gradio_client takes any ``{"path": str}`` it receives for a file to download."""
    answer = {key: value for key, value in found.detail.items() if key not in ("path", "reasons")}
    return {"controls": found.values(), "emotion": found.emotion, "confidence": found.confidence,
            "controller": found.controller, "controller_path": found.path, "why": list(found.why),
            "answer": answer, "duration_s": found.duration_s, "timings": found.timings}


def render_details(job: Job, *, ignored_script: bool = False) -> dict:
    details = {**job_result(job), "backend": job.backend, "persona": job.persona, "controller": job.controller}
    options = job.options or {}
    if options.get("renderer_options"):
        details["renderer_options"] = options["renderer_options"]
    if options.get("enhancer"):
        details["enhancer"] = options["enhancer"]
    if job.controls_ignored:
        details["controls_ignored"] = job.controls_ignored
    if ignored_script:
        details["notes"] = [*details.get("notes", []), "the recording was used; the script was not spoken"]
    return details


def job_markdown(details: dict | None) -> str:
    """The job in a few lines: id, status, length, emotion, backend; seconds per stage; notes."""
    if not details:
        return ""
    timings = details.get("timings") or {}
    size = details.get("video_size")
    shape = f" · {size[0]}×{size[1]} px" if size else ""
    head = (f"**Job `{details['job_id']}`** · {details['status']} · {details.get('duration_s') or 0:.1f} s of "
            f"video{shape} · emotion {details.get('emotion')} · {details.get('backend')} · "
            f"rendered in {sum(timings.values()):.1f} s")
    rows = "\n".join(f"| {stage} | {seconds:.2f} s |"
                     for stage, seconds in timings_to_show(timings, details.get("enhancer")).items())
    notes = "".join(f"\n- {note}" for note in details.get("notes", []))
    return f"{head}\n\n| stage | time |\n|---|---:|\n{rows}\n{notes}"


def honours(settings, name: str | None) -> tuple[str, str]:
    """A line saying whether the backend can run and what it honours, and a table of how."""
    if not name or name not in renderers.names():
        return (f"**No renderer called {name!r}.**" if name else ""), ""
    reason = renderers.unavailable(name, settings)
    try:
        told = dict(renderers.create(name, settings).capabilities(settings).controls)
    except StudioError:
        told = {}
    honoured = [c.replace("_", " ") for c in ALL_CONTROLS if c in told]
    ignored = [c.replace("_", " ") for c in ALL_CONTROLS if c not in told]
    state = "ready" if reason is None else f"**unavailable**: {reason}"
    line = f"**{name}**: {state}. Honours {', '.join(honoured) or 'nothing'}"
    line += f"; ignores {', '.join(ignored)}." if ignored else "."
    rows = "\n".join(f"| {c.replace('_', ' ')} | {told.get(c, 'ignored')} |" for c in ALL_CONTROLS)
    return line, f"| control | how {name} honours it |\n|---|---|\n{rows}"


def slider_value(value: Any) -> float:
    """A control as a slider shows it: two decimals (the sliders' step), never the four a
    suggestion or a job record may carry."""
    return round(float(value), 2)


SAMPLE_LINE = ("_A sample: this portrait saying this script. Press **Render** to make it yourself, or change "
               "the script, the portrait or a slider first._")
