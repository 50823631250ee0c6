"""A renderer from outside the project, installed the way a package would be, used everywhere.

The plugin is one file (``still_renderer.py``: the portrait held still, with an option of its own)
beside a ``still_renderer-1.0.dist-info`` folder declaring it under the ``avatar_studio.renderers``
entry point group: exactly what ``pip install`` leaves in site-packages. Nothing in the core
names it. The tests check it then shows up and works in the CLI (a real ``app.py render`` in a
subprocess with the folder on ``PYTHONPATH``), in the registry, and in the studio: the Render
lab's backend list, an options panel built from its spec, and the ``/render`` API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import SAMPLE_PORTRAIT, free_port
from pipeline.media import probe, verify_video

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
"""A renderer in one file: the portrait, held still, optionally in sepia."""

import numpy as np

from pipeline.face.portrait import load_portrait
from pipeline.media import VideoWriter
from pipeline.render import Capabilities, OptionSpec, Renderer

SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])


class StillRenderer(Renderer):
    name = "still"
    label = "Still"

    def capabilities(self, settings):
        return Capabilities(controls={}, options=(
            OptionSpec("tint", "choice", "none", "a colour cast over the photo", choices=("none", "sepia")),))

    def render(self, job):
        image = load_portrait(job.portrait, max_side=job.max_side).image
        if job.options["tint"] == "sepia":
            image = np.clip(image.astype(np.float32) @ SEPIA.T, 0, 255).astype(np.uint8)
        height, width = image.shape[:2]
        with VideoWriter(job.out, width=width, height=height, fps=job.fps) as writer:
            for index in range(job.n_frames):
                writer.write(image)
                job.progress((index + 1) / job.n_frames)
        return {"frames": job.n_frames, "width": width, "height": height,
                "notes": [f"held still, tint {job.options['tint']}"], "controls_ignored": ["all of them"]}
'''


@pytest.fixture
def plugin_dir(tmp_path) -> Path:
    """A folder laid out like site-packages after ``pip install still-renderer``."""
    site = tmp_path / "site"
    info = site / "still_renderer-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "still_renderer.py").write_text(textwrap.dedent(PLUGIN))
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: still-renderer\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[avatar_studio.renderers]\nstill = still_renderer:StillRenderer\n")
    return site


@pytest.fixture
def installed(plugin_dir, monkeypatch):
    """The plugin importable in this process and read by the renderer registry; gone afterwards."""
    from pipeline.render import renderers

    monkeypatch.syspath_prepend(str(plugin_dir))
    renderers.refresh()
    yield renderers
    renderers.unregister("still")
    sys.modules.pop("still_renderer", None)


def test_the_cli_renders_with_an_installed_renderer(plugin_dir, studio_home):
    env = {**os.environ, "PYTHONPATH": str(plugin_dir), "AVATAR_STUDIO_HOME": str(studio_home)}
    done = subprocess.run([sys.executable, "app.py", "render", "--backend", "still", "--option", "tint=sepia",
                           "--image", str(SAMPLE_PORTRAIT), "--text", "Still here.", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    listed = subprocess.run([sys.executable, "app.py", "backends", "--kind", "renderer", "--json"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    [still] = [entry for entry in json.loads(listed.stdout)["renderer"] if entry["name"] == "still"]
    assert still["ready"] and still["honours"] == {} and [o["name"] for o in still["options"]] == ["tint"]
    assert result["status"] == "done"
    assert "held still, tint sepia" in result["notes"]
    video = probe(Path(result["video"]))
    assert video.audio is not None and video.video is not None
    checked = verify_video(Path(result["video"]))
    assert checked.frames > 0
    bad = subprocess.run([sys.executable, "app.py", "render", "--backend", "still", "--option", "tint=blue",
                          "--image", str(SAMPLE_PORTRAIT), "--text", "Still here.", "--json"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == "error: Still tint must be one of none, sepia, got 'blue'"


def test_the_registry_lists_it_with_its_capabilities(installed, settings):
    assert "still" in installed.names()
    assert installed.unavailable("still", settings) is None
    capabilities = installed.create("still", settings).capabilities(settings)
    assert [spec.name for spec in capabilities.options] == ["tint"]
    assert capabilities.ignored == ["blink_rate", "head_tilt", "expression_intensity", "mouth_openness",
                                    "eyebrow_raise", "emotion"]


def test_an_entry_point_that_does_not_import_is_listed_as_unavailable(plugin_dir, monkeypatch, settings):
    from pipeline.registry import Registry

    (plugin_dir / "still_renderer-1.0.dist-info" / "entry_points.txt").write_text(
        "[avatar_studio.renderers]\nbroken = no_such_module_here:Renderer\n")
    monkeypatch.syspath_prepend(str(plugin_dir))
    mine = Registry("renderer", "avatar_studio.renderers")
    assert "broken" in mine.names()
    assert "could not be loaded" in mine.unavailable("broken", settings)


def test_the_studio_offers_it_with_an_options_panel_and_renders_through_the_api(installed, settings):
    from gradio_client import Client, handle_file

    from studio.app import build_app, launch_options

    app = build_app(settings)
    components = {c.get("props", {}).get("elem_id"): c for c in app.config["components"]}
    assert "lab-still-options" in components, "an options panel built from the plugin's spec"
    assert [list(choice) for choice in components["lab-still-tint"]["props"]["choices"]] == [["none", "none"], ["sepia", "sepia"]]
    backend = components["lab-backend"]["props"]["choices"]
    assert ("still", "still") in [tuple(choice) for choice in backend]
    app.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                       **launch_options(settings))
    try:
        client = Client(app.local_url, verbose=False)
        video, details = client.predict(portrait=handle_file(str(SAMPLE_PORTRAIT)), script="Hold still.",
                                        backend="still", renderer_options={"tint": "sepia"}, api_name="/render")
    finally:
        app.close()
    assert details["status"] == "done" and details["backend"] == "still"
    assert details["renderer_options"] == {"tint": "sepia"}
    assert Path(video).is_file()
