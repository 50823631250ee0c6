"""The worker's side of a job: run its stages with no database, sending each change back.

``perform(work, send)`` runs in a worker process (a local worker or a Ray actor). The job's
stages run through the ordinary ``Runner`` with a ``WorkerStore`` in place of the database: the
store keeps the job row in memory and sends every change to the driver, which records it.

**Files.** With ``work.files`` None the worker works in the job folder itself (same machine).
Otherwise it writes the shipped files into a folder of its own, runs there and returns the new
and changed files; paths it reports (the video, the captions) are rewritten to the driver's job
folder, where those files will be. Unfinished files (``*.partial-*``) never travel.

**Settings.** The driver's settings come without keys or environment; the worker adds its own
(its environment and ``.env``), so a key is never sent anywhere.
"""

from __future__ import annotations

import copy
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from ..db import Job
from ..errors import StudioError
from ..settings import Settings, resolve

PROGRESS_EVERY_S = 0.25  # a worker reports progress at most this often (and at every stage)
Send = Callable[[str, Any], None]


@dataclass
class Work:
    job: Job
    settings: Settings
    job_dir: str  # the driver's job folder
    files: dict[str, bytes] | None = None  # the job folder's files, when the worker cannot see it


def job_files(job_dir: Path) -> dict[str, bytes]:
    """Every finished file of a job folder, by its path inside the folder."""
    return {str(path.relative_to(job_dir)): path.read_bytes() for path in sorted(job_dir.rglob("*"))
            if path.is_file() and ".partial-" not in path.name and path.name != "job.log"}


def write_files(job_dir: Path, files: dict[str, bytes]) -> None:
    """Files a worker made, put in place whole (each written aside, then renamed)."""
    root = job_dir.resolve()
    for name, data in files.items():
        target = (job_dir / name).resolve()
        if root not in target.parents:
            raise StudioError(f"a worker sent a file outside the job folder: {name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        aside = target.with_name(f"{target.name}.arriving-{os.getpid()}")
        aside.write_bytes(data)
        aside.replace(target)


def resources_for(job: Job, settings: Settings) -> dict:
    """What a job's worker needs: a GPU for a renderer that needs one or a face enhancer, else a CPU."""
    from . import job_capabilities

    capabilities = job_capabilities(job, settings)
    return {"gpu": bool(capabilities and capabilities.needs_gpu), "enhancer": bool(job.options.get("enhancer"))}


class WorkerStore:
    """The runner's job store, in a worker: the row in memory, each change sent to the driver."""

    def __init__(self, job: Job, send: Send, translate: Callable[[Any], Any]) -> None:
        self.job = copy.deepcopy(job)
        self._send = send
        self._translate = translate

    def get(self, job_id: str) -> Job:
        return copy.deepcopy(self.job)

    def update(self, job_id: str, **values: Any) -> None:
        if not values:
            return
        self.job = replace(self.job, **values)
        self._send("fields", self._translate(values))


def _translator(old: str, new: str) -> Callable[[Any], Any]:
    def translate(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(old):
            return new + value[len(old):]
        if isinstance(value, dict):
            return {k: translate(v) for k, v in value.items()}
        if isinstance(value, list):
            return [translate(v) for v in value]
        return value
    return translate


def worker_settings(shipped: Settings, home: Path | None = None) -> Settings:
    """The driver's settings with this worker's own keys and environment (and, working on a copy of
    the job folder, a home of its own; models are still cached where this machine caches them)."""
    own = resolve()
    settings = replace(shipped, keys=own.keys, env=own.env)
    if home is not None:
        settings = replace(settings, home=home, cache_dir=own.cache)
    return settings


def perform(work: Work, send: Send) -> dict:
    """Run ``work``'s job to its end (done, failed or interrupted are all recorded through ``send``)."""
    from ..runner import Runner

    send("started", {"pid": os.getpid(), "host": socket.gethostname()})
    job = work.job
    scratch = None
    if work.files is None:
        settings = worker_settings(work.settings)
        job_dir = Path(work.job_dir)
        translate: Callable[[Any], Any] = lambda value: value  # noqa: E731
    else:
        scratch = Path(tempfile.mkdtemp(prefix="avatar-studio-worker-"))
        settings = worker_settings(work.settings, home=scratch)
        job_dir = settings.job_dir(job.id)
        write_files(job_dir, work.files)
        translate = _translator(str(job_dir), work.job_dir)
    log_start = (job_dir / "job.log").stat().st_size if (job_dir / "job.log").exists() else 0
    last = [0.0, ""]

    def progress(fraction: float, message: str) -> None:
        moment = time.monotonic()
        if message != last[1] or moment - last[0] >= PROGRESS_EVERY_S or fraction >= 1.0:
            last[0], last[1] = moment, message
            send("progress", (fraction, message))

    try:
        Runner(settings, WorkerStore(job, send, translate)).run(job.id, progress=progress)
    except StudioError:
        pass  # recorded: the runner sent the job's failure
    if scratch is None:
        return {"files": None, "log": ""}
    try:
        made = job_files(job_dir)
        files = {name: data for name, data in made.items() if work.files.get(name) != data}
        log_path = job_dir / "job.log"
        log = log_path.read_text(encoding="utf-8")[log_start:] if log_path.exists() else ""
        return {"files": files, "log": log}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
