"""Hands-free turns: when someone starts talking into the microphone, and when their question is over.

The Live tab can stream the microphone to the server in short chunks (Gradio's streaming audio).
A ``TurnDetector`` per listening session reads them with the Silero voice-activity model that ships
inside faster-whisper's wheel (nothing is downloaded): 32 ms windows at 16 kHz, a speech
probability each, with hysteresis (speech from ``THRESHOLD`` up, quiet below ``QUIET_THRESHOLD``).
``feed`` returns what happened in the chunk:

- ``speech``: someone started talking (``ONSET_S`` of speech). It is the barge-in signal, and a reply
  that is playing stops.
- ``turn``: speech followed by ``END_SILENCE_S`` of quiet. The question is the recorded audio at the
  microphone's own rate, from ``PRE_ROLL_S`` before the first word to the end of the last, ready to
  transcribe. A blip shorter than ``MIN_TURN_S`` (a cough, a click) is not a turn.
  Someone who goes on talking within ``CONTINUE_S`` of a turn's end was only pausing. Their next
  turn starts where the one before did (``continues`` is set), so the question is asked whole.
  The answer to its first half has been stopped by the ``speech`` that came before it.
- ``pause``: the speech stopped ``EARLY_S`` ago. The question may be over, or this is a breath: it
  carries the audio the turn would have if it ended here (same ``started_s``, ``ended_s`` and
  samples), so that it can be transcribed while the end-of-turn pause is still being waited for
  (``pipeline.hearing``). A turn that then ends without more speech has the same ``ended_s``.
- ``too_long``: no pause for ``MAX_TURN_S``. A monologue is not a question. It is dropped, and the
  detector waits for quiet before it listens again.

Times are audio times, seconds since listening started, so they do not depend on how late a chunk
arrives. A turn's ``ended_s`` is when its speech stopped. The detector answers at ``at_s``, one
end-of-turn pause later, and the benchmark counts that wait as the "VAD" part of the latency.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BackendUnavailable
from .speech.wav import mono_float

RATE = 16_000  # the VAD model's rate
WINDOW = 512  # samples per VAD window at RATE (32 ms)
THRESHOLD = 0.5  # speech from here up
QUIET_THRESHOLD = 0.35  # once talking, quiet only below this (hysteresis: no flicker mid-word)
ONSET_S = 0.096  # three windows of speech: someone is talking (a click is one window)
END_SILENCE_S = 0.6  # the pause that ends a question: longer than a breath between phrases
MIN_TURN_S = 0.25  # less speech than this is a blip, not a question
PRE_ROLL_S = 0.3  # kept before the first word, so its onset is not clipped
MAX_TURN_S = 60.0  # as the push-to-talk limit (live_tab.MAX_QUESTION_S)
CONTINUE_S = 1.5  # talking again this soon after a turn ended goes on with that question
EARLY_S = 0.15  # quiet this long may be the end: say so (``pause``), longer than the gaps inside words


@dataclass
class TurnEvent:
    kind: str  # "speech" | "pause" | "turn" | "too_long"
    at_s: float  # audio time the detector knew it
    started_s: float = 0.0  # turn: when its speech started
    ended_s: float = 0.0  # turn, pause: when its speech stopped
    audio: np.ndarray | None = None  # turn, pause: int16 mono at ``rate``
    rate: int = 0
    continues: bool = False  # turn: it goes on with the turn before (which it includes)


CONTEXT = 64  # samples of the window before that the model reads with each window


class SileroVAD:
    """The Silero VAD model file from faster-whisper's wheel, read as a stream.

    The model is recurrent: it reads a batch of windows one after another, carrying its state
    (``h``, ``c``) from each window to the next. Each window goes in with the last ``CONTEXT``
    samples of the window before it. faster-whisper's own wrapper starts from a fresh state on
    every call, which suits a whole file but not a microphone heard in pieces. So this class keeps
    an ``onnxruntime`` session of its own over the same file, and a ``VADState`` per stream. A
    stream read in pieces then scores exactly as if it had been read whole."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1  # 0.2 s of audio is ~7 windows: threads would cost more than they save
        options.log_severity_level = 4
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"],
                                                    sess_options=options)

    def probabilities(self, state: "VADState", windows: np.ndarray) -> np.ndarray:
        """One speech probability per ``WINDOW`` of ``windows`` (float32 at ``RATE``); ``state`` moves on."""
        batch = windows.reshape(-1, WINDOW)
        context = np.concatenate([state.tail[None, :], batch[:-1, -CONTEXT:]])
        out, state.h, state.c = self.session.run(
            None, {"input": np.concatenate([context, batch], axis=1).astype(np.float32), "h": state.h, "c": state.c})
        state.tail = batch[-1, -CONTEXT:].copy()
        return np.asarray(out, np.float32).reshape(-1)


@dataclass
class VADState:
    """Where one stream is: the model's memory, and the end of the last window read."""

    h: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 128), np.float32))
    c: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 128), np.float32))
    tail: np.ndarray = field(default_factory=lambda: np.zeros(CONTEXT, np.float32))


@functools.lru_cache(maxsize=1)
def vad_model() -> SileroVAD:
    """The Silero VAD in faster-whisper's wheel, loaded once (``run`` is thread-safe; each stream has
    its own ``VADState``). Nothing is downloaded: no wheel model, no hands-free listening."""
    try:
        from faster_whisper.utils import get_assets_path
    except ImportError as error:
        raise BackendUnavailable("Hands-free listening needs faster-whisper (pip install faster-whisper) — "
                                 "use push to talk instead.") from error
    found = sorted(Path(get_assets_path()).glob("silero_vad*.onnx"))  # its name changes with the version
    if not found:
        raise BackendUnavailable("faster-whisper's wheel has no Silero VAD model — use push to talk instead.")
    try:
        return SileroVAD(found[-1])
    except ImportError as error:
        raise BackendUnavailable("Hands-free listening needs onnxruntime (pip install onnxruntime) — "
                                 "use push to talk instead.") from error


class ToVADRate:
    """The microphone's audio at ``RATE``, chunk by chunk, with nothing lost or doubled at the joins.

    A whole-number ratio (48 kHz, 32 kHz) is decimated by averaging, which is a rough low-pass
    filter. Any other rate is interpolated linearly. Either way, what is left over at the end of a
    chunk is carried into the next one, so the audio clock does not drift with the chunk size.
    That is good enough for detecting a voice, which is all this copy is for: the question keeps
    the microphone's own samples."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._left = np.zeros(0, np.float32)  # the microphone's samples not yet used
        self._position = 0.0  # where (in _left) the next sample at RATE falls, when interpolating

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        audio = np.concatenate([self._left, mono_float(samples)])
        if self.rate == RATE:
            self._left = audio[:0]
            return audio
        if self.rate % RATE == 0:
            step = self.rate // RATE
            usable = len(audio) - len(audio) % step
            self._left = audio[usable:]
            return audio[:usable].reshape(-1, step).mean(axis=1)
        step = self.rate / RATE
        count = max(0, int(np.floor((len(audio) - 1 - self._position) / step)) + 1) if len(audio) else 0
        positions = self._position + step * np.arange(count)
        out = np.interp(positions, np.arange(len(audio)), audio).astype(np.float32)
        following = self._position + step * count  # the next position, in this buffer's samples
        used = min(len(audio), int(np.floor(following)))
        self._left, self._position = audio[used:], following - used
        return out


def to_vad_rate(samples: np.ndarray, rate: int) -> np.ndarray:
    """A whole recording at ``RATE`` (see ``ToVADRate``)."""
    return ToVADRate(rate)(samples)


def to_int16_mono(samples: np.ndarray) -> np.ndarray:
    audio = np.asarray(samples)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if np.issubdtype(audio.dtype, np.floating):
        audio = np.clip(audio, -1.0, 1.0) * 32767.0
    return audio.astype(np.int16)


class TurnDetector:
    """One listening session's turns (see the module docstring). Not thread-safe: one stream feeds it."""

    def __init__(self, model: Any | None = None, *, end_silence_s: float = END_SILENCE_S,
                 max_turn_s: float = MAX_TURN_S) -> None:
        self._model = model if model is not None else vad_model()
        self.end_silence_s = end_silence_s
        self.max_turn_s = max_turn_s
        self.rate = 0  # the microphone's, from its first chunk
        self._pending = np.zeros(0, np.float32)  # at RATE, not yet a whole window
        self._state = VADState()
        self._resample: ToVADRate | None = None
        self._windows = 0  # windows read so far: the audio clock
        self._chunks: list[np.ndarray] = []  # the microphone's samples: pre-roll, or the turn so far
        self._kept_from = 0  # the microphone sample index of _chunks[0][0]
        self._received = 0  # microphone samples received
        self._talking = False  # inside speech (hysteresis state)
        self._run = 0  # consecutive windows of speech, while not talking
        self._started: float | None = None  # the turn's first speech
        self._last_speech = 0.0  # the end of its latest speech window
        self._speech_s = 0.0  # how much of the turn is speech
        self._waiting_for_quiet = False  # after a too-long turn
        self._last_turn: tuple[float, float, float] | None = None  # (started, ended, speech) of the turn before
        self._continuing = False
        self._paused_at: float | None = None  # the speech end the last ``pause`` was for

    @property
    def received_s(self) -> float:
        """Seconds of the microphone received."""
        return self._received / self.rate if self.rate else 0.0

    @property
    def listening_s(self) -> float:
        return self._windows * WINDOW / RATE

    def feed(self, rate: int, samples: np.ndarray) -> list[TurnEvent]:
        """Read one chunk from the microphone; what happened in it, in order."""
        if not rate or rate <= 0:
            raise ValueError("a chunk needs its sample rate")
        if self.rate and rate != self.rate:
            raise ValueError(f"the microphone's rate changed from {self.rate} to {rate} Hz")
        self.rate = rate
        raw = to_int16_mono(samples)
        self._chunks.append(raw)
        self._received += len(raw)
        if self._resample is None:
            self._resample = ToVADRate(rate)
        self._pending = np.concatenate([self._pending, self._resample(samples)])
        whole = len(self._pending) - len(self._pending) % WINDOW
        if not whole:
            return []
        windows, self._pending = self._pending[:whole], self._pending[whole:]
        probabilities = self._model.probabilities(self._state, windows)
        events: list[TurnEvent] = []
        for probability in probabilities:
            self._windows += 1
            event = self._step(float(probability))
            if event is not None:
                events.append(event)
        if self._started is None and (self._last_turn is None
                                      or self.listening_s - self._last_turn[1] > CONTINUE_S):
            self._trim()  # (a turn that may yet go on keeps its audio)
        return events

    def _step(self, probability: float) -> TurnEvent | None:
        now = self.listening_s  # the end of this window
        speech = probability >= (QUIET_THRESHOLD if self._talking else THRESHOLD)
        if self._waiting_for_quiet:
            if not speech and now - self._last_speech >= self.end_silence_s:
                self._waiting_for_quiet = False
            elif speech:
                self._last_speech = now
            return None
        if speech:
            self._last_speech = now
            if self._started is not None:
                self._speech_s += WINDOW / RATE
            if not self._talking:
                self._run += 1
                if self._run * WINDOW / RATE >= ONSET_S - 1e-9:
                    self._talking = True
                    if self._started is None:  # a new turn (talking again after a breath is the same one)
                        onset = now - self._run * WINDOW / RATE
                        self._started, self._speech_s = onset, self._run * WINDOW / RATE
                        self._continuing = self._last_turn is not None and onset - self._last_turn[1] <= CONTINUE_S
                        if self._continuing:
                            self._started = self._last_turn[0]
                            self._speech_s += self._last_turn[2]
                        return TurnEvent("speech", at_s=now, started_s=onset)
            if self._started is not None and now - self._started > self.max_turn_s:
                return self._too_long(now)
            return None
        self._run = 0
        self._talking = False
        if self._started is None:
            return None
        quiet = now - self._last_speech
        if quiet >= self.end_silence_s - 1e-9:
            return self._finish(now)
        if quiet >= EARLY_S - 1e-9 and self._paused_at != self._last_speech and self._speech_s >= MIN_TURN_S:
            self._paused_at = self._last_speech
            return TurnEvent("pause", at_s=now, started_s=self._started, ended_s=self._last_speech, rate=self.rate,
                             continues=self._continuing, audio=self._samples(self._started - PRE_ROLL_S,
                                                                             self._last_speech))
        return None

    def _finish(self, now: float) -> TurnEvent | None:
        started, ended, speech_s, continues = self._started, self._last_speech, self._speech_s, self._continuing
        self._started, self._speech_s, self._continuing = None, 0.0, False
        if speech_s < MIN_TURN_S:
            return None
        self._last_turn = (started, ended, speech_s)
        return TurnEvent("turn", at_s=now, started_s=started, ended_s=ended, rate=self.rate, continues=continues,
                         audio=self._samples(started - PRE_ROLL_S, ended))

    def _too_long(self, now: float) -> TurnEvent:
        self._started, self._speech_s, self._talking, self._run = None, 0.0, False, 0
        self._waiting_for_quiet, self._last_turn, self._continuing = True, None, False
        self._chunks, self._kept_from = [], self._received
        return TurnEvent("too_long", at_s=now)

    def _samples(self, start_s: float, end_s: float) -> np.ndarray:
        """The microphone's samples between two audio times (as far as they are still kept)."""
        kept = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        first = max(0, int(round(start_s * self.rate)) - self._kept_from)
        last = max(first, int(round(end_s * self.rate)) - self._kept_from)
        return kept[first:last].copy()

    def _trim(self) -> None:
        """Between turns keep only the pre-roll (and the chunk it starts in)."""
        keep = int(PRE_ROLL_S * self.rate) + 1
        while len(self._chunks) > 1 and self._received - self._kept_from - len(self._chunks[0]) >= keep:
            self._kept_from += len(self._chunks.pop(0))
