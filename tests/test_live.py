"""A live reply's take: real voice (Piper), real analysis, the embedded renderer's stream, ffmpeg.

What a viewer of a live reply relies on: every segment plays on its own with its sound, the
sentences follow each other without a gap or an overlap, and the reply History keeps is the
segments — the same frames, the same speech — joined.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from imageio_ffmpeg import read_frames

from pipeline.controls import Controls
from pipeline.errors import BackendUnavailable, BadInput
from pipeline.live import SENTENCE_GAP_S, LiveTake
from pipeline.media import probe
from pipeline.render import renderers
from pipeline.speech.tts import get_voice
from pipeline.speech.wav import read_wav

ASTRONAUT = Path(__file__).resolve().parents[1] / "assets" / "astronaut.png"
SENTENCES = ["Hello, I am your guide today.", "🙂", "Ask me anything about the museum!"]


def _frames(path: Path) -> list[np.ndarray]:
    reader = read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    return [np.frombuffer(frame, np.uint8).reshape(height, width, 3) for frame in reader]


@pytest.fixture(scope="module")
def take(tmp_path_factory, settings_module):
    folder = tmp_path_factory.mktemp("live")
    live = LiveTake(portrait=ASTRONAUT, controls=Controls(head_tilt=0.6), voice=get_voice(None),
                    renderer=renderers.create("embedded", settings_module), folder=folder,
                    max_side=settings_module.max_side)
    said = [live.say(sentence) for sentence in SENTENCES]
    whole = live.finish(folder / "reply.mp4")
    return live, said, whole


@pytest.fixture(scope="module")
def settings_module(tmp_path_factory):
    from pipeline.settings import resolve

    return resolve(dotenv=False)


def test_each_sentence_is_a_playable_segment_with_sound(take):
    live, said, _ = take
    assert said[1] is None  # an emoji alone: nothing to say
    segments = [segment for segment in said if segment is not None]
    assert [segment.index for segment in segments] == [0, 1]
    assert [segment.text for segment in segments] == [SENTENCES[0], SENTENCES[2]]
    for segment in segments:
        info = probe(segment.video)
        assert info.video.codec == "h264" and info.audio is not None and info.audio.codec == "aac"
        assert len(_frames(segment.video)) == segment.frames
        assert segment.duration_s == pytest.approx(segment.frames / 25)
        assert segment.duration_s > 1.0  # a real sentence's worth of speech
        assert set(segment.timings) == {"speech", "analysis", "render"}
        assert segment.ready_s >= sum(segment.timings.values()) * 0.99
    assert segments[1].start_s == pytest.approx(segments[0].duration_s)
    assert segments[0].ready_s < segments[1].ready_s


def test_the_whole_reply_is_the_segments_joined(take):
    live, said, whole = take
    segments = [segment for segment in said if segment is not None]
    info = probe(whole)
    assert info.audio is not None
    frames = _frames(whole)
    pieces = [frame for segment in segments for frame in _frames(segment.video)]
    assert len(frames) == sum(segment.frames for segment in segments) == len(pieces)
    assert all(np.array_equal(a, b) for a, b in zip(frames, pieces))  # not re-encoded: the frames shown
    assert info.duration_s == pytest.approx(live.duration_s, abs=0.05)


def test_speech_is_continuous_and_padded_to_whole_frames(take):
    live, said, _ = take
    speech, rate = read_wav(live.folder / "whole-speech.wav")
    assert len(speech) / rate == pytest.approx(live.duration_s, abs=1 / rate)
    for segment in (s for s in said if s is not None):
        piece, _ = read_wav(live.folder / f"speech-{segment.index:03d}.wav")
        assert len(piece) * 25 // rate == segment.frames
        tail = piece[-round(SENTENCE_GAP_S * rate):]
        assert np.abs(tail).max() < 0.01  # the breath after the sentence is silence


def test_a_renderer_that_does_not_stream_says_why(tmp_path, settings_module):
    with pytest.raises(BackendUnavailable, match="does not stream"):
        LiveTake(portrait=ASTRONAUT, controls=Controls(), voice=get_voice(None),
                 renderer=renderers.create("heygen", settings_module), folder=tmp_path, max_side=512)


def test_nothing_said_is_no_video(tmp_path, settings_module):
    live = LiveTake(portrait=ASTRONAUT, controls=Controls(), voice=get_voice(None),
                    renderer=renderers.create("embedded", settings_module), folder=tmp_path, max_side=512)
    assert live.say("…") is None
    with pytest.raises(BadInput, match="nothing was said"):
        live.finish(tmp_path / "reply.mp4")


def test_the_idle_loop_is_the_face_listening_and_joins_itself(tmp_path, settings_module):
    from pipeline.live import IDLE_SECONDS, idle_clip

    renderer = renderers.create("embedded", settings_module)
    clip = idle_clip(ASTRONAUT, Controls(head_tilt=0.0, blink_rate=0.8), renderer, tmp_path, max_side=512)
    frames = _frames(clip)
    assert len(frames) == 2 * round(IDLE_SECONDS * 25) and probe(clip).audio is None
    def apart(a, b):
        return np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()

    assert apart(frames[-1], frames[0]) < 1.0  # looping back shows the same face: coding noise, no jump
    assert max(apart(frame, frames[0]) for frame in frames) > 2.0  # and it moves (blinks, sways)
    again = idle_clip(ASTRONAUT, Controls(head_tilt=0.0, blink_rate=0.8), renderer, tmp_path, max_side=512)
    assert again == clip and again.stat().st_mtime == clip.stat().st_mtime  # made once
    with pytest.raises(BackendUnavailable, match="does not stream"):
        idle_clip(ASTRONAUT, Controls(), renderers.create("heygen", settings_module), tmp_path, max_side=512)


def _long_side(video: Path) -> int:
    info = probe(video).video
    return max(info.width, info.height)


def test_the_take_and_the_idle_loop_are_drawn_at_the_size_asked_for(take, tmp_path, settings_module):
    """A studio set to draw at 256 px draws its live replies and its listening face at 256 px, not
    at the renderer's own default (the 512 px take above is bigger, so a size ignored shows)."""
    from pipeline.live import idle_clip

    _, said, _ = take
    assert _long_side(said[0].video) > 256
    renderer = renderers.create("embedded", settings_module)
    small = LiveTake(portrait=ASTRONAUT, controls=Controls(head_tilt=0.6), voice=get_voice(None),
                     renderer=renderer, folder=tmp_path / "small", max_side=256)
    segment = small.say(SENTENCES[0])
    assert _long_side(segment.video) <= 256
    assert _long_side(small.finish(tmp_path / "small.mp4")) <= 256
    small.close()
    calm = Controls(blink_rate=0.8)
    loops = {size: idle_clip(ASTRONAUT, calm, renderer, tmp_path / "idle", max_side=size) for size in (256, 512)}
    assert loops[256] != loops[512]  # one loop per size: the smaller one is not the bigger one's cached copy
    assert _long_side(loops[256]) <= 256 < _long_side(loops[512])
