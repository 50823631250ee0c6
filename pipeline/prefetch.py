"""Answers asked for before the turn that wants them: a hands-free question's reply, started during
the pause that may end the question.

A hands-free turn is over after 0.6 s of quiet, but its words are usually known sooner: they are
transcribed during the pause (``pipeline.hearing``). ``Chat.prefetch`` then builds the turn's
request exactly as the turn will (the same prompt, history, passages and examples; reading only,
recording nothing) and starts the model on a thread of its own. The answer is registered here
under the chat cache's key for that request, which names its owner. When the turn comes,
``Chat.ask`` asks for its answer by the same key (``claim``), gets the words written so far at
once, and the rest as the model writes them. Everything a turn records, it records itself, as
if it had asked the model. A turn whose request came out different (another persona picked, a
new message in the conversation) has another key and asks the model itself.

An answer nobody claims is withdrawn: by ``Prefetch.cancel`` (the speaker went on talking, a
newer pause was guessed), or ``UNCLAIMED_S`` after it started, at the next ``start``. Its model
call stops at the next word it writes (``Withdrawn`` is raised in the backend's stream), and
nothing of it is kept. An answer that failed before writing a word is not handed over: the turn
asks the model itself, and a failure then is the turn's own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .llm.base import Completion, OnToken

UNCLAIMED_S = 20.0  # an answer not claimed this long after it started is withdrawn

_lock = threading.Lock()
_waiting: dict[str, "Prefetch"] = {}


class Withdrawn(Exception):
    """Raised inside a withdrawn answer's model call, to stop it (never seen by a turn)."""


class Prefetch:
    """One answer asked for ahead of its turn (see the module docstring). Thread-safe."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.started = time.monotonic()
        self._changed = threading.Condition()
        self._tokens: list[str] = []
        self._completion: Completion | None = None
        self._error: BaseException | None = None
        self._done = False
        self.claimed = False
        self.cancelled = False

    def _token(self, chunk: str) -> None:
        with self._changed:
            if self.cancelled:
                raise Withdrawn("the answer was asked for a turn that did not come")
            self._tokens.append(chunk)
            self._changed.notify_all()

    def _run(self, call: Callable[[OnToken], Completion]) -> None:
        completion = error = None
        try:
            completion = call(self._token)
        except BaseException as failure:  # noqa: BLE001 — handed to the turn that claims it, if any
            error = failure
        with self._changed:
            self._completion, self._error, self._done = completion, error, True
            self._changed.notify_all()

    def cancel(self) -> bool:
        """Withdraw the answer unless a turn has claimed it; whether it was withdrawn."""
        with self._changed:
            if self.claimed:
                return False
            self.cancelled = True
            self._changed.notify_all()
        with _lock:
            if _waiting.get(self.key) is self:
                del _waiting[self.key]
        return True

    def _claim(self) -> bool:
        with self._changed:
            if self.cancelled or (self._done and self._error is not None and not self._tokens):
                return False  # withdrawn, or failed before a word: the turn asks for itself
            self.claimed = True
            return True

    def follow(self, on_token: OnToken | None) -> Completion:
        """The answer, its words handed to ``on_token`` as they were and are written (a claimed one)."""
        handed = 0
        while True:
            with self._changed:
                while handed == len(self._tokens) and not self._done:
                    self._changed.wait()
                new, done = self._tokens[handed:], self._done
                handed += len(new)
            if on_token:
                for chunk in new:
                    on_token(chunk)
            if done and handed == len(self._tokens):
                if self._error is not None:
                    raise self._error
                assert self._completion is not None
                return self._completion


def start(key: str, call: Callable[[OnToken], Completion]) -> Prefetch:
    """Ask for the answer ``key`` now: ``call(on_token)`` runs on a thread of its own. An answer
    already waiting under the same key is withdrawn first, and so is any unclaimed past
    ``UNCLAIMED_S``."""
    prefetch = Prefetch(key)
    with _lock:
        now = time.monotonic()
        stale = [waiting for waiting in _waiting.values()
                 if waiting.key == key or now - waiting.started > UNCLAIMED_S]
    for waiting in stale:
        waiting.cancel()
    with _lock:
        _waiting[key] = prefetch
    threading.Thread(target=prefetch._run, args=(call,), name="prefetch", daemon=True).start()
    return prefetch


def claim(key: str) -> Prefetch | None:
    """The answer started for ``key`` (the caller's to ``follow``), or None: ask the model."""
    with _lock:
        prefetch = _waiting.pop(key, None)
    if prefetch is None or time.monotonic() - prefetch.started > UNCLAIMED_S:
        if prefetch is not None:
            prefetch.cancel()
        return None
    return prefetch if prefetch._claim() else None


def waiting() -> int:
    """How many answers wait to be claimed (for the tests)."""
    with _lock:
        return len(_waiting)
