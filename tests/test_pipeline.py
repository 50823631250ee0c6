"""The whole render pipeline through the runner: real TTS, analysis, renderer and ffmpeg."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLE_PORTRAIT
from audio_fixtures import convert, write_wav
from media_checks import decode_frames, wav_duration
from pipeline.errors import BadInput, StudioError, UnknownBackend
from pipeline.media import is_faststart, probe
from pipeline.runner import RenderRequest
from pipeline.stages import STAGES

PORTRAIT = str(SAMPLE_PORTRAIT)
SCRIPT = "Hello there! Profit logic beats market share, every single time."


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """One real render shared by the tests that only look at its results."""
    from pipeline.runner import Runner
    from pipeline.settings import resolve

    home = tmp_path_factory.mktemp("home")
    runner = Runner(resolve(dotenv=False).with_(home=home))
    job = runner.render(RenderRequest(image=PORTRAIT, text=SCRIPT,
                                      controls={"mouth_openness": 0.9}, emotion=None))
    return runner, job


def test_render_gives_a_playable_mp4_matching_the_speech(rendered):
    runner, job = rendered
    assert job.status == "done", job.error
    video = probe(job.video_path)
    assert (video.video.codec, video.video.pix_fmt, video.video.fps) == ("h264", "yuv420p", 25.0)
    assert video.audio.codec == "aac" and is_faststart(job.video_path)
    speech_s = wav_duration(runner.settings.job_dir(job.id) / "speech.wav")
    frames = decode_frames(job.video_path)
    assert abs(len(frames) / 25 - speech_s) <= 1 / 25 + 1e-6
    assert abs(video.duration_s - speech_s) <= 1 / 25 + 0.03
    assert abs(job.duration_s - speech_s) < 1e-3
    assert frames.std(axis=0).max() > 20, "the face must actually move"


def test_the_job_row_holds_what_a_person_wants_to_see(rendered):
    runner, job = rendered
    assert list(job.timings) == list(STAGES) and all(t >= 0 for t in job.timings.values())
    assert job.controls_user == {"mouth_openness": 0.9}
    assert job.controls_final["mouth_openness"] == 0.9, "user-set values always win"
    assert set(job.controls_proposed) == set(job.controls_final)
    assert job.controller == "rules" and job.emotion in job.controls_final["emotion"]
    assert 0 <= job.emotion_confidence <= 1 and job.emotion_evidence
    assert len(job.image_sha256) == 64 and job.text == SCRIPT and job.backend == "embedded"
    assert job.finished_at and job.error is None


def test_forced_emotion_and_audio_input(runner, rendered, tmp_path):
    first_runner, first = rendered
    speech = convert(first_runner.settings.job_dir(first.id) / "speech.wav", tmp_path / "take.mp3")
    job = runner.render(RenderRequest(image=PORTRAIT, audio=speech, emotion="sad"))
    assert job.status == "done" and job.emotion == "sad" and job.controls_final["emotion"] == "sad"
    assert job.audio_sha256 and job.text is None
    assert abs(job.duration_s - wav_duration(first_runner.settings.job_dir(first.id) / "speech.wav")) < 0.1


def _no_face(tmp_path):
    gradient = np.tile(np.linspace(0, 255, 400, dtype=np.uint8), (300, 1))
    Image.fromarray(gradient).convert("RGB").save(tmp_path / "wall.png")
    return {"image": tmp_path / "wall.png", "text": SCRIPT}


def _corrupt_image(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    return {"image": tmp_path / "broken.png", "text": SCRIPT}


def _tiny_face(tmp_path):
    Image.open(PORTRAIT).resize((100, 100)).save(tmp_path / "tiny.png")
    return {"image": tmp_path / "tiny.png", "text": SCRIPT}


def _corrupt_audio(tmp_path):
    (tmp_path / "take.mp3").write_bytes(b"ID3" + bytes(4000))
    return {"image": PORTRAIT, "audio": tmp_path / "take.mp3"}


def _empty_audio(tmp_path):
    (tmp_path / "take.wav").write_bytes(b"")
    return {"image": PORTRAIT, "audio": tmp_path / "take.wav"}


def _silent_audio(tmp_path):
    return {"image": PORTRAIT, "audio": write_wav(tmp_path / "quiet.wav", np.zeros(22050 * 2), 22050)}


BAD_INPUTS = {
    "no face": (_no_face, "No face found in 'wall.png'"),
    "corrupt image": (_corrupt_image, "could not read 'broken.png' as an image"),
    "tiny face": (_tiny_face, "px wide"),
    "corrupt audio": (_corrupt_audio, "could not read the audio file 'take.mp3'"),
    "empty audio": (_empty_audio, "empty"),
    "silent audio": (_silent_audio, "silent"),
    "empty text": (lambda tmp_path: {"image": PORTRAIT, "text": "   \n "}, "script is empty"),
    "huge text": (lambda tmp_path: {"image": PORTRAIT, "text": "word." * 20000}, "100,000 characters"),
    "missing image": (lambda tmp_path: {"image": tmp_path / "nope.png", "text": SCRIPT}, "portrait not found: nope.png"),
    "text and audio": (lambda tmp_path: {"image": PORTRAIT, "text": SCRIPT,
                                         "audio": PORTRAIT}, "either a script or an audio file"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_fails_the_job_with_a_clear_message(case, runner, rendered, tmp_path):
    build, message = BAD_INPUTS[case]
    done_before = runner.store.list(status="done")
    with pytest.raises(BadInput, match=message) as caught:
        runner.render(RenderRequest(**build(tmp_path)))
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)
    failed = runner.store.get(caught.value.job_id)
    assert failed.status == "failed" and failed.error == str(caught.value) and failed.error_stage
    assert runner.store.list(status="done") == done_before  # nothing else lost
    first_runner, first = rendered
    assert probe(first.video_path).video is not None


def test_unknown_backend_names_the_known_ones(runner):
    with pytest.raises(UnknownBackend, match="renderer 'sadtaker' not found; known: embedded"):
        runner.render(RenderRequest(image=PORTRAIT, text=SCRIPT, backend="sadtaker"))
    assert runner.store.list()[0].status == "failed"


def test_resume_after_a_failure_starts_at_the_failed_stage(runner, tmp_path):
    """A job whose portrait was replaced by a broken file fails in its first stage; once the file
    is fixed in the job folder, resume finishes it."""
    job_id = None
    broken = _corrupt_image(tmp_path)["image"]
    with pytest.raises(StudioError) as caught:
        runner.render(RenderRequest(image=broken, text=SCRIPT))
    job_id = caught.value.job_id
    job_dir = runner.settings.job_dir(job_id)
    (job_dir / "input" / "portrait.png").write_bytes(open(PORTRAIT, "rb").read())
    job = runner.resume(job_id)
    assert job.status == "done" and job.error is None and list(job.timings) == list(STAGES)
    with pytest.raises(BadInput, match="already done"):
        runner.resume(job_id)


def test_mouth_follows_the_sample_recording(runner):
    """The shipped sample (assets/sample_speech.mp3) through the whole pipeline: the inner-lip gap
    measured by the face mesh on the decoded MP4 frames tracks the analysis envelope."""
    import json

    from conftest import ROOT
    from pipeline.face.mesh import measure

    job = runner.render(RenderRequest(image=PORTRAIT, audio=ROOT / "assets" / "sample_speech.mp3",
                                      controls={"head_tilt": 0.3, "mouth_openness": 0.7}))
    envelope = json.loads((runner.settings.job_dir(job.id) / "analysis.json").read_text())["envelope"]
    frames = decode_frames(job.video_path)
    aperture = np.array([measure(frame).mouth_aperture for frame in frames])
    assert len(aperture) == len(envelope)
    r = np.corrcoef(aperture, envelope)[0, 1]
    print(f"mouth/envelope correlation on the sample: r = {r:.3f}")
    assert r >= 0.8, f"mouth/envelope correlation {r:.2f}"
    silent = np.array(envelope) == 0
    assert silent.any() and aperture[silent].max() - aperture[0] < 0.05, "silence keeps the mouth at rest"
