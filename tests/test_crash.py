"""Crash-safe stages: a render ``kill -9``'d in any media stage resumes at once to a clean video.

Each crash test starts a real CLI render in a subprocess, waits (polling the job row and the job
folder) until it is writing that stage's output, kills the Python process — not its children —
and resumes the job in this process straight away. The subprocess's ffmpeg is the bundled one run
through a small wrapper (``IMAGEIO_FFMPEG_EXE``) that reads its first input at half speed when
its command line matches a pattern: a real ffmpeg, just slower, so the kill reliably lands while
the stage's encoder runs and that encoder outlives the process that started it.

What a user would check: the job is ``done``, ``output.mp4`` decodes with no error and has one
frame per frame of speech, nothing of the killed run is still running, and ``job.log`` says what
was stopped. Needs Linux (``/proc``) to look at processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from fake_enhancer import NegatingEnhancer
from media_checks import decode_all, decode_frames
from pipeline.enhance import enhancers
from pipeline.files import partial_path
from pipeline.leftovers import RUN_VARIABLE, find_leftovers, remove_partials, stop_leftovers
from pipeline.stages import STAGE_FUNCTIONS, StageContext

pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc (Linux)")

SCRIPT = "Hold on. The numbers look good, and the plan is simple."
# app.py with the test enhancer registered, as an installed plugin would be
WITH_NEGATE = ("import sys; sys.path[:0] = [{root!r}, {tests!r}]; from pipeline.enhance import enhancers; "
               "from fake_enhancer import NegatingEnhancer; enhancers.register('negate', NegatingEnhancer); "
               "import app; sys.exit(app.main(sys.argv[1:]))").format(root=str(ROOT), tests=str(ROOT / "tests"))


@pytest.fixture
def slow_ffmpeg(tmp_path) -> Path:
    """A wrapper for ``IMAGEIO_FFMPEG_EXE``: the bundled ffmpeg, reading its first input at half
    speed when its arguments match the shell pattern in ``SLOW_FFMPEG``."""
    import imageio_ffmpeg

    wrapper = tmp_path / "slow-ffmpeg"
    wrapper.write_text("#!/bin/sh\n"
                       'case "$*" in\n'
                       f'  $SLOW_FFMPEG) exec "{imageio_ffmpeg.get_ffmpeg_exe()}" -readrate 0.5 "$@" ;;\n'
                       "esac\n"
                       f'exec "{imageio_ffmpeg.get_ffmpeg_exe()}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


@pytest.fixture
def negate_enhancer():
    with enhancers.registered("negate", NegatingEnhancer):
        yield


def start_render(wrapper: Path, slow: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "IMAGEIO_FFMPEG_EXE": str(wrapper), "SLOW_FFMPEG": slow}
    args = ["render", "--image", "assets/astronaut.png", "--text", SCRIPT, "--json", *extra]
    entry = ["-c", WITH_NEGATE] if "--enhance" in extra else [str(ROOT / "app.py")]
    return subprocess.Popen([sys.executable, *entry, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env, cwd=ROOT)


def kill_during(process: subprocess.Popen, runner, stage: str, partial: str) -> tuple[str, Path]:
    """Wait until the render is in ``stage`` with a file matching ``partial`` in its folder, then
    ``kill -9`` its Python process; returns the job's id and folder."""
    jobs_dir = runner.settings.jobs_dir
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the render ended before its {stage} stage: {process.stderr.read().decode()}"
        folders = list(jobs_dir.glob("*")) if jobs_dir.is_dir() else []
        if folders and runner.store.get(folders[0].name).stage == stage and list(folders[0].glob(partial)):
            process.send_signal(signal.SIGKILL)
            process.wait()
            process.stderr.close()
            return folders[0].name, folders[0]
        time.sleep(0.02)
    process.kill()
    pytest.fail(f"the render never reached its {stage} stage")


def processes_naming(folder: Path) -> list[int]:
    """Processes (not zombies) whose command line names a file in ``folder``, as ``ps`` would show."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] if cmdline else "Z"
        except OSError:
            continue
        if state != "Z" and (str(folder) + os.sep).encode() in cmdline:
            found.append(int(entry.name))
    return found


def expected_frames(job_dir: Path) -> int:
    import json

    return json.loads((job_dir / "analysis.json").read_text())["n_frames"]


def assert_clean(path: Path, frames: int) -> None:
    decoded, errors = decode_all(path)
    assert errors == "", f"{path.name} does not decode cleanly: {errors[:300]}"
    assert decoded == frames


def assert_nothing_left(job_dir: Path, orphans: list[int]) -> None:
    assert processes_naming(job_dir) == [], "a process of the killed run is still running"
    assert not [pid for pid in orphans if Path(f"/proc/{pid}/cmdline").exists()
                and (Path(f"/proc/{pid}/cmdline").read_bytes() != b"")]
    assert sorted(p.name for p in job_dir.rglob("*.partial*")) == [], "unfinished files are left"


# -- a crash in each media stage ------------------------------------------------------------------
def test_killed_while_rendering_resumes_to_a_clean_video(runner, slow_ffmpeg):
    process = start_render(slow_ffmpeg, "*pipe:0*render.partial-*")
    job_id, job_dir = kill_during(process, runner, "render", "render.partial-*.mp4")
    orphans = processes_naming(job_dir)

    job = runner.resume(job_id)

    assert job.status == "done" and job.error is None
    frames = expected_frames(job_dir)
    assert_clean(job_dir / "render.mp4", frames)
    assert_clean(job_dir / "output.mp4", frames)
    assert_nothing_left(job_dir, orphans)
    log = (job_dir / "job.log").read_text()
    assert log.count("stage render started") == 2 and log.count("stage speech started") == 1


def test_killed_while_encoding_stops_the_encoder_it_left_and_resumes_to_a_clean_video(runner, slow_ffmpeg):
    process = start_render(slow_ffmpeg, "*speech.wav*output.partial-*")
    job_id, job_dir = kill_during(process, runner, "encode", "output.partial-*.mp4")
    [orphan] = processes_naming(job_dir)  # the killed run's encoder, still writing
    said = []

    job = runner.resume(job_id, progress=lambda fraction, message: said.append(message))

    assert job.status == "done" and job.error is None
    assert_clean(job_dir / "output.mp4", expected_frames(job_dir))
    assert_nothing_left(job_dir, [orphan])
    assert f"stopped 1 leftover process of the earlier run (ffmpeg, pid {orphan})" in said
    log = (job_dir / "job.log").read_text()
    assert f"stopped a leftover process of the earlier run (ffmpeg, pid {orphan}): " in log
    assert "removed unfinished files of the earlier run: output.partial-" in log
    assert log.count("stage encode started") == 2 and log.count("stage render started") == 1


def test_killed_while_enhancing_resumes_to_a_clean_enhanced_video(runner, slow_ffmpeg, negate_enhancer):
    process = start_render(slow_ffmpeg, "*negate*", "--enhance", "negate")
    job_id, job_dir = kill_during(process, runner, "enhance", "enhanced.partial-*.mp4")
    [orphan] = processes_naming(job_dir)

    job = runner.resume(job_id)

    assert job.status == "done" and job.error is None
    frames = expected_frames(job_dir)
    assert_clean(job_dir / "enhanced.mp4", frames)
    assert_clean(job_dir / "output.mp4", frames)
    assert_nothing_left(job_dir, [orphan])
    rendered, delivered = decode_frames(job_dir / "render.mp4"), decode_frames(job_dir / "output.mp4")
    middle = len(rendered) // 2  # what was delivered is the enhancer's output, not the render
    assert np.abs(255 - rendered[middle].astype(int) - delivered[middle].astype(int)).mean() < 6
    assert f"(ffmpeg, pid {orphan})" in (job_dir / "job.log").read_text()


def test_an_encoder_left_running_cannot_spoil_the_next_encode(runner, slow_ffmpeg):
    """The defect this module is about: the killed run's encoder and the resumed one both wrote
    ``output.partial.mp4``, and the job said done over a file full of bad NAL units. Here the
    leftover is not stopped first (as where there is no /proc): the encode stage runs while it
    writes, and it is ended only afterwards — an ffmpeg told to stop still writes its index."""
    process = start_render(slow_ffmpeg, "*speech.wav*output.partial-*")
    job_id, job_dir = kill_during(process, runner, "encode", "output.partial-*.mp4")
    [orphan] = processes_naming(job_dir)
    job = runner.store.get(job_id)
    try:
        ctx = StageContext(job_dir=job_dir, settings=runner.settings, text=job.text, image=None, audio=None,
                           backend=job.backend, options=job.options)
        STAGE_FUNCTIONS["encode"](ctx)
        assert processes_naming(job_dir) == [orphan], "the earlier encoder was writing all the while"
    finally:
        os.kill(orphan, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while processes_naming(job_dir) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert processes_naming(job_dir) == []
    assert_clean(job_dir / "output.mp4", expected_frames(job_dir))


# -- finding and stopping leftovers, on plain processes ---------------------------------------------
def _dead_pid() -> int:
    """The id of a process that has come and gone: an earlier run that was killed."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def _sleeper(job_dir: Path, *, ignore_term: bool = False) -> list[str]:
    code = "import signal, time; " + ("signal.signal(signal.SIGTERM, signal.SIG_IGN); " if ignore_term else "")
    return [sys.executable, "-c", code + "time.sleep(60)", str(job_dir / "render.mp4")]


def _orphan(command: list[str], *, run: int | None) -> int:
    """Start ``command`` as a killed run leaves its children: its parent gone, and (``run``) with
    the id of the run that started it in its environment. Returns its pid."""
    env = {**os.environ, RUN_VARIABLE: str(run)} if run else {k: v for k, v in os.environ.items() if k != RUN_VARIABLE}
    shell = subprocess.run(["sh", "-c", '"$@" >/dev/null 2>&1 & echo $!', "sh", *command],
                           capture_output=True, text=True, check=True, env=env)
    return int(shell.stdout)


def _wait_for(folder: Path, count: int) -> None:
    deadline = time.monotonic() + 10
    while len([pid for pid in processes_naming(folder) if b"time.sleep" in Path(f"/proc/{pid}/cmdline").read_bytes()
               and not Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sh")]) < count:
        assert time.monotonic() < deadline, f"{count} processes never started"
        time.sleep(0.01)


def _kill_all(folder: Path, *more: int) -> None:
    for pid in {*processes_naming(folder), *more}:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_what_the_killed_run_started_is_stopped_even_if_it_ignores_sigterm_and_nothing_else(tmp_path):
    job_dir, other_job = tmp_path / "jobs" / "20260101-000000-abcdef", tmp_path / "jobs" / "20260101-000000-abcdef2"
    job_dir.mkdir(parents=True)
    killed_run = _dead_pid()
    polite = _orphan(_sleeper(job_dir), run=killed_run)
    stubborn = _orphan(_sleeper(job_dir, ignore_term=True), run=killed_run)
    viewer = _orphan(_sleeper(job_dir), run=None)  # someone else's process on the same files: a player, tail -f
    other = _orphan(_sleeper(other_job), run=killed_run)  # the killed run's work on another job
    try:
        _wait_for(job_dir, 3)
        _wait_for(other_job, 1)
        assert [leftover.pid for leftover in find_leftovers(job_dir, run=killed_run)] == sorted([polite, stubborn])
        cleared = stop_leftovers(job_dir, run=killed_run, term_wait_s=0.3)
        assert sorted(leftover.pid for leftover in cleared.stopped) == sorted([polite, stubborn])
        assert cleared.still_running == [] and processes_naming(job_dir) == [viewer]
        assert cleared.message.startswith("stopped 2 leftover processes of the earlier run (python")
        assert processes_naming(other_job) == [other]
    finally:
        _kill_all(job_dir)
        _kill_all(other_job)


def test_a_live_run_and_our_own_children_are_never_leftovers(tmp_path):
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    killed_run = _dead_pid()
    ours = subprocess.Popen(_sleeper(job_dir), env={**os.environ, RUN_VARIABLE: str(killed_run)})
    live_run = _orphan(["sh", "-c", f'export {RUN_VARIABLE}=$$; "$@"; :', "sh", *_sleeper(job_dir)], run=None)
    try:
        _wait_for(job_dir, 2)
        assert find_leftovers(job_dir, run=killed_run) == [], "this process's own work on the job"
        assert find_leftovers(job_dir, run=live_run) == [], "the run is alive: its work is not left over"
        assert stop_leftovers(job_dir, run=live_run).message is None and ours.poll() is None
        os.kill(live_run, signal.SIGKILL)  # now it is: what it started is
        deadline = time.monotonic() + 10
        while Path(f"/proc/{live_run}/cmdline").exists() and Path(f"/proc/{live_run}/cmdline").read_bytes():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        [leftover] = find_leftovers(job_dir, run=live_run)
        assert leftover.program.startswith("python") and leftover.pid != ours.pid
    finally:
        ours.kill()
        ours.wait()
        _kill_all(job_dir, live_run)


def test_unfinished_files_of_dead_attempts_are_removed_and_a_live_ones_kept(tmp_path):
    (tmp_path / "hosted").mkdir()
    stale = [tmp_path / f"output.partial-{_dead_pid()}-0a1b2c3d.mp4", tmp_path / "hosted" / "render.partial.mp4",
             tmp_path / "remote.json.partial"]  # the last two: names older versions used
    mine = partial_path(tmp_path / "render.mp4")
    for path in [*stale, mine, tmp_path / "render.mp4"]:
        path.write_bytes(b"x")
    removed = remove_partials(tmp_path)
    assert sorted(map(str, removed)) == sorted(str(path.relative_to(tmp_path)) for path in stale)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted([mine.name, "render.mp4"])
