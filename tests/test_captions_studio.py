"""Captions in the studio's players: the Render lab, History and Chat hand their ``gr.Video`` the job's
WebVTT as its subtitle track, served like any output — to its owner only — while the API keeps
answering the video's path."""

from __future__ import annotations

import os

import pytest

from conftest import SAMPLE_PORTRAIT, USERS
from http_client import fn_index, join, login
from pipeline.runner import RenderRequest
from studio import history_tab
from studio.common import StudioContext


@pytest.fixture
def rendered(runner):
    return runner.render(RenderRequest(image=SAMPLE_PORTRAIT, text="Captions in the player. Every time.",
                                       max_side=256))


def test_history_shows_a_job_with_its_captions_and_an_old_job_without(settings, rendered):
    ctx = StudioContext(settings)
    text, _, video, *_ = history_tab.show_details(ctx, history_tab.get_job(ctx, rendered.id))
    assert os.path.samefile(video["value"], rendered.video_path)  # under its download name: test_downloads.py
    assert os.path.samefile(video["subtitles"], settings.job_dir(rendered.id) / "output.vtt")
    assert f"**Captions** — {rendered.captions['cues']} cues, timed from the voice's word timings" in text
    # a job made before captions existed: its video, and the track of whatever played before cleared
    ctx.runner.store.update(rendered.id, captions=None)
    _, _, video, *_ = history_tab.show_details(ctx, history_tab.get_job(ctx, rendered.id))
    assert os.path.samefile(video["value"], rendered.video_path) and video["subtitles"] is None


def test_the_render_api_still_answers_the_videos_path(studio_client, settings):
    from gradio_client import handle_file

    video, details = studio_client.predict(portrait=handle_file(str(SAMPLE_PORTRAIT)), script="Still a path.",
                                           api_name="/render")
    assert isinstance(video, str) and video.endswith(".mp4")
    assert details["captions"]["vtt"].endswith("output.vtt") and details["captions"]["cues"] >= 1


def test_a_jobs_captions_reach_its_owners_player_and_nobody_elses(users_studio, settings):
    from gradio_client import Client, handle_file

    url = users_studio.local_url.rstrip("/")
    client = Client(users_studio.local_url, auth=("alice", USERS["alice"]), verbose=False)
    _, details = client.predict(portrait=handle_file(str(SAMPLE_PORTRAIT)), script="Only alice reads these.",
                                api_name="/render")
    alice, bob = login(url, "alice", USERS["alice"]), login(url, "bob", USERS["bob"])
    found = join(alice, url, fn_index(users_studio, api_name="get_job"), [details["job_id"]])["output"]["data"][0]
    shown = join(alice, url, fn_index(users_studio, fn_name="show_details"), [found])
    video = shown["output"]["data"][2]
    track = video["subtitles"]["path"]
    assert not track.startswith(str(settings.home))  # a copy in Gradio's cache: the job folder is never served
    answer = alice.get(f"{url}/gradio_api/file={track}")
    assert answer.status_code == 200 and answer.text.startswith("WEBVTT") and "Only alice reads these." in answer.text
    assert bob.get(f"{url}/gradio_api/file={track}").status_code == 403
