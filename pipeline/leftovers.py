"""What a killed run of a job left behind, cleared before the job runs again.

A render is one Python process and the ffmpeg processes it starts. ``kill -9`` (or a crash, or an
out-of-memory kill) of the Python process does not stop its children: an encoder goes on reading
its input and writing its output for as long as it has work. Two things keep such a leftover from
spoiling the next attempt, and this module is the second:

1. Every unfinished file has a name of its own per attempt (``files.partial_path``), and every
   media stage decodes what it made before it is accepted (``media.verify_video``). A leftover
   encoder only ever writes a file that no later attempt reads.
2. Before a job runs again (``Runner.run``), ``stop_leftovers`` finds the processes of the earlier
   run and stops them, so they neither compete for the CPU nor finish minutes later; then
   ``remove_partials`` deletes the unfinished files of attempts whose process is gone.

**Finding them.** A leftover is a process that the earlier run started and that works on this job.
Both are read from ``/proc``, so nothing else is ever stopped — not a player showing ``render.mp4``,
not an editor or a ``tail -f`` on ``job.log``:

- *started by the earlier run*: ``mark_children`` (``Runner.run`` calls it) puts this process's id
  in the environment as ``AVATAR_STUDIO_RUN_PID``, so every process started from then on — ffmpeg,
  a face enhancer's tool, their children — carries it (``/proc/<pid>/environ``); a leftover carries
  the id the job row recorded for its earlier run. (A backend that starts a process with an
  environment of its own must pass this variable on for its processes to be found.)
- *works on this job*: its command line names a path inside the job folder (ffmpeg's inputs and
  outputs always do), so the leftovers of another job of the same dead process are left to
  that job's resume.

This process, its ancestors and its descendants are never leftovers, and neither is anything of a
run that is still alive (``Runner.resume`` refuses a job whose recorded process is alive).

**Stopping them.** SIGTERM first (ffmpeg then closes its file and exits), ``TERM_WAIT_S`` to go;
then SIGKILL, ``KILL_WAIT_S`` more. A process counts as gone once ``/proc`` has no entry for it,
once it is a zombie (waiting to be reaped by its new parent — where a container's init never
reaps, forever), or once its pid belongs to a process started at another time. One that is still
there after all that (stuck in the kernel) is reported, and the run goes on: by point 1 it cannot
spoil the new attempt.

**Elsewhere than Linux** there is no ``/proc``: nothing is found and nothing is stopped, and an
encoder left running finishes on its own. That costs CPU time, not correctness (point 1).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from .files import PARTIAL_MARK, partial_owner

PROC = Path("/proc")
RUN_VARIABLE = "AVATAR_STUDIO_RUN_PID"
TERM_WAIT_S = 3.0  # ffmpeg finishes its file and exits on SIGTERM well within this
KILL_WAIT_S = 5.0
POLL_S = 0.02


@dataclass(frozen=True)
class Leftover:
    """A process of an earlier run that still works on the job."""

    pid: int
    program: str  # "ffmpeg", or the name of whatever else it runs
    command: str  # its command line, for job.log
    started: int  # start time in clock ticks after boot: tells a reused pid apart

    def __str__(self) -> str:
        return f"{self.program}, pid {self.pid}"


@dataclass(frozen=True)
class Cleared:
    """What ``stop_leftovers`` did."""

    stopped: list[Leftover] = field(default_factory=list)
    still_running: list[Leftover] = field(default_factory=list)  # could not be stopped

    @property
    def message(self) -> str | None:
        """One line for the person waiting on the job, or None when there was nothing to stop."""
        parts = []
        if self.stopped:
            parts.append(f"stopped {_processes(self.stopped)} of the earlier run "
                         f"({'; '.join(map(str, self.stopped))})")
        if self.still_running:
            parts.append(f"could not stop {_processes(self.still_running)} of the earlier run "
                         f"({'; '.join(map(str, self.still_running))}); it cannot spoil this run, only slow it")
        return "; ".join(parts) or None


def _processes(leftovers: list[Leftover]) -> str:
    return f"{len(leftovers)} leftover process{'es' if len(leftovers) != 1 else ''}"


@dataclass(frozen=True)
class _Process:
    pid: int
    ppid: int
    state: str
    started: int


def _stat(pid: int) -> _Process | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid … starttime …": comm may hold spaces and parentheses, so split after the last ")"
    fields = text[text.rindex(")") + 2:].split()
    return _Process(pid, int(fields[1]), fields[0], int(fields[19]))


def _table() -> dict[int, _Process]:
    table = {}
    for entry in PROC.iterdir() if PROC.is_dir() else ():
        if entry.name.isdigit() and (process := _stat(int(entry.name))) is not None:
            table[process.pid] = process
    return table


def _argv(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode("utf-8", "replace") for arg in raw.split(b"\0") if arg]


def _program(argv: list[str]) -> str:
    name = Path(argv[0]).name
    return "ffmpeg" if name.startswith("ffmpeg") else name  # the bundled one is ffmpeg-linux-x86_64-v…


def _names_folder(argv: list[str], folders: set[str]) -> bool:
    return any(arg == folder or folder + os.sep in arg for arg in argv for folder in folders)


def mark_children() -> None:
    """From now on, every process this one starts carries its id (``RUN_VARIABLE``), so a later
    run can tell them apart from anyone else's after this process is gone."""
    if os.environ.get(RUN_VARIABLE) != str(os.getpid()):  # set once: later runs in this process read it only
        os.environ[RUN_VARIABLE] = str(os.getpid())


def _started_by(pid: int, run: int) -> bool:
    try:
        environ = (PROC / str(pid) / "environ").read_bytes()
    except OSError:  # another user's process, or gone
        return False
    return f"{RUN_VARIABLE}={run}".encode() in environ.split(b"\0")


def find_leftovers(job_dir: Path, *, run: int | None) -> list[Leftover]:
    """Processes that the run with process id ``run`` started (``mark_children``) and that still
    work on ``job_dir`` — none of ours; see the module docstring. Empty where there is no ``/proc``."""
    me = os.getpid()
    table = _table() if run and run != me else {}
    if not table or (run in table and table[run].state not in "ZX"):  # that run is still alive
        return []
    ancestors, pid = set(), me
    while pid in table and pid not in ancestors:
        ancestors.add(pid)
        pid = table[pid].ppid
    children: dict[int, list[int]] = {}
    for process in table.values():
        children.setdefault(process.ppid, []).append(process.pid)
    protected, queue = set(ancestors), [me]
    while queue:
        pid = queue.pop()
        protected.add(pid)
        queue.extend(child for child in children.get(pid, ()) if child not in protected)
    folders = {str(Path(job_dir)), str(Path(job_dir).resolve())}
    found = []
    for process in table.values():
        if process.pid in protected or process.state in "ZX":
            continue
        argv = _argv(process.pid)
        if argv and _names_folder(argv, folders) and _started_by(process.pid, run):
            found.append(Leftover(process.pid, _program(argv), " ".join(argv)[:300], process.started))
    return sorted(found, key=lambda leftover: leftover.pid)


def _running(leftover: Leftover) -> bool:
    process = _stat(leftover.pid)
    return process is not None and process.state not in "ZX" and process.started == leftover.started


def _signal(leftovers: list[Leftover], signum: int) -> None:
    for leftover in leftovers:
        if _running(leftover):  # still the same process: a pid is never signalled after reuse
            try:
                os.kill(leftover.pid, signum)
            except (ProcessLookupError, PermissionError):
                pass  # gone already / not ours: the wait below tells which


def _wait(leftovers: list[Leftover], seconds: float) -> list[Leftover]:
    """Those of ``leftovers`` still running after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    running = [leftover for leftover in leftovers if _running(leftover)]
    while running and time.monotonic() < deadline:
        time.sleep(POLL_S)
        running = [leftover for leftover in running if _running(leftover)]
    return running


def stop_leftovers(job_dir: Path, *, run: int | None, term_wait_s: float = TERM_WAIT_S,
                   kill_wait_s: float = KILL_WAIT_S) -> Cleared:
    """Stop what the earlier run (process id ``run``) left working on ``job_dir``: SIGTERM, then
    SIGKILL for those still there after ``term_wait_s``; returns once they are gone, or once
    ``kill_wait_s`` more has passed."""
    found = find_leftovers(job_dir, run=run)
    if not found:
        return Cleared()
    _signal(found, signal.SIGTERM)
    remaining = _wait(found, term_wait_s)
    if remaining:
        _signal(remaining, signal.SIGKILL)
        remaining = _wait(remaining, kill_wait_s)
    return Cleared(stopped=[leftover for leftover in found if leftover not in remaining], still_running=remaining)


def process_alive(pid: int | None) -> bool:
    """Whether process ``pid`` still runs: a zombie (dead, not yet reaped) does not; this process
    does. Where it cannot be asked safely (no ``/proc``, not POSIX), it is taken to run."""
    if not pid:
        return False
    if pid == os.getpid():
        return True  # another thread of ours may be writing it
    if PROC.is_dir():
        process = _stat(pid)
        return process is not None and process.state not in "ZX"
    if os.name != "posix":
        return True  # no safe way to ask (os.kill would end the process): the file is kept
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_partials(job_dir: Path) -> list[Path]:
    """Delete the job folder's unfinished files (and scratch folders) of attempts whose process is
    gone — ``files.partial_path`` names carry the pid — and those of older versions, which named
    them ``<name>.partial``. Returns what was removed, relative to ``job_dir``."""
    job_dir = Path(job_dir)
    removed = []
    for path in sorted(job_dir.rglob(f"*{PARTIAL_MARK}*")):
        owner = partial_owner(path.name)
        if (owner is not None and process_alive(owner)) or not (path.exists() or path.is_symlink()):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path.relative_to(job_dir))
    return removed
