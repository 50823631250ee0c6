"""A format picked in the Render lab, in a real browser: the video the player gets has that shape."""

from __future__ import annotations

from .conftest import SCREENSHOTS, open_tab
from .test_lab_ui import RENDER_TIMEOUT_MS, newest_job


def test_the_lab_renders_a_vertical_video_with_its_captions_drawn_in(page, live_studio):
    _, settings = live_studio
    open_tab(page, "Render lab")
    page.locator("#lab-script textarea").fill("Made for a phone held upright.")
    page.locator("#lab-format").get_by_label("9:16").check()
    page.locator("#lab-burn-captions input").check()
    page.locator("#lab-render").click()
    page.wait_for_function("document.querySelector('#lab-video video')?.duration > 0", timeout=RENDER_TIMEOUT_MS)
    size = page.evaluate("(() => { const v = document.querySelector('#lab-video video'); "
                         "return [v.videoWidth, v.videoHeight]; })()")
    assert abs(size[0] / size[1] - 9 / 16) < 0.01, size
    job = newest_job(settings)
    assert job.options["output_format"] == "9:16" and job.captions["burned_in"] is True
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("(() => { const v = document.querySelector('#lab-video video'); v.pause(); v.currentTime = 1; })()")
    page.wait_for_function("document.querySelector('#lab-video video').readyState >= 2")
    page.locator("#lab-video").screenshot(path=str(SCREENSHOTS / "format-9x16-lab-player.png"))
