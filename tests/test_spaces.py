"""The studio started the way a Hugging Face Space starts it.

``python app.py`` runs as a subprocess with ``SPACE_ID`` and ``SYSTEM=spaces`` set (what a Space
sets) and a stand-in ``spaces`` package on ``PYTHONPATH`` (written below; the real one only works
inside Hugging Face's infrastructure). The stand-in's ``GPU(duration=...)`` writes the decorated
function's name and duration to a log, so the tests can see which functions would borrow a ZeroGPU
GPU and whether that happened before the studio answered. Every attempt to import it is logged
with the module that made it. Gradio itself tries ``import spaces`` during its own import; like
the real package, the stand-in refuses that, so outside a Space nothing may load it at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from importlib.util import find_spec
from pathlib import Path

import httpx
import pytest

from conftest import ROOT, SAMPLE_PORTRAIT, free_port

STANDIN = '''
    """Stands in for Hugging Face's ``spaces`` package in tests/test_spaces.py (the real one works only
    inside a Space). ``GPU(duration=...)`` records the decorated function's qualified name and the
    duration in the file named by $SPACES_STANDIN_LOG and returns a wrapper that records each call;
    ``gradio_auto_wrap`` (which Gradio calls in a Space) returns the function unchanged, and
    ``reloading.start_reload_server`` (Gradio's dev-mode reloader in a Space) only waits to be stopped.
    Every import attempt is logged with the module that made it."""

    import functools
    import json
    import os
    import sys


    def _log(**entry):
        with open(os.environ["SPACES_STANDIN_LOG"], "a") as log:
            log.write(json.dumps(entry) + "\\n")


    def _importer():
        frame = sys._getframe(2)  # past this function and the module body that calls it
        while frame is not None and frame.f_code.co_filename.startswith("<frozen"):
            frame = frame.f_back
        return frame.f_globals.get("__name__", "?") if frame is not None else "?"


    # Like the real package: it refuses to be imported from inside Gradio's own import, so Gradio
    # uses it only when the app imported it first.
    _gradio = sys.modules.get("gradio")
    if _gradio is not None and not hasattr(_gradio, "Blocks"):
        _log(event="refused", by=_importer())
        raise ImportError("spaces is not imported from inside gradio's own import")
    _log(event="import", by=_importer())


    def GPU(task=None, *, duration=60):
        def decorate(function):
            name = f"{function.__module__}.{function.__qualname__}"
            _log(event="decorate", function=name, duration=duration)

            @functools.wraps(function)
            def on_gpu(*args, **kwargs):
                _log(event="call", function=name)
                return function(*args, **kwargs)

            return on_gpu

        return decorate(task) if callable(task) else decorate


    def gradio_auto_wrap(task):
        return task
'''

STANDIN_RELOADING = '''
    def start_reload_server(prerun, postrun, stop_event, port=7887):
        stop_event.wait()
'''
STANDIN_VERSION = "0.51.3"  # Gradio asks the installed version before it starts the dev-mode reloader

GPU_FUNCTIONS = {
    "pipeline.render.sadtalker.run_sadtalker": "pipeline.render.sadtalker",
    "pipeline.speech.stt.run_openai_whisper": "pipeline.speech.stt",
    "pipeline.enhance.gfpgan.run_gfpgan": "pipeline.enhance.gfpgan",
    "pipeline.llm.local.generate_on_gpu": "pipeline.llm.local",
}
STARTUP_TIMEOUT_S = 120


def expected_gpu_functions() -> set[str]:
    """The GPU functions of the modules this checkout has (the gfpgan enhancer is optional)."""
    def present(module: str) -> bool:
        try:
            return find_spec(module) is not None
        except ModuleNotFoundError:
            return False

    return {function for function, module in GPU_FUNCTIONS.items() if present(module)}


@pytest.fixture
def standin(tmp_path) -> dict[str, str]:
    """Environment for a subprocess that finds the stand-in ``spaces`` and logs to ``standin.log``."""
    package = tmp_path / "standin" / "spaces"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(STANDIN).lstrip())
    (package / "reloading.py").write_text(textwrap.dedent(STANDIN_RELOADING).lstrip())
    metadata = package.parent / f"spaces-{STANDIN_VERSION}.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text(f"Metadata-Version: 2.1\nName: spaces\nVersion: {STANDIN_VERSION}\n")
    return {"PYTHONPATH": str(package.parent), "SPACES_STANDIN_LOG": str(tmp_path / "standin.log")}


def read_log(environment: dict[str, str]) -> list[dict]:
    path = Path(environment["SPACES_STANDIN_LOG"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def space_environment(standin: dict[str, str], **more: str) -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("SPACE_ID", "SYSTEM", "DISPLAY", "WAYLAND_DISPLAY", "GRADIO_SERVER_NAME",
                                   "GRADIO_SERVER_PORT")}
    return {**environment, **standin, **more}


def start_studio(environment: dict[str, str], port: int, log: Path, *, flags: list[str] | None = None
                 ) -> subprocess.Popen:
    """``python app.py --no-browser --port PORT`` (or these flags), waited for until it answers HTTP 200."""
    flags = ["--no-browser", "--port", str(port)] if flags is None else flags
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "app.py", *flags], cwd=ROOT, env=environment, stdout=output,
                                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"app.py exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    stop(process)
    raise AssertionError(f"app.py did not answer within {STARTUP_TIMEOUT_S} s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_a_space_decorates_the_gpu_functions_at_startup_and_renders(standin, tmp_path):
    from gradio_client import Client, handle_file

    from pipeline.media import probe

    home = tmp_path / "bucket" / "avatar-studio"  # a fresh path: the studio makes it
    port = free_port()
    environment = space_environment(standin, SPACE_ID="someone/avatar-studio", SYSTEM="spaces",
                                    AVATAR_STUDIO_HOME=str(home))
    studio = start_studio(environment, port, tmp_path / "app.log")
    try:
        at_startup = read_log(environment)
        video, details = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
            portrait=handle_file(str(SAMPLE_PORTRAIT)), script="Hello from a Space.", api_name="/render")
    finally:
        stop(studio)

    assert [entry for entry in at_startup if entry["event"] == "import"] == [{"event": "import", "by": "pipeline.gpu"}]
    decorated = {entry["function"]: entry["duration"] for entry in at_startup if entry["event"] == "decorate"}
    assert set(decorated) == expected_gpu_functions()
    assert {"pipeline.render.sadtalker.run_sadtalker", "pipeline.speech.stt.run_openai_whisper"} <= set(decorated)
    for function, duration in decorated.items():  # ZeroGPU lends by the minute: a few minutes at most
        assert isinstance(duration, (int, float)) and 30 <= duration <= 300, (function, duration)
    log = (tmp_path / "app.log").read_text()
    assert "GPU functions decorated at startup: " in log and "run_sadtalker (240 s)" in log
    assert "Traceback" not in log

    facts = probe(Path(video["video"] if isinstance(video, dict) else video))
    assert facts.video.codec == "h264" and facts.audio is not None and 0.8 < facts.duration_s < 5
    assert details["status"] == "done" and (home / "studio.db").is_file()
    assert not any(entry["event"] == "call" for entry in read_log(environment))  # the embedded renderer is CPU work


def test_outside_a_space_spaces_is_never_imported(standin, tmp_path):
    port = free_port()
    environment = space_environment(standin)
    stop(start_studio(environment, port, tmp_path / "app.log"))

    entries = read_log(environment)
    assert entries and all(entry["event"] == "refused" and entry["by"].startswith("gradio.") for entry in entries)
    assert "GPU functions" not in (tmp_path / "app.log").read_text()


def test_the_gpu_modules_import_cheaply_and_without_torch(standin):
    """What a Space imports before launch: no torch (the stand-in imports none either), no model."""
    script = ("import sys, time; started = time.perf_counter(); from pipeline.gpu import import_gpu_tasks; "
              "decorated = import_gpu_tasks(); print(round(time.perf_counter() - started, 2), "
              "'torch' in sys.modules, 'whisper' in sys.modules, 'gfpgan' in sys.modules, len(decorated))")
    environment = space_environment(standin, SPACE_ID="someone/avatar-studio")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=60, check=True)
    seconds, torch, whisper, gfpgan, count = done.stdout.split()
    assert (torch, whisper, gfpgan) == ("False", "False", "False")
    assert int(count) == len(expected_gpu_functions()) and float(seconds) < 5


def test_zero_gpu_hardware_is_told_apart_by_the_variable_spaces_reads(monkeypatch):
    from pipeline.gpu import describe, zero_gpu

    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert not zero_gpu()  # the variable alone, outside a Space, means nothing
    monkeypatch.setenv("SPACE_ID", "someone/avatar-studio")
    assert zero_gpu()
    monkeypatch.setenv("SPACES_ZERO_GPU", "false")
    assert not zero_gpu()
    assert describe({"a.run_b": 240, "c.run_d": lambda *args: 10}) == "run_b (240 s), run_d (estimated per call)"
    assert describe({}) == "no GPU functions"
