"""The review queue in a real browser: "Hold replies for my review" ticked and saved in the persona
editor; in the Chat tab the conversation's own checkbox follows it, and a spoken reply of Jenniel's
(the scripted LLM) is shown as held for review — no audio plays; in the Personas tab's Review
section it is listed with its question, prefilled in the box, edited and approved with the edit,
then spoken in the section. Assertions are on what a person sees and on what the database holds.
"""

from __future__ import annotations

import re

import fake_llm
from playwright.sync_api import expect

from pipeline import review

from .conftest import open_tab, screenshot

QUESTION = "Is the office open on Sundays?"
WRONG = "The office is open on Sundays."
RIGHT = "The office is closed on Sundays."


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def list_entry(page, label: str):
    return page.locator("#personas-list").get_by_label(label, exact=True)


def test_a_held_reply_waits_in_chat_and_is_approved_with_an_edit_in_personas(page, live_studio):
    _, settings = live_studio
    fake_llm.install_slow(WRONG, delay_s=0.01)

    open_tab(page, "Personas")
    list_entry(page, "Jenniel — example").check()
    expect(page.locator("#review-status")).to_contain_text("No replies wait for review")
    page.locator("#personas-hold-replies").get_by_label("Hold replies for my review").check()
    page.locator("#personas-save").click()
    expect(page.locator("#personas-status")).to_contain_text("Saved your copy of the example 'Jenniel'")
    assert "hold_replies: true" in (settings.personas_dir / "jenniel" / "persona.yaml").read_text()

    open_tab(page, "Chat")
    choose(page, "chat-persona", "Jenniel (jenniel)")
    choose(page, "chat-llm", "slow")
    page.locator("#chat-output").get_by_text("Audio only", exact=True).click()
    expect(page.locator("#chat-hold input")).to_be_checked()  # the persona's setting
    box = page.locator("#chat-message textarea")
    box.fill(QUESTION)
    box.press("Enter")
    bubble = page.locator("#chat-chatbot [data-testid='bot']").last
    expect(bubble).to_contain_text("Held for review", timeout=30_000)
    expect(bubble).to_contain_text(WRONG)
    expect(page.locator("#chat-status")).to_contain_text("held for your review")
    expect(page.locator("#chat-send")).to_be_enabled()
    expect(page.locator("#chat-audio time#duration")).to_have_count(0)  # nothing was spoken
    screenshot(page, "chat-held-for-review")
    [held] = review.pending(settings, persona="jenniel")
    assert (held.question, held.reply, held.output, held.audio_path) == (QUESTION, WRONG, "audio", None)

    open_tab(page, "Personas")
    list_entry(page, "Jenniel — edited example").check()
    table = page.locator("#review-table")
    expect(table).to_contain_text(held.turn_id)
    expect(table).to_contain_text(QUESTION)
    expect(page.locator("#review-pick input")).to_have_value(f"{held.turn_id} · pending · {QUESTION}")
    expect(page.locator("#review-picked")).to_contain_text(QUESTION)
    text = page.locator("#review-text textarea")
    expect(text).to_have_value(WRONG)
    text.fill(RIGHT)
    page.locator("#review-approve-edit").click()
    status = page.locator("#review-status")
    expect(status).to_contain_text(f"Approved {held.turn_id} with your edit", timeout=60_000)
    expect(status).to_contain_text("spoken")
    expect(page.locator("#review-audio time#duration")).to_have_text(re.compile(r"0:0[1-9]"), timeout=60_000)
    expect(table).not_to_contain_text(held.turn_id)  # pending only, by default
    page.locator("#persona-review").scroll_into_view_if_needed()
    screenshot(page, "personas-review")
    approved = review.held_reply(settings, held.turn_id)
    assert (approved.review, approved.reply, approved.original) == ("approved", RIGHT, WRONG)
    assert approved.audio_path and approved.audio_path.endswith("speech.wav")

    choose(page, "review-filter", "Approved")
    expect(table).to_contain_text(held.turn_id)
    expect(page.locator("#review-picked")).to_contain_text("The model wrote")
