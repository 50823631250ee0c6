"""``/converse`` through ``gradio_client`` against the whole studio on 127.0.0.1: a live reply that
streams one playable segment per sentence, then the whole reply. The LLM is the scripted fake
(paced like a real stream); voice, renderer and ffmpeg are real."""

from __future__ import annotations

import time

import fake_llm
from conftest import serve_with_users

from pipeline.media import probe

ANSWER = "Profit logic comes first. Market share follows from it. Then we measure it every quarter."


def test_converse_is_named_and_its_helpers_private(studio_client):
    endpoints = studio_client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in endpoints["/converse"]["parameters"]] == [
        "persona", "message", "conversation_id", "llm"]
    assert [r["label"] for r in endpoints["/converse"]["returns"]] == ["segment", "text", "conversation_id",
                                                                       "details", "video"]
    assert not {"refresh", "speak_live", "stop_live", "new_conversation"} & {n.strip("/") for n in endpoints}


def test_converse_streams_a_segment_per_sentence_then_the_whole_reply(studio_client):
    fake_llm.install_slow(ANSWER, delay_s=0.2)
    job = studio_client.submit("jenniel", "Where do we start?", "", "slow", api_name="/converse")
    updates = []
    while not job.done():
        time.sleep(0.05)
    updates = job.outputs()
    segments = [update for update in updates if update[3] and "segment" in update[3]]
    assert [s[3]["segment"]["text"] for s in segments] == ["Profit logic comes first.",
                                                          "Market share follows from it.",
                                                          "Then we measure it every quarter."]
    for segment, text, _, details, _ in segments:
        info = probe(segment)
        assert info.audio is not None and info.video.codec == "h264"
        assert details["segment"]["ready_s"] <= details["t_s"] + 0.01 and text  # the text so far rode along
    # The first sentence was playable before the model finished writing.
    texts = [update[1] for update in updates]
    first = next(k for k, update in enumerate(updates) if update[3] and "segment" in update[3])
    assert texts[first] != ANSWER
    video, details = updates[-1][4], updates[-1][3]
    assert details["reply"]["reply"] == ANSWER and details["reply"]["job_id"]
    path = video["video"] if isinstance(video, dict) else video
    assert probe(path).duration_s > 3.0


def test_converse_is_per_user_and_bad_input_is_one_message(settings):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    fake_llm.install().enqueue("Hello there.")
    app = serve_with_users(settings)
    try:
        alice = Client(app.local_url, auth=("alice", "wonderland-7"), verbose=False)
        _, text, conversation, details, _ = alice.predict("jenniel", "Hi?", "", "fake", api_name="/converse")
        assert text == "Hello there." and conversation
        bob = Client(app.local_url, auth=("bob", "builder-42"), verbose=False)
        try:
            bob.predict("jenniel", "And?", conversation, "fake", api_name="/converse")
        except AppError as error:
            assert "no conversation with id" in str(error)
        else:
            raise AssertionError("bob continued alice's conversation")
        try:
            alice.predict("jenniel", "   ", "", "fake", api_name="/converse")
        except AppError as error:
            assert "type a message" in str(error)
        else:
            raise AssertionError("an empty message was answered")
    finally:
        app.close()
