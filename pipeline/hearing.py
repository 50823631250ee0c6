"""Transcribing a spoken question before its turn is over.

A hands-free turn ends after ``turns.END_SILENCE_S`` (0.6 s) of quiet, and Whisper tiny.en then
needs about 0.7 s on two cores to read a short question: 1.3 s before the reply can even begin.
The detector also says ``pause`` as soon as the speech has stopped for ``turns.EARLY_S``, with the
audio the turn will have if nobody speaks again. ``EarlyTranscripts.guess`` starts transcribing
that audio at once, on a thread of its own, so by the time the turn ends its text is ready or
nearly so; ``answer`` hands it over when the turn is the one guessed (same start, same end: nothing
was said after the pause), and otherwise transcribes the turn itself.

A pause that turns out to be a breath costs a transcription nobody uses. Guesses run one at a
time, newest wins: a guess still waiting when a newer one comes is dropped unrun, and a turn never
waits behind more than the one guess already running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from .speech.base import Transcript
from .turns import TurnEvent

Transcribe = Callable[[np.ndarray, int], Transcript]  # (int16 mono samples, their rate) → what was said


@dataclass(frozen=True)
class Heard:
    """A turn's transcript, and how long the caller waited for it (``waited_s``). ``early``: it was
    the guess made at the pause."""

    transcript: Transcript
    waited_s: float
    early: bool


def _key(event: TurnEvent) -> tuple[float, float, int]:
    return (event.started_s, event.ended_s, len(event.audio) if event.audio is not None else 0)


class EarlyTranscripts:
    """One listening session's early transcriptions (see the module docstring). Thread-safe."""

    def __init__(self, transcribe: Transcribe) -> None:
        self._transcribe = transcribe
        self._lock = threading.Lock()
        self._one_at_a_time = threading.Lock()
        self._newest: tuple[float, float, int] | None = None
        self._guesses: dict[tuple[float, float, int], Future] = {}
        self.started = 0  # guesses transcribed (for the log and the tests)
        self.skipped = 0  # guesses dropped before they ran: a newer pause came first

    def guess(self, pause: TurnEvent) -> None:
        """Start transcribing what a ``pause`` event says the turn would be."""
        if pause.audio is None or not len(pause.audio):
            return
        key, future = _key(pause), Future()
        with self._lock:
            self._newest = key
            self._guesses = {k: f for k, f in self._guesses.items() if not f.done()}  # forget stale answers
            self._guesses[key] = future
        threading.Thread(target=self._run, args=(key, future, pause.audio, pause.rate), daemon=True,
                         name="early-transcript").start()

    def _run(self, key, future: Future, audio: np.ndarray, rate: int) -> None:
        with self._one_at_a_time:
            with self._lock:
                if key != self._newest:  # a newer pause came while this one waited its turn
                    self.skipped += 1
                    future.set_result(None)
                    return
                self.started += 1
            try:
                future.set_result(self._transcribe(audio, rate))
            except BaseException as error:  # the turn's own answer() tries again and reports it
                future.set_exception(error)

    def answer(self, turn: TurnEvent) -> Heard:
        """The turn's transcript: the guess made at its pause when it is this turn, else transcribed now."""
        waiting = time.perf_counter()
        key = _key(turn)
        with self._lock:
            future = self._guesses.pop(key, None)
            self._guesses.clear()
            self._newest = key  # a guess of this turn still waiting to run goes on; any other is dropped
        if future is not None:
            try:
                transcript = future.result()
            except Exception:  # transcribed again below, where a failure is the turn's own
                transcript = None
            if transcript is not None:
                return Heard(transcript, time.perf_counter() - waiting, early=True)
        transcript = self._transcribe(turn.audio, turn.rate)
        return Heard(transcript, time.perf_counter() - waiting, early=False)
