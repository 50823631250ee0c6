"""Executors: where a batch's render jobs run, behind one small interface.

``local`` (``local.py``) runs them in worker processes on this machine, ``ray`` (``ray.py``) in
Ray actors across a cluster. Either way the worker runs the job's stages (``worker.perform``) and
sends what changed back; ``Executor.run_job``, here in the driver, records it in the studio's
database, which workers never open. So the history stays the one record wherever a job ran.

A worker keeps its process between jobs, so what it loads once (the voice, the face mesh, the
local LLM) stays loaded for the next job it gets.

The messages a worker sends while a job runs: ``("started", {"pid", "host"})`` once,
``("fields", {...})`` for each change of the job row (the runner's ``store.update``),
``("progress", (fraction, message))``; then its result: ``{"files": {name: bytes} | None,
"log": str}``. ``files`` is the job folder's new and changed files when it worked on a copy of the
folder (Ray: shipped both ways through the object store), None when it worked in the folder
itself (local). A worker that dies mid-job raises ``WorkerDied`` here.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

from ..db import JobStore
from ..errors import BadInput, StudioError
from ..settings import Settings

EXECUTORS = ("local", "ray")
Progress = Callable[[float, str], None]


class WorkerDied(Exception):
    """The process running a job went away before it answered (killed, crashed, its node lost)."""


class WorkerPool:
    """An executor's workers, kept between jobs: a job takes an idle worker of its kind (the newest
    first) or a new one (``make(kind)``) and gives it back when done; one that died is dropped."""

    def __init__(self, make: Callable[[str], Any]) -> None:
        self._make = make
        self._idle: dict[str, list] = {}
        self._all: list = []
        self._lock = threading.Lock()

    def take(self, kind: str = "") -> Any:
        with self._lock:
            idle = self._idle.get(kind)
            if idle:
                return idle.pop()
        worker = self._make(kind)
        with self._lock:
            self._all.append(worker)
        return worker

    def give_back(self, worker: Any, kind: str = "") -> None:
        with self._lock:
            self._idle.setdefault(kind, []).append(worker)

    def drop(self, worker: Any) -> None:
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)

    def workers(self, *, forget: bool = False) -> list:
        """Every worker made and not dropped; with ``forget``, the pool is emptied too."""
        with self._lock:
            workers = list(self._all)
            if forget:
                self._all, self._idle = [], {}
        return workers


class Executor:
    name = ""
    same_machine = True  # workers share this machine (and its process ids) and work in the job folder itself

    def __init__(self, settings: Settings, concurrency: int) -> None:
        self.settings = settings
        self.concurrency = concurrency

    # -- what each executor provides ---------------------------------------------------------
    def perform(self, work, on_message: Callable[[str, Any], None], *, resources: dict) -> dict:
        """Run ``work`` on a free worker, passing its messages to ``on_message``; its result.
        Raises ``WorkerDied`` when the worker goes away. Called from up to ``concurrency`` threads."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop every worker now (the batch was stopped); their jobs are left to be resumed."""

    def close(self) -> None:
        """Let the workers go (the batch is over)."""

    # -- the driver's side of one job --------------------------------------------------------
    def run_job(self, job_id: str, store: JobStore, *, progress: Progress) -> None:
        from ..runner import append_log
        from .worker import Work, job_files, resources_for, write_files

        job = store.get(job_id)
        job_dir = self.settings.job_dir(job_id)
        if not self.same_machine:
            store.update(job_id, pid=os.getpid())  # a worker's process id means nothing on this machine
        work = Work(job=job, settings=shippable(self.settings), job_dir=str(job_dir),
                    files=None if self.same_machine else job_files(job_dir))
        held: dict = {}

        def on_message(kind: str, payload: Any) -> None:
            if kind == "fields":
                fields = dict(payload)
                if not self.same_machine:
                    fields.pop("pid", None)
                if fields.get("status") == "done" and work.files is not None:
                    held.update(fields)  # recorded once the files it names are in the job folder
                    return
                store.update(job_id, **fields)
            elif kind == "progress":
                progress(*payload)
            elif kind == "started":
                append_log(job_dir, f"running on {self.name} worker pid {payload['pid']} on {payload['host']}")

        result = self.perform(work, on_message, resources=resources_for(job, self.settings))
        if result.get("files"):
            write_files(job_dir, result["files"])
        if result.get("log"):
            with open(job_dir / "job.log", "a", encoding="utf-8") as handle:
                handle.write(result["log"])
        if held:
            store.update(job_id, **held)


def shippable(settings: Settings) -> Settings:
    """The settings a worker is sent: without keys or the environment (a worker reads its own)."""
    from dataclasses import replace

    return replace(settings, keys={}, env={})


def create_executor(name: str, settings: Settings, concurrency: int) -> Executor:
    if name == "local":
        from .local import LocalExecutor

        return LocalExecutor(settings, concurrency)
    if name == "ray":
        from .ray import RayExecutor

        return RayExecutor(settings, concurrency)
    raise BadInput(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")


def run_with_retry(engine: Executor, runner, job_id: str, *, progress: Progress,
                   stop: threading.Event | None = None) -> None:
    """Run a job on ``engine``: a worker that dies has its job run once more (from the stage it
    reached), a second death fails the job with the reason; an executor that cannot run it (a
    cluster without the GPU it needs) fails it with that. Hosted renders are not for this: they run
    where their vendor id is recorded (``run_here_or_there``)."""
    from ..db import now

    store = runner.store
    for attempt in (1, 2):
        try:
            engine.run_job(job_id, store, progress=progress)
            return
        except StudioError as error:
            store.update(job_id, status="failed", finished_at=now(), error=str(error), error_stage="inputs")
            runner.log(job_id, f"job failed: {error}")
            return
        except WorkerDied as died:
            if stop is not None and stop.is_set():
                return
            runner.log(job_id, f"the worker running this job died ({died})")
            if attempt == 2:
                stage = store.get(job_id).stage
                store.update(job_id, status="failed", finished_at=now(), error_stage=stage,
                             error=f"the worker running it died twice; the last time: {died}")
                return
            runner.log(job_id, "running it once more, from the stage it reached")


def job_capabilities(job, settings: Settings):
    """What the job's renderer can do, or None for a renderer that does not exist (the inputs stage
    says so, wherever the job runs)."""
    from ..render import renderers

    try:
        return renderers.create(job.backend or settings.renderer, settings).capabilities(settings)
    except StudioError:
        return None


def is_hosted(job, settings: Settings) -> bool:
    capabilities = job_capabilities(job, settings)
    return bool(capabilities and capabilities.hosted)


_shared: dict[str, Executor] = {}
_shared_lock = threading.Lock()


def shared_executor(settings: Settings) -> Executor:
    """The one Ray executor of this process (the studio sends every render to it when
    ``AVATAR_STUDIO_EXECUTOR=ray``): connected on first use, its actors kept for later renders.
    Its concurrency is the cluster's: actors wait in Ray's queue for a free CPU or GPU."""
    with _shared_lock:
        if "ray" not in _shared:
            _shared["ray"] = create_executor("ray", settings, concurrency=0)
        return _shared["ray"]


def run_elsewhere(runner, job_id: str, progress: Progress):
    """A submitted job run on the shared Ray executor (or here, when it is a hosted render); its
    finished row, or the job's failure raised as a ``StudioError`` carrying its id, as
    ``Runner.run`` does."""
    job = runner.store.get(job_id)
    if is_hosted(job, runner.settings):
        return runner.run(job_id, progress=progress)
    run_with_retry(shared_executor(runner.settings), runner, job_id, progress=progress)
    job = runner.store.get(job_id)
    if job.status != "done":
        failure = StudioError(job.error or f"the job ended {job.status}")
        failure.job_id = job_id
        raise failure
    progress(1.0, "done")
    return job
