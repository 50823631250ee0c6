"""Two users in two browsers (two Playwright contexts, so two cookie jars): alice signs in and
renders in the Render lab; bob signs in and finds none of it — his History is empty, her job id is
"no job" to him, his conversation list is empty."""

from __future__ import annotations

import re

import pytest

from conftest import USERS

from .conftest import open_tab, screenshot


@pytest.fixture(scope="module")
def users_live(tmp_path_factory, model_cache, live_studio):
    """The studio with users alice and bob, its own data folder, Gradio's upload folder shared with
    the module's ``live_studio`` (the autouse fixture points ``GRADIO_TEMP_DIR`` there)."""
    from conftest import serve_with_users
    from pipeline.settings import resolve

    home = tmp_path_factory.mktemp("users-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(live_studio[1].home / "gradio"))
        settings = resolve({"AVATAR_STUDIO_HOME": str(home), "AVATAR_STUDIO_CACHE": str(model_cache)}, dotenv=False)
        app = serve_with_users(settings)
        yield app.local_url.rstrip("/"), settings
        app.close()


def _signed_in(browser, url: str, user: str):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_label(re.compile("username", re.I)).fill(user)
    page.get_by_label(re.compile("password", re.I)).fill(USERS[user])
    page.get_by_role("button", name=re.compile("login", re.I)).click()
    # The page's own 60 s, not expect's 5 s: after signing in, the whole studio loads again, and on
    # a loaded CI machine that once took longer than 5 s.
    page.wait_for_selector("#tabs")
    return context, page


def test_two_users_see_only_their_own(browser, users_live):
    from playwright.sync_api import expect

    url, settings = users_live
    alice_context, alice = _signed_in(browser, url, "alice")
    bob_context, bob = _signed_in(browser, url, "bob")
    try:
        open_tab(alice, "Render lab")
        alice.locator("#lab-render").click()
        # The job's line, not the player: the studio opens with a sample video already playable.
        job_line = alice.locator("#lab-job")
        expect(job_line).to_contain_text("done", timeout=120_000)
        alice.wait_for_function("""() => {
            const video = document.querySelector('#lab-video video');
            return video && video.readyState >= 1 && video.duration > 0; }""", timeout=30_000)
        job_id = re.search(r"Job (\S+)", job_line.inner_text()).group(1).strip("`")
        open_tab(alice, "History")
        expect(alice.locator("#history-table")).to_contain_text(job_id)
        expect(alice.locator("#history-page-info")).to_contain_text("1 job")
        screenshot(alice, "users-alice-history")

        open_tab(bob, "History")
        expect(bob.locator("#history-page-info")).to_contain_text("no jobs yet")
        bob.locator("#history-job-id textarea").fill(job_id)
        bob.locator("#history-job-id textarea").press("Enter")
        expect(bob.get_by_text(f"no job with id '{job_id}'").first).to_be_visible()
        screenshot(bob, "users-bob-history")
        open_tab(bob, "Chat")
        expect(bob.locator("#chat-conversations")).not_to_contain_text("jenniel")
    finally:
        alice_context.close()
        bob_context.close()
