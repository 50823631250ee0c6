"""The review queue through the studio's API (``gradio_client``): a reply of a real chat turn (the
scripted fake LLM answering through ``/chat``) held because its persona — or the call — says so,
listed by ``/review_list``, approved (as written: the spoken reply comes back as audio; or edited),
rejected with a reason, a conversation's hold changed by ``/review_hold``; every mistake one clear
message; and with users, each user's queue theirs alone."""

from __future__ import annotations

from dataclasses import replace

import pytest

import fake_llm
from conftest import USERS, serve_with_users
from http_client import refusal
from personas import PersonaStore

QUESTION = "Is the office open on Sundays?"
WRONG = "The office is open on Sundays."
RIGHT = "The office is closed on Sundays."


@pytest.fixture
def fake():
    return fake_llm.install()


def holding(settings, owner=None):
    store = PersonaStore(settings, owner=owner)
    persona = store.get("jenniel")
    store.save(replace(persona, review=replace(persona.review, hold_replies=True)))


def chat(client, message, *, conversation_id="", output="text", hold=None):
    extra = () if hold is None else (hold,)  # left out: the call the README shows, written before hold existed
    return client.predict("jenniel", message, conversation_id, "", "fake", output, 100, *extra, api_name="/chat")


def _client(app, user):
    from gradio_client import Client

    return Client(app.local_url, auth=(user, USERS[user]), verbose=False)


def test_the_api_lists_the_review_endpoints_with_named_parameters(studio_client):
    endpoints = studio_client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in endpoints["/review_list"]["parameters"]] == ["persona", "status"]
    assert [p["parameter_name"] for p in endpoints["/review_approve"]["parameters"]] == ["turn_id", "text"]
    assert [r["label"] for r in endpoints["/review_approve"]["returns"]] == ["answer", "video", "audio"]
    assert [p["parameter_name"] for p in endpoints["/review_reject"]["parameters"]] == ["turn_id", "reason"]
    assert [p["parameter_name"] for p in endpoints["/review_hold"]["parameters"]] == ["conversation_id", "hold"]
    assert endpoints["/chat"]["parameters"][-1]["parameter_name"] == "hold"
    helpers = {"show_review", "pick_reply", "approve_reply", "approve_edited", "reject_reply", "hold_replies"}
    assert not helpers & {name.strip("/") for name in endpoints}


def test_a_held_reply_is_listed_then_approved_and_spoken(studio_client, settings, fake):
    from pipeline.media import probe

    holding(settings)
    fake.enqueue(WRONG)
    reply, conversation_id, video, audio, details = chat(studio_client, QUESTION, output="audio")
    assert (reply, video, audio, details["review"]) == (WRONG, None, None, "pending")
    assert any("held for your review" in note for note in details["notes"])

    [held] = studio_client.predict("jenniel", "", api_name="/review_list")
    assert (held["turn_id"], held["conversation_id"], held["question"], held["reply"], held["output"]) == (
        details["turn_id"], conversation_id, QUESTION, WRONG, "audio")
    assert studio_client.predict("", "pending", api_name="/review_list") == [held]
    assert studio_client.predict("adam", "", api_name="/review_list") == []

    approved, video, audio = studio_client.predict(held["turn_id"], "", api_name="/review_approve")
    assert (approved["review"], approved["reply"], approved["original"]) == ("approved", WRONG, None)
    assert video is None
    info = probe(audio)
    assert info.audio is not None and info.duration_s > 0.5
    assert studio_client.predict("jenniel", "", api_name="/review_list") == []
    assert [item["turn_id"] for item in studio_client.predict("jenniel", "approved", api_name="/review_list")] == [
        held["turn_id"]]
    assert "is already approved" in refusal(
        lambda: studio_client.predict(held["turn_id"], "", api_name="/review_approve"))


def test_a_call_holds_a_conversation_an_edit_is_approved_another_reply_rejected(studio_client, settings, fake):
    fake.enqueue(WRONG, "Only on weekdays.", "Delivered at once.")
    reply, conversation_id, _, _, details = chat(studio_client, QUESTION, hold=True)  # jenniel does not hold
    assert details["review"] == "pending"
    approved, _, _ = studio_client.predict(details["turn_id"], RIGHT, api_name="/review_approve")
    assert (approved["reply"], approved["original"]) == (RIGHT, WRONG)

    _, _, _, _, second = chat(studio_client, "And Mondays?", conversation_id=conversation_id)
    assert second["review"] == "pending" and RIGHT in [m["content"] for m in fake.history[-1]["messages"]]
    assert "say why reply" in refusal(lambda: studio_client.predict(second["turn_id"], "", api_name="/review_reject"))
    rejected = studio_client.predict(second["turn_id"], "Not our hours.", api_name="/review_reject")
    assert (rejected["review"], rejected["review_reason"]) == ("rejected", "Not our hours.")

    conversation = studio_client.predict(conversation_id, "false", api_name="/review_hold")
    assert conversation["hold_replies"] is False
    *_, third = chat(studio_client, "Thanks!", conversation_id=conversation_id)
    assert third["review"] is None
    assert studio_client.predict(conversation_id, "", api_name="/review_hold")["hold_replies"] is None


def test_each_mistake_is_one_clear_error(studio_client, settings, fake):
    fake.enqueue("Delivered.")
    *_, details = chat(studio_client, "Plain?")
    cases = [
        (lambda: studio_client.predict("t-nope", "", api_name="/review_approve"), "no chat turn with id 't-nope'"),
        (lambda: studio_client.predict("", "", api_name="/review_approve"), "give the turn id of the held reply"),
        (lambda: studio_client.predict(details["turn_id"], "", api_name="/review_approve"),
         "was not held for review"),
        (lambda: studio_client.predict("t-nope", "why", api_name="/review_reject"), "no chat turn with id 't-nope'"),
        (lambda: studio_client.predict("jenniel", "done", api_name="/review_list"),
         "status must be one of pending, approved, rejected, all, got 'done'"),
        (lambda: studio_client.predict("nobody", "", api_name="/review_list"), "no persona 'nobody'"),
        (lambda: studio_client.predict("c-nope", "true", api_name="/review_hold"), "no conversation with id 'c-nope'"),
        (lambda: studio_client.predict(details["conversation_id"], "maybe", api_name="/review_hold"),
         "hold must be true"),
        (lambda: chat(studio_client, "Hi", hold="maybe"), "hold must be true"),
    ]
    for attempt, expected in cases:
        message = refusal(attempt)
        assert expected in message and "\n" not in message.strip(), message


def test_each_users_queue_is_theirs_alone(settings, fake):
    app = serve_with_users(settings)
    try:
        alice, bob = _client(app, "alice"), _client(app, "bob")
        holding(settings, owner="alice")
        fake.enqueue(WRONG)
        _, conversation_id, _, _, details = chat(alice, QUESTION)
        assert details["review"] == "pending"
        turn_id = details["turn_id"]

        assert bob.predict("", "all", api_name="/review_list") == []
        assert bob.predict("jenniel", "", api_name="/review_list") == []
        for attempt in (lambda: bob.predict(turn_id, "", api_name="/review_approve"),
                        lambda: bob.predict(turn_id, "not yours", api_name="/review_reject")):
            assert f"no chat turn with id '{turn_id}'" in refusal(attempt)
        assert f"no conversation with id '{conversation_id}'" in refusal(
            lambda: bob.predict(conversation_id, "false", api_name="/review_hold"))

        [mine] = alice.predict("jenniel", "", api_name="/review_list")
        assert mine["turn_id"] == turn_id
        assert alice.predict(turn_id, "No.", api_name="/review_reject")["review"] == "rejected"
    finally:
        app.close()


def test_approving_a_video_reply_counts_as_a_render_for_the_quota(settings, fake, monkeypatch):
    from gradio_client.exceptions import ValidationError

    from pipeline import review
    from pipeline.db import JobStore
    from pipeline.settings import resolve

    monkeypatch.setenv("AVATAR_STUDIO_RENDERS_PER_HOUR", "1")
    settings = resolve(dotenv=False)
    app = serve_with_users(settings)
    try:
        alice = _client(app, "alice")
        holding(settings, owner="alice")
        fake.enqueue(WRONG, "Spoken.")
        *_, video = chat(alice, QUESTION, output="video")
        *_, audio = chat(alice, "Say it?", output="audio")
        JobStore(settings.db_path).for_owner("alice").create()  # a render started this hour: the one allowed
        with pytest.raises(ValidationError, match="You have started 1 render in the last hour"):
            alice.predict(video["turn_id"], "", api_name="/review_approve")
        assert review.held_reply(settings, video["turn_id"], owner="alice").review == "pending"
        approved, _, spoken = alice.predict(audio["turn_id"], "", api_name="/review_approve")  # no render: allowed
        assert approved["review"] == "approved" and spoken
    finally:
        app.close()


def test_the_chat_tabs_checkbox_changes_the_conversation_on_screen(settings, fake):
    from pipeline.chat import Chat, ChatRequest
    from studio import chat_tab
    from studio.common import StudioContext

    ctx = StudioContext(settings)
    fake.enqueue("Delivered.", "Held.")
    first = Chat(settings).ask(ChatRequest(persona="jenniel", message="Hi", llm="fake"))
    assert first.review is None
    assert "now holds its replies" in chat_tab.hold_replies(ctx, first.conversation_id, True)
    second = Chat(settings).ask(ChatRequest(persona="jenniel", message="Again?", llm="fake",
                                            conversation_id=first.conversation_id))
    assert second.review == "pending"
    assert "The next conversation holds" in chat_tab.hold_replies(ctx, None, True)
