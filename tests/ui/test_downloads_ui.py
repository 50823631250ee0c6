"""Downloads named for a person in a real browser: the Render lab's and History's download buttons
save ``avatar_<first words>_<job id>.mp4`` — the rendered video itself, fetched as its owner — and
their caption lists offer the .vtt and .srt under the same name."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import open_tab, screenshot
from .test_captions_ui import loaded_cues
from .test_lab_ui import newest_job


def download(page, selector: str):
    with page.expect_download() as started:
        page.locator(f"{selector} a[data-testid=download-link]").click()
    return started.value


def test_the_lab_and_history_download_the_video_under_its_name(page, live_studio):
    _, settings = live_studio
    open_tab(page, "Render lab")
    page.locator("#lab-script textarea").fill("Profit logic beats market share, every time.")
    page.locator("#lab-render").click()
    loaded_cues(page, "#lab-video")
    job = newest_job(settings)
    name = f"avatar_profit-logic-beats-market_{job.id}.mp4"
    saved = download(page, "#lab-video")
    assert saved.suggested_filename == name
    assert saved.path().read_bytes() == (settings.job_dir(job.id) / "output.mp4").read_bytes()
    stem = name.removesuffix(".mp4")
    for shown in (f"{stem}.vtt", f"{stem}.srt"):  # the captions, to upload beside the video
        expect(page.locator(f"#lab-captions a[href$='/{shown}']")).to_have_count(1)
    screenshot(page, "downloads-lab")

    open_tab(page, "History")
    page.locator("#history-job-id textarea, #history-job-id input").first.fill(job.id)
    page.locator("#history-show").click()
    loaded_cues(page, "#history-video")
    assert download(page, "#history-video").suggested_filename == name
    with page.expect_download() as started:
        page.locator(f"#history-captions a[href$='/{stem}.srt']").click()
    assert started.value.suggested_filename == f"{stem}.srt"
    assert started.value.path().read_text(encoding="utf-8") == \
        (settings.job_dir(job.id) / "output.srt").read_text(encoding="utf-8")
