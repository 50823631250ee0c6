"""Reports through the studio's API (``gradio_client``): a reply of a real chat turn (the scripted
fake LLM answering through ``/chat``) reported with a reason and a correction, listed, turned into
a knowledge note that ``/knowledge_search`` finds, or dismissed; every mistake one clear message;
and with users, each user's reports theirs alone — bob can neither report alice's reply nor see,
note or dismiss her reports."""

from __future__ import annotations

import pytest

import fake_llm
from conftest import USERS, serve_with_users
from http_client import refusal
from pipeline.chat import Chat
from pipeline.db import JobStore
from pipeline.knowledge import Knowledge

WRONG = "The office is open on Sundays."
RIGHT = "The office is closed on Sundays; it opens Monday to Saturday from 8 am to 6 pm."


@pytest.fixture
def fake():
    return fake_llm.install()


def chat(client, message, *, persona="jenniel"):
    return client.predict(persona, message, "", "", "fake", "text", 100, api_name="/chat")


def latest_reply_id(settings, conversation_id, owner=None) -> str:
    turns = Chat(settings, jobs=JobStore(settings.db_path).for_owner(owner)).history(conversation_id)
    return [turn for turn in turns if turn.role == "assistant"][-1].id


def _client(app, user):
    from gradio_client import Client

    return Client(app.local_url, auth=(user, USERS[user]), verbose=False)


def test_the_api_lists_the_four_endpoints_with_named_parameters(studio_client):
    endpoints = studio_client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in endpoints["/report_reply"]["parameters"]] == ["turn_id", "reason",
                                                                                      "correction"]
    assert [p["parameter_name"] for p in endpoints["/list_reports"]["parameters"]] == ["persona", "status"]
    assert [p["parameter_name"] for p in endpoints["/report_note"]["parameters"]] == ["report_id", "correction"]
    assert [p["parameter_name"] for p in endpoints["/report_dismiss"]["parameters"]] == ["report_id"]
    helpers = {"report_latest", "show_reports", "pick_report", "note_report", "dismiss_report"}
    assert not helpers & {name.strip("/") for name in endpoints}


def test_report_list_note_and_the_next_search_finds_the_correction(studio_client, settings, fake):
    fake.enqueue(WRONG, "Sure.")
    reply, conversation_id, _, _, details = chat(studio_client, "Is the office open on Sundays?")
    assert reply == WRONG
    turn_id = latest_reply_id(settings, conversation_id)
    assert details["turn_id"] == turn_id  # what a script reports

    report = studio_client.predict(turn_id, "It is closed on Sundays.", RIGHT, api_name="/report_reply")
    assert report["id"].startswith("r") and report["status"] == "open"
    assert (report["persona"], report["conversation_id"], report["turn_id"]) == ("jenniel", conversation_id, turn_id)
    assert (report["question"], report["reply"]) == ("Is the office open on Sundays?", WRONG)
    assert (report["reason"], report["correction"]) == ("It is closed on Sundays.", RIGHT)

    assert [item["id"] for item in studio_client.predict("jenniel", "", api_name="/list_reports")] == [report["id"]]
    assert [item["id"] for item in studio_client.predict("", "open", api_name="/list_reports")] == [report["id"]]
    assert studio_client.predict("adam", "", api_name="/list_reports") == []
    assert studio_client.predict("jenniel", "noted", api_name="/list_reports") == []

    noted = studio_client.predict(report["id"], "", api_name="/report_note")
    assert (noted["status"], noted["note"], noted["correction"]) == ("noted", f"correction-{report['id']}.md", RIGHT)
    assert [source.name for source in Knowledge(settings).sources("jenniel")] == [noted["note"]]
    hits = studio_client.predict("jenniel", "Is the office open on Sundays?", 3, api_name="/knowledge_search")
    assert hits[0]["source"] == noted["note"] and "closed on Sundays" in hits[0]["text"]
    assert [item["status"] for item in studio_client.predict("jenniel", "noted", api_name="/list_reports")] == [
        "noted"]

    # A second reply, reported without a correction, is dismissed.
    _, second_conversation, *_ = chat(studio_client, "Thanks!")
    other = studio_client.predict(latest_reply_id(settings, second_conversation), "Off topic.", "",
                                  api_name="/report_reply")
    assert other["correction"] is None
    assert "has no correction to learn from" in refusal(
        lambda: studio_client.predict(other["id"], "", api_name="/report_note"))
    assert studio_client.predict(other["id"], api_name="/report_dismiss")["status"] == "dismissed"
    assert [item["id"] for item in studio_client.predict("jenniel", "dismissed", api_name="/list_reports")] == [
        other["id"]]


def test_each_mistake_is_one_clear_error(studio_client, settings, fake):
    fake.enqueue(WRONG)
    _, conversation_id, *_ = chat(studio_client, "Is the office open on Sundays?")
    question = [turn for turn in Chat(settings).history(conversation_id) if turn.role == "user"][0]
    cases = [
        (lambda: studio_client.predict("t-nope", "wrong", "", api_name="/report_reply"),
         "no chat turn with id 't-nope'"),
        (lambda: studio_client.predict("", "wrong", "", api_name="/report_reply"), "give the turn id of the reply"),
        (lambda: studio_client.predict(question.id, "wrong", "", api_name="/report_reply"),
         "is a question, not a reply"),
        (lambda: studio_client.predict("r-nope", "", api_name="/report_note"), "no report with id 'r-nope'"),
        (lambda: studio_client.predict("r-nope", api_name="/report_dismiss"), "no report with id 'r-nope'"),
        (lambda: studio_client.predict("jenniel", "closed", api_name="/list_reports"),
         "status must be one of open, noted, dismissed, got 'closed'"),
        (lambda: studio_client.predict("nobody", "", api_name="/list_reports"), "no persona 'nobody'"),
    ]
    for attempt, expected in cases:
        message = refusal(attempt)
        assert expected in message and "\n" not in message.strip(), message
    assert studio_client.predict("", "", api_name="/list_reports") == []


def test_each_users_reports_are_theirs_alone(settings, fake):
    app = serve_with_users(settings)
    try:
        alice, bob = _client(app, "alice"), _client(app, "bob")
        fake.enqueue(WRONG)
        _, conversation_id, *_ = chat(alice, "Is the office open on Sundays?")
        turn_id = latest_reply_id(settings, conversation_id, "alice")

        assert f"no chat turn with id '{turn_id}'" in refusal(
            lambda: bob.predict(turn_id, "wrong", RIGHT, api_name="/report_reply"))
        report = alice.predict(turn_id, "wrong", RIGHT, api_name="/report_reply")

        assert bob.predict("jenniel", "", api_name="/list_reports") == []
        assert bob.predict("", "", api_name="/list_reports") == []
        for attempt in (lambda: bob.predict(report["id"], "", api_name="/report_note"),
                        lambda: bob.predict(report["id"], api_name="/report_dismiss")):
            assert f"no report with id '{report['id']}'" in refusal(attempt)
        assert Knowledge(settings, "bob").sources("jenniel") == []

        [mine] = alice.predict("jenniel", "", api_name="/list_reports")
        assert (mine["id"], mine["status"]) == (report["id"], "open")
        assert alice.predict(report["id"], "", api_name="/report_note")["status"] == "noted"
        assert [source.name for source in Knowledge(settings, "alice").sources("jenniel")] == [
            f"correction-{report['id']}.md"]
    finally:
        app.close()
