"""The Chat tab in a real browser: a streamed reply and its video, the microphone, resuming.

The LLM is a scripted one that writes its answer a word at a time (registered as "slow" in the
registry of this process, where the live studio runs), so the streaming is visible and the words
are known; the render, the speech and the transcription are the real ones. Streaming is checked
by a MutationObserver that records every text the assistant's bubble shows while it is written.
"""

from __future__ import annotations

import re

import fake_llm
import pytest
from playwright.sync_api import expect


from .conftest import open_tab, screenshot

ANSWER = "Start from the profit logic and work back to the price each segment will pay."


@pytest.fixture
def slow():
    return fake_llm.install_slow(delay_s=0.08)


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def open_chat(page, *, persona: str, llm: str = "slow", output: str = "Text only") -> None:
    open_tab(page, "Chat")
    choose(page, "chat-persona", persona)
    choose(page, "chat-llm", llm)  # after the persona: picking one resets the LLM to the persona's own
    page.locator("#chat-output").get_by_text(output, exact=True).click()


def record_bubbles(page) -> None:
    """Keep every text the newest assistant bubble shows, in order, in ``window.bubbleTexts``."""
    page.evaluate("""() => {
        window.bubbleTexts = [];
        const chat = document.querySelector('#chat-chatbot');
        new MutationObserver(() => {
            const bots = chat.querySelectorAll('[data-testid="bot"]');
            const text = bots.length ? bots[bots.length - 1].innerText.trim() : '';
            if (text && text !== window.bubbleTexts[window.bubbleTexts.length - 1]) window.bubbleTexts.push(text);
        }).observe(chat, {subtree: true, childList: true, characterData: true});
    }""")


def send(page, text: str) -> None:
    box = page.locator("#chat-message textarea")
    box.fill(text)
    box.press("Enter")


def test_a_message_gets_a_streamed_reply_and_a_playable_video(page, slow, live_studio):
    from pipeline.db import ConversationStore, JobStore

    _, settings = live_studio
    slow.enqueue(ANSWER)
    open_chat(page, persona="Jenniel (jenniel)", output="Video")
    record_bubbles(page)
    send(page, "How should we price the premium line?")
    expect(page.locator("#chat-message textarea")).to_have_value("")  # emptied at once…
    expect(page.locator("#chat-send")).to_be_disabled()  # …and closed until the turn is over
    bot = page.locator("#chat-chatbot [data-testid='bot']").last
    expect(bot).to_have_text(ANSWER, timeout=30_000)
    screenshot(page, "chat-streamed-reply")
    seen = page.evaluate("window.bubbleTexts")
    growing = [text for text in seen if text != ANSWER and ANSWER.startswith(text.rstrip("…").strip())]
    assert len(growing) >= 3, f"the reply did not arrive in pieces: {seen}"

    # Spoken live: the first sentence played in the chat's player (see tests/ui/test_live_ui.py for
    # the timing), then the whole reply is kept under it — there to replay, not played twice.
    expect(page.locator("#chat-player .live-stage")).to_have_attribute("data-first-frame-ms", re.compile(r"^\d+$"),
                                                                       timeout=60_000)
    page.wait_for_function("""() => {
        const video = document.querySelector('#chat-video video');
        return video && video.readyState >= 1 && video.duration > 0;
    }""", timeout=120_000)
    duration = page.evaluate("document.querySelector('#chat-video video').duration")
    assert duration > 1.0
    assert page.evaluate("document.querySelector('#chat-video video').paused")
    cues = page.wait_for_function("""() => { const t = document.querySelector('#chat-video video').textTracks[0];
        return t && t.cues && t.cues.length ? Array.from(t.cues, c => c.text).join(' ') : false; }""").json_value()
    assert re.findall(r"\w+", cues.lower()) == re.findall(r"\w+", ANSWER.lower())  # the reply's captions
    expect(page.locator("#chat-video a[data-testid=download-link]")).to_have_attribute(  # named, not output.mp4
        "download", re.compile(r"^jenniel_start-from-the-profit_\d{8}-\d{6}-[0-9a-f]{6}\.mp4$"))
    expect(page.locator("#chat-status")).to_contain_text("video: job")
    expect(page.locator("#chat-send")).to_be_enabled()
    newest = page.locator("#chat-conversations tbody tr").first
    expect(newest).to_contain_text("jenniel")
    expect(newest).to_contain_text("How should we price the premium line?")
    screenshot(page, "chat-video-reply")

    jobs = JobStore(settings.db_path)
    [conversation] = [c for c in ConversationStore(jobs).list() if c.title == "How should we price the premium line?"]
    turns = ConversationStore(jobs).turns(conversation.id)
    assert [t.content for t in turns] == ["How should we price the premium line?", ANSWER]
    assert jobs.get(turns[-1].job_id).status == "done"


def test_the_microphone_fills_the_message_box(page):
    open_tab(page, "Chat")
    mic = page.locator("#chat-mic")
    mic.get_by_role("button", name="Record", exact=True).click()
    # Chromium's fake capture device loops the 6.8 s sample; record a little more than one pass.
    expect(mic.locator("time.duration")).to_have_text(re.compile(r"0:0[89]|0:[1-5]\d"), timeout=30_000)
    mic.locator("button.stop-button").click()
    box = page.locator("#chat-message textarea")
    expect(box).to_have_value(re.compile(r"avatar|video", re.IGNORECASE), timeout=60_000)
    screenshot(page, "chat-microphone")


def test_a_listed_conversation_resumes_with_its_history(page, slow, live_studio):
    from pipeline.chat import Chat, ChatRequest

    _, settings = live_studio
    slow.enqueue("Ask what the customer is really buying.", "Then price the outcome, not the product.")
    earlier = Chat(settings).ask(ChatRequest(persona="adam", message="Where do I start with the menu?", llm="slow"))
    open_chat(page, persona="Jenniel (jenniel)")
    open_tab(page, "Personas")
    open_tab(page, "Chat")  # opening the tab refreshes the lists, and keeps what was picked
    expect(page.locator("#chat-persona input")).to_have_value("Jenniel (jenniel)")
    page.locator("#chat-conversations").get_by_text("Where do I start with the menu?").click()
    bot = page.locator("#chat-chatbot [data-testid='bot']")
    expect(bot.last).to_have_text("Ask what the customer is really buying.")
    expect(page.locator("#chat-persona input")).to_have_value("Adam (adam)")
    choose(page, "chat-llm", "slow")
    send(page, "And after that?")
    expect(bot.last).to_have_text("Then price the outcome, not the product.", timeout=30_000)
    expect(page.locator("#chat-send")).to_be_enabled()  # the turn is over
    sent = [m["content"] for m in slow.history[-1]["messages"][1:]]
    assert sent == ["Where do I start with the menu?", "Ask what the customer is really buying.", "And after that?"]
    assert [t.content for t in Chat(settings).history(earlier.conversation_id)][-1] == \
        "Then price the outcome, not the product."
    screenshot(page, "chat-resumed")

    page.locator("#chat-new").click()
    expect(bot).to_have_count(0)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "chat-narrow")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1


def test_an_audio_reply_plays_in_the_audio_player(page, slow):
    slow.enqueue("Margins first.")
    open_chat(page, persona="Jenniel (jenniel)", output="Audio only")
    expect(page.locator("#chat-video")).to_be_hidden()
    send(page, "One word of advice?")
    expect(page.locator("#chat-chatbot [data-testid='bot']").last).to_have_text("Margins first.", timeout=30_000)
    player = page.locator("#chat-audio")
    expect(player.locator("time#duration")).to_have_text(re.compile(r"0:0[1-9]"), timeout=60_000)
    expect(player.get_by_role("button", name="Pause")).to_be_visible()  # it plays by itself
    screenshot(page, "chat-audio-reply")


def test_errors_are_shown_in_the_pipelines_words_and_nothing_typed_is_lost(page, slow):
    from pipeline.errors import RemoteError

    open_chat(page, persona="Jenniel (jenniel)")
    page.locator("#chat-send").click()
    expect(page.get_by_text("type a message for the persona to answer")).to_be_visible()

    slow.enqueue(RemoteError("mistral had a server error (HTTP 503)"))
    send(page, "Are you there?")
    expect(page.locator(".toast-body").get_by_text("mistral had a server error (HTTP 503)")).to_be_visible()
    expect(page.locator("#chat-message textarea")).to_have_value("Are you there?")  # back in the box for a retry
    expect(page.locator("#chat-chatbot")).to_contain_text("No answer: mistral had a server error (HTTP 503)")
    screenshot(page, "chat-error")

    slow.enqueue("Yes, here.")
    page.locator("#chat-send").click()
    expect(page.locator("#chat-chatbot [data-testid='bot']").last).to_have_text("Yes, here.", timeout=30_000)
    # The retry went on in the same conversation, without the failed question in the model's history.
    assert [m["content"] for m in slow.history[-1]["messages"][1:]] == ["Are you there?"]
    expect(page.locator("#chat-chatbot [data-testid='user']")).to_have_count(2)


def test_a_reply_shows_the_sources_it_was_given_and_so_does_its_conversation_resumed(page, slow, live_studio,
                                                                                       tmp_path):
    from dataclasses import replace

    from personas import PersonaStore
    from pipeline.knowledge import Knowledge

    _, settings = live_studio
    store = PersonaStore(settings)  # a persona of its own: the other tests' jenniel knows nothing
    store.save(replace(store.get("jenniel"), id="librarian", name="Librarian", portrait=None))
    handbook = tmp_path / "handbook.md"
    handbook.write_text("# Staff handbook\n\n## Holidays\n\nEvery employee has 28 days of paid holiday a year.\n\n"
                        "## Requests\n\nAsk for holiday days two weeks ahead.\n\n"
                        "## Parking\n\nBicycles go in the shed behind building B.\n", encoding="utf-8")
    assert all(added.ok for added in Knowledge(settings).add("librarian", [handbook]))
    slow.enqueue("You get 28 days [1].")
    open_chat(page, persona="Librarian (librarian)")
    sources = page.locator("#chat-sources")
    send(page, "How many days of holiday do I get?")
    expect(page.locator("#chat-chatbot [data-testid='bot']").last).to_have_text("You get 28 days [1].",
                                                                               timeout=30_000)
    expect(sources).to_contain_text("Sources")
    expect(sources).to_contain_text("[1] handbook.md — Staff handbook › Holidays")
    expect(sources).to_contain_text("“Every employee has 28 days of paid holiday a year.”")
    expect(sources).to_contain_text("[2] handbook.md — Staff handbook › Requests")
    expect(sources).not_to_contain_text("Parking")  # not about holidays: below the relevance floor
    box = page.locator("#chat-chatbot").bounding_box()
    assert sources.bounding_box()["y"] >= box["y"] + box["height"] - 1  # under the chat
    screenshot(page, "chat-sources")

    page.locator("#chat-new").click()
    expect(sources).not_to_contain_text("handbook.md")
    # The table also holds a hidden copy of the cell: click the one shown.
    page.locator('#chat-conversations >> text="How many days of holiday do I get?" >> visible=true').first.click()
    expect(page.locator("#chat-chatbot [data-testid='bot']").last).to_have_text("You get 28 days [1].")
    expect(sources).to_contain_text("[1] handbook.md — Staff handbook › Holidays")
