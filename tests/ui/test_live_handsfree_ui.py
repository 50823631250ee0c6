"""Hands-free Live in Chromium: the studio's recorder sends the microphone to the server, a pause ends
the question, and talking over a reply stops it. The microphone is Chromium's fake capture device
playing, once, a short silence, the sample spoken question and a longer silence. The VAD (Silero,
from faster-whisper's wheel), the speech recognizer, the voice, the renderer and the player are
real. The model is the scripted fake, paced like a real stream."""

from __future__ import annotations

import re
import subprocess
import wave

import fake_llm
import numpy as np
import pytest
from playwright.sync_api import expect

from pipeline.turns import END_SILENCE_S

from .conftest import FAKE_MIC_WAV_SOURCE, launch_chromium, screenshot, studio_page
from .test_live_ui import ANSWER, open_live, playing_segments

QUIET_S = 10.0  # before and after the question (the device plays the three in a loop): time for a reply to start


@pytest.fixture(scope="module")
def conversation_mic(tmp_path_factory):
    """Quiet, the sample question, quiet: 48 kHz mono 16-bit, as Chromium's fake device reads it. The
    device loops it from when it opens, which is not when Record is pressed, so the first question
    heard may be a tail; the loop brings the whole one round again."""
    import imageio_ffmpeg

    raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(FAKE_MIC_WAV_SOURCE),
                          "-ac", "1", "-ar", "48000", "-f", "s16le", "-"], check=True, capture_output=True).stdout
    quiet = np.zeros(int(QUIET_S * 48000), np.int16)
    audio = np.concatenate([quiet, np.frombuffer(raw, np.int16), quiet])
    path = tmp_path_factory.mktemp("conversation") / "conversation.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(audio.tobytes())
    return path


@pytest.fixture(scope="module")
def talking_browser(playwright_session, conversation_mic):
    flags = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    browser = launch_chromium(playwright_session, *flags, f"--use-file-for-fake-audio-capture={conversation_mic}")
    yield browser
    browser.close()


@pytest.fixture
def talking_page(talking_browser, live_studio):
    # Opening the Live tab loads the persona's own model on a thread: the first time in a run, the
    # bundled one's GGUF file is converted, tens of seconds of both cores, which would land on the
    # questions' transcriptions (one took 15 s so). A studio does it once; here it is done first.
    from personas import PersonaStore
    from pipeline.chat import persona_llm

    settings = live_studio[1]
    persona_llm(settings, PersonaStore(settings).get("jenniel")).prepare()
    page = studio_page(talking_browser, live_studio[0], height=900)
    yield page
    page.context.close()


def test_a_pause_asks_the_question_and_talking_over_the_reply_stops_it(talking_page):
    page = talking_page
    fake_llm.install_slow(*[ANSWER] * 8, delay_s=0.4)  # every turn gets the 3-sentence answer, ~9 s spoken
    open_live(page)
    mic = page.locator("#live-listen .live-mic")
    page.locator("#live-listen button.listen-button").click()
    expect(mic).to_have_attribute("data-state", "on")
    # A question heard, then a pause: it is asked without a click, and the reply plays. (What is heard
    # is not checked word for word: tests/test_turns.py checks the words on the detector itself.)
    reply = page.locator("#live-reply")
    expect(reply).to_contain_text(re.compile(r"You: \w+"), timeout=90_000)
    stage = page.locator("#live-player .live-stage")
    expect(stage).to_have_attribute("data-first-frame-ms", re.compile(r"^\d+$"), timeout=90_000)
    # its clock started when the speech stopped, so it counts the pause that ended the question too
    assert int(stage.get_attribute("data-ago-ms")) >= END_SILENCE_S * 1000 - 50
    expect(page.locator("#live-listen .live-mic-line")).to_have_text(re.compile("^Listening"))  # heard, answered
    screenshot(page, "live-hands-free")
    # The question comes round again (QUIET_S after the last): the player stops at once.
    before = stage.get_attribute("data-stopped")
    onsets = int(mic.get_attribute("data-onsets"))  # heard so far
    page.wait_for_function("(before) => document.querySelector('#live-player .live-stage').dataset.stopped !== before",
                           arg=before, timeout=45_000)
    assert playing_segments(page) == 0
    # It was the server hearing someone start to talk that stopped it (whether the reply was still being
    # written then, and so is kept as interrupted, depends on how busy the machine is).
    assert int(mic.get_attribute("data-onsets")) == onsets + 1
    page.locator("#live-listen button.listen-button").click()  # Stop listening
    expect(mic).to_have_attribute("data-state", "off")
