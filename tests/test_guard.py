"""The guard, attacked as the finding did: file objects with bare server paths posted over plain
HTTP to every event that takes a file — the render's portrait and recording, the transcription,
the lab preview, a persona's portrait — and job files fetched by URL. Each is refused with one
clear message before any work: no job, no job folder, no copy of the file anywhere in the data
folder. What a real client uploads still works, and so does the sample portrait the page shows."""

from __future__ import annotations

import shutil

import httpx
import pytest

from conftest import SAMPLE_PORTRAIT
from http_client import error_of, fn_index, join, upload
from pipeline.db import JobStore

SAMPLE_SPEECH = SAMPLE_PORTRAIT.parent / "sample_speech.mp3"
NOT_UPLOADED = "is not a file you uploaded"


@pytest.fixture
def secret(tmp_path):
    """A face photo on the server that no client uploaded."""
    path = tmp_path / "server-side" / "secret-face.png"
    path.parent.mkdir()
    shutil.copyfile(SAMPLE_PORTRAIT, path)
    return path


@pytest.fixture
def http(studio_app):
    with httpx.Client(timeout=60) as client:
        yield client, studio_app.local_url.rstrip("/")


def _render_data(portrait, audio=None, script="Hello there."):
    # portrait, script, audio, persona, emotion, five controls, backend, enhance, SadTalker's three
    # (deprecated), renderer_options, burn_captions, output_format, background, face: the raw protocol sends
    # every input
    return [portrait, script, audio, "", "auto", 0.3, 0.3, 0.4, 0.5, 0.3, "embedded", False, None, None, None, None,
            False, "as-is", "blurred", ""]


def _copies_of(settings, original) -> list:
    data = original.read_bytes()
    return [path for path in settings.home.rglob("*") if path.is_file() and path.stat().st_size == len(data)
            and path.read_bytes() == data]


@pytest.mark.parametrize("shape", ["bare", "with_meta", "dotdot", "relative"])
def test_a_server_path_as_the_portrait_is_refused_before_any_job(studio_app, http, settings, secret, shape):
    client, url = http
    path = {"bare": str(secret), "with_meta": str(secret),
            "dotdot": f"{settings.home}/gradio/../../server-side/secret-face.png",
            "relative": "assets/astronaut.png/../../pipeline/../assets/../../" + str(secret)}[shape]
    portrait = {"path": path} if shape != "with_meta" else {"path": path, "meta": {"_type": "gradio.FileData"}}
    answer = join(client, url, fn_index(studio_app, api_name="render"), _render_data(portrait))
    assert NOT_UPLOADED in error_of(answer) or "not uploaded by a user" in error_of(answer)
    assert JobStore(settings.db_path).list() == []
    assert not settings.jobs_dir.exists() or not any(settings.jobs_dir.iterdir())
    assert _copies_of(settings, secret) == []


def test_every_file_input_refuses_server_paths(studio_app, http, settings, secret, tmp_path):
    client, url = http
    audio = tmp_path / "server-side" / "speech.mp3"
    shutil.copyfile(SAMPLE_SPEECH, audio)
    bare_audio = {"path": str(audio)}
    attempts = {
        "render (recording)": (fn_index(studio_app, api_name="render"),
                               _render_data(upload(client, url, SAMPLE_PORTRAIT), bare_audio)),
        "transcribe": (fn_index(studio_app, api_name="transcribe"), [bare_audio]),
        "lab preview": (fn_index(studio_app, api_name="lab_preview"), [{"path": str(secret)}, "auto", 0.5, 0.5, 0.5,
                                                                      0.5, 0.5, ""]),
        "suggest_controls": (fn_index(studio_app, api_name="suggest_controls"), ["", bare_audio, "", "auto", "rules"]),
        "recording info": (fn_index(studio_app, fn_name="describe_recording"), [bare_audio]),
        "persona portrait": (fn_index(studio_app, fn_name="take_portrait"), [{"path": str(secret)}, None]),
        "a link instead of a file": (fn_index(studio_app, api_name="transcribe"),
                                     [{"path": None, "url": "http://127.0.0.1:9/x.wav",
                                       "meta": {"_type": "gradio.FileData"}}]),
    }
    for what, (index, data) in attempts.items():
        error = error_of(join(client, url, index, data))
        assert error and (NOT_UPLOADED in error or "by uploading it" in error), (what, error)
    assert JobStore(settings.db_path).list() == []
    assert _copies_of(settings, secret) == [] and _copies_of(settings, audio) == []


def test_another_jobs_input_is_not_an_upload(studio_app, studio_client, http, settings):
    from gradio_client import handle_file

    studio_client.predict(portrait=handle_file(str(SAMPLE_PORTRAIT)), script="First take.", api_name="/render")
    [job] = JobStore(settings.db_path).list()
    own_copy = next((settings.job_dir(job.id) / "input").glob("portrait.*"))
    client, url = http
    answer = join(client, url, fn_index(studio_app, api_name="render"), _render_data({"path": str(own_copy)}))
    assert NOT_UPLOADED in error_of(answer)
    assert len(JobStore(settings.db_path).list()) == 1


def test_an_upload_and_the_sample_the_page_shows_are_accepted(studio_app, http, settings):
    client, url = http
    uploaded = upload(client, url, SAMPLE_PORTRAIT)
    answer = join(client, url, fn_index(studio_app, api_name="render"), _render_data(uploaded))
    assert error_of(answer) is None
    shown = studio_app.blocks[next(i for i, b in studio_app.blocks.items()
                                   if getattr(b, "elem_id", None) == "lab-portrait")].value
    answer = join(client, url, fn_index(studio_app, api_name="render"), _render_data(shown))
    assert error_of(answer) is None
    assert [job.status for job in JobStore(settings.db_path).list()] == ["done", "done"]
    video = answer["output"]["data"][0]
    video = video.get("video") or video  # Gradio's video payload, with or without subtitles around it
    assert httpx.get(f"{url}/gradio_api/file={video['path']}").status_code == 200  # the output is served


def test_job_folders_are_never_served_and_outputs_only_as_copies(studio_app, studio_client, settings):
    from gradio_client import handle_file

    video, details = studio_client.predict(portrait=handle_file(str(SAMPLE_PORTRAIT)), script="Served?",
                                           api_name="/render")
    folder = settings.job_dir(details["job_id"])
    url = studio_app.local_url.rstrip("/")
    for name in ("output.mp4", "input/portrait.png", "job.log", "speech.wav", "inputs.json"):
        assert (folder / name).is_file()
        answer = httpx.get(f"{url}/gradio_api/file={folder / name}")
        assert answer.status_code == 403 and answer.json() == {"detail": f"File not allowed: {folder / name}."}
    assert httpx.get(f"{url}/gradio_api/file/{folder / 'output.mp4'}").status_code == 403
    assert httpx.get(f"{url}/gradio_api/file=http://127.0.0.1:9/anything.png").status_code == 403


def test_a_file_in_gradios_folder_that_was_never_given_out_is_not_served(studio_app, settings):
    from gradio.utils import get_upload_folder

    stray = get_upload_folder()
    planted = __import__("pathlib").Path(stray) / "planted" / "note.txt"
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text("left here by someone else")
    answer = httpx.get(f"{studio_app.local_url.rstrip('/')}/gradio_api/file={planted}")
    assert answer.status_code == 403


def test_files_sent_as_changes_of_a_streamed_output_are_the_owner_s():
    """A generator's later updates reach the browser as diffs; a file set by one must still be
    granted to its owner, or the live player gets 403 for every segment after the first update."""
    from studio.guard import streamed_file_paths

    diff = [[["delete", ["__type__"], None], ["add", ["path"], "/tmp/g/ab/segment-000.mp4"],
             ["add", ["url"], "http://127.0.0.1/gradio_api/file=/tmp/g/ab/segment-000.mp4"]],
            [["replace", [], "Profit logic comes first."]], [], {"path": "/tmp/g/cd/output.mp4"}]
    assert list(streamed_file_paths(diff)) == ["/tmp/g/ab/segment-000.mp4"]
    assert list(streamed_file_paths([["replace", ["path"], "/tmp/g/ef/segment-001.mp4"]])) == \
        ["/tmp/g/ef/segment-001.mp4"]
    assert list(streamed_file_paths([["add", ["orig_name"], "x.mp4"], "text", None])) == []
