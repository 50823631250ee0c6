"""Browser tests: the studio served on 127.0.0.1, driven by Playwright through Debian's Chromium.

Never ``playwright install``: the browser is the system's (``apt-get install -y chromium``; CI's
``.ci/run`` does it), found at ``$AVATAR_STUDIO_CHROMIUM`` or ``/usr/bin/chromium``. Without it
these tests skip, except where ``AVATAR_STUDIO_REQUIRE_BROWSER=1`` (CI) makes that a failure.

The microphone is Chromium's fake capture device playing ``assets/sample_speech.wav``, with the
permission prompt auto-accepted. Screenshots go to ``artifacts/screenshots/`` (the README names
it; CI keeps the folder as an artifact).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
FAKE_MIC_WAV_SOURCE = ROOT / "assets" / "sample_speech.mp3"


def chromium_path() -> str | None:
    path = os.environ.get("AVATAR_STUDIO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if Path(path).exists() else None


@pytest.fixture(scope="session")
def fake_mic_wav(tmp_path_factory) -> Path:
    """The sample speech as 48 kHz mono 16-bit WAV: the format Chromium's fake capture device reads."""
    import imageio_ffmpeg

    out = tmp_path_factory.mktemp("mic") / "mic.wav"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(FAKE_MIC_WAV_SOURCE),
                    "-ac", "1", "-ar", "48000", "-c:a", "pcm_s16le", str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def playwright_session():
    """The one Playwright of the test session: the sync API runs one per thread, so every browser —
    the shared one below, and those a module launches with other microphones — comes from it."""
    path = chromium_path()
    if path is None:
        if os.environ.get("AVATAR_STUDIO_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium not found: apt-get install -y chromium (or set AVATAR_STUDIO_CHROMIUM)")
        pytest.skip("Chromium not found: apt-get install -y chromium to run the browser tests")
    from playwright.sync_api import expect, sync_playwright

    # expect()'s own default is 5 s; CI's two loaded cores once took longer than that to load the
    # studio after a sign-in. A condition that holds still passes at once.
    expect.set_options(timeout=20_000)
    with sync_playwright() as playwright:
        yield playwright


def launch_chromium(playwright, *args: str):
    """Debian's Chromium through Playwright, headless, with the flags every browser test needs."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=[
        "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *args])


@pytest.fixture(scope="session")
def browser(playwright_session, fake_mic_wav):
    browser = launch_chromium(playwright_session, "--use-fake-ui-for-media-stream",
                              "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={fake_mic_wav}")
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def live_studio(tmp_path_factory, model_cache):
    """The whole studio on a free port of 127.0.0.1, with its own data dir for this test module.

    Yields ``(url, settings)``. Its Gradio upload folder is ``<home>/gradio``; see
    ``uploads_where_the_live_studio_keeps_them``."""
    from pipeline.settings import resolve
    from studio.app import build_app, launch_options

    home = tmp_path_factory.mktemp("studio-home")
    env = {"AVATAR_STUDIO_HOME": str(home), "AVATAR_STUDIO_CACHE": str(model_cache)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(home / "gradio"))
        settings = resolve(env, dotenv=False)
        app = build_app(settings)
        app.queue(default_concurrency_limit=2).launch(
            prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
            **launch_options(settings))
        yield app.local_url.rstrip("/"), settings
        app.close()


@pytest.fixture(autouse=True)
def uploads_where_the_live_studio_keeps_them(studio_home, live_studio, monkeypatch):
    """Gradio fixes a server's upload folder when the app is made but checks every file a page sends
    back against ``GRADIO_TEMP_DIR`` as it is *now*; the autouse ``studio_home`` moves that variable
    for each test, so without this every upload (and a component's initial file) "was not uploaded
    by a user"."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(live_studio[1].home / "gradio"))


def studio_page(browser, url: str, *, permissions=("microphone",), height: int = 800):
    """A page of a fresh context on the studio at ``url``, fully loaded (close its ``.context``)."""
    context = browser.new_context(viewport={"width": 1280, "height": height})
    context.grant_permissions(list(permissions), origin=url)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.wait_for_selector("#tabs")
    return page


@pytest.fixture
def page(browser, live_studio):
    """A fresh 1280×800 page on the studio, fully loaded; microphone allowed."""
    page = studio_page(browser, live_studio[0])
    yield page
    page.context.close()


def open_tab(page, name: str) -> None:
    """Click a top-level tab by its label ("Personas", "Chat", "Render lab", "History"); on a narrow
    window Gradio moves the tabs that don't fit into its "More tabs" menu, so look there too."""
    tab = page.get_by_role("tab", name=re.compile(rf"^{re.escape(name)}$"))
    if tab.count():
        tab.first.click()
        return
    page.get_by_label("More tabs").click()
    page.locator(".overflow-dropdown button", has_text=re.compile(rf"^{re.escape(name)}$")).click()


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """Save ``artifacts/screenshots/<name>.png`` (kept by CI) and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
