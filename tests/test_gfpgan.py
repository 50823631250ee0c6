"""The gfpgan face enhancer, on real embedded renders.

Two halves:

- **Any install** (the default one has no ``gfpgan``): the streaming machinery that surrounds the
  network (``pipeline.enhance.restore``: track, align, restore, smooth over time, paste back) runs on a real
  render through ``enhance_video``, with stand-in restorers in place of the network — plain
  functions of the aligned crop: one that darkens it (to see exactly where the face is pasted), the crop
  itself, and one that adds fresh seeded noise every frame, as a restoration network invents
  slightly different skin texture on frames that differ only by codec noise. Then the settings, the
  "package missing" and "weights missing" messages, and a job refused at submit.
- **The GPU stack** (``gfpgan`` installed; CI's ``.venv-gpu``, where
  ``AVATAR_STUDIO_REQUIRE_GPU_STACK=1`` turns a missing package into a failure instead of a skip):
  the real gfpgan architecture (``GFPGANv1Clean`` as ``GFPGANer`` builds it for v1.3/v1.4) with
  random weights, seeded, saved to a temp file and loaded through our real loading code, runs on a
  few frames (5 fps, 256 px) of a real render in a full ``Runner`` job; wrong checkpoints give their
  messages. Random weights restore nothing and their output hardly depends on the input, so the
  flicker test uses the noisy stand-in above: the full-size network on two CPU cores takes seconds a
  frame, and that is why the network's own tests are kept to a handful of frames.
"""

from __future__ import annotations

import json
import os
from importlib.util import find_spec
from pathlib import Path

import cv2
import numpy as np
import pytest

from audio_fixtures import write_wav
from media_checks import decode_frames
from pipeline.enhance import enhancers, gfpgan
from pipeline.enhance.gfpgan import SADTALKER_GFPGAN_WEIGHTS, GFPGANSettings
from pipeline.enhance.restore import copy_audio, enhance_video
from pipeline.errors import BackendUnavailable, BadInput, UnknownBackend
from pipeline.media import VideoReader, VideoWriter, mux, probe
from pipeline.face.mesh import eye_centres, find_faces
from pipeline.runner import RenderRequest, Runner
from pipeline.settings import resolve

REQUIRE_GPU_STACK = os.environ.get("AVATAR_STUDIO_REQUIRE_GPU_STACK") == "1"
CODEC_NOISE = 3.0  # mean grey levels two H.264 generations (crf 20, then 18) may move a still region


@pytest.fixture(autouse=True)
def no_gfpgan_env(monkeypatch):
    for variable in ("GFPGAN_WEIGHTS", "GFPGAN_SMOOTHING", "SPACE_ID"):
        monkeypatch.delenv(variable, raising=False)


def module_settings(tmp_path_factory, model_cache, name: str):
    """Settings with their own data dir, for module-scoped jobs (the autouse one is per test)."""
    home = tmp_path_factory.mktemp(name)
    return resolve({"AVATAR_STUDIO_HOME": str(home), "AVATAR_STUDIO_CACHE": str(model_cache)}, dotenv=False)


@pytest.fixture(scope="module")
def render_job(tmp_path_factory, model_cache, portrait):
    """A real embedded render, 25 fps, 256 px, no enhancer: (settings, job folder)."""
    settings = module_settings(tmp_path_factory, model_cache, "render")
    job = Runner(settings).render(RenderRequest(image=portrait, text="Hello there, how are you.", max_side=256))
    assert job.status == "done", job.error
    return settings, settings.job_dir(job.id)


def rendered_frames(job_dir: Path) -> int:
    """How many frames the renderer says it wrote."""
    return json.loads((job_dir / "render.json").read_text())["frames"]


@pytest.fixture(scope="module")
def face_regions(render_job):
    """Patches of the first frame's face (rows, cols): cheeks (still while talking), the mouth, and
    the part of the frame well away from the face."""
    frame = decode_frames(render_job[1] / "render.mp4")[0]
    face = find_faces(frame)[0]
    left, right = eye_centres(face.landmarks)
    iod = float(np.hypot(*(right - left)))
    middle = (left + right) / 2

    def patch(centre, half):
        x, y = centre
        return slice(int(y - half), int(y + half)), slice(int(x - half), int(x + half))

    x0, y0, x1, y1 = face.bbox
    far = np.ones(frame.shape[:2], bool)
    far[max(0, y0 - int(0.6 * iod)): y1 + int(0.6 * iod), max(0, x0 - int(0.6 * iod)): x1 + int(0.6 * iod)] = False
    return {"cheeks": [patch(left + (0, 0.6 * iod), 0.15 * iod), patch(right + (0, 0.6 * iod), 0.15 * iod)],
            "mouth": patch(middle + (0, 1.1 * iod), 0.2 * iod), "far": far}


def frame_to_frame(frames: np.ndarray, region) -> float:
    """Mean absolute change between consecutive frames inside ``region`` (grey levels)."""
    patch = frames[:, region[0], region[1]].astype(np.float64)
    return float(np.abs(np.diff(patch, axis=0)).mean())


def darken(aligned: np.ndarray) -> np.ndarray:
    """A stand-in restorer whose work is easy to find: the face 50 grey levels darker."""
    return np.clip(aligned.astype(np.float32) - 50.0, 0, 255)


def flickering(seed: int):
    """A stand-in restorer that adds new, seeded, slightly blurred noise to every crop it sees."""
    rng = np.random.default_rng(seed)

    def restore(aligned: np.ndarray) -> np.ndarray:
        noise = cv2.GaussianBlur(rng.normal(0.0, 1.0, aligned.shape[:2]).astype(np.float32), (0, 0), 2.0)
        return np.clip(aligned.astype(np.float32) + (20.0 / noise.std()) * noise[..., None], 0, 255)

    return restore


# -- the streaming machinery, with stand-in restorers (any install) -------------------------------
def test_video_reader_streams_every_frame(render_job):
    video = render_job[1] / "render.mp4"
    info = probe(video).video
    with VideoReader(video) as reader:
        shapes = {frame.shape for frame in reader}
        assert reader.frames_read == rendered_frames(render_job[1]) > 25
    assert shapes == {(info.height, info.width, 3)}
    with VideoReader(video) as reader:  # leaving early stops ffmpeg (waiting for it would hang on a full pipe)
        first = next(iter(reader))
    assert first.dtype == np.uint8 and reader.frames_read == 1


def test_only_the_face_is_restored_and_the_video_keeps_its_shape(render_job, face_regions, tmp_path):
    source = render_job[1] / "render.mp4"
    counts = enhance_video(source, tmp_path / "darkened.mp4", darken, smoothing=0.6)
    before, after = probe(source).video, probe(tmp_path / "darkened.mp4").video
    assert (after.width, after.height, after.fps, after.codec) == (before.width, before.height, before.fps, "h264")
    original, darkened = decode_frames(source), decode_frames(tmp_path / "darkened.mp4")
    assert len(darkened) == len(original) == counts.frames == counts.faces_restored == rendered_frames(render_job[1])
    assert counts.frames_without_face == 0
    change = np.abs(darkened.astype(np.float64) - original).mean(axis=(0, 3))
    assert change[face_regions["far"]].mean() < CODEC_NOISE, "hair, suit and background are left alone"
    for cheek in face_regions["cheeks"]:
        darker = (original[:, cheek[0], cheek[1]].astype(np.float64) - darkened[:, cheek[0], cheek[1]]).mean()
        assert darker > 45, "the restored face is pasted back where the face is, fully inside it"


def test_smoothing_calms_a_flickering_restorer_where_the_face_is_still(render_job, face_regions, tmp_path, settings):
    source = render_job[1] / "render.mp4"
    smoothing = GFPGANSettings.of(settings).smoothing
    assert smoothing == 0.6
    enhance_video(source, tmp_path / "raw.mp4", flickering(0), smoothing=0.0)
    enhance_video(source, tmp_path / "smooth.mp4", flickering(0), smoothing=smoothing)
    original, raw, smooth = (decode_frames(path) for path in (source, tmp_path / "raw.mp4", tmp_path / "smooth.mp4"))
    for cheek in face_regions["cheeks"]:
        still, flicker, calmed = (frame_to_frame(frames, cheek) for frames in (original, raw, smooth))
        assert still < CODEC_NOISE, "the cheeks hardly move in the render"
        assert flicker > 3 * still, "the stand-in flickers"
        assert calmed < 0.5 * flicker, f"smoothing keeps the cheeks still: {calmed:.2f} vs {flicker:.2f}"


def test_smoothing_does_not_hold_back_the_mouth(render_job, face_regions, tmp_path):
    source = render_job[1] / "render.mp4"
    enhance_video(source, tmp_path / "off.mp4", lambda aligned: aligned, smoothing=0.0)
    enhance_video(source, tmp_path / "on.mp4", lambda aligned: aligned, smoothing=1.0)
    original, off, on = (decode_frames(path) for path in (source, tmp_path / "off.mp4", tmp_path / "on.mp4"))
    talking = frame_to_frame(original, face_regions["mouth"])
    assert talking > 3 * CODEC_NOISE, "the mouth moves in the render"
    assert frame_to_frame(on, face_regions["mouth"]) > 0.9 * frame_to_frame(off, face_regions["mouth"])


def test_frames_without_a_face_pass_through(render_job, tmp_path):
    source, gapped = render_job[1] / "render.mp4", tmp_path / "gapped.mp4"
    with VideoReader(source) as reader, VideoWriter(gapped, width=reader.width, height=reader.height) as writer:
        for index, frame in enumerate(reader):
            writer.write(np.full_like(frame, 128) if 10 <= index < 13 else frame)
    counts = enhance_video(gapped, tmp_path / "out.mp4", darken, smoothing=0.6)
    total = rendered_frames(render_job[1])
    assert (counts.frames, counts.faces_restored, counts.frames_without_face) == (total, total - 3, 3)
    frames = decode_frames(tmp_path / "out.mp4")
    assert np.abs(frames[10:13].astype(np.float64) - 128).mean() < 1.0
    assert frames[13].mean() < decode_frames(gapped)[13].mean() - 2, "restored again after the gap"
    assert counts.notes("GFPGAN") == [f"GFPGAN found no face in 3 of {total} frames; those frames are unchanged"]


def test_copy_audio_keeps_the_sources_sound(render_job, tmp_path):
    source = render_job[1] / "output.mp4"  # H.264 + AAC, like a hosted vendor's video
    enhance_video(source, tmp_path / "picture.mp4", lambda aligned: aligned, smoothing=0.6)
    copy_audio(tmp_path / "picture.mp4", source, tmp_path / "out.mp4")
    before, after = probe(source), probe(tmp_path / "out.mp4")
    assert after.audio is not None and (after.audio.codec, after.audio.sample_rate) == ("aac", before.audio.sample_rate)
    assert len(decode_frames(tmp_path / "out.mp4")) == len(decode_frames(source))
    assert not (tmp_path / "picture.mp4").exists()


# -- settings and messages (any install) ----------------------------------------------------------
def test_settings(tmp_path):
    def section(**environ: str) -> GFPGANSettings:
        return GFPGANSettings.of(resolve(environ, dotenv=False))

    weights = tmp_path / "GFPGANv1.4.pth"
    assert section().weights_path is None
    assert section(GFPGAN_WEIGHTS=str(weights)).weights_path == weights.resolve()
    checkout = tmp_path / "SadTalker"
    assert section(SADTALKER_DIR=str(checkout)).weights_path == checkout.resolve() / SADTALKER_GFPGAN_WEIGHTS
    both = section(SADTALKER_DIR=str(checkout), GFPGAN_WEIGHTS=str(weights))
    assert both.weights_path == weights.resolve(), "GFPGAN_WEIGHTS wins"
    assert section(GFPGAN_SMOOTHING="0").smoothing == 0.0
    with pytest.raises(BadInput, match="GFPGAN_SMOOTHING must be between 0 and 1, got 1.5"):
        section(GFPGAN_SMOOTHING="1.5")
    with pytest.raises(BadInput, match="GFPGAN_SMOOTHING must be a number between 0 and 1, got 'strong'"):
        section(GFPGAN_SMOOTHING="strong")


def test_weights_missing_messages(tmp_path):
    unset = gfpgan.weights_reason(resolve({}, dotenv=False))
    assert unset.startswith("no GFPGAN weights: set GFPGAN_WEIGHTS to a GFPGANv1.4.pth")
    missing = tmp_path / "nowhere" / "GFPGANv1.4.pth"
    assert gfpgan.weights_reason(resolve({"GFPGAN_WEIGHTS": str(missing)}, dotenv=False)) == (
        f"GFPGAN_WEIGHTS is {missing}, which is not a file — set GFPGAN_WEIGHTS to a GFPGANv1.4.pth "
        "(or v1.3) file from GFPGAN's releases")
    checkout = tmp_path / "SadTalker"
    looked_for = checkout / "gfpgan" / "weights" / "GFPGANv1.4.pth"
    reason = gfpgan.weights_reason(resolve({"SADTALKER_DIR": str(checkout)}, dotenv=False))
    assert f"GFPGAN_WEIGHTS is not set and {looked_for} does not exist" in reason
    looked_for.parent.mkdir(parents=True)
    looked_for.write_bytes(b"weights")
    assert gfpgan.weights_reason(resolve({"SADTALKER_DIR": str(checkout)}, dotenv=False)) is None


@pytest.mark.skipif(find_spec("gfpgan") is not None, reason="the gfpgan package is installed here")
def test_package_missing_message(settings):
    expected = ("the gfpgan package is not installed (gfpgan, basicsr, facexlib, torchvision missing) — "
                "pip install -r requirements-gpu.txt, then pip install --no-deps -r requirements-gpu-nodeps.txt "
                "(bash scripts/setup.sh --gpu does both)")
    [gfpgan_entry] = [a for a in enhancers.availability(settings) if a.name == "gfpgan"]
    assert gfpgan_entry.reason == expected
    with pytest.raises(BackendUnavailable) as raised:
        enhancers.create("gfpgan", settings).check_ready(settings)
    assert str(raised.value) == expected


@pytest.mark.skipif(find_spec("gfpgan") is not None, reason="the gfpgan package is installed here")
def test_a_checkout_s_gfpgan_weights_folder_is_not_the_package(settings, tmp_path, monkeypatch):
    """A SadTalker checkout on sys.path has gfpgan/weights/: Python finds a namespace "gfpgan" there."""
    (tmp_path / "gfpgan" / "weights").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert find_spec("gfpgan") is not None
    assert gfpgan.package_reason().startswith("the gfpgan package is not installed (gfpgan, ")


def test_a_job_with_a_missing_piece_fails_at_submit(runner, settings, portrait):
    reason = gfpgan.unavailable_reason(settings)  # the package here, or (GPU stack) the weights
    assert reason
    with pytest.raises(BackendUnavailable) as raised:
        runner.submit(RenderRequest(image=portrait, text="Hello.", enhancer="gfpgan"))
    assert str(raised.value) == reason
    job = runner.store.get(raised.value.job_id)
    assert (job.status, job.error, job.error_stage) == ("failed", reason, "inputs")
    assert not (settings.job_dir(job.id) / "speech.wav").exists(), "refused before any work"
    with pytest.raises(UnknownBackend, match="enhancer 'codeformer' not found; known: gfpgan"):
        runner.submit(RenderRequest(image=portrait, text="Hello.", enhancer="codeformer"))


# -- the real network (the GPU stack) ------------------------------------------------------------
def need_gfpgan() -> None:
    """Skip without the gfpgan package — or fail, where CI says the GPU stack is installed."""
    try:
        from gfpgan.archs.gfpganv1_clean_arch import GFPGANv1Clean  # noqa: F401
    except ImportError as error:
        if REQUIRE_GPU_STACK:
            pytest.fail(f"AVATAR_STUDIO_REQUIRE_GPU_STACK=1 but gfpgan does not import: {error}")
        pytest.skip(f"needs the gfpgan package (requirements-gpu*.txt): {error}")


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> Path:
    """The v1.3/v1.4 architecture with seeded random weights, saved the way GFPGAN publishes them."""
    need_gfpgan()
    import torch
    from gfpgan.archs.gfpganv1_clean_arch import GFPGANv1Clean

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "GFPGANv1.4-random.pth"
    torch.save({"params_ema": GFPGANv1Clean(**gfpgan.ARCHITECTURE).state_dict()}, path)
    yield path
    gfpgan.unload_all()


@pytest.fixture(scope="module")
def enhanced_job(tmp_path_factory, model_cache, portrait, random_weights):
    """A full job with enhancer="gfpgan": 5 fps, 256 px, a short line (4–5 frames through the network)."""
    settings = module_settings(tmp_path_factory, model_cache, "enhanced").with_(fps=5).with_env(
        GFPGAN_WEIGHTS=str(random_weights))
    seen: list[tuple[float, str]] = []
    job = Runner(settings).render(RenderRequest(image=portrait, text="Hello there.", max_side=256, enhancer="gfpgan"),
                                  progress=lambda fraction, stage: seen.append((fraction, stage)))
    return settings, job, settings.job_dir(job.id), seen


def test_a_job_with_gfpgan_ends_done_with_the_enhanced_video(enhanced_job):
    _, job, job_dir, seen = enhanced_job
    assert job.status == "done", job.error
    assert "enhance" in job.timings and job.timings["enhance"] > 0
    facts = json.loads((job_dir / "enhance.json").read_text())
    frames = rendered_frames(job_dir)
    assert len(decode_frames(job_dir / "render.mp4")) == frames and 3 <= frames <= 8
    assert facts["enhancer"] == "gfpgan" and facts["weights"] == "GFPGANv1.4-random.pth"
    assert facts["device"] == "cpu" and facts["smoothing"] == 0.6 and facts["notes"] == []
    assert (facts["frames"], facts["faces_restored"], facts["frames_without_face"]) == (frames, frames, 0)
    assert facts["frames_per_s"] > 0 and facts["audio_kept"] is False
    # output.mp4 carries enhanced.mp4's picture, stream-copied, with the speech
    output, enhanced = decode_frames(job_dir / "output.mp4"), decode_frames(job_dir / "enhanced.mp4")
    assert np.array_equal(output, enhanced) and probe(job_dir / "output.mp4").audio is not None
    assert not np.array_equal(output, decode_frames(job_dir / "render.mp4"))
    during = [fraction for fraction, stage in seen if stage == "enhance"]
    assert len(during) >= frames and during == sorted(during), "progress moves frame by frame"


def test_the_network_changes_the_face_and_nothing_else(enhanced_job):
    _, _, job_dir, _ = enhanced_job
    render, enhanced = job_dir / "render.mp4", job_dir / "enhanced.mp4"
    before, after = probe(render).video, probe(enhanced).video
    assert (after.width, after.height, after.fps) == (before.width, before.height, before.fps) == (220, 256, 5.0)
    original, restored = decode_frames(render), decode_frames(enhanced)
    assert len(original) == len(restored)
    face = find_faces(original[0])[0]
    x0, y0, x1, y1 = face.bbox
    change = np.abs(restored.astype(np.float64) - original).mean(axis=(0, 3))
    margin = int(0.6 * face.width)
    far = np.ones(change.shape, bool)
    far[max(0, y0 - margin): y1 + margin, max(0, x0 - margin): x1 + margin] = False
    assert change[far].mean() < CODEC_NOISE
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    assert change[cy - 10: cy + 10, cx - 10: cx + 10].mean() > 15, "random weights paint over the face"


def test_keep_audio_copies_a_hosted_videos_sound(enhanced_job, tmp_path):
    """A vendor's video carries its own speech. Here: three faceless frames (so the slow network is
    not needed to check the sound) with a tone of their own."""
    settings = enhanced_job[0]
    with VideoWriter(tmp_path / "picture.mp4", width=64, height=48, fps=5) as writer:
        for level in (60, 120, 180):
            writer.write(np.full((48, 64, 3), level, np.uint8))
    tone = 0.2 * np.sin(np.arange(int(0.6 * 16000)) / 16000 * 2 * np.pi * 330)
    mux(tmp_path / "picture.mp4", write_wav(tmp_path / "tone.wav", tone, 16000), tmp_path / "vendor.mp4")
    facts = enhancers.create("gfpgan", settings).enhance(tmp_path / "vendor.mp4", tmp_path / "out.mp4",
                                                         settings=settings, keep_audio=True)
    out = probe(tmp_path / "out.mp4")
    assert facts["audio_kept"] is True and (facts["frames"], facts["frames_without_face"]) == (3, 3)
    assert facts["notes"] == ["GFPGAN found no face in any frame; the video is unchanged"]
    assert out.audio is not None and (out.audio.codec, out.audio.sample_rate) == ("aac", 16000)
    unchanged = decode_frames(tmp_path / "out.mp4").astype(np.float64) - decode_frames(tmp_path / "vendor.mp4")
    assert np.abs(unchanged).mean() < 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "picture.mp4", "tone.wav", "vendor.mp4"]


def test_the_network_stays_resident(enhanced_job, random_weights):
    settings = enhanced_job[0]
    assert gfpgan.resident_model(settings) is gfpgan.resident_model(settings)
    assert enhancers.availability(settings)[0].ready


def test_wrong_weights_give_their_message(tmp_path):
    need_gfpgan()
    import torch

    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(BackendUnavailable, match=r"^notes\.pth is not a GFPGAN checkpoint torch can load "):
        gfpgan.load_network(text, "cpu")
    torch.save({"g_ema": {"w": torch.zeros(1)}}, tmp_path / "stylegan.pth")
    with pytest.raises(BackendUnavailable, match=r"^stylegan\.pth is not a GFPGAN checkpoint \(no params_ema"):
        gfpgan.load_network(tmp_path / "stylegan.pth", "cpu")
    torch.save({"params": {"conv_first.weight": torch.zeros(64, 3, 3, 3)}}, tmp_path / "esrgan.pth")
    with pytest.raises(BackendUnavailable, match=r"^esrgan\.pth does not fit GFPGAN v1\.3/v1\.4 \(the clean "
                                                 r"architecture\): \d+ weights missing, 1 unexpected"):
        gfpgan.load_network(tmp_path / "esrgan.pth", "cpu")


def test_a_job_with_wrong_weights_fails_in_its_enhance_stage(tmp_path_factory, model_cache, portrait, tmp_path):
    need_gfpgan()
    wrong = tmp_path / "GFPGANv1.4.pth"
    wrong.write_bytes(b"\x00" * 1024)
    settings = module_settings(tmp_path_factory, model_cache, "wrong").with_env(GFPGAN_WEIGHTS=str(wrong))
    with pytest.raises(BackendUnavailable, match="GFPGANv1.4.pth is not a GFPGAN checkpoint") as raised:
        Runner(settings).render(RenderRequest(image=portrait, text="Hi.", max_side=256, enhancer="gfpgan"))
    job = Runner(settings).store.get(raised.value.job_id)
    assert (job.status, job.error_stage) == ("failed", "enhance") and "render" in job.timings
    assert not (settings.job_dir(job.id) / "enhanced.mp4").exists()
