"""The Live tab's handlers called directly: the model warmed up while the question is typed, the
idle loop, barge-in on one's own reply only, and a recording with no words."""

from __future__ import annotations

import threading
import time

import pytest

import fake_llm
from pipeline.llm import llms
from studio import live_tab
from studio.common import StudioContext
from studio.guard import Access


class WarmingLLM(fake_llm.FakeLLM):
    """Records that it was asked to load, on which thread."""

    name = "warming"
    prepared = threading.Event()
    thread_name = ""

    def prepare(self, progress=None) -> None:
        WarmingLLM.thread_name = threading.current_thread().name
        WarmingLLM.prepared.set()


@pytest.fixture
def ctx(settings):
    return StudioContext(settings, Access())


def test_the_model_is_loaded_on_its_own_thread_while_the_question_is_typed(ctx):
    WarmingLLM.serving = WarmingLLM()
    with llms.registered("warming", WarmingLLM):
        assert live_tab.warm_up(ctx, "jenniel", "warming") is None  # returns at once
        assert WarmingLLM.prepared.wait(10) and WarmingLLM.thread_name == "llm-warm-up"
    assert live_tab.warm_up(ctx, "", "warming") is None and live_tab.warm_up(ctx, "no-such", None) is None


def test_the_idle_loop_is_the_persona_s_and_none_without_a_portrait(ctx, settings):
    clip = live_tab.listening(ctx, "jenniel")
    assert clip and clip.endswith(".mp4") and str(settings.cache) in clip
    assert live_tab.listening(ctx, "jenniel") == clip  # made once
    assert live_tab.listening(ctx, None) is None


def test_the_idle_loop_is_drawn_at_the_studios_size(settings):
    from dataclasses import replace

    from pipeline.media import probe

    small = StudioContext(replace(settings, max_side=256), Access())
    info = probe(live_tab.listening(small, "jenniel")).video
    assert max(info.width, info.height) <= 256


def test_stop_reaches_only_the_reply_it_names(ctx):
    from studio import live_mic

    stop = live_mic.register_take(ctx.owner, "take-1")
    try:
        assert live_tab.stop_live(ctx, "take-2") is not None and not stop.is_set()  # someone else's, or gone
        assert not live_mic.stop_take("bob", "take-1") and not stop.is_set()  # another owner's name for it
        assert live_tab.stop_live(ctx, "take-1").startswith("Stopped") and stop.is_set()
    finally:
        live_mic.forget_take(ctx.owner, "take-1")


def test_a_recording_with_no_words_asks_nothing(ctx, tmp_path):
    import gradio as gr
    import numpy as np

    from pipeline.speech.wav import write_wav

    silence = write_wav(tmp_path / "silence.wav", np.zeros(16000 * 2, np.float32), 16000)
    with pytest.raises(gr.Error, match="No words were heard in the recording"):
        live_tab.hear(ctx, str(silence))
    with pytest.raises(gr.Error, match="Nothing was recorded"):
        live_tab.hear(ctx, None)
    # Push to talk transcribes and answers in one event: a recording with no words asks nothing.
    conversations = len(ctx.chat.store.list())
    updates = live_tab.ask_recorded(ctx, str(silence), "jenniel", None, None)
    assert next(updates)["status"].startswith("_Transcribing")
    with pytest.raises(gr.Error, match="No words were heard in the recording"):
        next(updates)
    assert ctx.jobs.list(limit=5) == [] and len(ctx.chat.store.list()) == conversations


def test_a_monologue_is_refused_before_it_is_transcribed(ctx, tmp_path):
    import gradio as gr
    import numpy as np

    from pipeline.speech.wav import write_wav

    long = write_wav(tmp_path / "monologue.wav", np.zeros(16000 * 95, np.float32), 16000)
    with pytest.raises(gr.Error, match="The recording is 1:35 long; a spoken question may be at most 60 seconds"):
        live_tab.hear(ctx, str(long))


def test_a_hands_free_question_is_answered_with_the_reply_begun_during_its_pause(ctx):
    """Real parts but the model: Piper's question sent as the page's recorder sends it (0.1 s of
    16 kHz 16-bit samples, base64, through ``live_mic.hear``), Silero hearing the pause, tiny.en
    transcribing it, the model started on the answer then; the turn takes that answer instead of
    asking again, and speaks it."""
    import json

    from test_live_mic import chunks, new_id, spoken_16k

    from pipeline import prefetch
    from studio import live_mic

    answer = "Find the customers who cost more than they pay."
    slow = fake_llm.install_slow(answer, delay_s=0.02)
    session = new_id()
    value = json.dumps({"id": session})
    live_tab.note_asking(ctx, value, "jenniel", None, "slow")  # Listen pressed
    question = "How do I find the customers who pay more than they cost?"
    turn = None
    for payload in chunks(session, spoken_16k(question, before_s=0.8, after_s=1.2)):
        answered = live_mic.hear(ctx.settings, ctx.owner, payload)
        assert "error" not in answered
        if answered.get("turn"):
            turn = answered["turn"]
            break
    listening = live_mic.sessions.get(ctx.owner, session)
    assert turn is not None and turn["ago_ms"] >= 600 and listening.early.started >= 1
    for _ in range(1000):  # the guess made at the pause is being transcribed, then the model asked
        if slow.history:
            break
        time.sleep(0.01)
    assert len(slow.history) == 1 and prefetch.waiting() == 1  # asked before the turn was answered
    updates = list(live_tab.answer_turn(ctx, json.dumps({"id": session, "turn": turn["n"]}), "jenniel", None,
                                        "slow"))
    assert len(slow.history) == 1  # asked once, during the pause: the turn took that answer
    assert question.lower().rstrip("?") in slow.history[0]["messages"][-1]["content"].lower()
    assert any(update.get("segment") for update in updates)
    assert answer in updates[-1]["reply"] and updates[-1]["whole"]
    assert prefetch.waiting() == 0
    # the next question is asked in this reply's conversation
    assert listening.asking.conversation_id and listening.asking.conversation_id == updates[-1]["conversation"]


def test_no_answer_is_begun_for_an_owner_past_the_chat_quota(settings):
    from dataclasses import replace

    from pipeline.chat import Chat, ChatRequest
    from pipeline.db import JobStore
    from pipeline.quotas import Limits
    from studio import guard, live_mic
    from studio.limits import chat_allowed

    slow = fake_llm.install_slow("Yes.", delay_s=0.0)
    limited = StudioContext(replace(settings, limits=Limits(chat_turns_per_minute=1)), Access(guard.PASSWORD))
    token = guard._owner.set("alice")
    try:
        allowed = chat_allowed(limited)
        assert allowed()
        alice = Chat(settings, jobs=JobStore(settings.db_path).for_owner("alice"))
        alice.ask(ChatRequest(persona="jenniel", message="Hello?", llm="slow"))
        assert not allowed()  # one message this minute: the quota is spent
        listening = live_mic.Listening(settings, "alice")
        listening.asking = live_mic.Asking(limited.chat, "jenniel", None, "slow", allowed)
        transcript = type("Heard", (), {"text": "How do I price a product?"})()
        assert listening.ahead(transcript) is None and len(slow.history) == 1
    finally:
        guard._owner.reset(token)
