"""``python app.py …`` as a script or a person uses it: real processes, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, run_app
from fake_enhancer import NegatingEnhancer
from media_checks import decode_frames
from pipeline.db import JobStore
from pipeline.enhance import Enhancer, enhancers
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


# -- a renderer's own options and a face enhancer (issue 6) ----------------------------------------
@pytest.fixture
def standin_sadtalker(tmp_path_factory, monkeypatch):
    """SADTALKER_DIR pointing at the stand-in checkout (``tests/sadtalker_standin.py``: SadTalker's call
    signatures over tiny random networks), allowed on the CPU; subprocesses inherit it."""
    from sadtalker_standin import build_checkout

    from pipeline.render import sadtalker

    checkout = build_checkout(tmp_path_factory.mktemp("sadtalker") / "SadTalker")
    monkeypatch.setenv("SADTALKER_DIR", str(checkout))
    monkeypatch.setenv("SADTALKER_ALLOW_CPU", "1")
    sadtalker.unload_all()
    yield checkout
    sadtalker.unload_all()  # the in-process run keeps its models resident


def test_render_options_reach_sadtalker_and_are_recorded_on_the_job(studio_home, standin_sadtalker, capsys):
    from sadtalker_standin import calls

    code, out, err = run_app(capsys, "render", "--image", "assets/astronaut.png", "--text", "Options, please.",
                             "--backend", "sadtalker", "--option", "size=512", "--option", "preprocess=full",
                             "--option", "pose_style=11", "--option", "batch_size=1", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["status"] == "done" and probe(payload["video"]).audio is not None
    job = JobStore(studio_home / "studio.db").get(payload["job_id"])
    assert job.backend == "sadtalker"
    assert job.options["renderer_options"] == {"size": 512, "preprocess": "full", "pose_style": 11, "batch_size": 1}
    facerender = calls(standin_sadtalker, "get_facerender_data")[-1]
    assert (facerender["size"], facerender["preprocess"], facerender["batch_size"]) == (512, "full", 1)
    assert calls(standin_sadtalker, "Audio2Coeff.generate")[-1]["pose_style"] == 11


@pytest.mark.parametrize("extra, message", [
    (["--backend", "sadtalker", "--option", "size=384"], "error: SadTalker size must be one of 256, 512, got 384"),
    (["--backend", "sadtalker", "--option", "pose_style=46"],
     "error: SadTalker pose style must be a whole number from 0 to 45, got 46"),
    (["--backend", "sadtalker", "--option", "preprocess=wide"],
     "error: SadTalker preprocess must be one of crop, full, got 'wide'"),
    (["--backend", "sadtalker", "--option", "enhancer=gfpgan"],
     "error: SadTalker does not take 'enhancer'; it takes: size, preprocess, pose_style, batch_size"),
    (["--option", "size=512"], "error: the embedded renderer takes no options of its own (got size)"),
])
def test_a_bad_renderer_option_is_one_line_exit_2_and_a_failed_job(studio_home, extra, message):
    """The runner's own check refuses it at submit: no speech is made, and the history keeps the job."""
    result = app("render", "--image", "assets/astronaut.png", "--text", "hi", *extra, "--json")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [message]
    payload = json.loads(result.stdout)
    job = JobStore(studio_home / "studio.db").get(payload["job_id"])
    assert (job.status, job.error_stage, job.error) == ("failed", "inputs", message.removeprefix("error: "))
    assert "speech" not in job.timings


def test_a_word_where_sadtalker_wants_a_number_is_one_line_too(studio_home):
    result = app("render", "--image", "assets/astronaut.png", "--text", "hi", "--backend", "sadtalker",
                 "--option", "size=big", "--json")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: SadTalker size") and "big" in result.stderr
    assert JobStore(studio_home / "studio.db").get(json.loads(result.stdout)["job_id"]).status == "failed"


@pytest.mark.parametrize("option", ["size", "=512", "size="])
def test_an_option_that_is_not_key_value_is_refused_before_any_job(studio_home, option):
    result = app("render", "--image", "assets/astronaut.png", "--text", "hi", "--option", option)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: --option expects KEY=VALUE, e.g. --option size=512; got {option!r}"]
    assert not (studio_home / "studio.db").exists() or JobStore(studio_home / "studio.db").list() == []


def test_option_values_are_numbers_when_they_look_like_numbers():
    from cli.render import parse_options

    assert parse_options(["size=512", "scale= 1.5 ", "preprocess=full", "pose_style=-3", "mode=nan"]) == {
        "size": 512, "scale": 1.5, "preprocess": "full", "pose_style": -3, "mode": "nan"}
    assert isinstance(parse_options(["size=512"])["size"], int)


def test_an_unknown_enhancer_is_one_line_and_a_failed_job(studio_home):
    result = app("render", "--image", "assets/astronaut.png", "--text", "hi", "--enhance", "codeformer", "--json")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: enhancer 'codeformer' not found; known: ")
    job = JobStore(studio_home / "studio.db").get(json.loads(result.stdout)["job_id"])
    assert job.status == "failed" and job.error.startswith("enhancer 'codeformer' not found")


class MissingWeightsEnhancer(Enhancer):
    """An enhancer whose weights are not there: its check names the setting to fix."""

    name = "weightless"

    @classmethod
    def unavailable(cls, settings) -> str | None:
        return "no weights at /nowhere/weights.pth — set TEST_ENHANCER_WEIGHTS to the file"

    def enhance(self, src, dst, *, settings, progress=None, keep_audio=False) -> dict:
        raise AssertionError("an enhancer that is not ready is never run")


@pytest.fixture
def outside_enhancers():
    with enhancers.registered("negate", NegatingEnhancer), enhancers.registered("weightless", MissingWeightsEnhancer):
        yield


def test_enhance_runs_the_named_enhancer_and_the_video_is_built_from_its_output(studio_home, outside_enhancers,
                                                                                 capsys):
    code, out, err = run_app(capsys, "render", "--image", "assets/astronaut.png", "--text", "Sharper, please.",
                             "--enhance", "negate", "--json")
    assert code == 0, err
    payload = json.loads(out)
    job_dir = studio_home / "jobs" / payload["job_id"]
    assert payload["status"] == "done" and "enhance" in payload["timings"]
    assert json.loads((job_dir / "enhance.json").read_text())["enhancer"] == "negate"
    rendered, delivered = decode_frames(job_dir / "render.mp4"), decode_frames(payload["video"])
    assert len(rendered) == len(delivered)
    middle = len(rendered) // 2  # the delivered frame is the negated render (give or take the codec)
    assert np.abs(255 - rendered[middle].astype(int) - delivered[middle].astype(int)).mean() < 6
    assert JobStore(studio_home / "studio.db").get(payload["job_id"]).options["enhancer"] == "negate"


def test_an_enhancer_that_cannot_run_is_one_line_and_a_failed_job(studio_home, outside_enhancers, capsys):
    code, out, err = run_app(capsys, "render", "--image", "assets/astronaut.png", "--text", "hi",
                             "--enhance", "weightless", "--json")
    assert code == 1
    assert err.splitlines() == ["error: no weights at /nowhere/weights.pth — set TEST_ENHANCER_WEIGHTS to the file"]
    job = JobStore(studio_home / "studio.db").get(json.loads(out)["job_id"])
    assert (job.status, job.error_stage) == ("failed", "inputs") and "speech" not in job.timings


def test_render_help_lists_sadtalker_options_and_enhance():
    result = app("render", "--help")
    assert result.returncode == 0
    help_text = " ".join(result.stdout.split())
    assert "embedded (default), sadtalker" in help_text
    assert "--option KEY=VALUE" in help_text and "size=256|512, preprocess=crop|full" in help_text
    assert "--enhance NAME" in help_text and "gfpgan" in help_text


def test_out_of_range_controls_are_clamped_with_a_note_and_out_makes_its_folder(tmp_path, studio_home, capsys):
    out = tmp_path / "new" / "deeper" / "clip.mp4"
    code, stdout, err = run_app(capsys, "render", "--image", "assets/astronaut.png", "--text", "Hi there.",
                                "--set", "mouth_openness=1.7", "--set", "blink_rate=-0.2", "--out", str(out))
    assert code == 0, err
    notes = ["mouth_openness 1.7 is outside 0–1; used 1.0", "blink_rate -0.2 is outside 0–1; used 0.0"]
    assert [line for line in stdout.splitlines() if line.startswith("note: ")] == [f"note: {n}" for n in notes]
    assert probe(out).audio is not None
    [job] = JobStore(studio_home / "studio.db").list()
    assert job.notes == notes and job.controls_user == {"mouth_openness": 1.7, "blink_rate": -0.2}
    assert (job.controls_final["mouth_openness"], job.controls_final["blink_rate"]) == (1.0, 0.0)
