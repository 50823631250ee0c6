"""The hosted renderers (heygen v3 and v2, did) end to end: real clients, the real job runner, the real
CLI, against fake vendor servers on 127.0.0.1 (``fake_heygen``, ``fake_did``) that upload, progress,
fail and expire like the vendors do. Status polls every 0.05 s here (``AVATAR_STUDIO_HOSTED_POLL_S``).

What a user would check is asserted: the MP4's streams and duration, the job row and its remote id,
what reached the vendor, the message text — and that no video is ever paid for twice.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_PORTRAIT
from fake_did import KEY as DID_KEY
from fake_did import FakeDID, multipart_parts
from fake_heygen import AVATARS, VOICES, FakeHeyGen
from fake_heygen import KEY as HEYGEN_KEY
from fake_vendors import Reply, delayed

from pipeline.errors import (
    AuthFailed,
    BadInput,
    MissingKey,
    OutOfCredit,
    RemoteError,
    RemoteTimeout,
)
from pipeline.db import JobStore
from pipeline.media import is_faststart, probe
from pipeline.render import renderers
from pipeline.render.hosted import MAX_POLL_ERRORS, RemoteStatus, poll_until_finished
from pipeline.runner import RenderRequest, Runner
from pipeline.settings import resolve

SCRIPT = "Hello there, it is good to see you again."
HOSTED_VARIABLES = ("HEYGEN_API_KEY", "HEYGEN_BASE_URL", "HEYGEN_UPLOAD_URL", "HEYGEN_API_VERSION",
                    "HEYGEN_AVATAR_ID", "HEYGEN_VOICE_ID", "DID_API_KEY", "DID_BASE_URL", "DID_VOICE_ID",
                    "AVATAR_STUDIO_HOSTED_POLL_S", "AVATAR_STUDIO_HOSTED_TIMEOUT_S")


@dataclass
class Vendor:
    """One fake vendor, the environment pointing the studio at it, and how to reach it."""

    label: str
    backend: str
    fake: FakeHeyGen | FakeDID
    key: str
    key_variable: str

    def runner(self) -> Runner:
        return Runner(resolve(dotenv=False))  # settings resolved afresh: the environment was just set

    def render(self, progress=None, **request) -> object:
        request.setdefault("image", SAMPLE_PORTRAIT)
        request.setdefault("text", SCRIPT)
        return self.runner().render(RenderRequest(backend=self.backend, **request), progress=progress)

    def failed(self, error_type, **request):
        """Render, expecting ``error_type``; returns (error, job)."""
        with pytest.raises(error_type) as raised:
            self.render(**request)
        return raised.value, self.runner().store.get(raised.value.job_id)

    def resume(self, job_id: str):
        return self.runner().resume(job_id)

    @property
    def service(self) -> str:
        return "D-ID" if self.backend == "did" else "HeyGen"


@pytest.fixture(autouse=True)
def hosted_env(monkeypatch):
    for variable in HOSTED_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AVATAR_STUDIO_HOSTED_POLL_S", "0.05")


def _vendor(label: str, tmp_path: Path, monkeypatch) -> Vendor:
    if label == "did":
        fake = FakeDID(workdir=tmp_path / "fake").start()
        monkeypatch.setenv("DID_BASE_URL", fake.url)
        monkeypatch.setenv("DID_API_KEY", DID_KEY)
        return Vendor(label, "did", fake, DID_KEY, "DID_API_KEY")
    fake = FakeHeyGen(workdir=tmp_path / "fake").start()
    monkeypatch.setenv("HEYGEN_BASE_URL", fake.url)
    monkeypatch.setenv("HEYGEN_UPLOAD_URL", fake.url)
    monkeypatch.setenv("HEYGEN_API_KEY", HEYGEN_KEY)
    monkeypatch.setenv("HEYGEN_API_VERSION", label.split("-")[1])
    return Vendor(label, "heygen", fake, HEYGEN_KEY, "HEYGEN_API_KEY")


@pytest.fixture(params=["heygen-v3", "heygen-v2", "did"])
def vendor(request, tmp_path, monkeypatch):
    vendor = _vendor(request.param, tmp_path, monkeypatch)
    yield vendor
    vendor.fake.stop()


@pytest.fixture
def heygen(tmp_path, monkeypatch):
    vendor = _vendor("heygen-v3", tmp_path, monkeypatch)
    yield vendor
    vendor.fake.stop()


@pytest.fixture
def did(tmp_path, monkeypatch):
    vendor = _vendor("did", tmp_path, monkeypatch)
    yield vendor
    vendor.fake.stop()


def assert_playable(job, runner: Runner) -> None:
    assert job.status == "done", job.error
    video = probe(job.video_path)
    assert Path(job.video_path) == runner.settings.job_dir(job.id) / "output.mp4"
    assert video.video.codec == "h264" and video.audio.codec == "aac" and is_faststart(job.video_path)
    assert abs(video.duration_s - job.duration_s) < 0.05


# -- success ------------------------------------------------------------------------------------------

def test_portrait_and_our_speech_become_an_mp4_in_the_job_folder(vendor):
    if vendor.backend == "did":
        vendor.fake.video_codec = "mpeg4"  # not what browsers play: the encode stage must make it H.264
    progress: list[tuple[float, str]] = []
    job = vendor.render(progress=lambda fraction, stage: progress.append((fraction, stage)),
                        controls={"mouth_openness": 0.9})
    runner = vendor.runner()
    assert_playable(job, runner)
    job_dir = runner.settings.job_dir(job.id)
    speech_s = json.loads((job_dir / "speech.json").read_text())["duration_s"]
    assert abs(job.duration_s - speech_s) < 0.25, "the vendor lip-synced our own speech"

    # exactly one video was made, its id recorded on the job and in remote.json
    fake = vendor.fake
    videos = fake.talks if vendor.backend == "did" else fake.videos
    assert len(fake.creates) == 1 and list(videos) == [job.remote_id]
    remote = json.loads((job_dir / "remote.json").read_text())
    assert remote["remote_id"] == job.remote_id and remote["state"] == "done" == job.remote["state"]
    assert remote["video_url"].startswith(fake.url), "the vendor's link is kept as metadata"

    # what reached the vendor: our portrait and our speech as uploads, referenced by the create request
    create = fake.creates[0].body
    if vendor.label == "heygen-v3":
        uploads = {fake.assets[a][0]: a for a in fake.assets}
        assert create["type"] == "image" and create["image"] == {"type": "asset_id", "asset_id": uploads["image"]}
        assert create["audio_asset_id"] == uploads["audio"] and "script" not in create
        assert create["expressiveness"] in ("low", "medium", "high") and create["motion_prompt"].startswith("Speaks")
        assert {r.header("content-type") for r in fake.requests_to("upload")} == {"image/jpeg", "audio/mpeg"}
    elif vendor.label == "heygen-v2":
        scene = create["video_inputs"][0]
        assert scene["character"]["type"] == "talking_photo" and scene["character"]["talking_photo_id"] in \
            fake.talking_photos
        assert scene["voice"] == {"type": "audio", "audio_asset_id": next(iter(fake.assets))}
        assert create["dimension"] == {"width": 1280, "height": 720}
    else:
        uploads = [multipart_parts(r) for r in fake.requests_to("images") + fake.requests_to("audios")]
        assert [next(iter(parts)) for parts in uploads] == ["image", "audio"]
        assert create["source_url"] in fake.images and create["script"]["audio_url"] in fake.audios
        expression = create["config"]["driver_expressions"]["expressions"][0]
        assert expression["expression"] in ("neutral", "happy", "surprise", "serious")
    # the key goes with API calls, never with the download from the pre-signed link
    download = fake.requests_to("download")[0]
    assert "x-api-key" not in download.headers and "authorization" not in download.headers

    # controls the vendor cannot take are recorded, the ones the user set named
    assert "mouth_openness" in job.controls_ignored and "blink_rate" in job.controls_ignored
    assert any("mouth_openness" in note and "which you set" in note for note in job.notes)
    # the bar moves while the vendor works, and only forwards
    render = [fraction for fraction, stage in progress if stage == "render"]
    assert len(set(render)) >= 4 and render == sorted(render)


def test_heygen_avatar_and_voice_chosen_per_request_or_preset(heygen, monkeypatch):
    avatar, voice = next(iter(AVATARS)), next(iter(VOICES))
    job = heygen.render(renderer_options={"avatar_id": avatar, "voice_id": voice, "resolution": "1080p",
                                          "aspect_ratio": "9:16", "background": "#112233"})
    assert_playable(job, heygen.runner())
    create = heygen.fake.creates[0].body
    assert (create["type"], create["avatar_id"], create["voice_id"], create["script"]) == \
        ("avatar", avatar, voice, SCRIPT)
    assert (create["resolution"], create["aspect_ratio"]) == ("1080p", "9:16")
    assert create["background"] == {"type": "color", "value": "#112233"} and "audio_asset_id" not in create
    assert heygen.fake.requests_to("upload") == [], "neither the portrait nor our speech is needed"
    assert any(f"avatar {avatar}" in note for note in job.notes)

    # a voice preset in the environment: HeyGen speaks the script over our own portrait
    monkeypatch.setenv("HEYGEN_VOICE_ID", voice)
    job = heygen.render()
    create = heygen.fake.creates[-1].body
    assert job.status == "done" and create["type"] == "image" and create["voice_id"] == voice
    assert create["script"] == SCRIPT and "audio_asset_id" not in create

    # the options' old name, ``hosted`` (deprecated), still reaches the vendor, recorded under the new one
    job = heygen.render(hosted={"avatar_id": avatar})
    assert job.status == "done" and heygen.fake.creates[-1].body["avatar_id"] == avatar
    assert job.options["renderer_options"] == {"avatar_id": avatar}


def test_hosted_options_are_checked_before_anything_is_sent(heygen, did):
    runner = heygen.runner()
    cases = [("heygen", {"resolution": "8k"}, "resolution must be one of 720p, 1080p, 4k"),
             ("heygen", {"avatar": "x"}, "HeyGen does not take 'avatar'"),
             ("did", {"avatar_id": "x"}, "D-ID animates your portrait"),
             ("embedded", {"voice_id": "x"}, r"the embedded renderer takes no options of its own \(got voice_id\)")]
    for backend, options, message in cases:
        with pytest.raises(BadInput, match=message) as raised:
            runner.submit(RenderRequest(image=SAMPLE_PORTRAIT, text=SCRIPT, backend=backend, renderer_options=options))
        assert runner.store.get(raised.value.job_id).status == "failed"
    # the options' old name, ``hosted`` (deprecated), is checked the same way
    for backend, hosted, message in [("heygen", {"resolution": "8k"}, "resolution must be one of 720p, 1080p, 4k"),
                                     ("embedded", {"voice_id": "x"}, "the embedded renderer runs here")]:
        with pytest.raises(BadInput, match=message) as raised:
            runner.submit(RenderRequest(image=SAMPLE_PORTRAIT, text=SCRIPT, backend=backend, hosted=hosted))
        assert runner.store.get(raised.value.job_id).status == "failed"
    assert heygen.fake.requests == [] and did.fake.requests == []


def test_a_missing_key_is_named_before_any_work(tmp_path):
    runner = Runner(resolve(dotenv=False))
    for backend, variable in (("heygen", "HEYGEN_API_KEY"), ("did", "DID_API_KEY")):
        with pytest.raises(MissingKey, match=f"{variable} is not set — put it in the environment or in a .env file"):
            runner.render(RenderRequest(image=SAMPLE_PORTRAIT, text=SCRIPT, backend=backend))
        job = runner.store.list(limit=1)[0]
        assert (job.status, job.error_stage, job.timings) == ("failed", "inputs", {})


def test_hosted_settings_resolve_with_defaults_and_say_what_is_wrong():
    defaults = resolve({}, dotenv=False)
    assert (defaults.render_base_url("heygen"), defaults.render_base_url("heygen-upload"),
            defaults.render_base_url("did")) == ("https://api.heygen.com", "https://upload.heygen.com",
                                                 "https://api.d-id.com")
    assert (defaults.heygen_api_version, defaults.hosted_poll_s, defaults.hosted_timeout_s) == ("v3", 5.0, 1800.0)
    custom = resolve({"HEYGEN_BASE_URL": "http://127.0.0.1:9/", "HEYGEN_API_VERSION": "V2", "DID_VOICE_ID": " v ",
                      "AVATAR_STUDIO_HOSTED_POLL_S": "0.5"}, dotenv=False)
    assert custom.render_base_url("heygen-upload") == "http://127.0.0.1:9", "a compatible server takes uploads too"
    assert (custom.heygen_api_version, custom.hosted_presets, custom.hosted_poll_s) == ("v2", {"DID_VOICE_ID": "v"}, 0.5)
    with pytest.raises(BadInput, match="HEYGEN_API_VERSION must be one of v3, v2, got 'v4'"):
        resolve({"HEYGEN_API_VERSION": "v4"}, dotenv=False)
    with pytest.raises(BadInput, match="AVATAR_STUDIO_HOSTED_POLL_S must be a number of seconds, got 'soon'"):
        resolve({"AVATAR_STUDIO_HOSTED_POLL_S": "soon"}, dotenv=False)


def test_capability_tables_state_what_each_backend_honours(monkeypatch):
    settings = resolve(dotenv=False)
    heygen, did = renderers.create("heygen", settings), renderers.create("did", settings)
    v3 = heygen.capabilities(settings).to_dict()
    assert v3["ignored"] == ["blink_rate", "mouth_openness"] and "motion_prompt" in v3["controls"]["head_tilt"]
    monkeypatch.setenv("HEYGEN_API_VERSION", "v2")
    v2 = heygen.capabilities(resolve(dotenv=False)).to_dict()
    assert set(v2["controls"]) == {"expression_intensity", "emotion"}
    assert set(did.capabilities(settings).to_dict()["controls"]) == {"expression_intensity", "emotion"}
    assert v3["hosted"] and v2["hosted"] and did.capabilities(settings).hosted
    assert not renderers.create("embedded", settings).capabilities(settings).hosted
    # their own options are data, with the environment presets that fill in unset ones
    assert [(o["name"], o["setting"]) for o in v3["options"]][:2] == [("avatar_id", "HEYGEN_AVATAR_ID"),
                                                                      ("voice_id", "HEYGEN_VOICE_ID")]
    assert [o.name for o in did.capabilities(settings).options] == ["voice_id", "callback_url"]


@pytest.mark.parametrize("version", ["v3", "v2"])
def test_heygen_lists_avatars_and_voices_for_the_ui(heygen, monkeypatch, version):
    from pipeline.render.heygen import HeyGenClient

    monkeypatch.setenv("HEYGEN_API_VERSION", version)
    with HeyGenClient.from_settings(resolve(dotenv=False)) as client:
        assert [a["id"] for a in client.list_avatars()] == list(AVATARS)
        assert [(v["id"], v["name"]) for v in client.list_voices()] == list(VOICES.items())


# -- failures in words ----------------------------------------------------------------------------------

def test_invalid_key_is_named_and_never_echoed(vendor):
    vendor.fake.key = "the-right-key-is-another-one"
    error, job = vendor.failed(AuthFailed)
    assert f"{vendor.service} rejected the API key (HTTP 401) — check {vendor.key_variable}" in str(error)
    assert vendor.key not in str(error) and job.status == "failed" and job.error_stage == "render"
    if vendor.backend == "heygen":  # HeyGen's words are kept, with the key it echoed redacted
        assert "Invalid API key provided: [redacted]" in str(error)
    assert vendor.fake.creates == [] and job.remote_id is None


def test_out_of_credit_in_each_vendors_shape(vendor):
    fake = vendor.fake
    if vendor.label == "heygen-v3":
        fake.script("create", fake.failure(402, "insufficient_credit",
                                           "Your account has 0 credits but this video requires 1 credits."))
    elif vendor.label == "heygen-v2":  # the legacy API says it with a 400
        fake.script("create_v2", fake.failure(400, "insufficient_credit", "Insufficient credit.", legacy=True))
    else:
        fake.script("create", fake.failure(402, "InsufficientCreditsError", "not enough credits"))
    error, job = vendor.failed(OutOfCredit)
    assert f"{vendor.service} says the account is out of credit" in str(error) and "top up" in str(error)
    assert ("requires 1 credits" in str(error)) or ("nsufficient" in str(error)) or ("not enough" in str(error))
    assert job.status == "failed" and job.remote_id is None and job.remote["state"] == "new"


def test_rate_limit_waits_the_retry_after_then_goes_on(heygen, did):
    for vendor in (heygen, did):
        vendor.fake.script("create", vendor.fake.failure(429, "rate_limit_exceeded", "Too many requests",
                                                         retry_after=1))
        vendor.fake.script("status", vendor.fake.failure(429, "rate_limit_exceeded", "Slow down", retry_after=0.5))
        job = vendor.render()
        assert job.status == "done", job.error
        creates = vendor.fake.creates
        assert len(creates) == 2 and creates[1].at - creates[0].at >= 1.0, "Retry-After honoured on create"
        polls = vendor.fake.requests_to("status")
        assert polls[1].at - polls[0].at >= 0.5, "and while polling"
        assert len(vendor.fake.talks if vendor is did else vendor.fake.videos) == 1


def test_server_errors_retry_only_what_cannot_pay_twice(heygen, did):
    # HeyGen v3 creates carry an Idempotency-Key: a 503 is simply retried with the same key
    heygen.fake.script("create", heygen.fake.failure(503, "service_unavailable", "Service unavailable"))
    heygen.fake.script("status", heygen.fake.failure(502, "bad_gateway", "Bad gateway"),
                       heygen.fake.failure(500, "internal_error", "Internal error"))
    job = heygen.render()
    assert job.status == "done" and len(heygen.fake.videos) == 1
    keys = {r.header("idempotency-key") for r in heygen.fake.creates}
    assert len(heygen.fake.creates) == 2 and len(keys) == 1 and None not in keys
    # a 502 from the download host: the job fails in words; resume downloads, it does not re-submit
    heygen.fake.script("download", Reply.text("<html>502 Bad Gateway</html>", status=502, content_type="text/html"))
    error, job = heygen.failed(RemoteError)
    assert "HeyGen had a server error (HTTP 502)" in str(error) and "502 Bad Gateway" in str(error)
    assert heygen.resume(job.id).status == "done" and len(heygen.fake.videos) == 2

    # D-ID has no such key: a 500 on create fails the job at once, a resume sends it again
    did.fake.script("create", did.fake.failure(500, "InternalServerError", "Something went wrong"))
    error, job = did.failed(RemoteError)
    assert "D-ID had a server error (HTTP 500)" in str(error) and "Something went wrong" in str(error)
    assert len(did.fake.creates) == 1 and job.remote["state"] == "new"
    assert did.resume(job.id).status == "done" and len(did.fake.talks) == 1


def test_a_video_that_never_finishes_times_out_and_resume_collects_it(vendor, monkeypatch):
    vendor.fake.release.clear()
    monkeypatch.setenv("AVATAR_STUDIO_HOSTED_TIMEOUT_S", "0.6")
    error, job = vendor.failed(RemoteTimeout)
    assert f"{vendor.service} has not finished video {job.remote_id} after 0.6 s" in str(error)
    assert "last status: " in str(error) and f"python app.py resume {job.id}" in str(error)
    assert job.status == "failed" and job.remote_id

    vendor.fake.release.set()
    monkeypatch.setenv("AVATAR_STUDIO_HOSTED_TIMEOUT_S", "60")
    done = vendor.resume(job.id)
    assert_playable(done, vendor.runner())
    assert len(vendor.fake.creates) == 1 and done.remote_id == job.remote_id, "polled, never re-submitted"


def test_a_failed_video_reports_the_vendors_words_and_resume_submits_anew(heygen):
    heygen.fake.fail_next = ("RENDER_FAILED", "Avatar rendering failed because of an internal error")
    error, job = heygen.failed(RemoteError)
    assert f"HeyGen could not render video {job.remote_id}" in str(error)
    assert "Avatar rendering failed because of an internal error (RENDER_FAILED)" in str(error)
    assert job.status == "failed" and job.remote["state"] == "failed"

    done = heygen.resume(job.id)  # vendors do not bill failed videos: a new attempt, with a new key
    assert done.status == "done" and done.remote_id != job.remote_id and len(heygen.fake.creates) == 2
    assert [p["remote_id"] for p in done.remote["previous"]] == [job.remote_id]
    assert len({r.header("idempotency-key") for r in heygen.fake.creates}) == 2


def test_a_job_from_before_renderer_options_resumes_with_its_vendor_ids(heygen):
    """Jobs recorded before a renderer's options were one dict kept a vendor's ids under
    ``options["hosted"]``; resuming one still sends them."""
    avatar = next(iter(AVATARS))
    heygen.fake.fail_next = ("RENDER_FAILED", "Avatar rendering failed because of an internal error")
    _, job = heygen.failed(RemoteError, renderer_options={"avatar_id": avatar})
    old_form = {key: value for key, value in job.options.items() if key != "renderer_options"}
    heygen.runner().store.update(job.id, options={**old_form, "hosted": {"avatar_id": avatar}})

    done = heygen.resume(job.id)
    assert done.status == "done" and len(heygen.fake.creates) == 2
    assert heygen.fake.creates[-1].body["type"] == "avatar" and heygen.fake.creates[-1].body["avatar_id"] == avatar


def test_face_not_found_and_rejected_talks_from_d_id(did):
    did.fake.fail_next = ("FaceError", "Face not detected in the source image")
    error, job = did.failed(BadInput)
    assert str(error).startswith("D-ID found no face it can animate in the portrait")
    assert "Face not detected in the source image (FaceError)" in str(error) and job.status == "failed"

    did.fake.fail_next = ("rejected", "")
    error, job = did.failed(RemoteError)
    assert "rejected by D-ID's moderation" in str(error)


def test_a_script_too_long_for_the_vendor_is_bad_input(heygen, did, monkeypatch):
    monkeypatch.setenv("HEYGEN_VOICE_ID", next(iter(VOICES)))
    monkeypatch.setenv("DID_VOICE_ID", "microsoft:en-US-JennyNeural")
    heygen.fake.max_script_chars = did.fake.max_text_chars = 20
    for vendor in (heygen, did):
        error, job = vendor.failed(BadInput)
        assert str(error).startswith(f"The script is too long for {vendor.service} — shorten it")
        assert "too long" in str(error).split("said:")[1] and job.remote_id is None
    assert did.fake.creates[0].body["script"]["provider"] == {"type": "microsoft", "voice_id": "en-US-JennyNeural"}


def test_an_expired_result_link_is_asked_for_again(vendor):
    vendor.fake.expired_links = 1  # a fresh link from a second status call is enough
    job = vendor.render()
    assert job.status == "done" and len(vendor.fake.requests_to("download")) == 2

    vendor.fake.expired_links = 2  # still refused: the job fails, saying what to do
    error, job = vendor.failed(RemoteError)
    assert "link to the finished video no longer works (HTTP 403)" in str(error) and "resume" in str(error)
    assert not (vendor.runner().settings.job_dir(job.id) / "render.mp4").exists()
    done = vendor.resume(job.id)
    assert done.status == "done" and len(vendor.fake.creates) == 2, "one video per job, never two"


# -- never paying twice --------------------------------------------------------------------------------

def test_ctrl_c_while_polling_then_resume_polls_the_same_video(did):
    did.fake.release.clear()

    def interrupt_once_polling(fraction, stage):
        if stage == "render" and did.fake.requests_to("status") and did.fake.release.is_set() is False:
            did.fake.release.set()  # the next run may finish
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as raised:
        did.render(progress=interrupt_once_polling)
    job = did.runner().store.get(raised.value.job_id)
    assert job.status == "interrupted" and job.remote_id in did.fake.talks
    done = did.resume(job.id)
    assert done.status == "done" and len(did.fake.creates) == 1 and done.remote_id == job.remote_id
    assert len(did.fake.requests_to("images")) == 1, "nothing uploaded twice either"


@pytest.fixture
def ctrl_c_from_the_server():
    """Sends the test's main thread a real SIGINT from a server thread: Ctrl-C while it waits for an answer."""
    main = threading.main_thread().ident
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield lambda: signal.pthread_kill(main, signal.SIGINT)
    signal.signal(signal.SIGINT, previous)


def test_an_answer_lost_while_submitting_is_never_paid_twice(heygen, did, ctrl_c_from_the_server):
    """The vendor made the video, but the studio stopped before reading the answer."""
    for vendor in (heygen, did):
        create = vendor.fake.create

        def accept_then_interrupt(request, create=create):
            reply = create(request)  # the vendor accepts (and bills) …
            ctrl_c_from_the_server()  # … while the studio is stopped before it reads the answer
            return reply

        vendor.fake.script("create", delayed(0.5, accept_then_interrupt))
        with pytest.raises(KeyboardInterrupt) as raised:
            vendor.render()
        vendor.job_id = raised.value.job_id
        assert json.loads((vendor.runner().settings.job_dir(vendor.job_id) / "remote.json").read_text())["state"] \
            == "submitting"

    # HeyGen v3 replays the first answer to a repeated Idempotency-Key: the same video, no second bill
    done = heygen.resume(heygen.job_id)
    assert done.status == "done" and len(heygen.fake.videos) == 1 and len(heygen.fake.creates) == 2
    assert len({r.header("idempotency-key") for r in heygen.fake.creates}) == 1
    # D-ID cannot replay: the studio refuses to guess and says where to look
    with pytest.raises(RemoteError, match="cannot tell whether D-ID accepted \\(and billed\\) it"):
        did.resume(did.job_id)
    assert len(did.fake.creates) == 1


def test_poll_backs_off_honours_retry_after_and_keeps_a_deadline():
    from pipeline.errors import RateLimited
    from pipeline.remote import mark_retryable

    now, sleeps = [0.0], []

    def sleep(seconds):
        sleeps.append(round(seconds, 4))
        now[0] += seconds

    answers = iter([RemoteStatus("queued", "pending"), RateLimited("slow down", retry_after=7),
                    mark_retryable(RemoteError("HTTP 502")), RemoteStatus("rendering", "processing"),
                    RemoteStatus("done", "completed", video_url="u")])

    def fetch():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    seen = []
    status = poll_until_finished(fetch, service="V", remote_id="r", job_id="j", interval_s=1.0, timeout_s=100,
                                 on_status=lambda s, elapsed: seen.append(s.vendor_status), sleep=sleep,
                                 clock=lambda: now[0])
    assert status.state == "done" and seen == ["pending", "processing", "completed"]
    assert sleeps == [1.0, 7, 2.25, 3.375], "backoff ×1.5, the Retry-After exactly"

    now[0], sleeps[:] = 0.0, []
    with pytest.raises(RemoteTimeout, match="has not finished video r after 20 s \\(last status: processing\\)"):
        poll_until_finished(lambda: RemoteStatus("rendering", "processing"), service="V", remote_id="r", job_id="j",
                            interval_s=1.0, timeout_s=20, on_status=lambda s, e: None, sleep=sleep,
                            clock=lambda: now[0])
    assert max(sleeps) == 6.0 and abs(sum(sleeps) - 20) < 1e-9, "capped at 6× the first pause, stopped at 20 s"

    def always_502():
        raise mark_retryable(RemoteError("HTTP 502"))

    with pytest.raises(RemoteError, match=f"{MAX_POLL_ERRORS + 1} status checks in a row failed"):
        poll_until_finished(always_502, service="V", remote_id="r", job_id="j", interval_s=0.0, timeout_s=100,
                            on_status=lambda s, e: None, sleep=lambda s: None, clock=lambda: 0.0)


# -- the CLI: kill it while it polls, resume it ------------------------------------------------------------

def app(*args, env):
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], capture_output=True, text=True, check=False,
                          timeout=180, env=env, cwd=ROOT)


def test_killed_while_polling_then_resume_finishes_with_one_create(heygen, studio_home, monkeypatch):
    heygen.fake.release.clear()  # the video renders until the test says so
    monkeypatch.delenv("HEYGEN_UPLOAD_URL")  # as in the README: uploads go to HEYGEN_BASE_URL too
    env = os.environ.copy()
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "render", "--backend", "heygen", "--image",
                                str(SAMPLE_PORTRAIT), "--text", SCRIPT, "--json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, cwd=ROOT)
    deadline = time.monotonic() + 120
    while len(heygen.fake.requests_to("status")) < 3:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the CLI never started polling"
        time.sleep(0.05)
    process.kill()  # SIGKILL: no clean-up code runs at all
    process.wait()

    listed = json.loads(app("jobs", "--json", env=env).stdout)[0]
    job = JobStore(studio_home / "studio.db").get(listed["job_id"])
    assert listed["status"] == job.status == "interrupted"
    assert job.remote_id in heygen.fake.videos, "the vendor's id was stored before polling"
    heygen.fake.release.set()
    result = app("resume", job.id, "--json", env=env)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["status"] == "done" and Path(payload["video"]) == studio_home / "jobs" / job.id / "output.mp4"
    assert probe(payload["video"]).audio is not None
    assert len(heygen.fake.creates) == 1 and len(heygen.fake.requests_to("upload")) == 2
    log = (studio_home / "jobs" / job.id / "job.log").read_text()
    assert log.count("stage speech started") == 1 and log.count("stage render started") == 2


def test_no_api_key_in_the_db_the_job_folders_or_the_logs(heygen, did, studio_home, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    assert heygen.render().status == "done" and did.render().status == "done"
    heygen.fake.key = did.fake.key = "another-key"  # both vendors now answer 401; HeyGen echoes the key
    heygen.failed(AuthFailed)
    did.failed(AuthFailed)
    captured = capfd.readouterr()
    files = [path for path in studio_home.rglob("*") if path.is_file()]
    assert any(path.name == "studio.db" for path in files) and any(path.name == "remote.json" for path in files)
    for secret in (HEYGEN_KEY, DID_KEY, DID_KEY.split(":")[1]):
        for path in files:
            assert secret.encode() not in path.read_bytes(), f"{secret[:6]}… found in {path}"
        assert secret not in caplog.text and secret not in captured.out + captured.err
        assert secret not in repr(resolve(dotenv=False)) and secret not in repr(heygen.runner().store.list())


def test_a_batch_killed_while_its_hosted_row_polls_resumes_without_submitting_it_again(heygen, studio_home, tmp_path,
                                                                                    monkeypatch):
    """A hosted row of a batch runs in the batch's own process (it only waits on the vendor), its
    vendor id recorded before the first poll: the batch killed then run again polls, never re-creates."""
    heygen.fake.release.clear()
    monkeypatch.delenv("HEYGEN_UPLOAD_URL")
    env = os.environ.copy()
    batch_file = tmp_path / "mixed.csv"
    batch_file.write_text(f"portrait,text,backend,output\n{SAMPLE_PORTRAIT},\"{SCRIPT}\",heygen,vendor\n"
                          f"{SAMPLE_PORTRAIT},Rendered here.,embedded,local\n", encoding="utf-8")
    command = [sys.executable, str(ROOT / "app.py"), "batch", str(batch_file), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    deadline = time.monotonic() + 120
    while len(heygen.fake.requests_to("status")) < 3:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the batch never started polling"
        time.sleep(0.05)
    process.kill()
    process.wait()
    jobs = {job.batch_row: job for job in JobStore(studio_home / "studio.db").list()}
    assert jobs[1].remote_id in heygen.fake.videos  # recorded before the first poll
    heygen.fake.release.set()
    result = app("batch", str(batch_file), "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["counts"] == {"done": 2}
    assert len(heygen.fake.creates) == 1
    assert (tmp_path / "mixed-videos" / "vendor.mp4").is_file() and (tmp_path / "mixed-videos" / "local.mp4").is_file()
    log = (studio_home / "jobs" / jobs[1].id / "job.log").read_text()
    assert "worker pid" not in log and log.count("stage render started") == 2
