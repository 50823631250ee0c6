"""Download names: persona, first words, job id, safe characters only — and the files behind them,
links in the job's download/ folder that follow its video when a resume replaces it."""

from __future__ import annotations

import os
import re

import pytest

from conftest import SAMPLE_PORTRAIT
from pipeline.captions import Captions
from pipeline.db import JobStore
from pipeline.downloads import download_name, named_files, slug
from pipeline.runner import RenderRequest
from studio import history_tab
from studio.common import StudioContext

SAFE = re.compile(r"^[a-z0-9-]+(_[a-z0-9-]+){1,2}$")


@pytest.mark.parametrize("persona, text, words", [
    ("jenniel", "Profit logic beats market share. And more words after that.", "profit-logic-beats-market"),
    (None, "Ça va? Let's go — 100% 🚀 naïve café!", "ca-va-lets-go"),
    ("../../etc", "a/b\\c: <x> \"quoted\" name", "a-b-c-x"),
    ("Zoë's Persona", "日本語だけ", ""),
    ("jenniel", "Supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopic",
     "supercalifragilisticexpialidocious"),
])
def test_a_download_name_is_the_persona_the_first_words_and_the_job_id(settings, persona, text, words):
    job = JobStore(settings.db_path).create(persona=persona, text=text)
    name = download_name(settings, job)
    assert SAFE.match(name), name
    assert name.endswith(f"_{job.id}") and len(name) <= 100
    parts = name.split("_")
    assert parts[0] == (slug(persona or "", 24) or "avatar")
    assert (parts[1] if len(parts) == 3 else "") == words


def test_a_recording_is_named_from_the_words_heard(runner, settings, tmp_path):
    from pipeline.media import run_ffmpeg
    from pipeline.speech.tts import get_voice
    from pipeline.speech.wav import write_wav

    synthesis = get_voice().synthesize("Market share follows profit.")
    wav = write_wav(tmp_path / "take.wav", synthesis.samples, synthesis.sample_rate)
    run_ffmpeg(["-i", str(wav), str(tmp_path / "take.m4a")], what="making the test's recording")
    job = runner.render(RenderRequest(image=SAMPLE_PORTRAIT, audio=tmp_path / "take.m4a", max_side=256))
    heard = [word.text for word in Captions.load(settings.job_dir(job.id)).words][:4]
    assert download_name(settings, job) == f"avatar_{slug(' '.join(heard), 40)}_{job.id}"
    assert download_name(settings, job).startswith("avatar_market-share-")  # tiny.en may mishear "follows"


@pytest.fixture
def rendered(runner):
    return runner.render(RenderRequest(image=SAMPLE_PORTRAIT, text="Profit logic beats market share.",
                                       persona="jenniel", max_side=256))


def test_the_named_files_are_links_to_the_job_files_and_follow_a_new_video(settings, rendered):
    folder = settings.job_dir(rendered.id)
    named = named_files(settings, rendered)
    name = f"jenniel_profit-logic-beats-market_{rendered.id}"
    assert {kind: path.name for kind, path in named.items()} == {
        "video": f"{name}.mp4", "vtt": f"{name}.vtt", "srt": f"{name}.srt"}
    assert all(path.parent == folder / "download" for path in named.values())
    assert os.path.samefile(named["video"], folder / "output.mp4")
    assert os.path.samefile(named["srt"], folder / "output.srt")
    # a resume writes a new output.mp4 (renamed into place): the download follows it
    replacement = folder / "output.new.mp4"
    replacement.write_bytes(b"not the old video")
    replacement.replace(folder / "output.mp4")
    again = named_files(settings, rendered)
    assert again["video"] == named["video"] and again["video"].read_bytes() == b"not the old video"
    assert not list((folder / "download").glob("*partial*"))


def test_the_players_hand_gradio_the_named_files(settings, rendered):
    ctx = StudioContext(settings)
    _, _, video, *_ = history_tab.show_details(ctx, history_tab.get_job(ctx, rendered.id))
    name = f"jenniel_profit-logic-beats-market_{rendered.id}"
    assert os.path.basename(video["value"]) == f"{name}.mp4"
    assert os.path.basename(video["subtitles"]) == f"{name}.vtt"


def test_the_caption_files_to_download_are_the_shown_jobs_under_its_name(settings, rendered):
    from studio.video_view import caption_downloads

    ctx = StudioContext(settings)
    name = f"jenniel_profit-logic-beats-market_{rendered.id}"
    files = caption_downloads(ctx, history_tab.get_job(ctx, rendered.id))
    assert [os.path.basename(path) for path in files] == [f"{name}.vtt", f"{name}.srt"]
    assert caption_downloads(ctx, None) is None
    assert caption_downloads(ctx, {"job_id": "20260101-000000-abcdef"}) is None  # gone: nothing, quietly
