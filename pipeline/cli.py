"""The command-line commands behind ``app.py`` (parsing lives there).

Human output goes to stdout, the progress bar to stderr, so ``--json`` output stays one clean JSON
object. A ``StudioError`` becomes one ``error: …`` line on stderr and exit code 2 (bad input) or 1.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from .controls import parse_assignments
from .errors import BadInput, StudioError
from .jobs import Job, JobStore
from .runner import RenderRequest, Runner
from .settings import resolve


def raise_interrupt(signum, frame):  # SIGTERM → the same clean "interrupted" path as Ctrl-C
    raise KeyboardInterrupt


def render_result(job: Job) -> dict:
    return {
        "job_id": job.id, "status": job.status, "video": job.video_path, "duration_s": job.duration_s,
        "controls": job.controls_final, "emotion": job.emotion, "timings": job.timings,
        **({"error": job.error} if job.error else {}), **({"notes": job.notes} if job.notes else {}),
    }


class ProgressBar:
    """A tqdm bar on stderr showing the whole job's progress and the current stage."""

    def __init__(self) -> None:
        from tqdm import tqdm

        # Only on a terminal: a script reading stderr gets nothing but the one error line.
        self._bar = tqdm(total=100, file=sys.stderr, unit="%", leave=False, disable=not sys.stderr.isatty(),
                         bar_format="{desc:<10} {bar} {n:.0f}% [{elapsed}]")

    def __call__(self, fraction: float, message: str) -> None:
        self._bar.set_description_str(message, refresh=False)
        self._bar.n = round(fraction * 100, 1)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def _run_job(runner: Runner, action, as_json: bool, out: str | None = None) -> int:
    bar = ProgressBar()
    try:
        job = action(bar)
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(job.video_path, out)
    except StudioError as error:
        bar.close()
        job_id = getattr(error, "job_id", None)
        if as_json and job_id:
            print(json.dumps(render_result(runner.store.get(job_id))))
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, BadInput) else 1
    except KeyboardInterrupt as interrupt:
        bar.close()
        job_id = getattr(interrupt, "job_id", "JOB_ID")
        print(f"interrupted: continue with `python app.py resume {job_id}`", file=sys.stderr)
        return 130
    bar.close()
    if as_json:
        print(json.dumps(render_result(job)))
    else:
        for note in job.notes:
            print(f"note: {note}")
        print(f"done: job {job.id} → {out or job.video_path} ({job.duration_s:.2f} s, "
              f"emotion {job.emotion}, {sum(job.timings.values()):.1f} s to render)")
    return 0


def cmd_render(args) -> int:
    settings = resolve()
    runner = Runner(settings)
    runner.store.mark_orphans_interrupted()
    try:
        request = RenderRequest(
            image=args.image, text=args.text, audio=args.audio, persona=args.persona, backend=args.backend,
            controls=parse_assignments(args.set), emotion=args.emotion, voice=args.voice,
            max_side=args.size, seed=args.seed,
        )
    except StudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return _run_job(runner, lambda bar: runner.render(request, progress=bar), args.json, args.out)


def cmd_resume(args) -> int:
    runner = Runner(resolve())
    return _run_job(runner, lambda bar: runner.resume(args.job_id, progress=bar), args.json)


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


def main(args) -> int:
    commands = {"render": cmd_render, "jobs": cmd_jobs, "resume": cmd_resume}
    try:
        return commands[args.command](args)
    except StudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, BadInput) else 1
