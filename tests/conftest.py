"""Shared fixtures: every test gets its own data dir and Gradio temp dir under tmp_path."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PORTRAIT = ROOT / "assets" / "astronaut.png"
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    """A port of 127.0.0.1 nobody uses, from the system. Every studio a test serves takes one: left
    to choose (from 7860 up), two test workers starting a studio at once could both pick the same."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """One cache of converted models for the whole run: the bundled LLM is converted once."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def studio_home(tmp_path, monkeypatch, model_cache) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("AVATAR_STUDIO_HOME", str(home))
    monkeypatch.setenv("AVATAR_STUDIO_CACHE", str(model_cache))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    for variable in ("AVATAR_STUDIO_RENDERER", "AVATAR_STUDIO_VOICE", "AVATAR_STUDIO_MAX_SIDE", "AVATAR_STUDIO_LLM",
                     "AVATAR_STUDIO_CONTROLLER", "AVATAR_STUDIO_STT", "AVATAR_STUDIO_STT_MODEL", "LOCAL_LLM_MODEL",
                     "MISTRAL_API_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY", "HEYGEN_API_KEY", "DID_API_KEY",
                     "MISTRAL_BASE_URL", "GEMINI_BASE_URL", "OPENAI_BASE_URL", "HEYGEN_BASE_URL",
                     "HEYGEN_UPLOAD_URL", "HEYGEN_API_VERSION", "HEYGEN_AVATAR_ID", "HEYGEN_VOICE_ID", "DID_BASE_URL",
                     "DID_VOICE_ID", "AVATAR_STUDIO_HOSTED_POLL_S", "AVATAR_STUDIO_HOSTED_TIMEOUT_S",
                     "SADTALKER_DIR", "SADTALKER_SIZE", "SADTALKER_PREPROCESS", "SADTALKER_POSE_STYLE",
                     "SADTALKER_BATCH_SIZE", "SADTALKER_FP16", "SADTALKER_ALLOW_CPU",
                     "GFPGAN_WEIGHTS", "GFPGAN_SMOOTHING"):
        monkeypatch.delenv(variable, raising=False)
    for variable in ("AVATAR_STUDIO_VOICES_DIR", "ELEVENLABS_API_KEY", "ELEVENLABS_BASE_URL", "ELEVENLABS_MODEL",
                     "ELEVENLABS_VOICE_ID", "OPENAI_TTS_BASE_URL", "OPENAI_TTS_MODEL", "OPENAI_TTS_VOICE",
                     "AVATAR_STUDIO_TTS_TIMEOUT", "AVATAR_STUDIO_TTS_RETRIES"):  # voices: only the tests' own
        monkeypatch.delenv(variable, raising=False)
    return home


@pytest.fixture
def settings(studio_home):
    from pipeline.settings import resolve

    return resolve(dotenv=False)


@pytest.fixture
def runner(settings):
    from pipeline.runner import Runner

    return Runner(settings)


@pytest.fixture(scope="session")
def portrait() -> Path:
    return SAMPLE_PORTRAIT


@pytest.fixture
def studio_app(settings):
    """The whole studio, served on a free port of 127.0.0.1 for this test (``gradio_client`` tests)."""
    from studio.app import build_app, launch_options

    app = build_app(settings)
    app.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                       **launch_options(settings))
    yield app
    app.close()


@pytest.fixture
def studio_client(studio_app):
    from gradio_client import Client

    return Client(studio_app.local_url, verbose=False)


USERS = {"alice": "wonderland-7", "bob": "builder-42"}


def serve_with_users(settings, *, queue_size: int | None = None):
    """The studio with password users ``USERS`` (as ``--auth alice:… --auth bob:…`` starts it), on a
    free port of 127.0.0.1; returns the launched app."""
    from pipeline.passwords import Credentials
    from studio.app import build_app, launch_options
    from studio.guard import PASSWORD, Access
    from studio.launch import sign_in

    app = build_app(settings, Access(PASSWORD))
    app.queue(default_concurrency_limit=2, max_size=queue_size).launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
        auth=sign_in(Credentials(USERS)), **launch_options(settings))
    return app


def slow_chat_waiting(app, client, user: str):
    """Start a chat turn on the "slow" fake LLM for ``user`` and return it once the studio counts it
    as their waiting work (the wait-limit tests refuse the next thing while it runs)."""
    import time

    running = client.submit("jenniel", "Tell me slowly.", "", "", "slow", "text", 50, api_name="/chat")
    deadline = time.monotonic() + 20
    while app.waiting(user) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    return running


@pytest.fixture
def users_studio(settings):
    """The whole studio with two users, alice and bob, for this test."""
    app = serve_with_users(settings)
    yield app
    app.close()


def run_app(capsys, *args) -> tuple[int, str, str]:
    """``app.py`` run in this process with ``args`` (its data dir: the test's, from the environment;
    backends registered by the test are known): (exit code, stdout, stderr)."""
    import signal

    import app as entry

    sigterm = signal.getsignal(signal.SIGTERM)  # app.main turns SIGTERM into an interrupt: not for pytest
    try:
        code = entry.main(list(args))
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    out, err = capsys.readouterr()
    return code, out, err
