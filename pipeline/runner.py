"""The stage runner: one render job from request to MP4, resumable.

``submit`` records the job and copies its inputs into the job folder; ``run`` executes the stages
of ``stages.STAGES`` in order, recording each one's wall time and what it returns; ``resume``
starts again from the first stage whose timing or outputs are missing. A ``StudioError`` fails the
job with its message; Ctrl-C (or SIGTERM, which the CLI turns into KeyboardInterrupt) leaves it
``interrupted``; any other exception fails it with a short message, the traceback going to the
job's ``job.log``. Progress is reported as ``progress(fraction 0–1, message)``.

A job that ran before (a resume, or a retry of a failed job) first gets rid of what its earlier
run left: processes that run started which still work on its folder — the encoder of a run that
was ``kill -9``'d — are stopped, one ``job.log`` line each and one progress message, and unfinished
files of dead attempts are deleted (``leftovers.py``). A job's own live run is never touched:
``resume`` refuses a job whose recorded process is alive, and nothing of a live process is stopped.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .enhance import enhancers
from .llm import llms
from .render import renderers
from .controls import check_emotion, check_user_controls
from .db import Job, JobStore, now
from .errors import BadInput, StudioError
from .formats import check_format
from .face.portrait import check_face_number
from .files import file_sha256
from .live import LIVE_KIND
from .leftovers import mark_children, remove_partials, stop_leftovers
from .settings import CONTROLLERS, MAX_SIDE_RANGE, Settings
from .speech.tuning import VoiceTuning, tuning_option
from .stages import OUTPUTS, STAGE_FUNCTIONS, STAGES, StageContext, stage_weights

Progress = Callable[[float, str], None]
log = logging.getLogger(__name__)


@dataclass
class RenderRequest:
    image: str | Path | None
    text: str | None = None
    audio: str | Path | None = None
    persona: str | None = None
    backend: str | None = None
    controls: dict = field(default_factory=dict)  # only what the user set; these always win
    emotion: str | None = None  # forced emotion, else detected
    voice: str | None = None
    voice_tuning: VoiceTuning | None = None  # the voice's speed and pitch (a persona's); None: as it is
    max_side: int | None = None
    face: int | None = None  # the face to animate in a group photo, counted from the left; None: the largest
    seed: int = 0
    controller: str | None = None  # "rules" or "llm" (default: settings.controller)
    llm: str | None = None  # backend for the LLM controller (default: settings.llm)
    llm_model: str | None = None
    # The renderer's own options, as its capabilities' option specs describe them (SadTalker: size,
    # preprocess, pose_style, batch_size; HeyGen: avatar_id, voice_id, resolution, …); checked by its
    # check_options at submit; unset ones take their defaults (the settings, a vendor's env presets)
    renderer_options: dict = field(default_factory=dict)
    # A vendor's avatar and voice ids given on their own (the CLI's --avatar-id, --vendor-voice; the
    # name scripts used before options were one dict): merged into renderer_options, which wins where
    # both set one; refused, in words saying so, for a renderer that runs here
    hosted: dict = field(default_factory=dict)
    enhancer: str | None = None  # a face enhancer run on the rendered video ("gfpgan"), or none
    burn_captions: bool = False  # the captions drawn into the video's frames too (they are always written beside it)
    output_format: str | None = None  # "as-is" (default), "1:1", "9:16" or "16:9": framed for where it is posted
    background: str | None = None  # around a framed video: "blurred" (default) or "extended"


def job_result(job: Job) -> dict:
    """What a script is told about a render job once it has finished or failed: the CLI's
    ``--json`` and the studio's ``/render`` answer (which adds a few facts of its own)."""
    return {
        "job_id": job.id, "status": job.status, "video": job.video_path, "duration_s": job.duration_s,
        **({"video_size": job.video_size} if job.video_size else {}),
        "controls": job.controls_final, "emotion": job.emotion, "timings": job.timings,
        **({"captions": job.captions} if job.captions else {}),
        **({"error": job.error} if job.error else {}), **({"notes": job.notes} if job.notes else {}),
    }


def job_input(job_dir: Path, stem: str) -> Path | None:
    """The job's own copy of an input (``input/portrait.png``, ``input/audio.mp3``), if it has one."""
    return next(iter(sorted((job_dir / "input").glob(f"{stem}.*"))), None)


def _copy_input(source: str | Path | None, job_dir: Path, stem: str) -> tuple[Path | None, str | None]:
    if source is None or not Path(source).is_file():
        return None, None
    source = Path(source)
    target = job_dir / "input" / f"{stem}{source.suffix.lower()[:8]}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target, file_sha256(target)


class Runner:
    def __init__(self, settings: Settings, store: JobStore | None = None) -> None:
        self.settings = settings
        self.store = store or JobStore(settings.db_path)

    # -- creating ---------------------------------------------------------------------------
    def submit(self, request: RenderRequest, **extra) -> Job:
        """Record a queued job with its inputs copied in. Checks that need no work happen here
        too, but a bad request still becomes a (failed) job, so nothing the user did is lost.
        ``extra``: more columns of the job row (a batch's ``batch_id`` and ``batch_row``)."""
        backend = request.backend or self.settings.renderer
        job = self.store.create(
            **extra, kind="render", persona=request.persona, backend=backend, text=request.text,
            image_path=str(request.image) if request.image else None,
            audio_path=str(request.audio) if request.audio else None,
            controls_user=dict(request.controls), pid=os.getpid(),
            options={"voice": request.voice, **tuning_option(request.voice_tuning),
                     "max_side": request.max_side or self.settings.max_side, "face": request.face,
                     "fps": self.settings.fps, "seed": request.seed, "emotion": request.emotion,
                     "controller": request.controller or self.settings.controller,
                     "llm": request.llm or self.settings.llm, "llm_model": request.llm_model,
                     "renderer_options": {**request.hosted, **request.renderer_options},
                     "enhancer": request.enhancer, "burn_captions": bool(request.burn_captions),
                     "output_format": request.output_format or "as-is", "background": request.background or "blurred",
                     "image_name": Path(request.image).name if request.image else None,
                     "audio_name": Path(request.audio).name if request.audio else None},
        )
        job_dir = self.settings.job_dir(job.id)
        job_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._check_request(request, backend)
            image, image_hash = _copy_input(request.image, job_dir, "portrait")
            audio, audio_hash = _copy_input(request.audio, job_dir, "audio")
        except StudioError as error:
            self._fail(job.id, "inputs", str(error))
            error.job_id = job.id
            raise
        self.store.update(job.id, image_path=str(image) if image else job.image_path, image_sha256=image_hash,
                          audio_path=str(audio) if audio else job.audio_path, audio_sha256=audio_hash)
        return self.store.get(job.id)

    def record_refused(self, message: str, **values) -> Job:
        """A job for a request that could not even be made (a batch row that could not be read),
        failed at once with ``message``, so it is in the history like any refused render."""
        job = self.store.create(kind="render", pid=os.getpid(), **values)
        self._fail(job.id, "inputs", message)
        return self.store.get(job.id)

    def _check_request(self, request: RenderRequest, backend: str) -> None:
        renderer = renderers.create(backend, self.settings)  # UnknownBackend names the known ones
        capabilities = renderer.capabilities(self.settings)
        if request.hosted and not capabilities.hosted:
            raise BadInput(f"the {backend} renderer runs here, not at a vendor: avatar and voice ids do not apply")
        if capabilities.hosted:  # before any work, and before anything is paid for: the key is set
            renderer.check_ready(self.settings)
        renderer.check_options({**request.hosted, **request.renderer_options}, self.settings)
        if request.enhancer is not None:
            enhancer = enhancers.create(request.enhancer, self.settings)  # UnknownBackend names the known ones
            enhancer.check_ready(self.settings)  # the package and its weights, before any work
        if request.controller is not None and request.controller not in CONTROLLERS:
            raise BadInput(f"controller must be one of {', '.join(CONTROLLERS)}, got {request.controller!r}")
        if request.llm is not None and request.llm not in llms.names():
            raise BadInput(f"unknown LLM backend {request.llm!r}; known: {', '.join(llms.names())}")
        if request.text is not None and request.audio is not None:
            raise BadInput("give either a script or an audio file, not both")
        if request.audio is None:  # a script: its voice is known and can speak at the tuning, before any work
            from .speech.tts import get_voice

            get_voice(request.voice, self.settings, VoiceTuning.from_data(request.voice_tuning))
        if request.emotion is not None:
            check_emotion(request.emotion)
        check_format(request.output_format, request.background)
        check_user_controls(request.controls)  # unknown names, no value, non-numbers, NaN/inf are BadInput
        low, high = MAX_SIDE_RANGE
        if request.max_side is not None and not low <= int(request.max_side) <= high:
            raise BadInput(f"size must be between {low} and {high} px, got {request.max_side}")
        check_face_number(request.face)  # a number past the faces found is the inputs stage's to say
        if int(request.seed) < 0:  # numpy's generators take none below 0
            raise BadInput(f"seed must be 0 or more, got {request.seed}")

    def render(self, request: RenderRequest, progress: Progress | None = None) -> Job:
        return self.dispatch(self.submit(request).id, progress=progress)

    def dispatch(self, job_id: str, progress: Progress | None = None) -> Job:
        """Run a submitted job where the settings say: here (``run``), or on the Ray cluster with
        ``AVATAR_STUDIO_EXECUTOR=ray`` (a hosted render still runs here, see ``executors``). Either
        way a failure is raised as ``run`` raises it, with the job's id."""
        if self.settings.executor == "ray":
            from .executors import run_elsewhere

            return run_elsewhere(self, job_id, progress or (lambda fraction, message: None))
        return self.run(job_id, progress=progress)

    # -- running ----------------------------------------------------------------------------
    def resume(self, job_id: str, progress: Progress | None = None, *, backend: str | None = None) -> Job:
        """Finish a failed or interrupted job from the first stage that did not finish; with
        ``backend``, on that renderer instead (its speech, analysis and controls are kept)."""
        self.store.mark_orphans_interrupted()
        job = self.store.get(job_id)
        if job.kind == LIVE_KIND:
            raise BadInput(f"job {job_id} was a reply spoken live, sentence by sentence as it was written: it cannot "
                           "be resumed — ask again, or render the reply's text in the Render lab")
        if job.status == "done":
            raise BadInput(f"job {job_id} is already done — its video is {job.video_path}")
        if job.status in ("running", "queued") and job.pid and job.pid != os.getpid():
            raise BadInput(f"job {job_id} is still running in process {job.pid}")
        if backend and backend != (job.backend or self.settings.renderer):
            self._switch_backend(job, backend)
        return self.run(job_id, progress=progress)

    def _warm_voice(self, ctx: StageContext) -> None:
        """A script's voice starts loading (in a new process, about half a second) while the inputs
        stage finds the face, on the other core. Nothing is said of a failure here: the speech
        stage meets it again and says it."""
        if ctx.text is None or ctx.audio is not None:
            return

        def load() -> None:
            from .speech.tts import get_voice

            try:
                get_voice(ctx.options.get("voice"), self.settings).load()
            except Exception:  # noqa: BLE001 — see the docstring
                pass

        # Not a daemon: a process that fails fast waits for the load to end instead of exiting while
        # onnxruntime is still building the session (which aborts the process).
        threading.Thread(target=load, name="voice-warm").start()

    def _switch_backend(self, job: Job, backend: str) -> None:
        """Point a stopped job at another renderer. That renderer checks the job's portrait first
        (the inputs stage, run now: a refusal leaves the job as it was); then what the old one
        did is forgotten — its render, and a vendor's id, kept aside as ``remote.<old>.json`` so
        nothing is polled or billed twice — and the job goes on from its render stage, keeping
        its speech, analysis, emotion and controls."""
        renderer = renderers.create(backend, self.settings)  # UnknownBackend names the known ones
        renderer.check_ready(self.settings)
        # a vendor's avatar and voice ids, or one renderer's own options, mean nothing to another
        options = {**job.options, "hosted": {}, "renderer_options": {}}
        ctx = self._context(job)
        ctx.backend, ctx.options = backend, options
        STAGE_FUNCTIONS["inputs"](ctx)
        job_dir = self.settings.job_dir(job.id)
        old = job.backend or self.settings.renderer
        if (job_dir / "remote.json").exists():
            (job_dir / "remote.json").replace(job_dir / f"remote.{old}.json")
        for name in (*OUTPUTS["render"], "render.json", *OUTPUTS["enhance"], "enhanced.mp4", *OUTPUTS["captions"],
                     *OUTPUTS["encode"]):
            (job_dir / name).unlink(missing_ok=True)
        kept = {stage: seconds for stage, seconds in job.timings.items()
                if stage not in ("render", "enhance", "captions", "encode")}
        self.store.update(job.id, backend=backend, options=options, timings=kept, remote_id=None, remote=None,
                          controls_ignored=None, video_path=None, captions=None)
        self.log(job.id, f"renderer changed from {old} to {backend}")

    def first_unfinished_stage(self, job: Job) -> str:
        job_dir = self.settings.job_dir(job.id)
        for stage in STAGES:
            if stage not in job.timings or not all((job_dir / name).exists() for name in OUTPUTS[stage]):
                return stage
        return STAGES[-1]

    def run(self, job_id: str, progress: Progress | None = None) -> Job:
        progress = progress or (lambda fraction, message: None)
        job = self.store.get(job_id)
        start = self.first_unfinished_stage(job)
        timings = {stage: job.timings[stage] for stage in STAGES[: STAGES.index(start)] if stage in job.timings}
        self.store.update(job_id, status="running", started_at=job.started_at or now(), pid=os.getpid(),
                          error=None, error_stage=None, finished_at=None, timings=timings)
        mark_children()  # what this run starts can be told apart if it is killed (leftovers.py)
        ctx = self._context(job)
        weights = stage_weights(job.options)
        done_weight = sum(weights[s] for s in STAGES[: STAGES.index(start)])
        if job.started_at:  # it ran before: clear what that run left behind first
            self._clear_leftovers(job, lambda message, at=done_weight: progress(at, message))
        if start == "inputs":
            self._warm_voice(ctx)
        for stage in STAGES[STAGES.index(start):]:
            weight = weights[stage]
            ctx.progress = lambda fraction, base=done_weight, w=weight, s=stage: progress(
                min(1.0, base + w * max(0.0, min(1.0, fraction))), s)
            progress(done_weight, stage)
            self.store.update(job_id, stage=stage)
            self.log(job_id, f"stage {stage} started")
            began = time.perf_counter()
            try:
                fields = STAGE_FUNCTIONS[stage](ctx) or {}
            except StudioError as error:
                self._fail(job_id, stage, str(error))
                error.job_id = job_id
                raise
            except KeyboardInterrupt as interrupt:
                self._finish(job_id, "interrupted", stage, f"stopped during {stage}; resume it to continue")
                interrupt.job_id = job_id
                raise
            except Exception as error:  # a bug: keep the traceback, show a readable line
                self.log(job_id, traceback.format_exc())
                message = f"unexpected error during {stage}: {type(error).__name__}: {error}"
                self._fail(job_id, stage, message)
                failure = StudioError(message)
                failure.job_id = job_id
                raise failure from error
            timings[stage] = round(time.perf_counter() - began, 4)
            self.store.update(job_id, timings=timings, **fields)
            self.log(job_id, f"stage {stage} finished in {timings[stage]:.3f} s")
            done_weight += weight
        progress(1.0, "done")
        self._finish(job_id, "done", None, None)
        return self.store.get(job_id)

    def _clear_leftovers(self, job: Job, tell: Callable[[str], None]) -> None:
        """Stop the processes an earlier run of ``job`` left working on its folder, and delete the
        unfinished files of attempts that are gone (``leftovers.py``), saying what was done."""
        job_dir = self.settings.job_dir(job.id)
        cleared = stop_leftovers(job_dir, run=job.pid)
        for leftover in cleared.stopped:
            self.log(job.id, f"stopped a leftover process of the earlier run ({leftover}): {leftover.command}")
        for leftover in cleared.still_running:
            self.log(job.id, f"could not stop a leftover process of the earlier run ({leftover}): {leftover.command}")
        removed = remove_partials(job_dir)
        if removed:
            self.log(job.id, f"removed unfinished files of the earlier run: {', '.join(map(str, removed))}")
        if cleared.message:
            tell(cleared.message)

    def _context(self, job: Job) -> StageContext:
        job_dir = self.settings.job_dir(job.id)
        audio = job_input(job_dir, "audio")
        if audio is None and job.audio_path:
            audio = Path(job.audio_path)  # never copied because it was missing: the inputs stage says so
        return StageContext(job_dir=job_dir, settings=self.settings, text=job.text,
                            image=job_input(job_dir, "portrait"), audio=audio,
                            backend=job.backend or self.settings.renderer, options=job.options,
                            controls_user=job.controls_user,
                            # hosted renders write the vendor's id the moment they get it (stages stay DB-free)
                            record=lambda **fields: self.store.update(job.id, **fields))

    def _fail(self, job_id: str, stage: str, message: str) -> None:
        self._finish(job_id, "failed", stage, message)

    def _finish(self, job_id: str, status: str, stage: str | None, message: str | None) -> None:
        self.store.update(job_id, status=status, finished_at=now(), error=message, error_stage=stage)
        self.log(job_id, f"job {status}" + (f" in {stage}: {message}" if message else ""))

    def log(self, job_id: str, line: str) -> None:
        """One line in the job's ``job.log``."""
        append_log(self.settings.job_dir(job_id), line)


def append_log(job_dir: Path, line: str) -> None:
    """One line, time-stamped, at the end of a job folder's ``job.log``."""
    job_dir.mkdir(parents=True, exist_ok=True)
    with open(job_dir / "job.log", "a", encoding="utf-8") as handle:
        handle.write(f"{now()} {line}\n")
