"""Serving the studio: launch flags, what is served, the upload limit, and backend availability."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from conftest import ROOT


def test_auth_flag_is_user_colon_password():
    from pipeline.errors import BadInput
    from pipeline.passwords import parse_auth

    assert parse_auth("ana:s3:cret") == ("ana", "s3:cret")
    for bad in ("ana", ":pw", "ana:"):
        with pytest.raises(BadInput, match="user:password"):
            parse_auth(bad)


def test_bad_auth_flag_is_one_readable_line_and_exit_2():
    done = subprocess.run([sys.executable, "app.py", "--auth", "nopassword", "--no-browser"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: --auth takes user:password, both non-empty"]


def test_only_assets_and_job_outputs_are_served(studio_app, settings, tmp_path):
    url = studio_app.local_url.rstrip("/")
    secret = ROOT / "pipeline" / "settings.py"
    assert httpx.get(f"{url}/gradio_api/file={ROOT / 'assets' / 'astronaut.png'}").status_code == 200
    assert httpx.get(f"{url}/gradio_api/file={secret}").status_code in (403, 404)
    outside = tmp_path / "private.txt"
    outside.write_text("not for the web")
    assert httpx.get(f"{url}/gradio_api/file={outside}").status_code in (403, 404)


def test_uploads_over_the_limit_are_refused(studio_app, tmp_path):
    big = tmp_path / "huge.png"
    with open(big, "wb") as handle:
        handle.truncate(51 * 1024 * 1024)
    url = studio_app.local_url.rstrip("/")
    with open(big, "rb") as handle:
        answer = httpx.post(f"{url}/gradio_api/upload", files={"files": ("huge.png", handle, "image/png")},
                            timeout=60)
    assert answer.status_code == 413
    assert "52428800 bytes" in answer.text  # 50 MiB


def test_availability_says_why_a_backend_cannot_run(settings):
    from pipeline.enhance import enhancers
    from pipeline.llm import llms
    from pipeline.render import renderers

    found = {item.name: item for item in renderers.availability(settings)}
    honours = {name: renderers.create(name, settings).capabilities(settings).controls for name in found}
    assert found["embedded"].ready and set(honours["embedded"]) >= {"blink_rate", "mouth_openness"}
    assert not found["heygen"].ready and "HEYGEN_API_KEY" in found["heygen"].reason
    assert "mouth_openness" not in honours["did"]  # D-ID cannot be told how wide to open
    with_key = settings.with_(keys={"HEYGEN_API_KEY": "k-123"})
    assert {i.name: i for i in renderers.availability(with_key)}["heygen"].ready
    found_llms = {item.name: item for item in llms.availability(settings)}
    assert found_llms["local"].ready and "MISTRAL_API_KEY" in found_llms["mistral"].reason
    found_enhancers = {item.name: item for item in enhancers.availability(settings)}
    assert set(found_enhancers) == {"gfpgan"} and not found_enhancers["gfpgan"].ready  # no weights configured here
    assert "gfpgan" in found_enhancers["gfpgan"].reason


def test_missing_package_is_named(settings):
    from pipeline.registry import needs_module
    from pipeline.speech import Transcriber, transcribers

    class Nowhere(Transcriber):
        name = "nowhere"

        @classmethod
        def unavailable(cls, settings):
            return needs_module("no_such_module_xyz", "no-such-package")

        @classmethod
        def from_settings(cls, settings, model=None):
            return cls()

        def transcribe(self, audio_path, **options):
            raise AssertionError("an unavailable backend is never run")

    with transcribers.registered("nowhere", Nowhere):
        found = {i.name: i for i in transcribers.availability(settings)}
        assert found["nowhere"].reason == "the no-such-package package is not installed (pip install no-such-package)"
    assert "nowhere" not in transcribers.names()


def test_host_and_port_come_from_the_flags_then_gradio_server_variables():
    from pipeline.errors import BadInput
    from studio.launch import server_address

    space = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7861"}
    assert server_address(environ={}) == ("127.0.0.1", 7860)
    assert server_address(environ=space) == ("0.0.0.0", 7861)
    assert server_address("127.0.0.1", 8080, environ=space) == ("127.0.0.1", 8080)  # flags win
    assert server_address(None, 8080, environ=space) == ("0.0.0.0", 8080)
    for bad in ("http", "0", "70000"):
        with pytest.raises(BadInput, match=f"GRADIO_SERVER_PORT must be a port number from 1 to 65535, got '{bad}'"):
            server_address(environ={"GRADIO_SERVER_PORT": bad})


def test_the_studio_listens_where_gradio_server_variables_say_and_makes_its_data_folder(tmp_path):
    from conftest import free_port
    from test_spaces import start_studio, stop

    home = tmp_path / "fresh" / "data"
    port = free_port()
    environment = {name: value for name, value in os.environ.items() if name not in ("SPACE_ID", "DISPLAY")}
    environment.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), AVATAR_STUDIO_HOME=str(home))
    studio = start_studio(environment, port, tmp_path / "app.log", flags=["--no-browser"])
    stop(studio)
    assert (home / "jobs").is_dir() and (home / "studio.db").is_file()
    assert f"http://127.0.0.1:{port}" in (tmp_path / "app.log").read_text()


def test_an_unwritable_data_folder_is_one_line_at_startup(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder's parent should be")
    home = blocker / "data"
    done = subprocess.run([sys.executable, "app.py", "--no-browser", "--port", "1"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "AVATAR_STUDIO_HOME": str(home)})
    assert done.returncode == 2
    line = (f"error: the data folder {home} cannot be written (Not a directory) — set AVATAR_STUDIO_HOME to a "
            "folder this user can write (on a Space: a mounted storage bucket's path)")
    assert done.stderr.strip().splitlines() == [line]


def test_a_browser_is_opened_only_on_a_desktop_and_never_in_a_space(monkeypatch):
    from studio.launch import opens_browser

    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    assert opens_browser(True) and not opens_browser(False)
    monkeypatch.setenv("SPACE_ID", "someone/avatar-studio")
    assert not opens_browser(True)
    monkeypatch.delenv("SPACE_ID")
    monkeypatch.delenv("DISPLAY")
    assert not opens_browser(True)


@pytest.mark.parametrize("flags,warned", [(["--host", "0.0.0.0"], True), (["--host", "0.0.0.0", "--auth", "ana:pw"], False)])
def test_a_studio_open_to_the_network_without_users_warns(tmp_path, flags, warned):
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "AVATAR_STUDIO_HOME": str(tmp_path / "home"), "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
    process = subprocess.Popen([sys.executable, "app.py", *flags, "--port", str(port), "--no-browser"], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # up: it answers on the port
            try:
                if httpx.get(f"http://127.0.0.1:{port}/gradio_api/info", timeout=2).status_code in (200, 401):
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == (1 if warned else 0), stderr
    if warned:
        assert "--auth USER:PASS" in warnings[0]
