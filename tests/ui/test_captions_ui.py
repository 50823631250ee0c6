"""Captions in a real browser: the Render lab's and History's players carry the job's WebVTT as a
``<track>``, Chromium loads its cues, and they are the script's words. A screenshot of the lab's
player paused inside a cue shows the caption drawn over the video."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .conftest import SCREENSHOTS, open_tab, screenshot
from .test_lab_ui import RENDER_TIMEOUT_MS, newest_job

SCRIPT = "Captions in the player! They follow the words, one phrase at a time."
CUES = """(selector) => { const v = document.querySelector(selector + ' video');
    const track = v && v.textTracks.length ? v.textTracks[0] : null;
    const element = v && v.querySelector('track');  // readyState 2: the whole file is parsed, not just its first cue
    if (!track || !element || element.readyState !== 2 || !track.cues || !track.cues.length) return false;
    if (!(v.duration > 0)) return false;
    return {mode: track.mode, duration: v.duration,
            cues: Array.from(track.cues, c => ({start: c.startTime, end: c.endTime, text: c.text}))}; }"""


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def loaded_cues(page, selector: str) -> dict:
    return page.wait_for_function(CUES, arg=selector, timeout=RENDER_TIMEOUT_MS).json_value()


def test_the_lab_and_history_players_show_the_captions(page, live_studio):
    _, settings = live_studio
    open_tab(page, "Render lab")
    page.locator("#lab-script textarea").fill(SCRIPT)
    page.locator("#lab-render").click()
    found = loaded_cues(page, "#lab-video")
    job = newest_job(settings)
    assert job.status == "done" and job.text == SCRIPT
    assert found["mode"] == "showing"  # the player's track is on by default
    assert words(" ".join(cue["text"] for cue in found["cues"])) == words(SCRIPT)
    starts = [cue["start"] for cue in found["cues"]]
    assert starts == sorted(starts) and found["cues"][-1]["end"] <= found["duration"] + 0.05
    track = page.locator("#lab-video video track[kind=captions]")
    expect(track).to_have_count(1)
    assert "/gradio_api/file=" in track.get_attribute("src")  # Gradio's served copy, not the job folder

    first = found["cues"][0]
    page.evaluate("""(t) => { const v = document.querySelector('#lab-video video');
                              v.pause(); v.currentTime = t; }""", (first["start"] + first["end"]) / 2)
    page.wait_for_function("""() => { const t = document.querySelector('#lab-video video').textTracks[0];
                                      return t.activeCues && t.activeCues.length > 0; }""")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#lab-video").screenshot(path=str(SCREENSHOTS / "captions-lab-player.png"))
    screenshot(page, "captions-lab")

    open_tab(page, "History")
    page.locator("#history-job-id textarea, #history-job-id input").first.fill(job.id)
    page.locator("#history-show").click()
    shown = loaded_cues(page, "#history-video")
    assert [cue["text"] for cue in shown["cues"]] == [cue["text"] for cue in found["cues"]]
    screenshot(page, "captions-history")


def test_the_lab_burns_the_captions_in_when_asked(page, live_studio):
    _, settings = live_studio
    open_tab(page, "Render lab")
    page.locator("#lab-script textarea").fill("Drawn into the frames.")
    page.locator("#lab-burn-captions input").check()
    page.locator("#lab-render").click()
    expect(page.locator("#lab-job")).to_contain_text("done", timeout=RENDER_TIMEOUT_MS)
    job = newest_job(settings)
    assert job.text == "Drawn into the frames." and job.options["burn_captions"] is True
    assert job.captions["burned_in"] is True
    expect(page.locator("#lab-job")).to_contain_text(job.id)
    # in the picture already: the player shows no track as well, or they would be on screen twice
    page.wait_for_function("document.querySelector('#lab-video video').duration > 0")
    assert not page.evaluate("document.querySelector('#lab-video video track')?.getAttribute('src')")
