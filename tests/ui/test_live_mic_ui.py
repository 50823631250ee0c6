"""The Live tab's microphone in Chromium when it cannot be had: permission denied, or no device.

Gradio's recorder (push to talk) fails silently there — Record does nothing, the error goes
nowhere — so the tab asks the browser itself when Record is pressed and says so under the player,
once. The hands-free recorder is the studio's own and says so on its own line. Each case is a
browser of its own, launched without the session browser's auto-accepted fake microphone:

- denied: a (fake) device, but every permission prompt is refused (``--deny-permission-prompts``);
- no device: the permission granted, but no capture device at all.

A working microphone (the session browser's) shows no such message.
"""

from __future__ import annotations

import fake_llm
import pytest
from playwright.sync_api import expect

from studio.live_view import MIC_UNAVAILABLE

from .conftest import launch_chromium, open_tab, screenshot, studio_page

BROWSERS = {
    "denied": (["--use-fake-device-for-media-stream", "--deny-permission-prompts"], []),
    "no-device": ([], ["microphone"]),
}


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


@pytest.fixture(params=sorted(BROWSERS))
def refused_page(request, playwright_session, live_studio):
    """A page on the studio in a browser whose microphone cannot be had (see the module docstring)."""
    args, permissions = BROWSERS[request.param]
    url, _ = live_studio
    browser = launch_chromium(playwright_session, *args)
    yield request.param, studio_page(browser, url, permissions=permissions)
    browser.close()


def test_a_microphone_that_cannot_be_had_is_one_clear_message(refused_page):
    case, page = refused_page
    fake_llm.install().enqueue("Start from the profit logic.")
    open_tab(page, "Live")
    record = page.locator("#live-mic button.record-button")
    record.click()
    status = page.locator("#live-status")
    expect(status).to_have_text(MIC_UNAVAILABLE)
    expect(status.get_by_text("The microphone is not available")).to_be_visible()
    record.click()  # pressing again says it again, not twice
    page.wait_for_timeout(500)
    assert page.get_by_text("The microphone is not available").count() == 1
    screenshot(page, f"live-mic-{case}")
    # The question can still be typed: the first status of a reply replaces the message.
    choose(page, "live-persona", "Jenniel (jenniel)")
    choose(page, "live-llm", "fake")
    page.locator("#live-message textarea").fill("Where do we start?")
    page.locator("#live-ask").click()
    expect(status).not_to_have_text(MIC_UNAVAILABLE)
    expect(page.locator("#live-reply")).to_contain_text("Start from the profit logic.")
    # Hands-free: the same message, on its own line, and it does not listen.
    page.locator("#live-listen button.listen-button").click()
    expect(page.locator("#live-listen .live-mic-line")).to_have_text(MIC_UNAVAILABLE)
    expect(page.locator("#live-listen .live-mic")).to_have_attribute("data-state", "off")
    expect(page.locator("#live-listen button.listen-button")).to_have_text("Listen hands-free")


def test_a_working_microphone_shows_no_such_message(page):
    open_tab(page, "Live")
    page.locator("#live-mic button.record-button").click()
    expect(page.locator("#live-mic button.stop-button")).to_be_visible()  # recording
    page.wait_for_timeout(1000)  # the tab's own check has answered by now
    assert page.get_by_text("The microphone is not available").count() == 0
    listen = page.locator("#live-listen button.listen-button")
    listen.click()  # hands-free listens, and Stop listening lets the microphone go
    expect(page.locator("#live-listen .live-mic")).to_have_attribute("data-state", "on")
    expect(listen).to_have_text("Stop listening")
    listen.click()
    expect(page.locator("#live-listen .live-mic")).to_have_attribute("data-state", "off")
    expect(page.locator("#live-listen .live-mic-line")).to_have_text("Not listening.")
    assert page.get_by_text("The microphone is not available").count() == 0
