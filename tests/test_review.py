"""Replies held for review: a persona (or a conversation) that holds its replies stores each one as
pending — not spoken, not rendered — and keeps it out of what the model sees next; the creator
approves it (as written or edited: then it is delivered as its turn asked), or rejects it with a
reason. Real chat turns against the scripted fake LLM, Piper for the speech, the database as the
evidence; per owner; and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

import fake_llm
from conftest import ROOT
from fake_vendors import FakeOpenAI
from personas import PersonaStore, yamlfile
from personas.form import blank_form, form_from_persona, persona_from_form
from personas.model import Persona
from pipeline import review
from pipeline.chat import Chat, ChatRequest
from pipeline.db import ConversationStore, JobStore, migrations
from pipeline.errors import BadInput

QUESTION = "Is the office open on Sundays?"
WRONG = "The office is open on Sundays."
RIGHT = "The office is closed on Sundays."


@pytest.fixture
def fake():
    return fake_llm.install()


def holding(settings, persona_id="jenniel", owner=None, hold=True):
    """Save ``persona_id`` (an example) as the owner's copy whose replies are held."""
    store = PersonaStore(settings, owner=owner)
    persona = store.get(persona_id)
    return store.save(replace(persona, review=replace(persona.review, hold_replies=hold)))


def chat(settings, owner=None):
    return Chat(settings, jobs=JobStore(settings.db_path).for_owner(owner))


def ask(settings, message, *, owner=None, **values):
    return chat(settings, owner).ask(ChatRequest(persona=values.pop("persona", "jenniel"), message=message,
                                                 llm="fake", **values))


def sent_to_model(fake) -> list[str]:
    """The contents of the latest request's messages after the system prompt."""
    return [message["content"] for message in fake.history[-1]["messages"][1:]]


# -- the setting ------------------------------------------------------------------------------------
def test_the_persona_setting_is_written_only_when_set_and_is_a_form_checkbox():
    base = {"id": "mira", "name": "Mira", "identity": "You are Mira."}
    held = Persona.from_dict({**base, "review": {"hold_replies": True}}, source="test")
    assert held.review.hold_replies and "review:\n  hold_replies: true\n" in yamlfile.dump(held)
    assert yamlfile.parse(yamlfile.dump(held), source="again") == held
    plain = Persona.from_dict(base, source="test")
    assert not plain.review.hold_replies and "review" not in yamlfile.dump(plain)
    with pytest.raises(BadInput, match="review: hold_replies must be true or false, got text"):
        Persona.from_dict({**base, "review": {"hold_replies": "yes"}}, source="test")
    with pytest.raises(BadInput, match="review: unknown key 'hold'; review has: hold_replies"):
        Persona.from_dict({**base, "review": {"hold": True}}, source="test")

    form = {**blank_form(), "id": "mira", "name": "Mira", "identity": "You are Mira.", "hold_replies": True}
    assert persona_from_form(form).review.hold_replies and form_from_persona(held)["hold_replies"] is True
    assert blank_form()["hold_replies"] is False
    assert not persona_from_form({**form, "hold_replies": False}).review.hold_replies


def test_m010_upgrades_a_database_in_place_and_old_turns_are_not_held(tmp_path):
    import sqlite_utils

    path = tmp_path / "studio.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m010_review")
    db["conversations"].insert({"id": "c1", "created_at": "2026-01-01T00:00:00", "persona": "jenniel"})
    db["turns"].insert({"id": "t1", "conversation_id": "c1", "seq": 1, "role": "assistant", "content": "Hi.",
                        "created_at": "2026-01-01T00:00:01"})
    db.close()
    store = ConversationStore(JobStore(path))
    [turn] = store.turns("c1")
    assert (turn.content, turn.review, turn.original, turn.requested_output) == ("Hi.", None, None, None)
    assert store.get("c1").hold_replies is None
    with store.connect() as db:
        assert {"review", "review_reason", "reviewed_at", "original", "requested_output"} <= set(
            db["turns"].columns_dict)
        assert ["review", "created_at"] in [index.columns for index in db["turns"].indexes]


# -- holding ----------------------------------------------------------------------------------------
def test_a_held_audio_reply_is_pending_unspoken_and_out_of_the_next_turns_history(settings, fake):
    holding(settings)
    fake.enqueue(WRONG, "Anything else?")
    reply = ask(settings, QUESTION, output="audio")
    assert (reply.review, reply.reply, reply.audio, reply.job_id) == ("pending", WRONG, None, None)
    assert any("held for your review" in note for note in reply.notes)
    [turn] = [t for t in chat(settings).history(reply.conversation_id) if t.role == "assistant"]
    assert (turn.review, turn.audio_path, turn.job_id) == ("pending", None, None)
    assert turn.requested_output == {"output": "audio", "controller": None}
    assert not (settings.home / "chat" / reply.conversation_id).exists()  # nothing was spoken

    ask(settings, "And on Saturdays?", conversation_id=reply.conversation_id)
    assert sent_to_model(fake) == ["And on Saturdays?"]  # neither the held reply nor its question


def test_a_held_video_reply_makes_no_render_job(settings, fake):
    holding(settings)
    fake.enqueue(WRONG)
    reply = ask(settings, QUESTION, output="video")
    assert reply.review == "pending" and reply.job_id is None and reply.video is None
    assert JobStore(settings.db_path).list() == []


def test_a_conversation_can_hold_when_its_persona_does_not_and_the_other_way_round(settings, fake):
    fake.enqueue("One.", "Two.", "Three.")
    first = ask(settings, "First?", hold=True)  # jenniel, as shipped, does not hold
    assert first.review == "pending"
    assert chat(settings).store.get(first.conversation_id).hold_replies is True
    review.set_hold(settings, first.conversation_id, False)
    second = ask(settings, "Second?", conversation_id=first.conversation_id)
    assert second.review is None
    holding(settings)
    third = ask(settings, "Third?", conversation_id=first.conversation_id)
    assert third.review is None, "the conversation's own setting wins over its persona's"
    assert review.set_hold(settings, first.conversation_id, None).hold_replies is None
    fake.enqueue("Four.")
    assert ask(settings, "Fourth?", conversation_id=first.conversation_id).review == "pending"
    with pytest.raises(BadInput, match="no conversation with id 'c-nope'"):
        review.set_hold(settings, "c-nope", True)


@pytest.mark.parametrize("persona_holds", [False, True])
def test_the_hold_known_before_a_turn_is_the_turn_s_own(settings, fake, persona_holds):
    """``Chat.holds`` (what a live reply asks before it speaks) says what the turn then does, for
    every persona, conversation and request setting: the request's, else the conversation's, else
    the persona's."""
    if persona_holds:
        holding(settings)
    talk = chat(settings)
    first = talk.ask(ChatRequest(persona="jenniel", message="First?", llm="fake"))
    for own in (None, True, False):
        for asked in (None, True, False):
            review.set_hold(settings, first.conversation_id, own)  # a request's hold becomes the conversation's
            request = ChatRequest(persona="jenniel", message=f"{own} {asked}?", llm="fake",
                                  conversation_id=first.conversation_id, hold=asked)
            expected = asked if asked is not None else own if own is not None else persona_holds
            assert talk.holds(request) is expected, (own, asked)
            assert (talk.ask(request).review == "pending") is expected, (own, asked)
    for asked in (None, True, False):  # a new conversation: nothing of its own yet
        request = ChatRequest(persona="jenniel", message=f"New {asked}?", llm="fake", hold=asked)
        expected = asked if asked is not None else persona_holds
        assert talk.holds(request) is expected and (talk.ask(request).review == "pending") is expected, asked


def test_a_cached_answer_is_still_held(settings, fake):
    fake.enqueue(WRONG)
    delivered = ask(settings, QUESTION)
    holding(settings)
    again = ask(settings, QUESTION)
    assert (again.cached, again.reply, again.review) == (True, delivered.reply, "pending")


# -- the queue --------------------------------------------------------------------------------------
def test_the_queue_lists_held_replies_with_their_question_and_sources(settings, fake):
    holding(settings)
    fake.enqueue(WRONG, "Adam's answer.")
    reply = ask(settings, QUESTION)
    ask(settings, "Another?", persona="adam", hold=True)
    [held] = review.pending(settings, persona="jenniel")
    assert (held.turn_id, held.question, held.reply, held.persona, held.review) == (
        reply.turn_id, QUESTION, WRONG, "jenniel", "pending")
    assert held.conversation_id == reply.conversation_id and held.sources == [] and held.created_at
    assert [item.persona for item in review.pending(settings)] == ["adam", "jenniel"]  # newest first
    assert review.pending(settings, status="approved") == []
    with pytest.raises(BadInput, match="status must be one of pending, approved, rejected, all, got 'done'"):
        review.pending(settings, status="done")


def test_approving_with_an_edit_keeps_the_original_and_the_next_turn_sees_the_edit(settings, fake):
    holding(settings)
    fake.enqueue(WRONG, "Glad to help.")
    reply = ask(settings, QUESTION)
    approved = review.approve(settings, reply.turn_id, text=f"  {RIGHT}  ")
    assert (approved.review, approved.reply, approved.original) == ("approved", RIGHT, WRONG)
    assert approved.reviewed_at and review.pending(settings) == []
    [turn] = [t for t in chat(settings).history(reply.conversation_id) if t.role == "assistant"]
    assert (turn.content, turn.original, turn.review) == (RIGHT, WRONG, "approved")

    ask(settings, "Thanks!", conversation_id=reply.conversation_id)
    assert sent_to_model(fake) == [QUESTION, RIGHT, "Thanks!"]
    with pytest.raises(BadInput, match=f"reply {reply.turn_id} is already approved"):
        review.approve(settings, reply.turn_id)


def test_an_edited_answer_is_not_served_again_from_the_cache(settings, fake):
    holding(settings)
    fake.enqueue(WRONG, "Asked again.")
    reply = ask(settings, QUESTION)
    review.approve(settings, reply.turn_id, text=RIGHT)
    again = ask(settings, QUESTION)
    assert (again.cached, again.reply) == (False, "Asked again.")


def test_approving_an_audio_reply_speaks_it(settings, fake):
    from pipeline.media import probe

    holding(settings)
    fake.enqueue("Profit logic first.")
    reply = ask(settings, "Quick tip?", output="audio")
    steps = []
    approved = review.approve(settings, reply.turn_id, progress=lambda fraction, message: steps.append(message))
    assert approved.review == "approved" and approved.original is None
    assert approved.audio_path == str(settings.home / "chat" / reply.conversation_id / reply.turn_id / "speech.wav")
    info = probe(approved.audio_path)
    assert info.audio is not None and info.duration_s > 0.5
    assert "speaking" in steps and steps[-1] == "done"


def test_approving_a_video_reply_renders_it_as_a_job_linked_to_the_turn(settings, fake):
    from pipeline.media import probe

    holding(settings)
    fake.enqueue("Price for the segment that values it.")
    reply = ask(settings, "Pricing?", output="video")
    steps = []
    approved = review.approve(settings, reply.turn_id, progress=lambda fraction, message: steps.append(fraction))
    job = JobStore(settings.db_path).get(approved.job_id)
    assert job.status == "done" and job.persona == "jenniel" and job.text == "Price for the segment that values it."
    assert approved.video_path == job.video_path and approved.job_status == "done"
    assert chat(settings).store.turn(reply.turn_id).job_id == job.id
    info = probe(job.video_path)
    assert info.video is not None and info.audio is not None and info.duration_s > 1.0
    assert steps == sorted(steps) and len(steps) > 3  # the render's progress came through


def test_a_video_approval_needs_a_portrait_and_leaves_the_reply_pending_without_one(settings, fake):
    store = PersonaStore(settings)
    store.save(Persona(id="mira", name="Mira", identity="You are Mira.", review={"hold_replies": True}))
    fake.enqueue("Hello there.")
    reply = ask(settings, "Hi?", persona="mira", output="video")
    with pytest.raises(BadInput, match="persona mira has no portrait to animate"):
        review.approve(settings, reply.turn_id)
    assert [held.review for held in review.pending(settings)] == ["pending"]
    assert JobStore(settings.db_path).list() == []


def test_rejecting_needs_a_reason_and_the_reply_never_comes_back(settings, fake):
    holding(settings)
    fake.enqueue(WRONG, "Fresh answer.", "Later.")
    reply = ask(settings, QUESTION)
    for reason in (None, "", "   "):
        with pytest.raises(BadInput, match=f"say why reply {reply.turn_id} is rejected"):
            review.reject(settings, reply.turn_id, reason)
    rejected = review.reject(settings, reply.turn_id, "It is closed on Sundays.")
    assert (rejected.review, rejected.review_reason, rejected.reply) == ("rejected", "It is closed on Sundays.",
                                                                         WRONG)
    assert [item.turn_id for item in review.pending(settings, status="rejected")] == [reply.turn_id]
    with pytest.raises(BadInput, match=r"is already rejected \(It is closed on Sundays.\)"):
        review.approve(settings, reply.turn_id)
    with pytest.raises(BadInput, match="is already rejected"):
        review.reject(settings, reply.turn_id, "again")

    again = ask(settings, QUESTION)  # the rejected answer is not in the cache any more
    assert (again.cached, again.reply, again.review) == (False, "Fresh answer.", "pending")
    ask(settings, "And later?", conversation_id=reply.conversation_id)
    assert WRONG not in sent_to_model(fake)


def test_what_is_not_a_pending_reply_is_one_clear_message(settings, fake):
    fake.enqueue("Delivered.")
    reply = ask(settings, "Plain?")
    question = [t for t in chat(settings).history(reply.conversation_id) if t.role == "user"][0]
    cases = [(lambda: review.approve(settings, "t-nope"), "no chat turn with id 't-nope'"),
             (lambda: review.approve(settings, reply.turn_id), "was not held for review: it was delivered as written"),
             (lambda: review.reject(settings, question.id, "x"), "is a question, not a reply")]
    for attempt, message in cases:
        with pytest.raises(BadInput, match=message):
            attempt()


def test_each_users_queue_is_theirs_alone(settings, fake):
    holding(settings, owner="alice")
    fake.enqueue(WRONG)
    reply = ask(settings, QUESTION, owner="alice")
    assert reply.review == "pending"
    assert review.pending(settings, owner="bob") == [] and review.pending(settings, owner="bob", status="all") == []
    for attempt in (lambda: review.approve(settings, reply.turn_id, owner="bob"),
                    lambda: review.reject(settings, reply.turn_id, "not yours", owner="bob")):
        with pytest.raises(BadInput, match=f"no chat turn with id '{reply.turn_id}'"):
            attempt()
    with pytest.raises(BadInput, match="no conversation with id"):
        review.set_hold(settings, reply.conversation_id, False, owner="bob")
    assert [held.turn_id for held in review.pending(settings, owner="alice")] == [reply.turn_id]
    assert review.approve(settings, reply.turn_id, owner="alice").review == "approved"


def test_analytics_count_what_became_of_held_replies(settings, fake):
    from pipeline.analytics import persona_analytics

    holding(settings)
    fake.enqueue("One.", "Two.", "Three.", "Four.")
    replies = [ask(settings, question) for question in ("A?", "B?", "C?", "D?")]
    review.approve(settings, replies[0].turn_id)
    review.approve(settings, replies[1].turn_id, text="Two, corrected.")
    review.reject(settings, replies[2].turn_id, "No.")
    found = persona_analytics(settings, "jenniel", days=1)
    assert found.review_outcomes == {"held": 4, "pending": 1, "approved": 1, "approved_with_edits": 1,
                                     "rejected": 1}
    assert persona_analytics(settings, "adam", days=1).review_outcomes["held"] == 0


@pytest.mark.parametrize("value, hold", [("", None), (None, None), (True, True), ("yes", True), ("False", False),
                                         ("no", False), (False, False)])
def test_a_hold_setting_as_scripts_send_it(value, hold):
    assert review.parse_hold(value) is hold
    with pytest.raises(BadInput, match="hold must be true"):
        review.parse_hold("maybe")


# -- the command line -------------------------------------------------------------------------------
def test_the_cli_holds_lists_approves_and_rejects(settings, fake, studio_home):
    env = {**os.environ, "AVATAR_STUDIO_HOME": str(studio_home)}

    def run(*args):
        return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)

    # The fake LLM lives in this process: the replies are made here, the CLI acts on them.
    fake.enqueue(WRONG, "Second answer.")
    first = ask(settings, QUESTION, hold=True)
    second = ask(settings, "And Mondays?", hold=True)

    listed = run("review", "list", "--persona", "jenniel", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(item["turn_id"], item["question"], item["review"]) for item in json.loads(listed.stdout)] == [
        (second.turn_id, "And Mondays?", "pending"), (first.turn_id, QUESTION, "pending")]
    text = run("review", "list")
    assert first.turn_id in text.stdout and QUESTION in text.stdout

    approved = run("review", "approve", first.turn_id, "--text", RIGHT, "--json")
    assert approved.returncode == 0, approved.stderr
    assert {key: json.loads(approved.stdout)[key] for key in ("review", "reply", "original")} == {
        "review": "approved", "reply": RIGHT, "original": WRONG}
    refused = run("review", "approve", first.turn_id)
    assert refused.returncode == 2 and refused.stderr.strip().count("\n") == 0
    assert "is already approved" in refused.stderr

    no_reason = run("review", "reject", second.turn_id)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    rejected = run("review", "reject", second.turn_id, "--reason", "Off topic.")
    assert rejected.returncode == 0 and "rejected" in rejected.stdout
    assert [item["turn_id"] for item in json.loads(run("review", "list", "--status", "all", "--json").stdout)] == [
        second.turn_id, first.turn_id]
    assert run("review", "list", "--status", "pending").stdout.strip() == "no replies pending review"
    assert run("review", "approve", "t-nope").returncode == 2
    shown = run("conversations", first.conversation_id).stdout
    assert f"jenniel: {RIGHT}  [approved with your edit]" in shown
    assert "jenniel: Second answer.  [rejected in review: Off topic.]" in run("conversations",
                                                                          second.conversation_id).stdout
    analytics = run("analytics", "--persona", "jenniel")
    assert "held for review: 2 — 0 pending, 0 approved as written, 1 approved with edits, 1 rejected" in \
        analytics.stdout


def test_the_cli_chat_holds_with_a_flag_and_the_held_reply_is_not_spoken(settings, studio_home, monkeypatch):
    with FakeOpenAI(key=None) as server:
        server.script("chat", server.success(WRONG), server.success("Delivered."))
        env = {**os.environ, "AVATAR_STUDIO_HOME": str(studio_home), "OPENAI_BASE_URL": server.base_url}

        def chat_cli(*args):
            return subprocess.run([sys.executable, "app.py", "chat", "--persona", "jenniel", "--llm", "openai",
                                   "--no-cache", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=300)

        held = chat_cli("--message", QUESTION, "--speak", "--hold")
        assert held.returncode == 0, held.stderr
        assert held.stdout.startswith(f"jenniel: {WRONG}\n") and "held for your review" in held.stdout
        assert "audio:" not in held.stdout
        [conversation] = ConversationStore(JobStore(settings.db_path)).list()
        assert conversation.hold_replies is True
        [pending] = review.pending(settings)
        delivered = chat_cli("--message", "Thanks", "--conversation", conversation.id, "--no-hold", "--json")
        assert delivered.returncode == 0, delivered.stderr
        answer = json.loads(delivered.stdout)
        assert answer["review"] is None and answer["reply"] == "Delivered."
        assert ConversationStore(JobStore(settings.db_path)).get(conversation.id).hold_replies is False
        assert WRONG not in json.dumps(server.requests_to("chat")[-1].body)
        assert review.pending(settings) == [pending]
