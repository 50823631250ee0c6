"""The History tab's Analytics section called as plain functions of the studio's context, as
``build()`` wires them, on conversations made through the real chat (the scripted fake LLM
answers): the numbers, every day of the period plotted with the quiet ones at 0, the topics, the
persona picked when the tab opens, the empty period, and a typo."""

from __future__ import annotations

import datetime as dt

import gradio as gr
import pytest

import fake_llm
from pipeline.chat import Chat, ChatRequest
from pipeline.db import ConversationStore, JobStore
from pipeline.reports import report_reply
from studio import analytics_section, analytics_view
from studio.common import StudioContext

HOLIDAYS = ["How many holiday days do I get?", "Can I carry holiday days over to next year?",
            "How do I request holiday leave?"]
EXPENSES = ["How are travel expenses refunded?"]
QUIET = lambda *args, **kwargs: None  # noqa: E731 - a progress that shows nothing


@pytest.fixture
def fake():
    return fake_llm.install()


def ask(settings, persona, question, *, days_ago=0):
    """One question and its reply through the real chat, moved ``days_ago`` days back."""
    reply = Chat(settings).ask(ChatRequest(persona=persona, message=question, llm="fake"))
    if days_ago:
        store = ConversationStore(JobStore(settings.db_path))
        moment = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days_ago)).isoformat(timespec="milliseconds")
        for turn in store.turns(reply.conversation_id):
            store.update_turn(turn.id, created_at=moment)
    return reply


def test_the_section_shows_the_numbers_every_day_and_the_topics(settings, fake):
    fake.enqueue(*["An answer."] * 4)
    for question in HOLIDAYS:
        reply = ask(settings, "adam", question)
    ask(settings, "adam", EXPENSES[0], days_ago=3)
    report_reply(settings, reply.turn_id, reason="wrong")

    shown = analytics_section.show_analytics(StudioContext(settings), "adam", 7, progress=QUIET)
    assert shown["details"]["visible"] is True
    summary = shown["summary"]
    assert summary.startswith("**Adam**, last 7 days: **4 questions** in **4 conversations**, 4 replies")
    assert "Reported: **25%** of replies (1 report: 1 open)" in summary
    assert "Grounded in its documents: **0%** of replies (0 of 4)" in summary
    assert "Reply time: p50 **0.00 s**, p95 **0.00 s**" in summary

    per_day = shown["per_day"]
    assert list(per_day.columns) == [analytics_view.DAY, analytics_view.QUESTIONS]
    today = dt.datetime.now(dt.timezone.utc).date()
    days = [(today - dt.timedelta(days=back)).isoformat() for back in range(6, -1, -1)]
    assert per_day[analytics_view.DAY].tolist() == days, "every day of the period, oldest first"
    assert per_day[analytics_view.QUESTIONS].tolist() == [0, 0, 0, 1, 0, 0, 3], "quiet days are 0"

    latency = shown["latency"]
    assert latency[analytics_view.MEASURE].tolist() == ["reply p50", "reply p95"]  # the fake has no first token
    assert set(latency[analytics_view.OF]) == {analytics_view.WHOLE_REPLY}

    topics = shown["topics"]
    assert list(topics.columns) == analytics_view.TOPIC_HEADERS
    first = topics.iloc[0].tolist()
    assert first[1:3] == [3, "75%"] and "holiday" in first[0] and first[3] in HOLIDAYS
    assert topics["questions"].sum() == 4


def test_opening_the_tab_picks_the_persona_talked_to_last(settings, fake):
    fake.enqueue("One.", "Two.")
    ask(settings, "adam", HOLIDAYS[0])
    ask(settings, "jenniel", "Should we chase market share?")
    shown = analytics_section.on_tab_selected(StudioContext(settings), None, 30, progress=QUIET)
    assert shown["persona"]["value"] == "jenniel"
    assert ("Adam (adam)", "adam") in shown["persona"]["choices"]
    assert "**1 question** in **1 conversation**" in shown["summary"]
    kept = analytics_section.on_tab_selected(StudioContext(settings), "adam", 30, progress=QUIET)
    assert kept["persona"]["value"] == "adam" and kept["summary"].startswith("**Adam**")


def test_a_period_without_questions_says_so_and_hides_the_plots(settings, fake):
    fake.enqueue("Long ago.")
    ask(settings, "adam", HOLIDAYS[0], days_ago=20)
    ctx = StudioContext(settings)
    quiet = analytics_section.show_analytics(ctx, "adam", 7, progress=QUIET)
    assert quiet["summary"] == "Nobody asked Adam anything in the last 7 days: there is nothing to count yet."
    assert quiet["details"]["visible"] is False and quiet["per_day"] is None and quiet["topics"].empty
    assert analytics_section.show_analytics(ctx, "adam", 30, progress=QUIET)["details"]["visible"] is True
    nothing = analytics_section.on_tab_selected(StudioContext(settings), None, 30, progress=QUIET)
    assert nothing["persona"]["value"] == "adam"
    assert analytics_section.show_analytics(ctx, None, 30, progress=QUIET)["summary"] == analytics_view.PICK_FIRST


def test_a_typo_is_an_error_not_zeros(settings):
    ctx = StudioContext(settings)
    with pytest.raises(gr.Error, match="no persona 'adma'; known: adam"):
        analytics_section.show_analytics(ctx, "adma", 30, progress=QUIET)
    with pytest.raises(gr.Error, match="no persona 'adma'"):
        analytics_section.persona_analytics(ctx, "adma", 30)
    with pytest.raises(gr.Error, match="give the id of one of your personas"):
        analytics_section.persona_analytics(ctx, " ", 30)
    with pytest.raises(gr.Error, match="days must be a whole number from 1 to 3650"):
        analytics_section.persona_analytics(ctx, "adam", 0)
