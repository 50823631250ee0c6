"""A live reply: spoken and drawn one sentence at a time, each a playable video the moment it exists.

``LiveTake`` is one reply's take. ``say(sentence)`` speaks the sentence with the persona's voice,
measures the speech (``analysis.analyse``) and draws its frames with the renderer's stream
(``Renderer.open_stream``: the face goes on from where the last sentence left it), encoded with
the speech in the same ffmpeg pass into a small MP4 (H.264 and AAC, index at the front) — a
``Segment`` a player can start at once while the model is still writing the next sentence.
``finish(out)`` makes the whole reply one MP4 from the same pieces: their video streams joined as
they are (no re-encoding, so every frame is the frame that was shown) and the speech joined
sample for sample, then encoded once — what History keeps.

Each sentence's speech is padded with silence to a whole number of frames, and at least
``SENTENCE_GAP_S`` (the pause a speaker leaves between sentences), so its video and its sound are
exactly as long as each other and the pieces join without a gap or an overlap: the whole reply's
duration is the sum of its segments'.

A sentence the voice cannot say (only emoji or symbols) is skipped: ``say`` returns None.

Each sentence's words are timed as a render's are (the voice's phoneme timings, else spread over
its voiced spans) and kept on the take's clock (``words``), so the whole reply gets captions like
any render (``captions``).

While it listens, the face should not freeze: ``idle_clip`` is a short loop of it blinking and
swaying a little with the mouth at rest, drawn by the same stream, made once per portrait.
``timings`` on each segment break its cost down (speech, analysis, render, packaging) for the
latency benchmark; ``ready_s`` is when it was ready, from the take's ``started`` clock (the
moment the user's turn ended, when the caller passes it).

The take and the idle loop are drawn at the size the caller gives (``max_side``: the studio's
``settings.max_side``, as every rendered video is); they have no size of their own, so a studio
set to draw small draws its live replies and its listening face small too.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .analysis import analyse
from .captions import Captions, TimedWord, cues_from_words, display_words, estimated_words
from .controls import Controls
from .errors import BadInput
from .files import file_sha256
from .media import FPS, mux, run_ffmpeg
from .render.base import Renderer
from .speech.base import Voice
from .speech.stage import speakable
from .speech.words import word_timings
from .speech.wav import peak_dbfs, write_wav

LIVE_KIND = "live"  # the job kind of a reply spoken live (``pipeline.converse``); such a job cannot be resumed
SENTENCE_GAP_S = 0.12  # silence after each sentence: the breath between two sentences
SILENT_DBFS = -60.0  # a synthesis quieter than this said nothing


@dataclass
class Segment:
    """One sentence of a live reply, playable on its own (``video``: H.264 + AAC)."""

    index: int
    text: str
    video: Path
    start_s: float  # where it starts in the whole reply
    duration_s: float
    frames: int
    ready_s: float  # from the take's start to this segment being playable
    timings: dict[str, float] = field(default_factory=dict)  # speech, analysis, render (with its sound), seconds

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "video": str(self.video)}


class LiveTake:
    """One live reply's take; see the module docstring."""

    def __init__(self, *, portrait: Path, controls: Controls, voice: Voice, renderer: Renderer, folder: Path,
                 max_side: int, fps: int = FPS, seed: int = 0, settings=None,
                 started: float | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.voice = voice
        self.fps = int(fps)
        self.started = time.perf_counter() if started is None else started
        self.stream = renderer.open_stream(Path(portrait), controls, fps=self.fps, seed=seed, max_side=max_side,
                                           settings=settings)
        self.segments: list[Segment] = []
        self.words: list[TimedWord] = []  # every sentence's words, timed on the whole reply's clock
        self._pieces: list[tuple[Path, np.ndarray]] = []  # (segment, its padded speech)
        self._sample_rate: int | None = None

    @property
    def duration_s(self) -> float:
        return sum(segment.duration_s for segment in self.segments)

    def say(self, sentence: str) -> Segment | None:
        """``sentence`` spoken and drawn as the next segment, or None when there is nothing to say."""
        text = " ".join(speakable(sentence).split())
        if not any(ch.isalnum() for ch in text):
            return None
        index = len(self.segments)
        clock = time.perf_counter()
        synthesis = self.voice.synthesize(text)
        if len(synthesis.samples) == 0 or peak_dbfs(synthesis.samples) < SILENT_DBFS:
            return None
        if self._sample_rate not in (None, synthesis.sample_rate):
            raise BadInput(f"the voice changed its sample rate mid-reply "
                           f"({self._sample_rate} → {synthesis.sample_rate})")
        self._sample_rate = rate = synthesis.sample_rate
        samples = _padded(np.asarray(synthesis.samples, np.float32), rate, self.fps)
        wav = write_wav(self.folder / f"speech-{index:03d}.wav", samples, rate)
        timings = {"speech": time.perf_counter() - clock}

        clock = time.perf_counter()
        analysis = analyse(wav, fps=self.fps)
        timings["analysis"] = time.perf_counter() - clock

        clock = time.perf_counter()
        video = self.folder / f"segment-{index:03d}.mp4"
        phonemes = [timing.to_dict() for timing in synthesis.phonemes] if synthesis.phonemes else None
        frames = len(samples) * self.fps // rate
        self.stream.segment(video, n_frames=frames, envelope=analysis.envelope, voiced_spans=analysis.voiced_spans,
                            phonemes=phonemes, audio=wav)
        timings["render"] = time.perf_counter() - clock

        offset = self.duration_s
        timed = word_timings(text, synthesis.phonemes) if synthesis.phonemes else None
        said = display_words(text, timed) if timed else estimated_words(text, analysis.voiced_spans, frames / self.fps)
        self.words.extend(TimedWord(word.text, word.start + offset, word.end + offset) for word in said)
        segment = Segment(index=index, text=sentence, video=video, start_s=round(offset, 5),
                          duration_s=round(frames / self.fps, 5), frames=frames,
                          ready_s=round(time.perf_counter() - self.started, 4),
                          timings={name: round(seconds, 4) for name, seconds in timings.items()})
        self.segments.append(segment)
        self._pieces.append((video, samples))
        return segment

    def finish(self, out: Path) -> Path:
        """The whole reply as one MP4 at ``out`` (see the module docstring)."""
        if not self._pieces:
            raise BadInput("nothing was said, so there is no video to keep")
        out = Path(out)
        listing = self.folder / "pieces.txt"
        listing.write_text("".join(f"file '{piece.name}'\n" for piece, _ in self._pieces))
        joined = self.folder / "whole-video.mp4"
        run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0:v:0", "-c", "copy", str(joined)],
                   what="joining the reply's pieces")  # their pictures; the sound is joined from the samples
        speech = write_wav(self.folder / "whole-speech.wav", np.concatenate([s for _, s in self._pieces]),
                           int(self._sample_rate or 0))
        mux(joined, speech, out)
        return out

    def captions(self) -> Captions:
        """The whole reply's captions, from every sentence's timed words."""
        return Captions(cues=tuple(cues_from_words(self.words, self.duration_s)), source="tts", words=tuple(self.words))

    def close(self) -> None:
        self.stream.close()


def _padded(samples: np.ndarray, rate: int, fps: int) -> np.ndarray:
    """``samples`` with ``SENTENCE_GAP_S`` of silence or more after them, to a whole number of frames."""
    minimum = len(samples) + round(SENTENCE_GAP_S * rate)
    frames = -(-minimum * fps // rate)  # ceil
    total = -(-frames * rate // fps)  # ceil: total·fps ≥ frames·rate, so exactly ``frames`` whole frames
    return np.concatenate([samples, np.zeros(total - len(samples), np.float32)])


IDLE_SECONDS = 3.0  # played forwards then backwards: a 6 s loop with no jump at either end
IDLE_MIN_TILT = 0.3  # a listener's head sways a little even when the persona holds it still


def idle_clip(portrait: Path, controls: Controls, renderer: Renderer, folder: Path, *, max_side: int,
              fps: int = FPS, seed: int = 0, settings=None) -> Path:
    """A loop of the face listening — blinking, swaying a little, the mouth at rest — made once per
    portrait (its content), controls, renderer and size, and kept in ``folder``.

    The take is drawn forwards and then backwards, so the loop's last frame is its first: a player
    that loops it never shows a jump. A renderer that does not stream has no idle take: its
    ``open_stream`` says why (``BackendUnavailable``)."""
    calm = controls.merge({"head_tilt": max(controls.head_tilt, IDLE_MIN_TILT)})
    key = hashlib.sha256(f"{file_sha256(Path(portrait))}|{calm.to_dict()}|{renderer.name}|{fps}|{seed}|{int(max_side)}"
                         .encode()).hexdigest()[:16]
    out = Path(folder) / f"idle-{key}.mp4"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    stream = renderer.open_stream(Path(portrait), calm, fps=fps, seed=seed, max_side=max_side, settings=settings)
    forwards = out.with_name(f"{out.stem}-forwards.mp4")
    try:
        stream.segment(forwards, n_frames=round(IDLE_SECONDS * fps))
        run_ffmpeg(["-i", str(forwards), "-filter_complex", "[0:v]reverse[back];[0:v][back]concat=n=2:v=1[v]",
                    "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                    "-movflags", "+faststart", str(out.with_suffix(".partial.mp4"))], what="making the idle loop")
        out.with_suffix(".partial.mp4").replace(out)
    finally:
        forwards.unlink(missing_ok=True)
        out.with_suffix(".partial.mp4").unlink(missing_ok=True)
        stream.close()
    return out
