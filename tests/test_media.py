"""The bundled ffmpeg: streaming writer, mux, probe and full-decode check, on real encodes."""

import numpy as np
import pytest

from audio_fixtures import write_wav
from pipeline.errors import StudioError
from pipeline.media import VideoWriter, is_faststart, mux, probe, verify_video


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


# -- verify_video: the whole file decodes, every frame is there ----------------------------------
@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """50 frames of noise (so damage anywhere hits picture data) with a tone: H.264 + AAC, faststart."""
    folder = tmp_path_factory.mktemp("clip")
    rng = np.random.default_rng(7)
    with VideoWriter(folder / "picture.mp4", width=128, height=96) as writer:
        for _ in range(50):
            writer.write(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))
    _tone(folder / "tone.wav", 2.0)
    mux(folder / "picture.mp4", folder / "tone.wav", folder / "clip.mp4")
    return folder


def test_a_clean_file_passes_with_its_frame_count(clip):
    check = verify_video(clip / "clip.mp4", frames=50, audio=True)
    assert (check.frames, check.audio) == (50, True) and abs(check.duration_s - 2.0) <= 0.04
    assert verify_video(clip / "picture.mp4", audio=False).frames == 50


def test_a_truncated_file_is_caught(clip, tmp_path):
    data = (clip / "clip.mp4").read_bytes()
    (tmp_path / "output.mp4").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(StudioError, match=r"^output.mp4 does not decode cleanly: \d+ decode errors?, first: \S"):
        verify_video(tmp_path / "output.mp4", frames=50, audio=True)


def test_garbage_in_the_middle_of_the_media_data_is_caught_though_the_header_is_fine(clip, tmp_path):
    data = bytearray((clip / "clip.mp4").read_bytes())
    mdat = data.index(b"mdat")
    middle = mdat + (len(data) - mdat) // 2
    data[middle:middle + 4000] = np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    (tmp_path / "output.mp4").write_bytes(bytes(data))
    damaged = probe(tmp_path / "output.mp4")  # what the old check looked at: all as it should be
    assert (damaged.video.codec, damaged.audio.codec, abs(damaged.duration_s - 2.0) <= 0.04) == ("h264", "aac", True)
    with pytest.raises(StudioError, match=r"^output.mp4 does not decode cleanly: \d+ decode errors?, first: "):
        verify_video(tmp_path / "output.mp4", frames=50, audio=True)


def test_a_wrong_frame_count_and_a_missing_audio_stream_are_caught(clip):
    with pytest.raises(StudioError, match=r"^clip.mp4 has 50 frames, expected 51$"):
        verify_video(clip / "clip.mp4", frames=51)
    with pytest.raises(StudioError, match=r"^render.mp4 has no audio stream$"):
        verify_video(clip / "picture.mp4", audio=True, name="render.mp4")


def test_a_file_that_is_not_a_video_is_caught(tmp_path):
    (tmp_path / "output.mp4").write_bytes(b"not a video at all")
    with pytest.raises(StudioError, match=r"^output.mp4 does not decode: it is not a readable media file$"):
        verify_video(tmp_path / "output.mp4")
