"""A persona's interaction analytics, counted from real stored conversations (the scripted fake LLM
answers, real knowledge gives some replies sources, a real report) — in the pipeline and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

import fake_llm
from conftest import ROOT
from personas import PersonaStore
from pipeline.analytics import persona_analytics
from pipeline.chat import Chat, ChatRequest
from pipeline.db import JobStore
from pipeline.errors import BadInput
from pipeline.knowledge import Knowledge
from pipeline.reports import report_reply

HOLIDAYS = ["How many holiday days do I get?", "Can I carry holiday days over to next year?",
            "How do I request holiday leave?"]
EXPENSES = ["How are travel expenses refunded?", "What is the daily meal allowance for expenses?"]


@pytest.fixture
def fake():
    return fake_llm.install()


def ask(settings, persona, question, owner=None):
    return Chat(settings, jobs=JobStore(settings.db_path).for_owner(owner)).ask(
        ChatRequest(persona=persona, message=question, llm="fake"))


def test_questions_topics_grounding_reports_and_latency_are_counted(settings, fake, tmp_path):
    handbook = tmp_path / "handbook.md"
    handbook.write_text("# Handbook\n\n## Holidays\n\n28 days of paid holiday a year.\n")
    Knowledge(settings).add("adam", [handbook])  # adam's answers get passages; jenniel has no documents
    fake.enqueue(*["An answer."] * 6)
    for question in HOLIDAYS + EXPENSES:
        reply = ask(settings, "adam", question)
    ask(settings, "jenniel", "Should we chase market share?")
    report_reply(settings, reply.turn_id, reason="wrong")

    found = persona_analytics(settings, "adam", days=7)
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    assert (found.questions, found.replies, found.conversations) == (5, 5, 5)
    assert len(found.questions_per_day) == 7 and found.questions_per_day[today] == 5
    assert found.grounded_replies == 3 and found.grounding_rate == 0.6, "expenses are not in a handbook of holidays"
    assert found.reports == 1 and found.report_rate == 0.2 and found.report_outcomes == {"open": 1}
    assert found.latency_s["p50"] is not None and found.latency_s["p95"] >= found.latency_s["p50"]
    sizes = sorted(topic.questions for topic in found.topics)
    assert sum(sizes) == 5 and len(found.topics) >= 2
    holiday_topic = next(topic for topic in found.topics if topic.label in HOLIDAYS)
    assert holiday_topic.questions == 3 and "holiday" in holiday_topic.words
    assert json.loads(json.dumps(found.to_dict()))["topics"][0]["questions"] == max(sizes)

    other = persona_analytics(settings, "jenniel", days=7)
    assert other.questions == 1 and other.grounding_rate == 0.0 and other.report_rate == 0.0
    fake.enqueue("Alice's answer.")
    ask(settings, "adam", "What about holidays?", owner="alice")
    assert persona_analytics(settings, "adam", days=7, owner="alice").questions == 1, "a user sees their own"
    empty = persona_analytics(settings, "adam", days=7, owner="bob")
    assert empty.questions == 0 and empty.grounding_rate is None and empty.topics == []
    with pytest.raises(BadInput, match="days must be"):
        persona_analytics(settings, "adam", days=0)


def test_the_cli_prints_analytics(settings, fake, studio_home):
    fake.enqueue("One.", "Two.")
    ask(settings, "adam", HOLIDAYS[0])
    ask(settings, "adam", EXPENSES[0])
    env = {**os.environ, "AVATAR_STUDIO_HOME": str(studio_home)}
    done = subprocess.run([sys.executable, "app.py", "analytics", "--persona", "adam", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["questions"] == 2
    text = subprocess.run([sys.executable, "app.py", "analytics", "--persona", "adam"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and text.stdout.startswith("adam, last 30 days: 2 questions, 2 replies")


def test_an_unknown_persona_is_an_error_not_zeros(settings, fake, studio_home):
    with pytest.raises(BadInput, match=r"^no persona 'adma'; known: .*adam"):
        persona_analytics(settings, "adma")
    env = {**os.environ, "AVATAR_STUDIO_HOME": str(studio_home)}
    done = subprocess.run([sys.executable, "app.py", "analytics", "--persona", "adma", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: no persona 'adma'; known: ")


def test_a_persona_is_known_to_its_owner_and_stays_known_by_its_conversations(settings, fake):
    alices = PersonaStore(settings, owner="alice")
    alices.save(replace(alices.get("adam"), id="alices-coach", name="Alice's coach", portrait=None))
    fake.enqueue("Hers.")
    ask(settings, "alices-coach", HOLIDAYS[0], owner="alice")
    assert persona_analytics(settings, "alices-coach", days=7, owner="alice").questions == 1
    with pytest.raises(BadInput, match="no persona 'alices-coach'"):
        persona_analytics(settings, "alices-coach", days=7, owner="bob")  # bob has no such persona
    alices.delete("alices-coach")
    assert persona_analytics(settings, "alices-coach", days=7, owner="alice").questions == 1, "its turns remain"
