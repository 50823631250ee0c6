"""Early transcripts (pipeline.hearing): a question transcribed during the pause that ends it.

The first test is the whole path on real parts: Piper speaks the question, the Silero VAD hears
its pause, tiny.en transcribes the pause's audio on its own thread, and the turn gets that text
without transcribing again. The others check the bookkeeping of guesses that a breath makes
wrong, with a transcriber that is a function of the audio and holds its first call on an event,
so that the order of events is the test's to choose."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from test_stt import word_error_rate
from test_turns import MIC_RATE, QUESTION, at_mic_rate, listen, quiet

from pipeline.hearing import EarlyTranscripts
from pipeline.speech.base import Transcript
from pipeline.speech.stt import transcribe_speech
from pipeline.turns import TurnEvent


def test_the_question_is_transcribed_during_its_pause(settings):
    calls: list[float] = []

    def transcribe(audio, rate):
        calls.append(len(audio) / rate)
        return transcribe_speech(settings, audio, rate)

    early = EarlyTranscripts(transcribe)
    events = listen(np.concatenate([quiet(0.8), at_mic_rate(QUESTION), quiet(1.2, seed=1)]), pauses=True)
    turn = events[-1]
    assert turn.kind == "turn"
    for event in events[:-1]:
        if event.kind == "pause":
            early.guess(event)
    heard = early.answer(turn)
    assert heard.early and word_error_rate(QUESTION, heard.transcript.text) <= 0.2, heard.transcript.text
    assert len(calls) == early.started == 1 and calls[0] == pytest.approx(len(turn.audio) / MIC_RATE)


def words_of(audio: np.ndarray, rate: int) -> Transcript:
    return Transcript(text=f"{len(audio)} samples", language="en", duration_s=len(audio) / rate, segments=[],
                      backend="test", model="", elapsed_s=0.0)


class Held:
    """A transcriber whose first call waits for ``release``; it records every call's length."""

    def __init__(self, fail: bool = False) -> None:
        self.release = threading.Event()
        self.calls: list[int] = []
        self.fail = fail

    def __call__(self, audio, rate):
        first = not self.calls
        self.calls.append(len(audio))
        if first:
            assert self.release.wait(10)
        if self.fail:
            raise RuntimeError("the model fell over")
        return words_of(audio, rate)


def event(kind: str, ended_s: float, samples: int) -> TurnEvent:
    return TurnEvent(kind, at_s=ended_s + 0.2, started_s=1.0, ended_s=ended_s, rate=16_000,
                     audio=np.ones(samples, np.int16))


def wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_breaths_are_guesses_dropped_and_the_turn_waits_for_one_at_most():
    held = Held()
    early = EarlyTranscripts(held)
    early.guess(event("pause", 2.0, 16_000))  # a breath: running, held
    wait_for(lambda: held.calls)
    early.guess(event("pause", 3.0, 32_000))  # another breath: waits behind it, then is dropped
    early.guess(event("pause", 4.0, 48_000))  # the real end of the question
    results: list = []
    answering = threading.Thread(target=lambda: results.append(early.answer(event("turn", 4.0, 48_000))))
    answering.start()
    held.release.set()
    answering.join(10)
    (heard,) = results
    assert heard.early and heard.transcript.text == "48000 samples"
    assert held.calls == [16_000, 48_000] and (early.started, early.skipped) == (2, 1)


def test_a_turn_that_went_on_after_its_pause_is_transcribed_itself():
    held = Held()
    held.release.set()
    early = EarlyTranscripts(held)
    early.guess(event("pause", 2.0, 16_000))
    wait_for(lambda: early.started == 1)
    heard = early.answer(event("turn", 2.5, 24_000))  # a word more was said after the pause
    assert not heard.early and heard.transcript.text == "24000 samples" and held.calls[-1] == 24_000
    again = early.answer(event("turn", 2.0, 16_000))  # answers are not kept: each guess is used once
    assert not again.early


def test_a_guess_that_failed_is_tried_again_and_a_second_failure_is_the_turn_s():
    held = Held(fail=True)
    held.release.set()
    early = EarlyTranscripts(held)
    early.guess(event("pause", 2.0, 16_000))
    with pytest.raises(RuntimeError, match="fell over"):
        early.answer(event("turn", 2.0, 16_000))
    assert held.calls == [16_000, 16_000]


class Begun:
    """What ``prepare`` makes of a guess's words: it notes whether it was cancelled."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def test_the_answer_begun_on_a_breath_is_cancelled_and_the_question_s_is_handed_over():
    begun: list[Begun] = []

    def prepare(transcript):
        begun.append(Begun(transcript.text))
        return begun[-1]

    early = EarlyTranscripts(words_of, prepare)
    early.guess(event("pause", 2.0, 16_000))  # a breath
    wait_for(lambda: len(begun) == 1)
    early.guess(event("pause", 3.0, 32_000))  # the end of the question
    wait_for(lambda: len(begun) == 2)
    assert begun[0].cancelled and not begun[1].cancelled  # a newer pause: the breath's answer is withdrawn
    heard = early.answer(event("turn", 3.0, 32_000))
    assert heard.early and heard.prepared is begun[1] and not begun[1].cancelled


def test_talking_again_withdraws_what_was_begun_and_another_turn_cancels_it():
    begun: list[Begun] = []
    early = EarlyTranscripts(words_of, lambda transcript: begun.append(Begun(transcript.text)) or begun[-1])
    early.guess(event("pause", 2.0, 16_000))
    wait_for(lambda: len(begun) == 1)
    early.withdraw()  # someone started talking
    assert begun[0].cancelled
    early.guess(event("pause", 4.0, 16_000))
    wait_for(lambda: len(begun) == 2)
    heard = early.answer(event("turn", 4.5, 24_000))  # said more after the pause: not the guess
    assert not heard.early and heard.prepared is None and begun[1].cancelled


def test_nothing_is_begun_on_a_pause_without_words_or_one_already_replaced():
    held = Held()
    calls: list[str] = []
    early = EarlyTranscripts(held, lambda transcript: calls.append(transcript.text))
    early.guess(event("pause", 2.0, 16_000))  # held while a newer pause comes
    wait_for(lambda: held.calls)
    early.guess(event("pause", 3.0, 0))  # no audio: no guess at all
    early.withdraw()  # then someone talks: the held guess is no longer the newest
    held.release.set()
    time.sleep(0.2)
    assert calls == []
