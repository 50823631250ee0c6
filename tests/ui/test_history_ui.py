"""History in a real browser: find a real render, see its details and video, re-open it in the Render
lab, come back and delete it (with the confirmation step) — and its folder is gone too."""

from __future__ import annotations

import re

import pytest

from conftest import SAMPLE_PORTRAIT
from pipeline.runner import RenderRequest, Runner
from pipeline.stages import STAGES

from .conftest import open_tab, screenshot

SCRIPT = "History keeps every take, so the best one is never lost!"


@pytest.fixture(scope="module")
def rendered_job(live_studio):
    """A real render made the way the CLI would, into the live studio's own data dir."""
    _, settings = live_studio
    job = Runner(settings).render(RenderRequest(image=SAMPLE_PORTRAIT, text=SCRIPT, controls={"head_tilt": 0.1},
                                                seed=2))
    assert job.status == "done", job.error
    return job


def _cell(table, job_id: str):
    """The table cell holding a job id (clicking any cell picks the row)."""
    return table.get_by_role("gridcell").filter(has_text=job_id).first


def test_find_show_open_in_lab_and_delete(page, live_studio, rendered_job):
    from playwright.sync_api import expect

    _, settings = live_studio
    job = rendered_job
    open_tab(page, "History")
    table = page.locator("#history-table")
    expect(table).to_contain_text(job.id)  # the tab refreshed itself on select

    page.locator("#history-text textarea").fill("every take")
    page.locator("#history-text textarea").press("Enter")
    expect(page.locator("#history-page-info")).to_contain_text("page 1 of 1 · 1 job")
    screenshot(page, "history-found")

    _cell(table, job.id).click()
    details = page.locator("#history-details")
    expect(details).to_contain_text(SCRIPT)
    expect(details).to_contain_text(f"Job {job.id} — done")
    expect(details).to_contain_text(f"Emotion — {job.emotion}")
    expect(page.locator("#history-controls")).to_contain_text("head_tilt")
    expect(page.locator("#history-job-id textarea")).to_have_value(job.id)
    page.wait_for_function("""() => {
        const video = document.querySelector('#history-video video');
        return video && video.readyState >= 1 && video.duration > 0; }""")
    duration = page.evaluate("document.querySelector('#history-video video').duration")
    assert abs(duration - job.duration_s) < 0.2
    expect(page.locator("#history-timings")).not_to_be_visible()  # an engineer's plot: behind "Details"
    page.locator("#history-timings-panel").get_by_text("Details: what each stage took").click()
    x_axis = page.locator("#history-timings [aria-roledescription='axis']").first  # Vega's description of it
    # every stage in order but enhance, which this job did not ask for (Vega names the first five
    # and the last when there are more than six)
    expect(x_axis).to_have_attribute("aria-label", re.compile(
        rf"{len(STAGES) - 1} values: inputs, speech, analysis, emotion, control, .*encode$"))
    screenshot(page, "history-details")

    page.locator("#history-open-lab").click()
    expect(page.get_by_role("tab", name="Render lab")).to_have_attribute("aria-selected", "true")
    lab_script = page.locator("#lab-script textarea")
    if lab_script.count():  # the Render lab's script box (elem_id lab-script)
        expect(lab_script).to_have_value(SCRIPT)
    screenshot(page, "history-opened-in-lab")

    open_tab(page, "History")
    page.locator("#history-delete").click()
    ask = page.locator("#history-delete-ask")
    expect(ask).to_be_visible()
    expect(ask).to_contain_text(f"Delete job {job.id}")
    screenshot(page, "history-delete-confirm")
    assert settings.job_dir(job.id).is_dir(), "nothing is deleted before the confirmation"
    page.locator("#history-delete-confirm").click()
    expect(page.locator("#history-page-info")).to_have_text("no jobs match these filters")
    expect(table).not_to_contain_text(job.id)
    expect(ask).to_be_hidden()
    expect(details).to_contain_text("Pick a job in the table")
    assert not settings.job_dir(job.id).exists()
    screenshot(page, "history-deleted")


def test_compare_two_renders_and_stats_narrow(page, live_studio):
    """Two picks fill A and B; the comparison shows both videos and what differs. Then the stats
    panel plots, and the whole tab fits a phone-sized window."""
    from playwright.sync_api import expect

    _, settings = live_studio
    runner = Runner(settings)
    first, second = (runner.render(RenderRequest(image=SAMPLE_PORTRAIT, text="Compare me, calmly.",
                                                 controls={"mouth_openness": mouth})) for mouth in (0.3, 0.9))
    open_tab(page, "History")
    table = page.locator("#history-table")
    expect(table).to_contain_text(second.id)
    page.get_by_text("Compare two jobs").click()
    _cell(table, first.id).click()
    expect(page.locator("#history-job-id textarea")).to_have_value(first.id)
    _cell(table, second.id).click()
    expect(page.locator("#history-compare-b textarea")).to_have_value(second.id)
    expect(page.locator("#history-compare-a textarea")).to_have_value(first.id)
    page.locator("#history-compare").click()
    comparison = page.locator("#history-compare-table")
    expect(comparison).to_contain_text("mouth_openness")
    expect(comparison).to_contain_text(re.compile(r"0\.3.*0\.9"))
    for side in ("a", "b"):
        page.wait_for_function(f"""() => {{
            const video = document.querySelector('#history-compare-video-{side} video');
            return video && video.readyState >= 1 && video.duration > 0; }}""")
    screenshot(page, "history-compare")

    page.get_by_text("Statistics", exact=True).click()
    expect(page.locator("#history-stats-summary")).to_contain_text("embedded 100 %")
    # Vega describes each mark it draws: one bar per backend, one point per backend and day
    expect(page.locator("#history-stats-success [aria-label*='backend: embedded']")).to_have_count(1)
    expect(page.locator("#history-stats-rtf [aria-label*='backend: embedded']")).to_have_count(1)
    legend = page.locator("#history-stats-rtf [aria-label^='Symbol legend']")
    expect(legend).to_have_attribute("aria-label", re.compile("1 value: embedded"))
    screenshot(page, "history-stats")

    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#history-details").scroll_into_view_if_needed()
    screenshot(page, "history-narrow")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"the History tab is {overflow}px wider than a 390px window"


def test_resume_an_interrupted_job_then_render_it_again(page, live_studio):
    """A job whose process stopped before encoding is finished by Resume; Render again makes a new job
    from it and keeps the old one."""
    from playwright.sync_api import expect

    from pipeline.db import JobStore

    _, settings = live_studio
    job = Runner(settings).render(RenderRequest(image=SAMPLE_PORTRAIT, text="Stopped halfway, finished later."))
    store = JobStore(settings.db_path)
    (settings.job_dir(job.id) / "output.mp4").unlink()
    store.update(job.id, status="interrupted", video_path=None, error="stopped during encode; resume it to continue",
                 error_stage="encode", timings={k: v for k, v in job.timings.items() if k != "encode"})

    open_tab(page, "History")
    page.locator("#history-status input").click()
    page.get_by_role("option", name="interrupted").click()
    table = page.locator("#history-table")
    expect(page.locator("#history-page-info")).to_have_text("page 1 of 1 · 1 job")
    _cell(table, job.id).click()
    details = page.locator("#history-details")
    expect(details).to_contain_text("— interrupted")
    expect(details).to_contain_text("Error during encode: stopped during encode")

    page.locator("#history-resume").click()
    expect(details).to_contain_text(f"Job {job.id} — done", timeout=60_000)
    page.wait_for_function("""() => {
        const video = document.querySelector('#history-video video');
        return video && video.readyState >= 1 && video.duration > 0; }""")
    expect(page.locator("#history-page-info")).to_have_text("no jobs match these filters")  # not interrupted now
    assert store.get(job.id).timings["render"] == job.timings["render"], "resume did not render again"

    page.locator("#history-rerender").click()  # on the default renderer: embedded
    job_box = page.locator("#history-job-id textarea")
    expect(job_box).not_to_have_value(job.id, timeout=60_000)
    again = store.get(job_box.input_value())
    assert again.status == "done" and again.text == job.text and again.backend == "embedded"
    expect(details).to_contain_text(f"Job {again.id} — done")
    assert store.get(job.id).status == "done", "the original job is kept"
    screenshot(page, "history-rendered-again")


def test_resume_a_failed_sadtalker_job_on_the_embedded_renderer(page, live_studio):
    """A SadTalker job that failed (no SADTALKER_DIR here) re-opens in the Render lab with its SadTalker
    options showing; back in History, "Resume on" a renderer that cannot run either is refused and
    leaves it alone, and "Resume on" embedded finishes the same job, whose video then plays."""
    from playwright.sync_api import expect

    from pipeline.errors import StudioError
    from pipeline.db import JobStore

    _, settings = live_studio
    script = "SadTalker could not, so the embedded renderer will."
    with pytest.raises(StudioError, match="SADTALKER_DIR is not set"):
        Runner(settings).render(RenderRequest(image=SAMPLE_PORTRAIT, text=script, backend="sadtalker",
                                              renderer_options={"size": 512, "pose_style": 9}))
    store = JobStore(settings.db_path)
    job = next(found for found in store.list(limit=5) if found.text == script)

    open_tab(page, "History")
    page.locator("#history-text textarea").fill("embedded renderer will")
    page.locator("#history-text textarea").press("Enter")
    table = page.locator("#history-table")
    expect(page.locator("#history-page-info")).to_have_text("page 1 of 1 · 1 job")
    _cell(table, job.id).click()
    details = page.locator("#history-details")
    expect(details).to_contain_text(f"Job {job.id} — failed")
    expect(details).to_contain_text("SADTALKER_DIR is not set")
    choice = page.locator("#history-resume-backend input")
    expect(choice).to_have_value("its own: sadtalker")

    page.locator("#history-open-lab").click()  # the lab shows SadTalker's options with the job's values
    options = page.locator("#lab-sadtalker-options")
    expect(options).to_be_visible()
    expect(page.locator("#lab-sadtalker-size input[value='512']")).to_be_checked()
    expect(page.locator("#lab-sadtalker-pose-style input[type='number']")).to_have_value("9")
    screenshot(page, "lab-sadtalker-options")

    open_tab(page, "History")
    choice.click()
    page.get_by_role("option", name="heygen").click()
    page.locator("#history-resume").click()
    expect(page.locator(".toast-body").filter(has_text="HEYGEN_API_KEY").first).to_be_visible()
    assert (store.get(job.id).status, store.get(job.id).backend) == ("failed", "sadtalker")

    choice.click()
    page.get_by_role("option", name="embedded", exact=True).click()
    page.locator("#history-resume").click()
    expect(details).to_contain_text(f"Job {job.id} — done", timeout=60_000)
    expect(details).to_contain_text("embedded renderer")
    page.wait_for_function("""() => {
        const video = document.querySelector('#history-video video');
        return video && video.readyState >= 1 && video.duration > 0; }""")
    expect(choice).to_have_value("its own: embedded")
    expect(page.locator("#history-resume")).to_be_disabled()  # done: nothing left to resume
    finished = store.get(job.id)
    assert (finished.status, finished.backend, finished.options["renderer_options"]) == ("done", "embedded", {})
    screenshot(page, "history-resumed-on-embedded")
