"""Batch renders (``pipeline/batch.py``, ``app.py batch``) on the local executor: the file read and
checked, bad rows failed with their messages while the rest render, every row a job in the history,
a stopped batch resumed without redoing a row, a worker killed mid-job retried, a driver killed
mid-batch resumed. (The same through Ray: ``test_batch_ray.py``.)"""

from __future__ import annotations

import csv
import io
import json
import re
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.batch import BatchRunner, read_batch_file
from pipeline.db import JobStore
from pipeline.db.batches import BatchStore
from pipeline.errors import BadInput
from tests.media_checks import decode_all

ROOT = Path(__file__).resolve().parent.parent
PORTRAIT = ROOT / "assets" / "astronaut.png"
LONG_TEXT = ("This row says a little more than the others, so that it is still being rendered when the test "
             "stops its worker. It goes on for a few sentences. Then it ends, as every row does.")


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PORTRAIT, folder / "face.png")
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def rows_csv(count: int, *, first: str | None = None) -> str:
    lines = io.StringIO()
    writer = csv.writer(lines, lineterminator="\n")
    writer.writerow(["portrait", "text", "output"])
    for number in range(1, count + 1):
        writer.writerow(["face.png", first if number == 1 and first else f"Row {number} of the batch.",
                         f"clip-{number:02d}"])
    return lines.getvalue()


def wait_for_done(settings, store: BatchStore, rows: int, timeout_s: float = 120) -> None:
    """Until the newest batch (made by another process) has ``rows`` rows done, or the time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batches = store.list() if settings.db_path.exists() else []
        if batches and store.counts(batches[0].id).get("done", 0) >= rows:
            return
        time.sleep(0.05)


def log_of(settings, job_id: str) -> str:
    return (settings.job_dir(job_id) / "job.log").read_text(encoding="utf-8")


# -- the file -----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("portrait,text,colour\nface.png,Hi,red\n", "unknown column 'colour'"),
    ("text,output\nHi,a\n", "no portrait or persona column"),
    ("portrait,output\nface.png,a\n", "no text or audio column"),
    ("portrait,text\n", "has no rows"),
    ("", "is empty"),
    ("portrait,text,text\nface.png,a,b\n", "appears twice"),
])
def test_a_file_that_cannot_be_a_batch_is_refused_whole(tmp_path, text, message):
    path = write(tmp_path, "batch.csv", text)
    with pytest.raises(BadInput, match=message):
        read_batch_file(path)


def test_each_bad_row_says_why_and_the_good_rows_are_kept(tmp_path):
    path = write(tmp_path, "batch.csv", "\n".join([
        "portrait,text,face,output,mouth_openness",
        "face.png,Fine.,,one,0.5",
        "missing.png,No picture.,,,",
        "face.png,Too,many,values,here,and more",
        "face.png,,,,",
        "face.png,Face two and a half.,2.5,,",
        "face.png,Same output.,,one,",
        "face.png,A folder.,,../escape,",
        "face.png,Loud.,,,loud",
    ]) + "\n")
    batch = read_batch_file(path)
    rows = batch.rows
    assert rows[0] == {"portrait": str(tmp_path / "face.png"), "text": "Fine.", "output": "one",
                       "mouth_openness": 0.5}
    assert "missing.png is not there" in rows[1]["error"] and rows[1]["text"] == "No picture."
    assert "6 values but the header has 5 columns" in rows[2]["error"]
    assert "no text and no audio" in rows[3]["error"]
    assert "face must be a whole number, got '2.5'" in rows[4]["error"]
    assert "'one' is row 1's too" in rows[5]["error"]
    assert "not a plain file name" in rows[6]["error"]
    assert rows[7]["mouth_openness"] == "loud"  # judged by the render's own check, in its words
    assert batch.bad_rows == 6


def test_a_yaml_batch_with_defaults(tmp_path):
    path = write(tmp_path, "batch.yaml", "defaults:\n  portrait: face.png\n  emotion: happy\nrows:\n"
                 "  - text: One.\n    head_tilt: 0.7\n  - text: Two.\n    emotion: sad\n  - just words\n")
    rows = read_batch_file(path).rows
    assert rows[0]["emotion"] == "happy" and rows[0]["head_tilt"] == 0.7 and rows[0]["output"] == "row-001"
    assert rows[1]["emotion"] == "sad"
    assert "a row is a mapping" in rows[2]["error"]
    with pytest.raises(BadInput, match="rows: and defaults:"):
        read_batch_file(write(tmp_path, "other.yaml", "row:\n  - text: hi\n"))


# -- running it ----------------------------------------------------------------------------------
def test_a_batch_renders_every_row_as_a_job_and_fails_the_bad_ones(settings, tmp_path):
    """Twenty rows on the local executor (the Ray test runs the same size of batch)."""
    lines = [line + "," for line in rows_csv(18).splitlines()]
    lines[0] = "portrait,text,output,mouth_openness"
    path = write(tmp_path, "lessons.csv", "\n".join([*lines, "missing.png,No face here.,gone,",
                                                     "face.png,Loud.,loud,loud"]) + "\n")
    runner = BatchRunner(settings)
    batch, resumed = runner.open(read_batch_file(path), out_dir=tmp_path / "out", executor="local", concurrency=2)
    assert not resumed
    seen: list[float] = []
    report = runner.run(batch.id, progress=lambda fraction, message: seen.append(fraction))
    assert report.counts == {"done": 18, "failed": 2} and not report.stopped
    assert seen and max(seen) == pytest.approx(1.0) and all(0 <= f <= 1 for f in seen)
    jobs = {job.batch_row: job for job in JobStore(settings.db_path).list(limit=100)}
    assert sorted(jobs) == list(range(1, 21)) and all(job.batch_id == batch.id for job in jobs.values())
    assert "missing.png is not there" in jobs[19].error and jobs[19].text == "No face here."
    assert "mouth_openness must be a number" in jobs[20].error
    for number in range(1, 19):
        job = jobs[number]
        assert job.status == "done" and Path(job.video_path).parent == settings.job_dir(job.id)
        assert "running on local worker pid" in log_of(settings, job.id)
        out = tmp_path / "out" / f"clip-{number:02d}.mp4"
        assert out.read_bytes() == Path(job.video_path).read_bytes()
        assert (tmp_path / "out" / f"clip-{number:02d}.vtt").exists()
        frames, problems = decode_all(out)
        assert frames > 10 and not problems, problems
    assert BatchStore(settings.db_path).get(batch.id).status == "finished"
    # run again: nothing left to do, nothing redone
    again = runner.run(batch.id)
    assert again.counts == {"done": 18, "failed": 2}
    assert all(log_of(settings, job.id).count("job done") == 1 for job in jobs.values() if job.status == "done")


def test_a_stopped_batch_resumes_without_redoing_a_row(settings, tmp_path):
    path = write(tmp_path, "lessons.csv", rows_csv(6))
    runner = BatchRunner(settings)
    batch, _ = runner.open(read_batch_file(path), out_dir=None, executor="local", concurrency=2)
    stop = threading.Event()

    def progress(fraction, message):
        # "row N done": stop after the first finished row ("row N: done" is a job's own progress, sent
        # before its job is recorded done; stopping then would interrupt that row too)
        if re.fullmatch(r"row \d+ done", message):
            stop.set()

    first = runner.run(batch.id, progress=progress, stop=stop)
    assert first.stopped and 1 <= first.counts.get("done", 0) < 6
    assert BatchStore(settings.db_path).get(batch.id).status == "stopped"
    done_before = {s.job_id for s in runner.batches.rows(batch.id) if s.status == "done"}
    # the same file again resumes this batch
    again, resumed = BatchRunner(settings).open(read_batch_file(path), out_dir=None, executor="local", concurrency=2)
    assert resumed and again.id == batch.id
    second = BatchRunner(settings).run(batch.id)
    assert second.counts == {"done": 6} and not second.stopped
    states = runner.batches.rows(batch.id)
    assert len({s.job_id for s in states}) == 6 and done_before <= {s.job_id for s in states}
    assert len(JobStore(settings.db_path).list(limit=100)) == 6  # one job per row, never a second
    for state in states:
        log = log_of(settings, state.job_id)
        assert log.count("job done") == 1 and log.count("stage render finished") == 1, log


def test_a_worker_killed_mid_job_is_replaced_and_its_job_retried(settings, tmp_path):
    path = write(tmp_path, "lessons.csv", rows_csv(3, first=LONG_TEXT))
    runner = BatchRunner(settings)
    batch, _ = runner.open(read_batch_file(path), out_dir=None, executor="local", concurrency=1)
    killed: list[int] = []

    def kill_first_worker():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for state in runner.batches.rows(batch.id):
                log_path = settings.job_dir(state.job_id or "none") / "job.log"
                if state.row == 1 and log_path.exists() and "stage speech finished" in log_path.read_text():
                    pid = int(log_path.read_text().split("worker pid ")[1].split()[0])
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.02)

    watcher = threading.Thread(target=kill_first_worker)
    watcher.start()
    report = runner.run(batch.id)
    watcher.join()
    assert killed and report.counts == {"done": 3}
    first = next(s for s in runner.batches.rows(batch.id) if s.row == 1)
    log = log_of(settings, first.job_id)
    assert f"worker process {killed[0]} ended (killed by signal 9)" in log
    assert "running it once more, from the stage it reached" in log
    assert log.count("stage speech finished") == 1  # the speech it had made was kept
    assert log.count("running on local worker pid") == 2


def test_a_killed_driver_s_batch_resumes_where_it_was(settings, tmp_path, studio_home):
    path = write(tmp_path, "lessons.csv", rows_csv(8))
    env = {**os.environ, "AVATAR_STUDIO_HOME": str(studio_home)}
    command = [sys.executable, str(ROOT / "app.py"), "batch", str(path), "--concurrency", "2", "--json"]
    driver = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = BatchStore(settings.db_path)
    wait_for_done(settings, store, 2)
    driver.kill()
    driver.wait()
    batch = store.list()[0]
    assert store.counts(batch.id).get("done", 0) < 8
    assert store.get(batch.id).status == "stopped"  # its driver is gone
    done_before = {s.job_id for s in store.rows(batch.id) if s.status == "done"}
    time.sleep(0.5)  # its workers went with it (the parent-death signal)
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert f"resuming batch {batch.id}" in finished.stderr
    result = json.loads(finished.stdout)
    assert result["counts"] == {"done": 8} and result["batch_id"] == batch.id
    states = store.rows(batch.id)
    assert done_before <= {s.job_id for s in states} and len(JobStore(settings.db_path).list(limit=100)) == 8
    for state in states:
        log = log_of(settings, state.job_id)
        assert log.count("job done") == 1 and log.count("stage render finished") == 1, log
        assert (path.parent / "lessons-videos" / f"clip-{state.row:02d}.mp4").exists()


def test_the_cli_says_what_is_wrong_in_one_line(tmp_path, studio_home):
    env = {**os.environ, "AVATAR_STUDIO_HOME": str(studio_home)}
    bad = write(tmp_path, "bad.csv", "portrait,txt\nface.png,Hi\n")
    result = subprocess.run([sys.executable, "app.py", "batch", str(bad)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith("error: unknown column 'txt'")
    assert len(result.stderr.strip().splitlines()) == 1
    result = subprocess.run([sys.executable, "app.py", "batch"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "give a batch file, or --resume BATCH_ID" in result.stderr


def test_sigterm_stops_the_batch_at_once_and_the_same_command_resumes_it(settings, tmp_path, studio_home):
    path = write(tmp_path, "lessons.csv", rows_csv(12, first=LONG_TEXT))
    env = {**os.environ, "AVATAR_STUDIO_HOME": str(studio_home)}
    command = [sys.executable, str(ROOT / "app.py"), "batch", str(path), "--concurrency", "2"]
    driver = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = BatchStore(settings.db_path)
    wait_for_done(settings, store, 1)
    driver.send_signal(signal.SIGTERM)  # as Ctrl-C: the rows being rendered stop now, not when they end
    began = time.monotonic()
    _, err = driver.communicate(timeout=30)
    assert driver.returncode == 130 and time.monotonic() - began < 10
    batch = store.list()[0]
    assert f"continue with `python app.py batch --resume {batch.id}`" in err
    counts = store.counts(batch.id)
    assert counts.get("interrupted", 0) >= 1 and counts.get("done", 0) < 12 and store.get(batch.id).status == "stopped"
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert store.counts(batch.id) == {"done": 12} and len(JobStore(settings.db_path).list(limit=100)) == 12
