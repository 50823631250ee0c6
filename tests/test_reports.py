"""Reports of inaccurate replies: filed on a real chat turn (the scripted fake LLM answers), kept
per owner with the question, reply and sources, and a correction turned into a knowledge note
that the next answer's retrieval finds — in the pipeline and through the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import fake_llm
from conftest import ROOT
from pipeline.chat import Chat, ChatRequest
from pipeline.db import JobStore
from pipeline.errors import BadInput
from pipeline.knowledge import Knowledge
from pipeline.reports import dismiss, note_from_report, report_reply, reports


@pytest.fixture
def fake():
    return fake_llm.install()


def ask(settings, message, owner=None):
    return Chat(settings, jobs=JobStore(settings.db_path).for_owner(owner)).ask(
        ChatRequest(persona="jenniel", message=message, llm="fake"))


def test_a_reply_is_reported_with_its_question_and_a_correction_becomes_knowledge(settings, fake):
    fake.enqueue("The office closes at noon on Fridays.")
    reply = ask(settings, "When does the office close on Fridays?")
    report = report_reply(settings, reply.turn_id, reason="It closes at four", correction="The office closes "
                          "at 4 pm on Fridays, all year round.")
    assert (report.persona, report.status, report.question) == ("jenniel", "open",
                                                                 "When does the office close on Fridays?")
    assert report.reply == "The office closes at noon on Fridays." and report.turn_id == reply.turn_id
    assert [found.id for found in reports(settings, persona="jenniel")] == [report.id]
    noted = note_from_report(settings, report.id)
    assert noted.status == "noted" and noted.note == f"correction-{report.id}.md"
    [hit] = Knowledge(settings).search("jenniel", "What time does the office close on Friday?", k=1)
    assert hit.source == noted.note and "4 pm on Fridays" in hit.text
    assert reports(settings, status="open") == [] and [r.id for r in reports(settings, status="noted")] == [report.id]


def test_what_cannot_be_reported_or_noted_is_one_clear_message(settings, fake):
    fake.enqueue("An answer.")
    reply = ask(settings, "A question?")
    with pytest.raises(BadInput, match="no chat turn with id 'nope'"):
        report_reply(settings, "nope")
    question_turn = [t for t in Chat(settings).history(reply.conversation_id) if t.role == "user"][0]
    with pytest.raises(BadInput, match="is a question, not a reply"):
        report_reply(settings, question_turn.id)
    with pytest.raises(BadInput, match="at most 4,000"):
        report_reply(settings, reply.turn_id, reason="x" * 4001)
    bare = report_reply(settings, reply.turn_id, reason="wrong")
    with pytest.raises(BadInput, match="has no correction to learn from"):
        note_from_report(settings, bare.id)
    assert dismiss(settings, bare.id).status == "dismissed"
    with pytest.raises(BadInput, match="status must be one of"):
        reports(settings, status="maybe")


def test_reports_belong_to_the_user_whose_conversation_it_was(settings, fake):
    fake.enqueue("Alice's answer.")
    reply = ask(settings, "Alice asks?", owner="alice")
    with pytest.raises(BadInput, match="no chat turn"):
        report_reply(settings, reply.turn_id, reason="not mine", owner="bob")
    report = report_reply(settings, reply.turn_id, reason="wrong", correction="Right.", owner="alice")
    assert reports(settings, owner="bob") == [] and len(reports(settings, owner="alice")) == 1
    with pytest.raises(BadInput, match="no report with id"):
        note_from_report(settings, report.id, owner="bob")
    with pytest.raises(BadInput, match="no report with id"):
        dismiss(settings, report.id, owner="bob")


def test_the_cli_reports_lists_and_notes(settings, fake, studio_home, tmp_path):
    fake.enqueue("Ninety days.")
    reply = ask(settings, "How long is the trial?")
    env = {**os.environ, "AVATAR_STUDIO_HOME": str(studio_home)}

    def run(*args):
        return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)

    filed = run("report", reply.turn_id, "--reason", "It is thirty", "--json")
    assert filed.returncode == 0, filed.stderr
    report_id = json.loads(filed.stdout)["id"]
    listed = json.loads(run("reports", "list", "--persona", "jenniel", "--json").stdout)
    assert [(r["id"], r["reason"], r["status"]) for r in listed] == [(report_id, "It is thirty", "open")]
    refused = run("reports", "note", report_id)
    assert refused.returncode == 2 and "has no correction" in refused.stderr
    noted = run("reports", "note", report_id, "--correction", "The trial lasts thirty days.")
    assert noted.returncode == 0 and f"correction-{report_id}.md" in noted.stdout
    assert json.loads(run("knowledge", "list", "--persona", "jenniel", "--json").stdout)[0]["name"] == \
        f"correction-{report_id}.md"
    assert run("report", "no-such-turn").returncode == 2
