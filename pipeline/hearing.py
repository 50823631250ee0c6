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

``prepare`` (optional) goes one step further: it is called with each guess's words, as soon as they
are known, to start on the answer (the Live tab starts the model on it: ``Chat.prefetch``). What it
returns is cancelled (``cancel()``) when the guess turns out not to be the question: a newer pause,
a turn with other audio, or ``withdraw`` (someone started talking again). The guess that is the
question hands it to the caller on ``Heard.prepared``, who cancels it once the turn has claimed
what it needed (cancelling a claimed answer does nothing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from .speech.base import Transcript
from .turns import TurnEvent

log = logging.getLogger(__name__)
Transcribe = Callable[[np.ndarray, int], Transcript]  # (int16 mono samples, their rate) → what was said
Prepare = Callable[[Transcript], Any]  # a guess's words → something to ``cancel()`` if they were not the question


@dataclass(frozen=True)
class Heard:
    """A turn's transcript, and how long the caller waited for it (``waited_s``). ``early``: it was
    the guess made at the pause; ``prepared``: what ``prepare`` made of it (the caller's to cancel)."""

    transcript: Transcript
    waited_s: float
    early: bool
    prepared: Any = None


def _key(event: TurnEvent) -> tuple[float, float, int]:
    return (event.started_s, event.ended_s, len(event.audio) if event.audio is not None else 0)


class EarlyTranscripts:
    """One listening session's early transcriptions (see the module docstring). Thread-safe."""

    def __init__(self, transcribe: Transcribe, prepare: Prepare | None = None) -> None:
        self._transcribe = transcribe
        self._prepare = prepare
        self._prepared: dict[tuple[float, float, int], Any] = {}  # guess → what prepare made of it
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
                transcript = self._transcribe(audio, rate)
            except BaseException as error:  # the turn's own answer() tries again and reports it
                future.set_exception(error)
                return
        if self._prepare is not None and transcript.text.strip():
            self._keep_prepared(key, transcript)
        future.set_result(transcript)  # after prepare: a turn that takes the words finds what was begun

    def _keep_prepared(self, key, transcript: Transcript) -> None:
        with self._lock:
            if key != self._newest:
                return
        try:
            prepared = self._prepare(transcript)
        except Exception:  # noqa: BLE001 — only a head start lost: the turn does it itself
            log.exception("starting on the answer during the pause failed")
            return
        if prepared is None:
            return
        with self._lock:
            wanted = key == self._newest
            if wanted:
                stale, self._prepared = list(self._prepared.values()), {key: prepared}
        for thing in (stale if wanted else [prepared]):
            thing.cancel()

    def withdraw(self) -> None:
        """Someone started talking again: no guess so far is the question, and what was begun on
        them is cancelled."""
        with self._lock:
            self._newest = None
        self._cancel()

    def _cancel(self, keep=None) -> Any:
        """Cancel what was begun on every guess but ``keep``; what was begun on that one."""
        with self._lock:
            kept = self._prepared.pop(keep, None) if keep is not None else None
            stale, self._prepared = list(self._prepared.values()), {}
        for thing in stale:
            thing.cancel()
        return kept

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
                return Heard(transcript, time.perf_counter() - waiting, early=True, prepared=self._cancel(keep=key))
        self._cancel()
        transcript = self._transcribe(turn.audio, turn.rate)
        return Heard(transcript, time.perf_counter() - waiting, early=False)

