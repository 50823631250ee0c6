"""The Live tab's handlers called directly: the model warmed up while the question is typed, the
idle loop, barge-in on one's own reply only, and a recording with no words."""

from __future__ import annotations

import threading

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
    stop = live_tab._register(ctx.owner, "take-1")
    try:
        assert live_tab.stop_live(ctx, "take-2") is not None and not stop.is_set()  # someone else's, or gone
        assert live_tab.stop_live(ctx, "take-1").startswith("Stopped") and stop.is_set()
    finally:
        live_tab._forget(ctx.owner, "take-1")


def test_a_recording_with_no_words_asks_nothing(ctx, tmp_path):
    import gradio as gr
    import numpy as np

    from pipeline.speech.wav import write_wav

    silence = write_wav(tmp_path / "silence.wav", np.zeros(16000 * 2, np.float32), 16000)
    with pytest.raises(gr.Error, match="No words were heard in the recording"):
        live_tab.hear(ctx, str(silence))
    with pytest.raises(gr.Error, match="Nothing was recorded"):
        live_tab.hear(ctx, None)


def test_a_monologue_is_refused_before_it_is_transcribed(ctx, tmp_path):
    import gradio as gr
    import numpy as np

    from pipeline.speech.wav import write_wav

    long = write_wav(tmp_path / "monologue.wav", np.zeros(16000 * 95, np.float32), 16000)
    with pytest.raises(gr.Error, match="The recording is 1:35 long; a spoken question may be at most 60 seconds"):
        live_tab.hear(ctx, str(long))
