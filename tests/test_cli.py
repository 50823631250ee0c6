"""``python app.py …`` as a script or a person uses it: real processes, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from media_checks import decode_frames
from pipeline.jobs import JobStore
from pipeline.media import probe


def app(*args, timeout=180):
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy(), cwd=ROOT)


def test_render_json_is_one_object_with_a_valid_mp4(tmp_path, studio_home):
    out = tmp_path / "clip.mp4"
    result = app("render", "--image", "assets/astronaut.png", "--text", "Good morning. Shall we begin?",
                 "--set", "head_tilt=0.8", "--emotion", "happy", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "nothing but errors on stderr (no native library chatter)"
    payload = json.loads(result.stdout)
    assert set(payload) >= {"job_id", "status", "video", "duration_s", "controls", "emotion", "timings"}
    assert payload["status"] == "done" and payload["emotion"] == "happy"
    assert payload["controls"]["head_tilt"] == 0.8
    info = probe(out)
    assert (info.video.codec, info.audio.codec, info.video.fps) == ("h264", "aac", 25.0)
    assert abs(len(decode_frames(out)) / 25 - payload["duration_s"]) <= 1 / 25 + 1e-6
    assert payload["video"].startswith(str(studio_home))

    listed = json.loads(app("jobs", "--json").stdout)
    assert listed[0]["job_id"] == payload["job_id"] and listed[0]["status"] == "done"


@pytest.mark.parametrize("args, message", [
    (["render", "--image", "assets/nope.png", "--text", "hi"], "error: portrait not found: nope.png"),
    (["render", "--image", "assets/astronaut.png", "--text", ""], "error: The script is empty"),
    (["render", "--image", "assets/astronaut.png", "--text", "hi", "--set", "mouth_openness=wide"],
     "error: mouth_openness must be a number between 0 and 1, got 'wide'"),
    (["render", "--image", "assets/astronaut.png", "--text", "hi", "--emotion", "smug"], "error: unknown emotion 'smug'"),
    (["resume", "20990101-000000-abcdef"], "error: no job with id '20990101-000000-abcdef'"),
])
def test_bad_input_is_one_readable_line_and_exit_2(args, message):
    result = app(*args)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_no_face_after_the_face_mesh_ran_is_still_one_line(tmp_path):
    from PIL import Image

    Image.new("RGB", (400, 300), (180, 170, 160)).save(tmp_path / "wall.jpg")
    result = app("render", "--image", str(tmp_path / "wall.jpg"), "--text", "hi")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: No face found in 'wall.jpg' — use a front-facing portrait where the face is clearly visible."]


def test_bad_input_job_is_recorded_as_failed(studio_home):
    result = app("render", "--image", "assets/nope.png", "--text", "hi", "--json")
    payload = json.loads(result.stdout)
    assert result.returncode == 2 and payload["status"] == "failed"
    assert payload["error"] == "portrait not found: nope.png"
    assert JobStore(studio_home / "studio.db").get(payload["job_id"]).status == "failed"


def test_killed_render_is_interrupted_then_resume_completes_it(studio_home):
    script = " ".join(["The quarterly numbers tell a clear story about focus and discipline."] * 6)
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "render", "--image", "assets/astronaut.png",
                                "--text", script, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=os.environ.copy(), cwd=ROOT)
    store = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if store is None and (studio_home / "studio.db").exists():
            store = JobStore(studio_home / "studio.db")
        jobs = store.list(limit=1) if store else []
        if jobs and jobs[0].stage == "render" and jobs[0].status == "running":
            time.sleep(0.3)  # a few frames into the render
            break
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.05)
    else:
        pytest.fail("the render never reached the render stage")
    process.send_signal(signal.SIGKILL)
    process.wait()
    job_id = jobs[0].id

    listed = json.loads(app("jobs", "--json").stdout)
    assert listed[0]["job_id"] == job_id and listed[0]["status"] == "interrupted"

    result = app("resume", job_id, "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["status"] == "done" and probe(payload["video"]).audio is not None
    log = (studio_home / "jobs" / job_id / "job.log").read_text()
    assert log.count("stage speech started") == 1, "resume must not redo finished stages"
    assert log.count("stage render started") == 2


def test_cli_paths_never_import_gradio(studio_home):
    code = ("import sys; sys.argv = ['app.py', 'jobs']; import app; app.main(['jobs']); "
            "assert 'gradio' not in sys.modules, 'gradio was imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_transcribe_prints_the_text_or_one_json_object(tmp_path):
    done = app("transcribe", str(ROOT / "assets" / "sample_speech.mp3"), "--json")
    assert done.returncode == 0, done.stderr
    transcript = json.loads(done.stdout)
    assert "avatar" in transcript["text"].lower() and transcript["backend"] == "faster-whisper"
    assert 6.5 < transcript["duration_s"] < 7.2
    missing = app("transcribe", str(tmp_path / "nope.wav"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and len(missing.stderr.splitlines()) == 1


def test_persona_commands_list_show_and_check_with_the_local_model(tmp_path):
    listed = app("persona", "list", "--json")
    assert {p["id"] for p in json.loads(listed.stdout)} == {"adam", "jenniel"}
    shown = app("persona", "show", "adam", "--mode", "role-play")
    assert shown.returncode == 0 and "CUSTOMER" in shown.stdout
    checked = app("persona", "check", "jenniel", "--question", "Should we chase market share?",
                  "--max-tokens", "16", "--json", timeout=300)
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert len(report["results"]) == 1 and report["results"][0]["reply"].strip() and report["backend"] == "local"
    assert 0 <= report["score"] <= 100
    unknown = app("persona", "check", "nobody")
    assert unknown.returncode == 2 and unknown.stderr.strip() == "error: no persona 'nobody'; known: adam, jenniel"


def test_a_job_sadtalker_cannot_render_finishes_on_the_embedded_renderer(studio_home):
    failed = app("render", "--image", "assets/astronaut.png", "--text", "Plan B works too.", "--backend", "sadtalker",
                 "--json")
    assert failed.returncode == 1
    payload = json.loads(failed.stdout)
    assert payload["status"] == "failed" and "SADTALKER_DIR is not set" in payload["error"]
    resumed = app("resume", payload["job_id"], "--backend", "embedded", "--json")
    assert resumed.returncode == 0, resumed.stderr
    done = json.loads(resumed.stdout)
    assert done["status"] == "done" and done["job_id"] == payload["job_id"] and probe(done["video"]).duration_s > 0.5
    assert JobStore(studio_home / "studio.db").get(payload["job_id"]).backend == "embedded"
