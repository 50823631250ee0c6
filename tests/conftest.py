"""Shared fixtures: every test gets its own data dir and Gradio temp dir under tmp_path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PORTRAIT = ROOT / "assets" / "astronaut.png"
sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def studio_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("AVATAR_STUDIO_HOME", str(home))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    for variable in ("AVATAR_STUDIO_RENDERER", "AVATAR_STUDIO_VOICE", "AVATAR_STUDIO_MAX_SIDE"):
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
