"""Every render kept and comparable: show, compare, delete and render again one job.

This is what the studio's History tab (and ``gradio_client``'s ``get_job``) calls besides the data
layer's job history (``pipeline.db``: ``list_jobs`` for pages of jobs, ``job_stats`` for the sums);
it knows job folders and the runner, nothing of SQL or of how anything looks.

Showing. ``job_details`` is one job as plain data (inputs, controls set/proposed/final, controller,
emotion and its evidence, error and stage, timings, notes, video): what ``get_job`` returns and
what the studio lays out for people (``studio/history_view.py``). ``compare_jobs`` lines two jobs
up field by field, as ``ComparedField`` values that know whether they differ.

Acting. ``delete_job`` removes the row and the job's folder, and refuses a job that is still
rendering. ``rerender`` makes a *new* job from an old one's own input copies and settings on another
backend (the old job stays as it was). Resuming is the runner's (``Runner.resume``); which jobs the
History offers to resume, and why not the others, is ``resume_refusal``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .controls import CONTROL_NAMES
from .db import Job, JobStore
from .errors import BadInput, StudioError
from .runner import Progress, RenderRequest, Runner, job_input
from .settings import Settings
from .speech.tuning import VoiceTuning
from .stages import renderer_options

RESUMABLE = ("failed", "interrupted")  # what the History offers to resume (resume_refusal)


# -- showing ------------------------------------------------------------------------------------
def work_seconds(job: Job) -> float:
    """Seconds the stages took in all (the numerator of the real-time factor)."""
    return round(sum(float(seconds) for seconds in (job.timings or {}).values()), 4)


def job_video(settings: Settings, job: Job) -> Path | None:
    """The job's deliverable if it exists inside its own folder (the only place the studio serves)."""
    if not job.video_path:
        return None
    video = Path(job.video_path)
    folder = settings.job_dir(job.id).resolve()
    if not video.is_file() or folder not in video.resolve().parents:
        return None
    return video


def job_captions(settings: Settings, job: Job) -> dict[str, str] | None:
    """The job's caption files, ``{"vtt": path, "srt": path}``, if both are inside its own folder."""
    files = {kind: job.captions.get(kind) for kind in ("vtt", "srt")} if job.captions else {}
    folder = settings.job_dir(job.id).resolve()
    if not files or not all(path and Path(path).is_file() and folder in Path(path).resolve().parents
                            for path in files.values()):
        return None
    return files


def job_details(settings: Settings, job: Job) -> dict[str, Any]:
    """One job as plain, JSON-ready data, for people (the History tab lays it out) and for API clients."""
    options = job.options or {}
    proposed, final, user = job.controls_proposed or {}, job.controls_final or {}, job.controls_user or {}
    work = work_seconds(job)
    video = job_video(settings, job)
    return {
        "job_id": job.id, "status": job.status, "kind": job.kind,
        "created_at": job.created_at, "started_at": job.started_at, "finished_at": job.finished_at,
        "persona": job.persona, "backend": job.backend,
        "inputs": {
            "text": job.text, "portrait": options.get("image_name"), "portrait_sha256": job.image_sha256,
            "audio": options.get("audio_name"), "audio_sha256": job.audio_sha256,
            "voice": options.get("voice"), "size": options.get("max_side"), "face": options.get("face"),
            "fps": options.get("fps"), "seed": options.get("seed"), "emotion_forced": options.get("emotion"),
            "controller": options.get("controller"), "llm": options.get("llm"), "llm_model": options.get("llm_model"),
            "renderer_options": renderer_options(options), "enhancer": options.get("enhancer"),
            "burn_captions": bool(options.get("burn_captions")),
            "output_format": options.get("output_format") or "as-is", "background": options.get("background"),
        },
        "controls": {name: {"user": user.get(name), "proposed": proposed.get(name), "final": final.get(name)}
                     for name in (*CONTROL_NAMES, "emotion")},
        "controls_ignored": job.controls_ignored or [],
        "controller": _controller(job),
        "emotion": {"emotion": job.emotion, "confidence": job.emotion_confidence,
                    "evidence": job.emotion_evidence or {}} if job.emotion else None,
        "error": {"message": job.error, "stage": job.error_stage} if job.error else None,
        "timings": dict(job.timings or {}), "work_s": work, "duration_s": job.duration_s,
        "video_size": job.video_size,
        "batch": {"id": job.batch_id, "row": job.batch_row} if job.batch_id else None,
        "rtf": round(work / job.duration_s, 3) if job.duration_s else None,
        "notes": list(job.notes or []),
        "video": str(video) if video else None,
        "captions": _captions(settings, job),
        "remote_id": job.remote_id,
    }


def _captions(settings: Settings, job: Job) -> dict[str, Any] | None:
    """The captions as ``job_details`` gives them: the files (when they are there), how many cues,
    where the words came from, whether they are drawn into the video."""
    files = job_captions(settings, job)
    if files is None:
        return None
    return {**files, **{key: job.captions.get(key) for key in ("cues", "source", "burned_in")}}


def _controller(job: Job) -> dict[str, Any] | None:
    """Who proposed the controls and how. The detail's ``path`` (rules, llm, llm-clamped,
    rules-fallback) is given as ``path_taken``: a dict with a "path" key reads as a file to
    ``gradio_client``, which then tries to download it."""
    if not job.controller:
        return None
    detail = dict(job.controller_detail or {})
    return {"name": job.controller, "path_taken": detail.pop("path", None), **detail}


@dataclass(frozen=True)
class ComparedField:
    """One field of two jobs side by side (a missing field and an unset one are both "")."""

    section: str  # job, inputs, controls used, controls set by you, emotion, timings (s), result
    field: str
    a: Any
    b: Any

    @property
    def differs(self) -> bool:
        return self.a != self.b


def compare_jobs(settings: Settings, a: Job, b: Job) -> list[ComparedField]:
    """Two jobs field by field, in the order of their details: settings, controls, emotion,
    timings, result."""
    left, right = _comparable(job_details(settings, a)), _comparable(job_details(settings, b))
    return [ComparedField(section, name, left.get((section, name), ""), right.get((section, name), ""))
            for section, name in dict.fromkeys([*left, *right])]


def _blank(value: Any) -> Any:
    return "" if value is None else value


def _comparable(details: dict[str, Any]) -> dict[tuple[str, str], Any]:
    inputs = details["inputs"]
    flat: dict[tuple[str, str], Any] = {("job", name): details[name] or "" for name in
                                        ("job_id", "status", "backend", "persona", "created_at")}
    for name in ("text", "audio", "portrait", "voice", "size", "seed", "controller", "llm", "enhancer",
                 "burn_captions", "output_format"):
        flat[("inputs", name)] = inputs[name] if inputs[name] is not None else ""
    for name, value in inputs["renderer_options"].items():
        flat[("inputs", name)] = value
    flat[("inputs", "portrait_sha256")] = (inputs["portrait_sha256"] or "")[:12]
    for name, values in details["controls"].items():
        flat[("controls used", name)] = _blank(values["final"])
    for name, values in details["controls"].items():
        flat[("controls set by you", name)] = _blank(values["user"])
    emotion = details["emotion"] or {}
    flat[("emotion", "emotion")] = emotion.get("emotion") or ""
    flat[("emotion", "confidence")] = _blank(emotion.get("confidence"))
    for stage, seconds in details["timings"].items():
        flat[("timings (s)", stage)] = seconds
    for name in ("work_s", "duration_s", "rtf"):
        flat[("timings (s)", name)] = _blank(details[name])
    flat[("result", "error")] = (details["error"] or {}).get("message") or ""
    return flat


# -- acting -------------------------------------------------------------------------------------
def resume_refusal(job_id: str, status: str) -> str | None:
    """Why the History will not resume a job with ``status`` (None: it will). Resuming finishes the
    same job in place, so it is for a failed or interrupted job only: a done one is rendered again
    as a new job instead, and a queued or running one is waited for."""
    if status == "done":
        return (f"job {job_id} is already done — only a failed or interrupted job can be resumed; "
                "use “Render again” for another take")
    if status not in RESUMABLE:
        return (f"job {job_id} is still {status} — only a failed or interrupted job can be resumed; "
                "wait for it to finish")
    return None


def delete_job(settings: Settings, store: JobStore, job_id: str) -> None:
    """Remove a finished job: its row (chat turns keep their text, unlinked) and its folder."""
    store.mark_orphans_interrupted()  # a job whose process died is not "running" any more
    job = store.get(job_id)
    if job.status in ("queued", "running"):
        raise BadInput(f"job {job.id} is still {job.status} (process {job.pid}); "
                       "wait for it to finish before deleting it")
    folder = settings.job_dir(job.id)
    if folder.resolve().parent != settings.jobs_dir.resolve():  # never remove anything outside jobs/
        raise BadInput(f"job id {job.id!r} does not name a folder inside {settings.jobs_dir}")
    store.delete(job.id)
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        pass  # never had one, or already removed by hand
    except OSError as error:
        raise StudioError(f"job {job.id} is deleted from the history but its folder {folder} "
                          f"could not be removed: {error.strerror or error}") from error


def rerender_request(settings: Settings, job: Job, backend: str) -> RenderRequest:
    """A request that renders ``job`` again, from its own input copies and settings, on ``backend``.

    A renderer's own options (a vendor's avatar or voice ids, SadTalker's size, pose style…; an old job's
    ``options["hosted"]`` included)
    only carry over to the same backend: they mean nothing to another one. The face enhancer does."""
    folder = settings.job_dir(job.id)
    portrait, audio = job_input(folder, "portrait"), job_input(folder, "audio")
    if portrait is None:
        raise BadInput(f"job {job.id} has no portrait of its own to render again "
                       "(it failed before its inputs were copied); start from the Render lab instead")
    if audio is None and not job.text:
        raise BadInput(f"job {job.id} has neither a script nor a recording of its own to render again")
    options = job.options or {}
    return RenderRequest(
        image=portrait, text=None if audio else job.text, audio=audio, persona=job.persona, backend=backend,
        controls=dict(job.controls_user or {}), emotion=options.get("emotion"), voice=options.get("voice"),
        voice_tuning=VoiceTuning.from_data(options.get("voice_tuning")),
        max_side=options.get("max_side"), face=options.get("face"), seed=int(options.get("seed") or 0),
        controller=options.get("controller"),
        llm=options.get("llm"), llm_model=options.get("llm_model"),
        renderer_options=renderer_options(options) if backend == job.backend else {},
        enhancer=options.get("enhancer"), burn_captions=bool(options.get("burn_captions")),
        output_format=options.get("output_format"), background=options.get("background"),
    )


def rerender(runner: Runner, job_id: str, backend: str, progress: Progress | None = None) -> Job:
    """Render ``job_id`` again on ``backend`` as a new job (returned); the old job is kept."""
    if not backend:
        raise BadInput("choose the renderer to render this job again with")
    job = runner.store.get(job_id)
    return runner.render(rerender_request(runner.settings, job, backend), progress=progress)
