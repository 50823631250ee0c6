"""A live take with the embedded renderer: pieces that continue each other (issue 15).

A live reply is drawn sentence by sentence with idling in between. These tests hold the pieces to
what a viewer would notice: a piece's first frame continues the last piece's last frame (no jump
of the head, no reset of a blink), the frames add up, and planning in pieces is planning the take
at once. Real portrait, face mesh and ffmpeg; the speech is a synthetic envelope.
"""

from __future__ import annotations

from dataclasses import astuple
from pathlib import Path

import numpy as np
import pytest
from imageio_ffmpeg import read_frames

from pipeline.controls import Controls
from pipeline.errors import BackendUnavailable, BadInput
from pipeline.media import probe
from pipeline.render import renderers
from pipeline.render.embedded import EmbeddedRenderer, MotionPlanner, plan_motion

ASTRONAUT = Path(__file__).resolve().parents[1] / "assets" / "astronaut.png"
FPS = 25



def syllable_envelope(duration_s: float, spans, seed: int = 0) -> np.ndarray:
    """Per-frame loudness: four syllables a second of random strength inside ``spans``, 0 elsewhere."""
    t = np.arange(round(duration_s * FPS)) / FPS
    strength = np.random.default_rng(seed).uniform(0.5, 1.0, len(t))
    inside = np.zeros(len(t), bool)
    for start, end in spans:
        inside |= (t >= start) & (t < end)
    return inside * strength * np.abs(np.sin(4 * np.pi * t))


LIVELY = Controls(blink_rate=0.8, head_tilt=1.0, expression_intensity=0.6, mouth_openness=0.8, eyebrow_raise=0.5,
                  emotion="happy")


def _frames(path: Path) -> list[np.ndarray]:
    reader = read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    return [np.frombuffer(frame, np.uint8).reshape(height, width, 3).astype(np.int16) for frame in reader]


def test_planning_in_pieces_is_planning_the_take_at_once():
    whole_envelope = syllable_envelope(6.0, [(0.5, 2.3), (3.0, 4.8)], seed=3)
    spans = [(0.5, 2.3), (3.0, 4.8)]
    whole = plan_motion(n_frames=150, fps=FPS, envelope=whole_envelope, voiced_spans=spans, controls=LIVELY, seed=7,
                        face_width_px=110)
    planner = MotionPlanner(fps=FPS, controls=LIVELY, seed=7, face_width_px=110)
    pieces = []
    for start, end in [(0, 40), (40, 41), (41, 100), (100, 150)]:  # cuts inside speech and inside silence
        local = [(max(a - start / FPS, 0.0), b - start / FPS) for a, b in spans if b > start / FPS]
        pieces += planner.plan(n_frames=end - start, envelope=whole_envelope[start:end], voiced_spans=local)
    assert planner.frame == 150
    assert [astuple(state) for state in pieces] == [astuple(state) for state in whole]


def test_idling_keeps_blinking_and_swaying_with_the_mouth_shut():
    planner = MotionPlanner(fps=FPS, controls=LIVELY, seed=1, face_width_px=110)
    idle = planner.plan(n_frames=10 * FPS)
    assert max(state.jaw for state in idle) == 0.0
    assert max(state.blink for state in idle) > 0.9  # at 0.8, several blinks in ten seconds
    rolls = [state.roll_deg for state in idle]
    assert max(rolls) - min(rolls) > 1.0  # not frozen


@pytest.fixture(scope="module")
def take(tmp_path_factory):
    """Three pieces of one take: a sentence, a pause, a sentence — and one fresh take's first piece."""
    folder = tmp_path_factory.mktemp("take")
    stream = EmbeddedRenderer().open_stream(ASTRONAUT, LIVELY, fps=FPS, seed=5)
    sentence = syllable_envelope(2.0, [(0.1, 1.8)], seed=1)
    made = [stream.segment(folder / "0.mp4", n_frames=50, envelope=sentence, voiced_spans=[(0.1, 1.8)]),
            stream.segment(folder / "1.mp4", n_frames=12),
            stream.segment(folder / "2.mp4", n_frames=50, envelope=sentence, voiced_spans=[(0.1, 1.8)])]
    fresh = EmbeddedRenderer().open_stream(ASTRONAUT, LIVELY, fps=FPS, seed=5)
    fresh.segment(folder / "fresh.mp4", n_frames=3)
    return stream, made, [_frames(folder / f"{k}.mp4") for k in range(3)], _frames(folder / "fresh.mp4")


def test_pieces_are_the_frames_asked_for(take):
    stream, made, frames, _ = take
    assert [piece["frames"] for piece in made] == [50, 12, 50] == [len(f) for f in frames]
    assert stream.frames == 112
    assert all(piece["width"] == stream.width and piece["height"] == stream.height for piece in made)


def test_the_joins_do_not_jump(take):
    """Across a join the picture changes like between any two neighbouring frames of a piece; a
    take that started again (the head back upright, the smile gone) would jump far more."""
    _, _, frames, fresh = take
    step = [np.abs(a - b).mean() for piece in frames for a, b in zip(piece, piece[1:])]
    joins = [np.abs(frames[k][-1] - frames[k + 1][0]).mean() for k in range(2)]
    restart = np.abs(frames[2][-1] - fresh[0]).mean()
    print(f"joins {joins}, steps p50 {np.median(step):.2f} max {max(step):.2f}, restart {restart:.2f}")
    assert max(joins) <= 1.25 * max(step)  # a piece starts on a key frame: a little coding noise on top
    assert restart > 3 * max(joins)


def test_a_piece_is_a_video_only_h264_file(tmp_path):
    stream = EmbeddedRenderer().open_stream(ASTRONAUT, LIVELY, fps=FPS)
    stream.segment(tmp_path / "piece.mp4", n_frames=8)
    info = probe(tmp_path / "piece.mp4")
    assert info.video.codec == "h264" and info.audio is None
    with pytest.raises(BadInput, match="n_frames must be positive"):
        stream.segment(tmp_path / "none.mp4", n_frames=0)


def test_renderers_say_whether_they_stream_and_why_not(settings):
    assert renderers.create("embedded", settings).capabilities(settings).streams
    for name in ("sadtalker", "heygen", "did"):
        renderer = renderers.create(name, settings)
        capabilities = renderer.capabilities(settings)
        assert not capabilities.streams and capabilities.whole_reply_only
        assert capabilities.to_dict()["whole_reply_only"] == capabilities.whole_reply_only
        with pytest.raises(BackendUnavailable, match="does not stream: " + capabilities.whole_reply_only[:20]):
            renderer.open_stream(ASTRONAUT, LIVELY, fps=FPS, settings=settings)
