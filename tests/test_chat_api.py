"""The Chat tab's programmatic endpoints, ``/chat`` and ``/transcribe``, through ``gradio_client``
against the whole studio on 127.0.0.1 — plus ``Chat.stream``, the pipeline call behind both the
endpoint and the browser's streamed reply.

The LLM is the scripted ``FakeLLM`` (registered as backend "fake") except in one test that runs
the bundled local model; renders, speech and transcription are the real ones.
"""

from __future__ import annotations

import itertools

import fake_llm
import pytest
from conftest import ROOT

from pipeline.errors import RemoteError

SPEECH = ROOT / "assets" / "sample_speech.mp3"


@pytest.fixture
def fake():
    return fake_llm.install()


def chat(client, message, *, persona="jenniel", conversation_id="", mode="", llm="fake", output="text",
         max_tokens=200):
    return client.predict(persona, message, conversation_id, mode, llm, output, max_tokens, api_name="/chat")


def path_of(value) -> str:
    return value["video"] if isinstance(value, dict) else value


def test_the_api_lists_chat_and_transcribe_with_named_parameters(studio_client):
    endpoints = studio_client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in endpoints["/chat"]["parameters"]] == [
        "persona", "message", "conversation_id", "mode", "llm", "output", "max_tokens", "hold"]
    assert [r["label"] for r in endpoints["/chat"]["returns"]] == ["reply", "conversation_id", "video", "audio",
                                                                   "details"]
    assert [p["parameter_name"] for p in endpoints["/transcribe"]["parameters"]] == ["audio"]
    helpers = {"refresh", "pick_persona", "new_conversation", "resume", "take_message", "answer", "reply_player",
               "end_turn", "hold_replies"}
    assert not helpers & {name.strip("/") for name in endpoints}  # the tab's own events stay private


def test_a_conversation_continues_with_its_history_and_a_video_reply(studio_client, fake, settings):
    from pipeline.db import ConversationStore, JobStore
    from pipeline.media import probe

    fake.enqueue("Only if the profit logic holds.", "Price for the segment that values it.")
    reply, conversation_id, video, audio, details = chat(studio_client, "Should we chase market share?")
    assert reply == "Only if the profit logic holds." and conversation_id.startswith("c")
    assert video is None and audio is None and details["llm"] == "fake" and not details["cached"]

    reply, again, video, audio, details = chat(studio_client, "And pricing?", conversation_id=conversation_id,
                                               output="video")
    assert reply == "Price for the segment that values it." and again == conversation_id
    sent = [m["content"] for m in fake.history[-1]["messages"][1:]]
    assert sent == ["Should we chase market share?", "Only if the profit logic holds.", "And pricing?"]
    info = probe(path_of(video))
    assert info.video is not None and info.audio is not None and info.duration_s > 1.0
    jobs = JobStore(settings.db_path)
    job = jobs.get(details["job_id"])
    assert job.status == "done" and job.persona == "jenniel" and job.text == reply
    turns = ConversationStore(jobs).turns(conversation_id)
    assert [(t.role, t.content) for t in turns][-1] == ("assistant", reply) and turns[-1].job_id == job.id


def test_an_audio_reply_comes_back_as_a_playable_file(studio_client, fake):
    from pipeline.media import probe

    fake.enqueue("Profit logic first.")
    reply, _, video, audio, _ = chat(studio_client, "Quick tip?", output="audio")
    assert reply == "Profit logic first." and video is None
    info = probe(audio)
    assert info.audio is not None and info.duration_s > 0.5


def test_the_reply_streams_while_it_is_written(studio_client):
    fake_llm.install_slow("one two three four five six seven eight nine ten")
    job = studio_client.submit("adam", "Count to ten.", "", "", "slow", "text", 100, api_name="/chat")
    final = job.result(timeout=60)
    partial = [output[0] for output in job.outputs()]
    assert final[0] == "one two three four five six seven eight nine ten"
    growing = [text for text in partial if text and text != final[0]]
    assert len(growing) >= 2, partial  # the reply arrived in pieces, not at once
    assert all(final[0].startswith(text) for text in growing)


def test_a_reply_from_the_bundled_local_model(studio_client):
    reply, conversation_id, _, _, details = chat(studio_client, "Should we chase market share?", llm="local",
                                                 max_tokens=16)
    assert reply.strip() and conversation_id
    assert details["llm"] == "local" and 0 < details["tokens_out"] <= 16


def test_transcribe_turns_speech_into_the_message(studio_client):
    from gradio_client import handle_file

    text = studio_client.predict(handle_file(str(SPEECH)), api_name="/transcribe")
    words = text.lower()
    assert "avatar" in words and "video" in words, text


@pytest.mark.parametrize("arguments, error", [
    ({"message": "   "}, "type a message for the persona to answer"),
    ({"message": "Hi", "persona": "nobody"}, "no persona 'nobody'"),
    ({"message": "Hi", "mode": "dance"}, "has no mode 'dance'"),
    ({"message": "Hi", "output": "hologram"}, "output must be one of text, audio, video"),
    ({"message": "Hi", "max_tokens": -5}, "the reply length must be at least 1 token, got -5"),
    ({"message": "Hi", "llm": "nope"}, "llm 'nope' not found"),
    ({"message": "Hi", "conversation_id": "c-nope"}, "no conversation with id 'c-nope'"),
])
def test_bad_requests_are_readable_errors(studio_client, fake, arguments, error):
    with pytest.raises(Exception, match=error):
        chat(studio_client, **arguments)


def test_an_llm_failure_is_shown_and_the_question_stays_recorded(studio_client, fake, settings):
    from pipeline.db import ConversationStore, JobStore

    fake.enqueue(RemoteError("mistral had a server error (HTTP 503)"))
    with pytest.raises(Exception, match=r"server error \(HTTP 503\)"):
        chat(studio_client, "Still there?")
    store = ConversationStore(JobStore(settings.db_path))
    [conversation] = store.list()
    assert [(t.role, t.content, t.error) for t in store.turns(conversation.id)] == [
        ("user", "Still there?", "mistral had a server error (HTTP 503)")]


# -- Chat.stream, the pipeline call under both --------------------------------------------------------
def test_stream_yields_the_growing_reply_then_the_finished_turn(settings):
    from pipeline.chat import Chat, ChatRequest

    fake_llm.install_slow("Differentiated capabilities win margins.")
    events = list(Chat(settings).stream(ChatRequest(persona="jenniel", message="One line?", llm="slow")))
    texts = [event.text for event in events if event.kind == "text"]
    assert len(texts) >= 2 and texts[-1] == "Differentiated capabilities win margins."
    assert all(b.startswith(a) for a, b in itertools.pairwise(texts))
    assert events[-1].kind == "reply" and events[-1].reply.reply == texts[-1]
    assert [e.fraction for e in events if e.kind == "progress"][-1] == 1.0


def test_a_failed_turn_names_its_conversation_so_it_can_go_on(settings, fake):
    from pipeline.chat import Chat, ChatRequest

    chat_ = Chat(settings)
    fake.enqueue(RemoteError("gemini timed out"), "Back again.")
    with pytest.raises(RemoteError) as failure:
        list(chat_.stream(ChatRequest(persona="jenniel", message="First?", llm="fake")))
    conversation_id = failure.value.conversation_id
    reply = chat_.ask(ChatRequest(persona="jenniel", message="Second?", llm="fake", conversation_id=conversation_id))
    assert reply.conversation_id == conversation_id and reply.reply == "Back again."
    assert [t.content for t in chat_.history(conversation_id)] == ["First?", "Second?", "Back again."]


def test_the_chat_tab_opens_on_the_persona_of_the_latest_conversation(settings, fake):
    from pipeline.chat import Chat, ChatRequest
    from studio import chat_tab
    from studio.common import StudioContext
    from studio.guard import Access

    ctx = StudioContext(settings, Access())
    first = chat_tab.refresh(ctx, None, None, None)[0]
    assert first["value"] == ctx.persona_choices()[0][1]  # nothing said yet: the first persona
    other = next(value for _, value in ctx.persona_choices() if value != first["value"])
    fake.enqueue("Price the outcome.")
    Chat(settings).ask(ChatRequest(persona=other, message="Where do I start?", llm="fake"))
    assert chat_tab.refresh(ctx, None, None, None)[0]["value"] == other
    assert chat_tab.refresh(ctx, first["value"], None, None)[0]["value"] == first["value"]  # a pick stays
