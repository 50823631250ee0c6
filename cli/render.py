"""``render``, ``resume`` and ``jobs``: render jobs from the command line.

``render --option KEY=VALUE`` (a local renderer's own options, e.g. SadTalker's size) and
``--enhance NAME`` (a face enhancer) only shape the request: whether the renderer takes that
option, whether the enhancer exists and is installed, is the runner's check at submit, so a
refused request is still a failed job in the history, with the same message the studio shows.
``--out`` is checked before any job is made: where the video goes is not part of the job.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

from pipeline.controls import parse_assignments
from pipeline.db import Job, JobStore
from pipeline.errors import BadInput, StudioError
from pipeline.runner import RenderRequest, Runner, job_result
from pipeline.settings import resolve

from .output import ProgressBar, fail


def check_out(out: str | None) -> Path | None:
    """Where ``--out`` will copy the finished video, checked before any work: a file name (not a
    folder) in a folder that exists — made here when missing — and that this user can write in."""
    if not out:
        return None
    path = Path(out).expanduser()
    if path.is_dir():
        raise BadInput(f"--out {out} is a folder; give a file name, e.g. {path / 'clip.mp4'}")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise BadInput(f"--out: cannot make the folder {folder}: part of that path is a file, not a folder") from None
    except OSError as error:
        raise BadInput(f"--out: cannot make the folder {folder} ({error.strerror or type(error).__name__})") from None
    try:  # the real test: permissions, read-only disks and special file systems all fail here
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as error:
        raise BadInput(f"--out: cannot write in {folder} ({error.strerror or type(error).__name__})") from None
    return path


def _copy_out(job: Job, out: Path) -> None:
    """The video to ``out``, and its captions beside it under the same name (``clip.vtt``, ``clip.srt``),
    where players that open ``clip.mp4`` look for them."""
    copies = [(job.video_path, out), *((job.captions[kind], out.with_suffix(f".{kind}"))
                                       for kind in ("vtt", "srt") if job.captions and job.captions.get(kind))]
    try:
        for source, target in copies:
            shutil.copyfile(source, target)
    except OSError as error:  # the disk filled up, the folder went away: the video itself is safe
        raise StudioError(f"the video is done ({job.video_path}) but copying it to {out} failed "
                          f"({error.strerror or type(error).__name__})") from None


def _run_job(runner: Runner, action, as_json: bool, out: Path | None = None) -> int:
    bar = ProgressBar()
    try:
        job = action(bar)
        if out:
            _copy_out(job, out)
    except StudioError as error:
        bar.close()
        job_id = getattr(error, "job_id", None)
        if as_json and job_id:
            print(json.dumps(job_result(runner.store.get(job_id))))
        return fail(error)
    except KeyboardInterrupt as interrupt:
        bar.close()
        job_id = getattr(interrupt, "job_id", "JOB_ID")
        print(f"interrupted: continue with `python app.py resume {job_id}`", file=sys.stderr)
        return 130
    bar.close()
    if as_json:
        print(json.dumps(job_result(job)))
    else:
        for note in job.notes:
            print(f"note: {note}")
        print(f"done: job {job.id} → {out or job.video_path} ({job.duration_s:.2f} s, "
              f"emotion {job.emotion}, {sum(job.timings.values()):.1f} s to render)")
    return 0


def parse_options(items: list[str] | None) -> dict[str, int | float | str]:
    """``["size=512", "preprocess=full"]`` (``--option``) → ``{"size": 512, "preprocess": "full"}``:
    numbers become numbers, anything else stays text for the renderer to judge."""
    options: dict[str, int | float | str] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key or not raw:
            raise BadInput(f"--option expects KEY=VALUE, e.g. --option size=512; got {item!r}")
        options[key] = _number_or_text(raw)
    return options


def _number_or_text(raw: str) -> int | float | str:
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        number = float(raw)
    except ValueError:
        return raw
    return number if math.isfinite(number) else raw  # "nan" and "inf" are words here, not numbers


def cmd_render(args) -> int:
    settings = resolve()
    out = check_out(args.out)  # where the video goes is not part of the job: refused before one exists
    runner = Runner(settings)
    runner.store.mark_orphans_interrupted()
    try:
        controls = parse_assignments(args.set)
        renderer_options = parse_options(args.option)
        image, voice, emotion = args.image, args.voice, args.emotion
        tuning = None  # the voice as it is, unless a persona tunes it
        if args.persona:  # the persona fills in what the command line left out
            from personas import PersonaStore

            store = PersonaStore(settings)
            defaults = store.render_defaults(store.get(args.persona))
            image = image or defaults.portrait
            voice = voice or defaults.voice
            emotion = emotion or defaults.emotion
            tuning = defaults.voice_tuning  # the persona's speed and pitch, with its voice or the one asked for
            controls = {**defaults.controls, **controls}
        if image is None:
            raise BadInput("give a portrait with --image, or a --persona that has one")
        request = RenderRequest(
            image=image, text=args.text, audio=args.audio, persona=args.persona, backend=args.backend,
            controls=controls, emotion=emotion, voice=voice, voice_tuning=tuning, max_side=args.size, face=args.face,
            seed=args.seed, controller=args.controller, llm=args.llm,
            hosted={k: v for k, v in {"avatar_id": args.avatar_id, "voice_id": args.vendor_voice}.items() if v},
            renderer_options=renderer_options, enhancer=args.enhance, burn_captions=args.burn_captions,
            output_format=args.output_format, background=args.background,
        )
    except StudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return _run_job(runner, lambda bar: runner.render(request, progress=bar), args.json, out)


def cmd_resume(args) -> int:
    runner = Runner(resolve())
    return _run_job(runner, lambda bar: runner.resume(args.job_id, progress=bar, backend=args.backend), args.json)


def cmd_jobs(args) -> int:
    store = JobStore(resolve().db_path)
    store.mark_orphans_interrupted()
    jobs = store.list(limit=args.limit, status=args.status)
    if args.json:
        print(json.dumps([job.summary() for job in jobs]))
        return 0
    if not jobs:
        print("no jobs yet — try: python app.py render --image assets/astronaut.png --text \"Hello!\"")
    for job in jobs:
        what = (job.text or job.options.get("audio_name") or "").replace("\n", " ")[:40]
        result = job.video_path if job.status == "done" else (job.error or "")
        print(f"{job.id}  {job.status:<11} {job.backend or '':<9} {what!r:<44} {result}")
    return 0
