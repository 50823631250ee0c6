"""The Render lab in a real browser: move a slider and watch the face, let go and get the video;
ask for suggested controls; record from the microphone and render that.

Everything waits on what a person would see (the preview's image changing, a ``<video>`` with a
duration, a line of text), never on a fixed pause; the one timed wait is how long the microphone
records. Renders are real (Piper, the face mesh, ffmpeg), so each flow takes a few seconds.
"""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

import fake_llm
from pipeline.db import JobStore

from .conftest import open_tab, screenshot

RENDER_TIMEOUT_MS = 90_000  # a render on a busy two-core machine, TTS voice loading included
VIDEO_DURATION = """() => { const v = document.querySelector('#lab-video video');
                           return v !== null && v.duration > 0 ? v.duration : false }"""


def preview_src(page) -> str:
    image = page.locator("#lab-preview img")
    expect(image).to_be_visible()
    return image.get_attribute("src")


def rendered_duration(page) -> float:
    return page.wait_for_function(VIDEO_DURATION, timeout=RENDER_TIMEOUT_MS).json_value()


def newest_job(settings):
    return JobStore(settings.db_path).list(limit=1)[0]


def test_a_slider_moves_the_preview_and_letting_go_renders_the_video(page, live_studio):
    _, settings = live_studio
    open_tab(page, "Render lab")
    first = preview_src(page)
    expect(page.locator("#lab-preview-info")).to_contain_text("blinks 17/min")
    screenshot(page, "lab-start")

    # The range itself, by keyboard: each step is a new preview (only the last one need arrive).
    tilt = page.locator("#lab-head_tilt input[type=range]")
    tilt.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#lab-head_tilt input[type=number]")).to_have_value("0.35")
    expect(page.locator("#lab-preview img")).not_to_have_attribute("src", first)
    tilted = preview_src(page)
    expect(page.locator("#lab-preview-info")).to_contain_text(re.compile(r"preview \d+ ms"))

    # Typing into a slider's number box: the still follows at once …
    mouth = page.locator("#lab-mouth_openness input[type=number]")
    mouth.fill("0.95")
    expect(page.locator("#lab-preview img")).not_to_have_attribute("src", tilted)
    screenshot(page, "lab-preview-moved")

    # … and letting go of it (leaving the box) renders exactly these values.
    mouth.press("Tab")
    expect(page.locator("#lab-job")).to_contain_text("done", timeout=RENDER_TIMEOUT_MS)  # (the sample was no job)
    assert rendered_duration(page) > 1.0
    job = newest_job(settings)
    assert job.status == "done" and len(JobStore(settings.db_path).list()) == 1
    assert job.controls_user == {"blink_rate": 0.5, "head_tilt": 0.35, "expression_intensity": 0.5,
                                 "mouth_openness": 0.95, "eyebrow_raise": 0.4}
    expect(page.locator("#lab-job")).to_contain_text(job.id)
    screenshot(page, "lab-rendered")

    # New words: the video and its job were for the old ones, so they are cleared.
    page.locator("#lab-script textarea").fill("Something else entirely.")
    expect(page.locator("#lab-video video")).to_have_count(0)
    expect(page.locator("#lab-job")).not_to_contain_text(job.id)


def test_suggest_controls_fills_the_sliders_and_says_why(page, live_studio):
    fake = fake_llm.install()  # registered before the tab is opened: the dropdown lists it
    answer = {"blink_rate": 0.15, "head_tilt": 0.6, "expression_intensity": 1.4, "mouth_openness": 0.7,
              "eyebrow_raise": 0.85}
    fake.enqueue(json.dumps(answer))
    open_tab(page, "History")  # the studio opened on the lab before the fake was registered:
    open_tab(page, "Render lab")  # opening it again lists it
    preview_src(page)
    page.locator("#lab-script textarea").fill("We won! I am absolutely thrilled.")
    page.locator("#lab-suggest-llm input").click()
    page.get_by_role("option", name="LLM: fake").click()
    page.locator("#lab-suggest").click()
    expect(page.locator("#lab-why")).to_contain_text("clamped to 0–1: expression_intensity 1.4 → 1.0",
                                                     timeout=RENDER_TIMEOUT_MS)
    expect(page.locator("#lab-why")).to_contain_text("emotion happy")
    for name, value in {**answer, "expression_intensity": 1.0}.items():
        expect(page.locator(f"#lab-{name} input[type=number]")).to_have_value(str(value).rstrip("0").rstrip("."))
    expect(page.locator("#lab-emotion input")).to_have_value("happy")
    screenshot(page, "lab-suggested")


def test_a_persona_brings_its_portrait_and_default_controls(page):
    open_tab(page, "Render lab")
    first = preview_src(page)
    portrait = page.locator("#lab-portrait img").get_attribute("src")
    page.locator("#lab-persona input").click()
    page.get_by_role("option", name="Jenniel (jenniel)").click()
    expect(page.locator("#lab-portrait img")).not_to_have_attribute("src", portrait)
    # jenniel's persona.yaml sets three controls; the others keep the studio's defaults.
    expected = {"head_tilt": "0.35", "expression_intensity": "0.55", "eyebrow_raise": "0.5", "mouth_openness": "0.6"}
    for name, value in expected.items():
        expect(page.locator(f"#lab-{name} input[type=number]")).to_have_value(value)
    expect(page.locator("#lab-preview img")).not_to_have_attribute("src", first)
    expect(page.locator("#lab-preview-info")).to_contain_text("blinks 17/min")
    screenshot(page, "lab-persona")


def test_a_microphone_recording_is_what_the_avatar_says(page, live_studio):
    _, settings = live_studio
    open_tab(page, "Render lab")
    preview_src(page)
    recorder = page.locator("#lab-audio")
    recorder.get_by_role("button", name="Record audio").click()
    recorder.locator("button.record-button").click()
    page.wait_for_timeout(3000)  # how long the fake microphone records, not a synchronisation
    recorder.locator("button.stop-button").click()
    expect(page.locator("#lab-audio-info")).to_contain_text("Recording ready")
    recorded = float(re.search(r"\((\d+\.\d) s\)", page.locator("#lab-audio-info").inner_text()).group(1))
    page.locator("#lab-render").click()
    duration = rendered_duration(page)
    assert abs(duration - recorded) < 0.3
    job = newest_job(settings)
    assert job.status == "done" and job.text is None and job.audio_path
    screenshot(page, "lab-microphone")


def test_the_lab_fits_a_phone(page):
    open_tab(page, "Render lab")  # at 1280 px, where the tab is in the bar rather than its overflow menu
    preview_src(page)
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#lab-render")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    screenshot(page, "lab-narrow")
    assert overflow <= 1, f"the lab is {overflow}px wider than a 390px window"


def test_the_studio_opens_on_a_ready_sample_with_one_render_action(page):
    expect(page.get_by_role("tab", name="Render lab")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#lab-script textarea")).to_have_value(re.compile(r"Move a slider"))
    assert rendered_duration(page) > 3.0  # the sample video, already there
    tracks = page.evaluate("Array.from(document.querySelectorAll('#lab-video video track')).length")
    assert tracks >= 1  # with its captions
    expect(page.locator("#lab-job")).to_contain_text("A sample")
    expect(page.locator("#lab-render")).to_be_visible()
    screenshot(page, "first-screen", full_page=False)


def test_a_group_photo_offers_its_faces_and_the_preview_follows_the_pick(page, tmp_path):
    """A photo of three: the face choice appears, numbered from the left; picking the face on the
    right frames it (the preview changes to the black-and-white one)."""
    from test_group_photo import compose

    group = compose(tmp_path / "group.png", (480, 600, 500), grey=3, height=640)
    open_tab(page, "Render lab")
    expect(page.locator("#lab-face")).to_be_hidden()  # the sample portrait has one face
    page.locator("#lab-portrait button[aria-label='Remove Image']").click()
    page.locator("#lab-portrait input[type=file]").set_input_files(str(group))
    expect(page.locator("#lab-face")).to_be_visible(timeout=30_000)
    expect(page.locator("#lab-preview-info")).to_contain_text("animating the largest, face 2 (middle)")
    before = preview_src(page)
    page.locator("#lab-face input").click()
    page.get_by_role("option", name="3: right").click()
    expect(page.locator("#lab-preview img")).not_to_have_attribute("src", before)
    expect(page.locator("#lab-preview-info")).to_contain_text("animating face 3 (right)")
    screenshot(page, "lab-group-photo")
