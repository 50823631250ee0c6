"""Serving the studio: launch flags, what is served, the upload limit, and backend availability."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from conftest import ROOT


def test_auth_flag_is_user_colon_password():
    from pipeline.errors import BadInput
    from studio.launch import parse_auth

    assert parse_auth("ana:s3:cret") == ("ana", "s3:cret")
    assert parse_auth(None) is None
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
    from pipeline import registry

    renderers = {item.name: item for item in registry.availability("renderer", settings)}
    assert renderers["embedded"].ready and set(renderers["embedded"].honours) >= {"blink_rate", "mouth_openness"}
    assert not renderers["heygen"].ready and "HEYGEN_API_KEY" in renderers["heygen"].reason
    assert "mouth_openness" not in renderers["did"].honours  # D-ID cannot be told how wide to open
    with_key = settings.with_(keys={"HEYGEN_API_KEY": "k-123"})
    assert {i.name: i for i in registry.availability("renderer", with_key)}["heygen"].ready
    llms = {item.name: item for item in registry.availability("llm", settings)}
    assert llms["local"].ready and "MISTRAL_API_KEY" in llms["mistral"].reason
    assert registry.availability("enhancer", settings) == []


def test_missing_package_is_named(settings):
    from pipeline import registry

    registry.register("stt", "nowhere", lambda settings, model=None: None,
                      check=registry._needs_module("no_such_module_xyz", "no-such-package"))
    try:
        found = {i.name: i for i in registry.availability("stt", settings)}
        assert found["nowhere"].reason == "the no-such-package package is not installed (pip install no-such-package)"
    finally:
        registry._factories["stt"].pop("nowhere")
        registry._checks.pop(("stt", "nowhere"))
