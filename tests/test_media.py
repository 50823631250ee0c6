"""The bundled ffmpeg: streaming writer, mux and probe, on real encodes."""

import numpy as np
import pytest

from audio_fixtures import write_wav
from pipeline.errors import StudioError
from pipeline.media import VideoWriter, is_faststart, mux, probe


def _tone(path, seconds, rate=22050):
    return write_wav(path, 0.25 * np.sin(np.arange(int(rate * seconds)) / rate * 2 * np.pi * 220), rate)


def test_stream_frames_then_mux_gives_a_browser_playable_mp4(tmp_path):
    frames = 50
    with VideoWriter(tmp_path / "v.mp4", width=64, height=48) as writer:
        for i in range(frames):
            writer.write(np.full((48, 64, 3), i * 5, np.uint8))
    _tone(tmp_path / "a.wav", frames / 25)
    mux(tmp_path / "v.mp4", tmp_path / "a.wav", tmp_path / "out.mp4")
    info = probe(tmp_path / "out.mp4")
    assert (info.video.codec, info.video.pix_fmt, info.video.width, info.video.height, info.video.fps) == ("h264", "yuv420p", 64, 48, 25.0)
    assert (info.audio.codec, info.audio.sample_rate) == ("aac", 22050)
    assert abs(info.duration_s - 2.0) <= 0.04
    assert is_faststart(tmp_path / "out.mp4")


def test_failure_inside_the_writer_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "v.mp4", width=64, height=48) as writer:
            writer.write(np.zeros((48, 64, 3), np.uint8))
            raise RuntimeError("renderer crashed")
    assert list(tmp_path.iterdir()) == []


def test_wrong_frame_shape_and_odd_size_are_refused(tmp_path):
    with pytest.raises(ValueError, match="even dimensions"):
        VideoWriter(tmp_path / "v.mp4", width=63, height=48)
    with pytest.raises(ValueError, match="48x64x3 uint8"):
        with VideoWriter(tmp_path / "v.mp4", width=64, height=48) as writer:
            writer.write(np.zeros((48, 64), np.uint8))


def test_probe_rejects_non_media(tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"not a video at all")
    with pytest.raises(StudioError, match="not a readable media file"):
        probe(tmp_path / "x.mp4")
