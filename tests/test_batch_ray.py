"""Batch renders on Ray (``pipeline/executors/ray.py``): a Ray head with 2 CPUs started by this
module on 127.0.0.1, reached through ``RAY_ADDRESS`` as a real cluster would be. A 20-row batch
renders on Ray actors with every row in the history (written by this process only), while one
actor process is killed mid-job: its job runs again and nothing is lost. Without Ray, or with an
address where nothing answers, the batch is refused in one line, in seconds, with nothing queued.

Skipped where Ray is not installed (``bash scripts/setup.sh --scale``), unless
AVATAR_STUDIO_REQUIRE_RAY=1 (the test command sets it after installing Ray)."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.test_batch import LONG_TEXT, ROOT, log_of, rows_csv, write

# Not imported here: Ray reads its authentication mode when it is first imported (``connect`` sets it).
if os.environ.get("AVATAR_STUDIO_REQUIRE_RAY") != "1" and importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is optional: bash scripts/setup.sh --scale installs it", allow_module_level=True)


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A Ray head node of 2 CPUs on 127.0.0.1 (``ray start --head --block``); its address."""
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")
    ray_cli = Path(sys.executable).parent / "ray"
    head = subprocess.Popen([str(ray_cli), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
                             "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
                             "--node-ip-address=127.0.0.1", f"--temp-dir={temp}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    else:
        head.kill()
        pytest.fail("the Ray head did not start in 60 s")
    yield f"127.0.0.1:{port}"
    import ray

    if ray.is_initialized():
        ray.shutdown()
    os.killpg(head.pid, signal.SIGTERM)  # the head and every Ray process it started (its own session)
    try:
        head.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()


def test_twenty_rows_on_ray_lose_nothing_when_a_worker_is_killed(settings, tmp_path, ray_head, monkeypatch):
    from pipeline.batch import BatchRunner, read_batch_file
    from pipeline.db import JobStore

    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    path = write(tmp_path, "lessons.csv", rows_csv(20, first=LONG_TEXT))
    runner = BatchRunner(settings)
    batch, _ = runner.open(read_batch_file(path), out_dir=tmp_path / "videos", executor="ray", concurrency=2)
    killed: list[int] = []

    def kill_row_one_worker():
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not killed:
            state = runner.batches.rows(batch.id)[0]
            log_path = settings.job_dir(state.job_id or "none") / "job.log"
            text = log_path.read_text() if log_path.exists() else ""
            # the stage comes back as the actor reaches it (its job.log lines come with its result)
            if "ray worker pid" in text and state.status == "running" and state.stage in ("speech", "render"):
                pid = int(text.split("worker pid ")[1].split()[0])
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.02)

    watcher = threading.Thread(target=kill_row_one_worker)
    watcher.start()
    seen: list[str] = []
    report = runner.run(batch.id, progress=lambda fraction, message: seen.append(message))
    watcher.join()
    assert killed, "the test did not catch row 1 mid-job"
    assert report.counts == {"done": 20}, runner.batches.rows(batch.id)
    jobs = JobStore(settings.db_path).list(limit=100)
    assert sorted(job.batch_row for job in jobs) == list(range(1, 21))
    for job in jobs:
        assert job.status == "done" and job.batch_id == batch.id
        assert Path(job.video_path).parent == settings.job_dir(job.id) and Path(job.video_path).is_file()
        assert job.pid == os.getpid()  # the driver owns the job; the worker's id is in its log
        assert (tmp_path / "videos" / f"clip-{job.batch_row:02d}.mp4").is_file()
        assert not list(settings.job_dir(job.id).rglob("*.partial-*"))
    first = next(job for job in jobs if job.batch_row == 1)
    log = log_of(settings, first.id)
    assert "the worker running this job died (" in log and "running it once more" in log
    assert log.count("running on ray worker pid") == 2 and log.count("job done") == 1
    assert any(message.startswith("row 1: ") for message in seen)  # progress came back from the actors


def test_a_studio_set_to_ray_sends_its_renders_to_the_cluster(studio_home, ray_head, monkeypatch):
    """AVATAR_STUDIO_EXECUTOR=ray: the Render lab's /render runs on a Ray actor; the studio's own
    process records the job (its id is the job's pid) and serves the video as always."""
    from gradio_client import Client, handle_file

    from pipeline.db import JobStore
    from pipeline.settings import resolve
    from studio.app import build_app, launch_options
    from tests.conftest import SAMPLE_PORTRAIT

    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    monkeypatch.setenv("AVATAR_STUDIO_EXECUTOR", "ray")
    settings = resolve(dotenv=False)
    app = build_app(settings)
    app.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                       **launch_options(settings))
    try:
        client = Client(app.local_url, verbose=False)
        video, details = client.predict(portrait=handle_file(str(SAMPLE_PORTRAIT)), script="Rendered on the cluster.",
                                        api_name="/render")
    finally:
        app.close()
    job = JobStore(settings.db_path).get(details["job_id"])
    assert job.status == "done" and details["status"] == "done" and Path(video).is_file()
    assert job.pid == os.getpid()
    assert "running on ray worker pid" in log_of(settings, job.id)


def test_a_row_that_needs_a_gpu_fails_on_a_cluster_without_one(settings, tmp_path, ray_head, monkeypatch):
    from pipeline.batch import BatchRunner, read_batch_file

    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    path = write(tmp_path, "gpu.csv", "portrait,text,backend\nface.png,On a GPU please.,sadtalker\n")
    runner = BatchRunner(settings)
    batch, _ = runner.open(read_batch_file(path), out_dir=None, executor="ray", concurrency=1)
    report = runner.run(batch.id)
    state = runner.batches.rows(batch.id)[0]
    assert report.counts == {"failed": 1}
    assert state.error == "this job's renderer needs a GPU and the Ray cluster has none"


def test_an_unreachable_ray_address_is_refused_in_seconds_with_nothing_queued(tmp_path, studio_home, settings):
    from pipeline.db import JobStore

    path = write(tmp_path, "lessons.csv", rows_csv(2))
    env = {**os.environ, "AVATAR_STUDIO_HOME": str(studio_home), "RAY_ADDRESS": f"127.0.0.1:{free_port()}"}
    began = time.monotonic()
    result = subprocess.run([sys.executable, "app.py", "batch", str(path), "--executor", "ray"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert time.monotonic() - began < 15
    assert result.returncode == 1 and "is unreachable" in result.stderr and "nothing was queued" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert JobStore(settings.db_path).list() == []
    env.pop("RAY_ADDRESS")
    result = subprocess.run([sys.executable, "app.py", "batch", str(path), "--executor", "ray"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "needs RAY_ADDRESS" in result.stderr


def test_without_ray_installed_one_line_names_the_install(tmp_path, monkeypatch, capsys):
    from tests.conftest import run_app

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as it does without the package
    monkeypatch.setenv("RAY_ADDRESS", "local")
    path = write(tmp_path, "lessons.csv", rows_csv(1))
    code, out, err = run_app(capsys, "batch", str(path), "--executor", "ray")
    assert code == 1 and err.strip() == "error: Ray is not installed: bash scripts/setup.sh --scale installs it"


def test_a_job_declares_what_it_needs(settings):
    from pipeline.db import Job
    from pipeline.executors.worker import resources_for

    def job(backend, enhancer=None):
        return Job(id="x", status="queued", created_at="now", backend=backend, options={"enhancer": enhancer})

    assert resources_for(job("embedded"), settings) == {"gpu": False, "enhancer": False}
    assert resources_for(job("sadtalker"), settings) == {"gpu": True, "enhancer": False}
    assert resources_for(job("embedded", "gfpgan"), settings) == {"gpu": False, "enhancer": True}
