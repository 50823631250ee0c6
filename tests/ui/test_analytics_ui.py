"""Persona analytics in a real browser: conversations made through the real chat (the scripted fake
LLM answers) over several days; opening History shows the persona talked to last, picking another
one draws its questions per day — a bar for each day, the quiet ones at 0 — its reply times, its
numbers and its topics."""

from __future__ import annotations

import datetime as dt
import shutil

import fake_llm
from playwright.sync_api import expect

from pipeline.chat import Chat, ChatRequest
from pipeline.db import ConversationStore, JobStore

from .conftest import open_tab, screenshot

ASKED = [("How many holiday days do I get?", 0), ("Can I carry holiday days over to next year?", 0),
         ("How do I request holiday leave?", 2), ("How are travel expenses refunded?", 5),
         ("What is the daily meal allowance for expenses?", 5)]


def ask(settings, persona, question, days_ago=0):
    reply = Chat(settings).ask(ChatRequest(persona=persona, message=question, llm="fake"))
    store = ConversationStore(JobStore(settings.db_path))
    moment = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days_ago)).isoformat(timespec="milliseconds")
    for turn in store.turns(reply.conversation_id):
        store.update_turn(turn.id, created_at=moment, latency_s=1.5 + days_ago / 10, first_token_s=0.4)


def test_history_draws_a_personas_questions_numbers_and_topics(page, live_studio):
    _, settings = live_studio
    fake = fake_llm.install()
    fake.enqueue(*["An answer."] * (len(ASKED) + 1))
    for question, days_ago in ASKED:
        ask(settings, "adam", question, days_ago)
    ask(settings, "jenniel", "Should we chase market share?")

    open_tab(page, "History")
    expect(page.locator("#analytics-persona input")).to_have_value("Jenniel (jenniel)")  # talked to last
    summary = page.locator("#analytics-summary")
    expect(summary).to_contain_text("Jenniel, last 30 days: 1 question in 1 conversation")

    page.locator("#analytics-persona input").click()
    page.get_by_role("option", name="Adam (adam)", exact=True).click()
    expect(summary).to_contain_text("Adam, last 30 days: 5 questions in 5 conversations, 5 replies")
    expect(summary).to_contain_text("Reply time: p50 1.70 s, p95 2.00 s · first token: p50 0.40 s, p95 0.40 s")

    page.locator("#analytics-days").get_by_text("7 days", exact=True).click()
    today = dt.datetime.now(dt.timezone.utc).date()
    per_day = page.locator("#analytics-per-day")
    # Vega describes each bar it draws: seven days, two quiet, in the period
    expect(per_day.locator("[aria-roledescription='bar']")).to_have_count(7)
    expect(per_day.locator(f"[aria-label*='day: {today.isoformat()}; questions: 2']")).to_have_count(1)
    quiet = (today - dt.timedelta(days=1)).isoformat()
    expect(per_day.locator(f"[aria-label*='day: {quiet}; questions: 0']")).to_have_count(1)
    expect(page.locator("#analytics-latency [aria-roledescription='bar']")).to_have_count(4)
    topics = page.locator("#analytics-topics")
    expect(topics).to_contain_text("holiday")
    expect(topics).to_contain_text("60%")
    expect(summary).to_contain_text("last 7 days: 5 questions")

    page.locator("#analytics-panel").scroll_into_view_if_needed()
    shot = screenshot(page, "history-analytics")
    shutil.copyfile(shot, "/tmp/analytics.png")

    page.set_viewport_size({"width": 390, "height": 844})
    expect(per_day.locator("[aria-roledescription='bar']")).to_have_count(7)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"the analytics are {overflow}px wider than a 390px window"
    page.locator("#analytics-per-day").scroll_into_view_if_needed()
    screenshot(page, "history-analytics-narrow", full_page=False)
