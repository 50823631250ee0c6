"""The SadTalker renderer adapter, on the CPU, against a stand-in SadTalker checkout.

No SadTalker weights can be had here, so ``sadtalker_standin.build_checkout`` writes a checkout with
SadTalker's module paths, class names and call signatures backed by tiny randomly initialised
torch networks (see its docstring); the adapter's real code path imports and runs it. The stand-in
logs every call, so the tests check the exact values our controls become.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audio_fixtures import speechlike, write_wav
from conftest import ROOT, SAMPLE_PORTRAIT
from media_checks import decode_frames
from pipeline.controls import Controls
from pipeline.errors import BackendUnavailable, BadInput
from pipeline.media import probe
from pipeline.render import RenderJob, renderers, sadtalker
from pipeline.settings import resolve
from sadtalker_standin import build_checkout, calls, set_failure

SPEECH_S = 1.3


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    return build_checkout(tmp_path_factory.mktemp("sadtalker") / "SadTalker")


@pytest.fixture(autouse=True)
def sadtalker_env(monkeypatch, checkout):
    """Point SADTALKER_DIR at the stand-in, allow the CPU, start with no resident models and a clean log."""
    for variable in ("SADTALKER_SIZE", "SADTALKER_PREPROCESS", "SADTALKER_POSE_STYLE", "SADTALKER_BATCH_SIZE",
                     "SADTALKER_FP16", "SPACE_ID"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SADTALKER_DIR", str(checkout))
    monkeypatch.setenv("SADTALKER_ALLOW_CPU", "1")
    sadtalker.unload_all()
    (checkout / "calls.jsonl").unlink(missing_ok=True)
    set_failure(checkout, None)
    yield
    set_failure(checkout, None)
    sadtalker.unload_all()


@pytest.fixture
def job_dir(tmp_path) -> Path:
    """A job folder as the earlier stages leave it: the portrait copy and speech.wav."""
    folder = tmp_path / "job"
    (folder / "input").mkdir(parents=True)
    (folder / "input" / "portrait.png").write_bytes(SAMPLE_PORTRAIT.read_bytes())
    write_wav(folder / "speech.wav", speechlike(SPEECH_S, rate=22050), 22050)
    return folder


def render(job_dir: Path, controls: Controls, *, n_frames: int = 33, fps: int = 25, seed: int = 0,
           options: dict | None = None, max_side: int = 512, display_name: str | None = None) -> dict:
    """The renderer on its own, given the job as the render stage hands it over (settings from the
    environment the test set up)."""
    job = RenderJob(job_id=job_dir.name, job_dir=job_dir, settings=resolve(dotenv=False),
                    portrait=job_dir / "input" / "portrait.png", display_name=display_name,
                    speech_wav=job_dir / "speech.wav", speech_s=SPEECH_S, phonemes=None, script=None,
                    n_frames=n_frames, fps=fps, envelope=[], voiced_spans=[], controls=controls, controls_user={},
                    options=options or {}, seed=seed, max_side=max_side, out=job_dir / "render.mp4")
    return sadtalker.SadTalkerRenderer().render(job)


def last(checkout: Path, name: str) -> dict:
    return calls(checkout, name)[-1]


# -- control mapping ----------------------------------------------------------------------------
def test_controls_reach_sadtalker_as_documented(job_dir, checkout, monkeypatch):
    monkeypatch.setenv("SADTALKER_POSE_STYLE", "7")
    monkeypatch.setenv("SADTALKER_BATCH_SIZE", "3")
    info = render(job_dir, Controls(expression_intensity=0.8, head_tilt=0.25, blink_rate=1.0, mouth_openness=0.9,
                                    eyebrow_raise=0.1), seed=3)
    facerender = last(checkout, "get_facerender_data")
    assert facerender["expression_scale"] == 1.3
    assert facerender["still_mode"] is False and last(checkout, "get_data")["still"] is False
    assert facerender["input_roll_list"] == [2.0, 1.0, 2.0]
    assert facerender["input_pitch_list"] == [0.0, 1.0, 0.0]
    assert facerender["input_yaw_list"] is None  # yaw stays audio-driven
    assert (facerender["batch_size"], facerender["preprocess"], facerender["size"]) == (3, "crop", 256)
    coeff = last(checkout, "Audio2Coeff.generate")
    assert coeff["pose_style"] == 7 and coeff["ref_pose_coeff_path"] is None
    frames = last(checkout, "get_data")["num_frames"]
    assert coeff["ratio_shape"] == [1, frames, 1]
    assert coeff["ratio_gt"] == [round(float(v), 4) for v in sadtalker.blink_schedule(frames, 40.0, 3)]
    assert last(checkout, "AnimateFromCoeff.generate")["enhancer"] is None
    assert info["controls_ignored"] == ["mouth_openness", "eyebrow_raise", "emotion"]
    assert set(info["controls_honoured"]) == {"expression_intensity", "head_tilt", "blink_rate"}
    assert info["sadtalker"]["expression_scale"] == 1.3 and info["notes"] == [
        "SadTalker ignores mouth_openness, eyebrow_raise, emotion"]


def test_no_tilt_is_still_mode_and_no_blinks_is_an_open_eyed_sequence(job_dir, checkout):
    render(job_dir, Controls(expression_intensity=0.0, head_tilt=0.0, blink_rate=0.0))
    facerender = last(checkout, "get_facerender_data")
    assert facerender["expression_scale"] == 0.5 and facerender["still_mode"] is True
    assert facerender["input_roll_list"] is None and facerender["input_pitch_list"] is None
    assert last(checkout, "get_data")["still"] is True
    assert set(last(checkout, "Audio2Coeff.generate")["ratio_gt"]) == {0.0}


@pytest.mark.parametrize("tilt, frames, roll, pitch", [
    (1.0, 100, [8.0, 4.0, 8.0], [0.0, 4.0, 0.0]),
    (0.5, 100, [4.0, 2.0, 4.0], [0.0, 2.0, 0.0]),
    (0.0001, 100, [0.0008, 0.0004, 0.0008], [0.0, 0.0004, 0.0]),  # neighbours always differ, as SadTalker needs
    (0.5, 2, [4.0], [0.0]),  # too short to interpolate
])
def test_head_tilt_angle_lists(tilt, frames, roll, pitch):
    plan = sadtalker.plan_controls(Controls(head_tilt=tilt), sadtalker_frames=frames)
    assert (plan.input_roll_list, plan.input_pitch_list, plan.still_mode) == (roll, pitch, False)


def test_blink_rate_sets_blinks_per_minute():
    minute = 60 * sadtalker.SADTALKER_FPS

    def blinks(rate):
        ratio = sadtalker.blink_schedule(minute, sadtalker.plan_controls(
            Controls(blink_rate=rate), sadtalker_frames=minute).blinks_per_minute, seed=1)
        return int(np.sum(ratio == 1.0))

    assert blinks(0.0) == 0
    assert 10 <= blinks(0.5) <= 25 and 28 <= blinks(1.0) <= 52
    ratio = sadtalker.blink_schedule(minute, 17.0, seed=1)
    peak = int(np.argmax(ratio))
    assert list(ratio[peak - 2:peak + 3]) == list(np.float32(sadtalker.BLINK_SHAPE))


# -- inputs, resident models, output -----------------------------------------------------------
def test_sadtalker_gets_copies_and_the_job_files_stay(job_dir, checkout):
    portrait, speech = job_dir / "input" / "portrait.png", job_dir / "speech.wav"
    before = portrait.read_bytes(), speech.read_bytes()
    render(job_dir, Controls())
    assert (portrait.read_bytes(), speech.read_bytes()) == before
    scratch = job_dir / "sadtalker-work" / "input"
    assert Path(last(checkout, "CropAndExtract.generate")["input_path"]).parent == scratch
    assert Path(last(checkout, "get_data")["audio_path"]) == scratch / "speech.wav"
    assert Path(last(checkout, "AnimateFromCoeff.generate")["pic_path"]).parent == scratch
    assert not (job_dir / "sadtalker-work").exists(), "the scratch folder is cleaned up"


def test_models_stay_resident_between_jobs(job_dir, checkout, tmp_path):
    render(job_dir, Controls())
    render(job_dir, Controls(head_tilt=0.9))
    loads = [c["call"] for c in calls(checkout) if c["call"].endswith("__init__")]
    assert loads == ["CropAndExtract.__init__", "Audio2Coeff.__init__", "AnimateFromCoeff.__init__"]
    assert len(calls(checkout, "AnimateFromCoeff.generate")) == 2
    assert last(checkout, "CropAndExtract.__init__")["cwd"] == str(checkout)  # its face detector's relative path
    render(job_dir, Controls(), options={"size": 512})  # another checkpoint: loaded once more
    assert len(calls(checkout, "Audio2Coeff.__init__")) == 2 and last(checkout, "init_path")["size"] == 512


@pytest.mark.parametrize("n_frames, fps", [(33, 25), (40, 25), (20, 25), (37, 30)])
def test_output_has_exactly_the_frames_asked_for(job_dir, n_frames, fps):
    info = render(job_dir, Controls(), n_frames=n_frames, fps=fps)
    video = probe(job_dir / "render.mp4")
    assert video.audio is None and (video.video.codec, video.video.pix_fmt, video.video.fps) == ("h264", "yuv420p", fps)
    assert len(decode_frames(job_dir / "render.mp4")) == n_frames == info["frames"]
    assert (video.video.width, video.video.height) == (info["width"], info["height"]) == (256, 256)


def test_full_preprocess_fits_max_side(job_dir, checkout):
    info = render(job_dir, Controls(), options={"preprocess": "full"}, max_side=320)
    assert last(checkout, "AnimateFromCoeff.__init__")["facerender_yaml"] == "facerender_still.yaml"
    assert last(checkout, "get_facerender_data")["preprocess"] == "full"
    assert max(info["width"], info["height"]) <= 320 and info["width"] % 2 == info["height"] % 2 == 0


def test_full_render_through_the_runner(runner, tmp_path, checkout):
    from pipeline.runner import RenderRequest

    speech = write_wav(tmp_path / "take.wav", speechlike(SPEECH_S, rate=22050), 22050)
    job = runner.render(RenderRequest(image=SAMPLE_PORTRAIT, audio=speech, backend="sadtalker",
                                      controls={"head_tilt": 0.6, "expression_intensity": 0.2}))
    assert job.status == "done", job.error
    job_dir = runner.settings.job_dir(job.id)
    n_frames = json.loads((job_dir / "analysis.json").read_text())["n_frames"]
    output = probe(job.video_path)
    assert output.video.codec == "h264" and output.audio.codec == "aac"
    assert len(decode_frames(job_dir / "render.mp4")) == n_frames
    assert abs(output.duration_s - SPEECH_S) <= 1 / 25 + 0.03
    recorded = json.loads((job_dir / "render.json").read_text())
    assert recorded["backend"] == "sadtalker" and recorded["sadtalker"]["expression_scale"] == 0.7
    assert recorded["sadtalker"]["input_roll_list"] == [4.8, 2.4, 4.8]
    assert "SadTalker ignores mouth_openness, eyebrow_raise, emotion" in job.notes
    assert job.controls_ignored == ["mouth_openness", "eyebrow_raise", "emotion"]  # on the job row too


# -- what is missing, said clearly --------------------------------------------------------------
def _not_a_checkout(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("SADTALKER_DIR", str(tmp_path / "empty"))


def _unset(tmp_path, monkeypatch):
    monkeypatch.delenv("SADTALKER_DIR")


def _nowhere(tmp_path, monkeypatch):
    monkeypatch.setenv("SADTALKER_DIR", str(tmp_path / "nowhere"))


def _no_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("SADTALKER_DIR", str(build_checkout(tmp_path / "bare", checkpoints=False, face_weights=False)))


def _no_512(tmp_path, monkeypatch):
    monkeypatch.setenv("SADTALKER_DIR", str(build_checkout(tmp_path / "small", sizes=(256,))))
    monkeypatch.setenv("SADTALKER_SIZE", "512")


def _no_cuda(tmp_path, monkeypatch):
    import torch

    monkeypatch.delenv("SADTALKER_ALLOW_CPU")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("setup, message", [
    (_unset, "SADTALKER_DIR is not set — clone github.com/OpenTalker/SadTalker"),
    (_nowhere, "does not exist — point it at a SadTalker checkout"),
    (_not_a_checkout, r"is not a SadTalker checkout \(no src/utils/init_path.py, "),
    (_no_checkpoints, "SadTalker checkpoints missing in .*: checkpoints/SadTalker_V0.0.2_256.safetensors, "
                      "checkpoints/mapping_00229-model.pth.tar, gfpgan/weights/alignment_WFLW_4HG.pth, "
                      "gfpgan/weights/detection_Resnet50_Final.pth — run `bash scripts/download_models.sh`"),
    (_no_512, r"missing in .*: checkpoints/SadTalker_V0.0.2_512.safetensors — run"),
    (_no_cuda, "SadTalker needs a CUDA GPU and none is available — .* or set SADTALKER_ALLOW_CPU=1"),
])
def test_missing_pieces_are_named(setup, message, tmp_path, monkeypatch, job_dir):
    setup(tmp_path, monkeypatch)
    settings = resolve(dotenv=False)
    found = {item.name: item for item in renderers.availability(settings)}["sadtalker"]
    assert not found.ready and re.search(message, found.reason)
    honours = sadtalker.SadTalkerRenderer().capabilities(settings).controls
    assert set(honours) == {"expression_intensity", "head_tilt", "blink_rate"}
    with pytest.raises(BackendUnavailable, match=message):
        render(job_dir, Controls())
    with pytest.raises(BackendUnavailable, match=message):
        sadtalker.SadTalkerRenderer().check_inputs(SAMPLE_PORTRAIT, settings=settings)


def test_ready_with_the_standin():
    found = {item.name: item for item in renderers.availability(resolve(dotenv=False))}["sadtalker"]
    assert found.ready, found.reason


def test_missing_sadtalker_dependencies_say_how_to_install_them(tmp_path, monkeypatch, job_dir):
    broken = build_checkout(tmp_path / "broken")
    animate = broken / "src" / "facerender" / "animate.py"
    animate.write_text("import facexlib_not_installed_here\n" + animate.read_text())
    monkeypatch.setenv("SADTALKER_DIR", str(broken))
    with pytest.raises(BackendUnavailable, match=r"SadTalker's own dependencies are missing .*facexlib_not_installed_"
                                                 r"here.* bash scripts/setup.sh --gpu"):
        render(job_dir, Controls())


def test_a_photo_without_a_face(job_dir):
    Image.new("RGB", (300, 300), (128, 128, 128)).save(job_dir / "input" / "portrait.png")
    with pytest.raises(BadInput, match="SadTalker found no face in wall.png — use a well-lit, front-facing photo"):
        render(job_dir, Controls(), display_name="wall.png")
    assert not (job_dir / "render.mp4").exists()


def test_landmark_failure_is_no_face_too(job_dir, checkout):
    set_failure(checkout, "landmark")
    with pytest.raises(BadInput, match=r"SadTalker found no face in portrait.png .*\(TypeError"):
        render(job_dir, Controls())


@pytest.mark.parametrize("size, hint", [(256, "set SADTALKER_BATCH_SIZE=1 and resume"),
                                        (512, "set SADTALKER_BATCH_SIZE=1 or SADTALKER_SIZE=256 and resume")])
def test_out_of_gpu_memory_suggests_smaller_settings(job_dir, checkout, size, hint):
    set_failure(checkout, "oom")
    with pytest.raises(BackendUnavailable, match=rf"SadTalker ran out of GPU memory \(size {size}, batch size 2\) — "
                                                 rf"{hint}.*embedded renderer"):
        render(job_dir, Controls(), options={"size": size})
    assert not (job_dir / "render.mp4").exists() and not (job_dir / "sadtalker-work").exists()


def out_of_memory_job(runner, tmp_path, checkout):
    """A SadTalker job that failed in its render stage: the stand-in ran out of GPU memory."""
    from pipeline.errors import StudioError
    from pipeline.runner import RenderRequest

    set_failure(checkout, "oom")
    speech = write_wav(tmp_path / "take.wav", speechlike(SPEECH_S, rate=22050), 22050)
    with pytest.raises(StudioError) as caught:
        runner.render(RenderRequest(image=SAMPLE_PORTRAIT, audio=speech, backend="sadtalker"))
    return runner.store.get(caught.value.job_id)


def test_a_failed_sadtalker_job_fails_cleanly_in_the_runner(runner, tmp_path, checkout):
    job = out_of_memory_job(runner, tmp_path, checkout)
    assert (job.status, job.error_stage) == ("failed", "render") and "out of GPU memory" in job.error
    set_failure(checkout, None)
    assert runner.resume(job.id).status == "done"


def test_a_failed_sadtalker_job_resumes_on_another_backend(runner, tmp_path, checkout):
    from pipeline.errors import MissingKey

    failed = out_of_memory_job(runner, tmp_path, checkout)
    job_dir = runner.settings.job_dir(failed.id)
    spoken = (job_dir / "speech.wav").stat().st_mtime_ns

    with pytest.raises(MissingKey, match="HEYGEN_API_KEY"):  # a renderer that cannot run leaves the job alone
        runner.resume(failed.id, backend="heygen")
    assert runner.store.get(failed.id).backend == "sadtalker"

    done = runner.resume(failed.id, backend="embedded")
    assert (done.status, done.backend, done.controls_ignored) == ("done", "embedded", None)
    assert json.loads((job_dir / "render.json").read_text())["backend"] == "embedded"
    assert (job_dir / "speech.wav").stat().st_mtime_ns == spoken  # the speech was kept, not made again
    assert done.timings["speech"] == failed.timings["speech"]
    assert abs(probe(done.video_path).duration_s - SPEECH_S) <= 1 / 25 + 0.03
    assert "renderer changed from sadtalker to embedded" in (job_dir / "job.log").read_text()


def test_bad_backend_options():
    settings, renderer = resolve(dotenv=False), sadtalker.SadTalkerRenderer()
    with pytest.raises(BadInput, match="^SadTalker size must be one of 256, 512, got 384$"):
        renderer.check_options({"size": 384}, settings)
    with pytest.raises(BadInput, match="^SadTalker does not take 'enhancer'; it takes: size, preprocess, pose_style, "
                                       "batch_size$"):
        renderer.check_options({"enhancer": "gfpgan"}, settings)
    for name, value, wanted in (("pose_style", 1.5, "pose style must be a whole number from 0 to 45"),
                                ("size", "big", "size must be one of 256, 512"),
                                ("batch_size", True, "batch size must be a whole number from 1 to 64"),
                                ("size", "5l2", "size must be one of 256, 512")):
        with pytest.raises(BadInput, match=re.escape(f"SadTalker {wanted}, got {value!r}")):
            renderer.check_options({name: value}, settings)
    assert renderer.check_options({"size": "512", "pose_style": 3.0}, settings) == {
        "size": 512, "preprocess": "crop", "pose_style": 3, "batch_size": 2}


# -- ZeroGPU ------------------------------------------------------------------------------------
@pytest.fixture
def fake_spaces(tmp_path, monkeypatch):
    """A ``spaces`` package on sys.path whose ``GPU(duration=)`` marks the function it decorates."""
    package = tmp_path / "fake_spaces"
    package.mkdir()
    (package / "spaces.py").write_text(
        "def GPU(duration=60):\n"
        "    def mark(function):\n"
        "        function.zero_gpu_duration = duration\n"
        "        return function\n"
        "    return mark\n")
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.delitem(sys.modules, "spaces", raising=False)
    return package


def test_gpu_task_is_spaces_gpu_in_a_space(fake_spaces, monkeypatch):
    from pipeline.gpu import gpu_task

    monkeypatch.setenv("SPACE_ID", "someone/avatar-studio")

    @gpu_task(90)
    def work():
        return "done"

    assert work.zero_gpu_duration == 90 and work() == "done"
    try:
        reloaded = importlib.reload(sadtalker)
        assert reloaded.run_sadtalker.zero_gpu_duration == sadtalker.GPU_SECONDS
    finally:
        monkeypatch.delenv("SPACE_ID")
        importlib.reload(sadtalker)


def test_gpu_task_is_a_no_op_elsewhere(fake_spaces, monkeypatch):
    from pipeline.gpu import gpu_task

    monkeypatch.delenv("SPACE_ID", raising=False)

    def work():
        return "done"

    assert gpu_task(90)(work) is work and "spaces" not in sys.modules
    monkeypatch.setenv("SPACE_ID", "someone/avatar-studio")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(fake_spaces)])
    assert gpu_task(90)(work) is work, "no spaces package: still a no-op"


# -- scripts/patch_sadtalker.py: the two names newer numpy and Pillow removed ----------------------
def test_patch_script_swaps_removed_names_once_and_says_so(tmp_path):
    """A checkout-shaped tree with lines of our own that use the removed names (not SadTalker's code)."""
    import subprocess

    awing = tmp_path / "src/face3d/util/my_awing_arch.py"
    croper = tmp_path / "src/utils/croper.py"
    awing.parent.mkdir(parents=True)
    croper.parent.mkdir(parents=True)
    awing.write_text("points = heat.astype(np.float)\nkeep = np.float32(1) + np.float_(0)\n")
    croper.write_text("small = photo.resize(size, Image.ANTIALIAS)\n")
    script = [sys.executable, str(ROOT / "scripts/patch_sadtalker.py"), str(tmp_path)]

    first = subprocess.run(script, capture_output=True, text=True, check=True).stdout
    assert "np.float → np.float64 (1×)" in first and "Image.ANTIALIAS → Image.LANCZOS (1×)" in first
    assert awing.read_text() == "points = heat.astype(np.float64)\nkeep = np.float32(1) + np.float_(0)\n"
    assert croper.read_text() == "small = photo.resize(size, Image.LANCZOS)\n"
    again = subprocess.run(script, capture_output=True, text=True, check=True).stdout
    assert again.count("already fine") == 2

    croper.unlink()
    missing = subprocess.run(script, capture_output=True, text=True)
    assert missing.returncode == 1 and "src/utils/croper.py is missing" in missing.stderr
