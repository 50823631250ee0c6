"""The local executor: worker processes on this machine (the default; one per core).

Each worker is a process of its own (started fresh, ``spawn``), connected by a pipe: it takes one
job at a time (``worker.perform``) in the job folder itself and sends its messages back. Workers
are started as jobs need them, up to the batch's concurrency, and kept for the next job, so what
one loaded stays loaded. A worker dies with its driver (Linux's parent-death signal), so a killed
batch leaves no worker rendering on its own; one that dies mid-job is a ``WorkerDied`` here and is
replaced by a new one for the next job.
"""

from __future__ import annotations

import multiprocessing
import signal
from typing import Any, Callable

from . import Executor, WorkerDied, WorkerPool

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: a worker notices its driver is gone at its next message (a broken pipe)


def _serve(conn) -> None:
    """A worker process's loop: one job at a time until the driver closes the pipe."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle: it stops the workers
    from .worker import perform

    def send(kind: str, payload: Any) -> None:
        conn.send((kind, payload))

    while True:
        try:
            work = conn.recv()
        except (EOFError, OSError):
            return
        if work is None:
            return
        try:
            result = perform(work, send)
        except BaseException as error:  # noqa: BLE001 — told to the driver, which fails the job
            send("crashed", f"{type(error).__name__}: {error}")
            raise
        send("result", result)


class _Worker:
    def __init__(self, context) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), name="avatar-studio-worker", daemon=True)
        self.process.start()
        child.close()

    def run(self, work, on_message: Callable[[str, Any], None]) -> dict:
        try:
            self.conn.send(work)
            while True:
                kind, payload = self.conn.recv()
                if kind == "result":
                    return payload
                if kind == "crashed":
                    raise WorkerDied(f"the worker stopped with {payload}")
                on_message(kind, payload)
        except (EOFError, OSError, BrokenPipeError):
            self.process.join(timeout=2)
            code = self.process.exitcode
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            raise WorkerDied(f"worker process {self.process.pid} ended ({how})") from None

    def close(self, *, kill: bool = False) -> None:
        if kill and self.process.is_alive():
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
        self.conn.close()


class LocalExecutor(Executor):
    name = "local"
    same_machine = True

    def __init__(self, settings, concurrency: int) -> None:
        super().__init__(settings, concurrency)
        context = multiprocessing.get_context("spawn")
        self._pool = WorkerPool(lambda kind: _Worker(context))

    def perform(self, work, on_message, *, resources: dict) -> dict:
        worker = self._pool.take()
        try:
            result = worker.run(work, on_message)
        except WorkerDied:
            self._pool.drop(worker)
            worker.close(kill=True)
            raise
        self._pool.give_back(worker)
        return result

    def stop(self) -> None:
        for worker in self._pool.workers():
            if worker.process.is_alive():
                worker.process.kill()

    def close(self) -> None:
        for worker in self._pool.workers(forget=True):
            worker.close()
