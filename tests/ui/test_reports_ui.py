"""Reports in a real browser: "Report this reply" before any message says there is nothing to
report; a reply of Jenniel's (the scripted LLM) reported with a reason and a correction in the
Chat tab shows in the Personas tab's Reports table, its correction prefilled; "Make it a knowledge
note" turns it into a note the Knowledge section lists when the persona is opened again.
Assertions are on what a person sees and on what the database holds.
"""

from __future__ import annotations

import fake_llm
from playwright.sync_api import expect

from pipeline import reports
from pipeline.knowledge import Knowledge

from .conftest import open_tab, screenshot

WRONG = "The office is open on Sundays."
REASON = "It is closed on Sundays."
RIGHT = "The office is closed on Sundays; it opens Monday to Saturday."


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def list_entry(page, label: str):
    return page.locator("#personas-list").get_by_label(label, exact=True)


def test_a_reply_reported_in_chat_becomes_a_knowledge_note_in_personas(page, live_studio):
    _, settings = live_studio
    fake_llm.install_slow(WRONG, delay_s=0.01)
    open_tab(page, "Chat")
    choose(page, "chat-persona", "Jenniel (jenniel)")
    choose(page, "chat-llm", "slow")
    page.locator("#chat-output").get_by_text("Text only", exact=True).click()

    page.locator("#chat-report").get_by_text("Report this reply").click()
    page.locator("#chat-report-reason textarea").fill(REASON)
    page.locator("#chat-report-send").click()
    expect(page.get_by_text("Nothing to report yet: send a message first").first).to_be_visible()

    box = page.locator("#chat-message textarea")
    box.fill("Is the office open on Sundays?")
    box.press("Enter")
    expect(page.locator("#chat-chatbot [data-testid='bot']").last).to_have_text(WRONG, timeout=30_000)
    expect(page.locator("#chat-send")).to_be_enabled()
    page.locator("#chat-report-correction textarea").fill(RIGHT)
    page.locator("#chat-report-send").click()
    expect(page.locator("#chat-report-status")).to_contain_text("Reported as r")
    expect(page.locator("#chat-report-status")).to_contain_text("the creator can turn your correction into knowledge")
    expect(page.locator("#chat-report-reason textarea")).to_have_value("")
    screenshot(page, "chat-report")
    [report] = reports.reports(settings, persona="jenniel")
    assert (report.reply, report.reason, report.correction, report.status) == (WRONG, REASON, RIGHT, "open")

    open_tab(page, "Personas")
    list_entry(page, "Jenniel — example").check()
    table = page.locator("#reports-table")
    expect(table).to_contain_text(report.id)
    expect(table).to_contain_text("Is the office open on Sundays?")
    expect(table).to_contain_text(REASON)
    expect(page.locator("#reports-pick input")).to_have_value(f"{report.id} · open · Is the office open on Sundays?")
    expect(page.locator("#reports-correction textarea")).to_have_value(RIGHT)
    page.locator("#reports-note").click()
    expect(page.locator("#reports-status")).to_contain_text(f"became the knowledge note correction-{report.id}.md")
    expect(table).to_contain_text("noted")
    page.locator("#persona-reports").scroll_into_view_if_needed()
    screenshot(page, "personas-reports")
    assert [source.name for source in Knowledge(settings).sources("jenniel")] == [f"correction-{report.id}.md"]

    # Opening the persona again: the Knowledge section lists the note.
    list_entry(page, "Adam — example").check()
    expect(table).not_to_contain_text(report.id)
    list_entry(page, "Jenniel — example").check()
    expect(page.locator("#knowledge-sources")).to_contain_text(f"correction-{report.id}.md")
