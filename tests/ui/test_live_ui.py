"""The Live tab in Chromium: a question typed or spoken, and the reply playing sentence by
sentence while the rest is written; Stop (barge-in) silences it at once. The model is the scripted
fake, paced like a real stream; the voice, the renderer and the player are real, and the
microphone is Chromium's fake capture device playing the sample speech."""

from __future__ import annotations

import re

import fake_llm
from playwright.sync_api import expect

from .conftest import open_tab, screenshot

ANSWER = ("Start from the profit logic. Then find the customers who pay more than they cost. "
          "Grow there first, and measure it every quarter.")


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def open_live(page) -> None:
    open_tab(page, "Live")
    choose(page, "live-persona", "Jenniel (jenniel)")
    choose(page, "live-llm", "slow")


def playing_segments(page) -> int:
    """How many of the player's videos are playing (not paused, past their first frame) now."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('#live-player video.live-segment'))
        .filter(v => !v.paused && v.currentTime > 0).length""")


def test_a_typed_question_plays_sentence_by_sentence_then_the_whole_reply_is_kept(page):
    fake_llm.install_slow(ANSWER, delay_s=0.25)  # ~5 s of writing
    open_live(page)
    page.locator("#live-message textarea").fill("Where do we start?")
    page.locator("#live-ask").click()
    stage = page.locator("#live-player .live-stage")
    expect(stage).to_have_attribute("data-first-frame-ms", re.compile(r"^\d+$"), timeout=60_000)
    # The first sentence plays while the model is still writing the rest.
    reply = page.locator("#live-reply")
    assert "every quarter" not in reply.inner_text()
    assert playing_segments(page) == 1
    expect(page.locator("#live-status")).to_contain_text("First sentence ready")
    screenshot(page, "live-playing")
    expect(page.locator("#live-whole video")).to_have_attribute("src", re.compile(r"output\.mp4"), timeout=60_000)
    expect(reply).to_contain_text("measure it every quarter")
    expect(page.locator("#live-status")).to_contain_text("3 sentences spoken live")
    screenshot(page, "live-done")


def test_stop_silences_the_reply_at_once_and_keeps_what_was_said(page, live_studio):
    from pipeline.db import JobStore

    fake_llm.install_slow(ANSWER, delay_s=0.25)
    open_live(page)
    page.locator("#live-message textarea").fill("And then?")
    page.locator("#live-ask").click()
    stage = page.locator("#live-player .live-stage")
    expect(stage).to_have_attribute("data-first-frame-ms", re.compile(r"^\d+$"), timeout=60_000)
    page.locator("#live-stop").click()
    assert playing_segments(page) == 0  # paused in the browser before the server hears of it
    expect(page.locator("#live-status")).to_contain_text("Stopped", timeout=10_000)
    _, settings = live_studio
    expect(page.locator("#live-whole video")).to_have_attribute("src", re.compile(r"output\.mp4"), timeout=60_000)
    job = JobStore(settings.db_path).list(limit=1)[0]
    assert job.kind == "live" and job.status == "interrupted" and job.text.startswith("Start from the profit logic.")


def test_a_spoken_question_is_transcribed_and_answered_live(page):
    fake_llm.install_slow("Good question. Let me show you.", delay_s=0.1)
    open_live(page)
    mic = page.locator("#live-mic")
    mic.get_by_role("button", name="Record", exact=True).click()
    expect(mic.locator("time.duration")).to_have_text(re.compile(r"0:0[3-9]|0:[1-5]\d"), timeout=30_000)
    mic.locator("button.stop-button").click()
    expect(page.locator("#live-reply")).to_contain_text(re.compile(r"avatar|video", re.IGNORECASE), timeout=90_000)
    stage = page.locator("#live-player .live-stage")
    expect(stage).to_have_attribute("data-first-frame-ms", re.compile(r"^\d+$"), timeout=60_000)
    expect(page.locator("#live-reply")).to_contain_text("Let me show you", timeout=60_000)


def test_between_replies_the_face_listens_instead_of_freezing(page):
    open_live(page)
    idle = page.locator("#live-player video.live-idle")
    expect(idle).to_have_attribute("src", re.compile(r"idle-[0-9a-f]+\.mp4"), timeout=60_000)
    expect(idle).to_be_visible()
    page.wait_for_function("() => { const v = document.querySelector('#live-player video.live-idle');"
                           " return v && !v.paused && v.currentTime > 0.5; }", timeout=30_000)
    screenshot(page, "live-listening")
