"""The Ray executor: a batch's jobs on Ray actors, on this machine or across a cluster.

**Connecting.** ``RAY_ADDRESS`` says where: a running cluster's address (``head-host:6379``; Ray
Client's ``ray://head-host:10001`` too), or ``local`` to start Ray on this machine for this batch.
A cluster's address is tried first (``CONNECT_TIMEOUT_S``), so an unreachable one is an error in
seconds, before anything is queued. Ray's token authentication: where this machine has a token
(``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, or ``~/.ray/auth_token`` as ``ray start`` makes it)
and ``RAY_AUTH_MODE`` is unset, the token is used for the cluster named by address too. Ray
itself is optional: without it, one line names ``bash scripts/setup.sh --scale``.

**Workers.** ``RenderWorker`` actors, made as jobs need them, up to the batch's concurrency, and
kept for later jobs, so models stay loaded in them (one actor is one process on some node). An
actor declares what it needs: one CPU for the embedded renderer; one GPU for a renderer that needs
one (SadTalker) and for a face enhancer when the cluster has GPUs (without, a face enhancer runs
on a CPU, and a SadTalker row fails saying the cluster has no GPU). Every node needs Avatar
Studio installed at the same path as here (``setup.sh --scale``): actors find its code through
``PYTHONPATH``.

**Data.** A job's folder travels through Ray's object store: the job's files go to the actor with
the call, and the files it made come back with its result, so nodes share no disk. The job's
stage and progress come back as they happen; its ``job.log`` lines arrive with its result. Keys never
travel: an actor reads its own node's environment and ``.env``.

**Progress and faults.** An actor's job is a streaming generator: each message (progress, a
change of the job row) reaches the driver as it is made, and the driver records it. An actor that
dies (its process killed, its node lost) ends the stream with an error: ``WorkerDied``, and the
batch runs the job once more on another actor. Actors are not restarted by Ray (``max_restarts=0``):
the batch decides what is retried.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
from typing import Any

from ..errors import BadInput, StudioError
from ..settings import PROJECT_ROOT
from . import Executor, WorkerDied, WorkerPool

CONNECT_TIMEOUT_S = 5.0
INSTALL_HINT = "Ray is not installed: bash scripts/setup.sh --scale installs it"


def import_ray():
    try:
        import ray
    except ImportError:
        raise StudioError(INSTALL_HINT) from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail in seconds, in words, when nothing answers at a cluster's address."""
    target = address.split("://", 1)[-1].rstrip("/")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise BadInput(f"RAY_ADDRESS {address!r} is not an address: give host:port (e.g. 10.0.0.5:6379), "
                       "or 'local' to start Ray on this machine")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        raise StudioError(f"the Ray cluster at RAY_ADDRESS {address} is unreachable "
                          f"({error.strerror or type(error).__name__}); nothing was queued") from None


def connect(environ=None) -> Any:
    """Ray, initialised for this process (see the module docstring)."""
    env = os.environ if environ is None else environ
    address = (env.get("RAY_ADDRESS") or "").strip()
    if address != "local" and address:
        _check_reachable(address)
        if "RAY_AUTH_MODE" not in os.environ and _token_available(env):
            # Ray turns its token authentication on for a cluster it finds itself, never for one named
            # by address; a cluster `ray start` began here while this token existed expects it. (Read
            # when Ray's core loads: set before the first import.)
            os.environ["RAY_AUTH_MODE"] = "token"
    ray = import_ray()
    if ray.is_initialized():
        return ray
    if not address:
        raise BadInput("the ray executor needs RAY_ADDRESS: a Ray cluster's address (head-host:6379), or 'local' "
                       "to start Ray on this machine")
    runtime_env = {"env_vars": {"PYTHONPATH": str(PROJECT_ROOT)}}
    kwargs: dict[str, Any] = dict(address=address, runtime_env=runtime_env, log_to_driver=False,
                                  configure_logging=False)
    if address == "local":
        kwargs.update(include_dashboard=False)
    try:
        ray.init(**kwargs)
    except Exception as error:  # noqa: BLE001 — Ray's own errors, said in one line
        raise StudioError(f"could not connect to Ray at {address}: {type(error).__name__}: {error}") from None
    return ray


def _token_available(env) -> bool:
    from pathlib import Path

    if env.get("RAY_AUTH_TOKEN"):
        return True
    path = env.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    return Path(path).is_file()


class RenderWorker:
    """One render worker process (a Ray actor); it keeps what it loaded between jobs."""

    def perform(self, work):
        from .worker import perform

        messages: queue.Queue = queue.Queue()

        def run() -> None:
            try:
                messages.put(("result", perform(work, lambda kind, payload: messages.put((kind, payload)))))
            except BaseException as error:  # noqa: BLE001 — told to the driver
                messages.put(("crashed", f"{type(error).__name__}: {error}"))

        threading.Thread(target=run, name="render", daemon=True).start()
        while True:
            item = messages.get()
            yield item
            if item[0] in ("result", "crashed"):
                return


_remote_worker = None


def _worker_class(ray):
    global _remote_worker
    if _remote_worker is None:
        _remote_worker = ray.remote(max_restarts=0, max_task_retries=0)(RenderWorker)
    return _remote_worker


class RayExecutor(Executor):
    name = "ray"
    same_machine = False

    def __init__(self, settings, concurrency: int) -> None:
        super().__init__(settings, concurrency)
        self.ray = connect()
        self._gpus = float(self.ray.cluster_resources().get("GPU", 0))
        self._pool = WorkerPool(self._new_actor)

    def _kind(self, resources: dict) -> str:
        if resources.get("gpu"):
            if not self._gpus:
                raise StudioError("this job's renderer needs a GPU and the Ray cluster has none")
            return "gpu"
        return "gpu" if resources.get("enhancer") and self._gpus else "cpu"

    def _new_actor(self, kind: str):
        options = {"num_cpus": 1, "num_gpus": 1} if kind == "gpu" else {"num_cpus": 1}
        return _worker_class(self.ray).options(**options).remote()

    def perform(self, work, on_message, *, resources: dict) -> dict:
        ray = self.ray
        kind = self._kind(resources)
        actor = self._pool.take(kind)
        try:
            for ref in actor.perform.options(num_returns="streaming").remote(work):
                item_kind, payload = ray.get(ref)
                if item_kind == "result":
                    self._pool.give_back(actor, kind)
                    return payload
                if item_kind == "crashed":
                    raise WorkerDied(f"the worker stopped with {payload}")
                on_message(item_kind, payload)
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                ray.exceptions.ObjectLostError, ray.exceptions.OwnerDiedError) as error:
            self._forget(actor)
            raise WorkerDied(_first_line(error)) from None
        except WorkerDied:
            self._forget(actor)
            raise
        self._forget(actor)
        raise WorkerDied("the worker's stream ended without a result")

    def _forget(self, actor) -> None:
        self._pool.drop(actor)
        self._kill(actor)

    def _kill(self, actor) -> None:
        try:
            self.ray.kill(actor)
        except Exception:  # noqa: BLE001 — already gone
            pass

    def stop(self) -> None:
        for actor in self._pool.workers(forget=True):
            self._kill(actor)

    def close(self) -> None:
        self.stop()


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = next((line.strip() for line in text if line.strip()), type(error).__name__)
    return f"{type(error).__name__}: {line[:300]}"
