"""The embedded renderer, end to end: real portrait, real face mesh, real ffmpeg; no fakes.

Clips are rendered from a synthetic, syllable-like speech envelope (so these tests do not depend
on the speech modules), decoded back from the MP4 and measured with the face mesh — the same
judgement a person makes by watching: does the mouth follow the speech, stay shut in silence,
and does each control move the face the way its name says?
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from imageio_ffmpeg import read_frames
from PIL import Image
from skimage.metrics import structural_similarity

from pipeline.controls import Controls
from pipeline.errors import BadInput
from pipeline.media import probe
from pipeline.render.embedded import EmbeddedRenderer, FaceAnimator, FrameState, plan_motion
from pipeline.face.mesh import measure, measure_landmarks
from pipeline.face.portrait import MIN_FACE_PX, load_portrait

ASTRONAUT = Path(__file__).resolve().parents[1] / "assets" / "astronaut.png"
FPS = 25
PHRASES = [(0.5, 2.3), (3.0, 4.8)]  # speech, with silence before, between and after
CLIP_S = 6.0
BASE = dict(blink_rate=0.5, head_tilt=0.3, expression_intensity=0.5, mouth_openness=0.7, eyebrow_raise=0.4)


def syllable_envelope(duration_s: float, phrases, seed: int = 0) -> np.ndarray:
    """Per-frame loudness: bursts of 3–5 syllables a second inside the phrases, 0 elsewhere."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(duration_s * FPS)) / FPS
    envelope = np.zeros_like(t)
    for start, end in phrases:
        onset = start
        while onset < end - 0.1:
            offset = min(onset + rng.uniform(0.2, 0.33), end)
            inside = (t >= onset) & (t < offset)
            envelope[inside] = rng.uniform(0.55, 1.0) * np.sin(np.pi * (t[inside] - onset) / (offset - onset)) ** 0.8
            onset = offset
    return envelope


def repeated_phrases(duration_s: float):
    return [(start + k * 6.0, end + k * 6.0) for k in range(int(duration_s // 6) + 1) for start, end in PHRASES
            if start + k * 6.0 < duration_s]


class Clip:
    """A rendered clip, decoded and measured frame by frame."""

    def __init__(self, out: Path, controls: Controls, duration_s: float = CLIP_S, *, seed: int = 0,
                 keep_frames: bool = False):
        self.phrases = repeated_phrases(duration_s)
        self.envelope = syllable_envelope(duration_s, self.phrases, seed)
        self.n_frames = len(self.envelope)
        self.path = out
        started = time.perf_counter()
        self.result = EmbeddedRenderer().render_frames(
            portrait_path=ASTRONAUT, n_frames=self.n_frames, fps=FPS, envelope=self.envelope,
            voiced_spans=self.phrases, controls=controls, out_path=out, seed=seed)
        self.render_s = time.perf_counter() - started
        self.first_frame = None
        self.measures = []
        self.small_frames = []  # half-size copies, kept only when asked for (memory)
        reader = read_frames(str(out))
        meta = next(reader)
        width, height = meta["size"]
        for raw in reader:
            frame = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
            if self.first_frame is None:
                self.first_frame = frame.copy()
            self.measures.append(measure(frame))
            if keep_frames:
                self.small_frames.append(frame[::2, ::2].copy())
        assert all(m is not None for m in self.measures), "the mesh lost the face in a rendered frame"
        self.t = np.arange(len(self.measures)) / FPS

    def series(self, name: str) -> np.ndarray:
        return np.array([getattr(m, name) for m in self.measures])

    @property
    def voiced(self) -> np.ndarray:
        return self.envelope > 0.3


@pytest.fixture(scope="module")
def portrait():
    return load_portrait(ASTRONAUT)


@pytest.fixture(scope="module")
def rest(portrait):
    return measure_landmarks(portrait.face.landmarks)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Render each distinct set of controls once for the whole module."""
    folder = tmp_path_factory.mktemp("clips")
    cache: dict[tuple, Clip] = {}

    def get(duration_s: float = CLIP_S, *, keep_frames: bool = False, **overrides) -> Clip:
        values = {**BASE, **overrides}
        key = (duration_s, keep_frames, tuple(sorted(values.items())))
        if key not in cache:
            out = folder / f"clip{len(cache)}.mp4"
            cache[key] = Clip(out, Controls(**values), duration_s, keep_frames=keep_frames)
        return cache[key]

    return get


# --- the mouth follows the speech ---------------------------------------------------------------

def test_mouth_aperture_follows_the_envelope(clips):
    clip = clips()
    aperture = clip.series("mouth_aperture")
    r = np.corrcoef(aperture, clip.envelope[: len(aperture)])[0, 1]
    print(f"aperture~envelope r={r:.3f}; rendered {clip.n_frames} frames in {clip.render_s:.2f}s")
    assert r >= 0.8  # issue 16: lip aperture follows the speech at r ≥ 0.8 on every portrait


def test_silence_keeps_the_mouth_at_rest(clips, rest):
    clip = clips()
    aperture = clip.series("mouth_aperture")
    # Silent frames at least 0.25 s after the last speech (the mouth closes over ~0.1 s).
    settled = np.array([all(not (start <= t < end + 0.25) for start, end in clip.phrases) for t in clip.t])
    assert settled.sum() > 20
    error = np.abs(aperture[settled] - rest.mouth_aperture)
    print(f"rest aperture {rest.mouth_aperture:.3f}; silent frames max deviation {error.max():.3f}")
    assert error.max() < 0.04


def test_first_frame_is_the_portrait(clips, portrait):
    clip = clips()
    score = structural_similarity(clip.first_frame, portrait.image, channel_axis=2)
    print(f"first-frame SSIM {score:.3f}")
    assert score >= 0.9


def test_outside_the_face_stays_put_when_the_head_is_still(clips, portrait):
    clip = clips(head_tilt=0.0, emotion="happy", expression_intensity=0.9, eyebrow_raise=0.9, keep_frames=True)
    x0, y0, x1, y1 = portrait.face.bbox
    w, h = x1 - x0, y1 - y0
    keep = np.ones(portrait.image.shape[:2], bool)
    keep[max(0, y0 - int(0.45 * h)):y1 + int(0.35 * h), max(0, x0 - int(0.25 * w)):x1 + int(0.25 * w)] = False
    keep = keep[::2, ::2]
    reference = portrait.image[::2, ::2]
    scores = []
    for frame in clip.small_frames:
        _, ssim_map = structural_similarity(frame, reference, channel_axis=2, full=True)
        scores.append(ssim_map.mean(axis=2)[keep].mean())
    print(f"SSIM outside the face: min {min(scores):.3f}")
    assert min(scores) >= 0.9


# --- each control moves its measurement the right way --------------------------------------------

def test_mouth_openness_opens_the_mouth_wider(clips):
    low, high = clips(mouth_openness=0.1), clips(mouth_openness=0.9)
    a_low = low.series("mouth_aperture")[low.voiced].mean()
    a_high = high.series("mouth_aperture")[high.voiced].mean()
    print(f"mean voiced aperture: {a_low:.3f} → {a_high:.3f}")
    assert a_high > a_low + 0.08


def count_blinks(openness: np.ndarray) -> int:
    closed = openness < 0.6 * np.median(openness)
    return int(np.sum(closed[1:] & ~closed[:-1]) + closed[0])


def test_blink_rate_blinks_more_often(clips):
    low, high = clips(10.0, blink_rate=0.1), clips(10.0, blink_rate=0.9)
    n_low, n_high = count_blinks(low.series("eye_openness")), count_blinks(high.series("eye_openness"))
    print(f"blinks in 10 s: {n_low} → {n_high}")
    assert n_high >= n_low + 3


def test_head_tilt_rolls_the_head(clips, rest):
    low, high = clips(head_tilt=0.1), clips(head_tilt=0.9)
    r_low = np.abs(low.series("roll_deg") - rest.roll_deg).mean()
    r_high = np.abs(high.series("roll_deg") - rest.roll_deg).mean()
    print(f"mean |roll|: {r_low:.2f}° → {r_high:.2f}°")
    assert r_high > r_low + 3


def test_eyebrow_raise_lifts_the_brows(clips):
    low, high = clips(eyebrow_raise=0.1), clips(eyebrow_raise=0.9)
    b_low, b_high = low.series("brow_height").mean(), high.series("brow_height").mean()
    print(f"mean brow height: {b_low:.3f} → {b_high:.3f}")
    assert b_high > b_low + 0.02


def test_expression_intensity_deepens_a_happy_smile(clips):
    low = clips(emotion="happy", expression_intensity=0.1)
    high = clips(emotion="happy", expression_intensity=0.9)
    later = low.t > 0.5
    s_low, s_high = low.series("smile")[later].mean(), high.series("smile")[later].mean()
    print(f"mean smile (happy): {s_low:.3f} → {s_high:.3f}")
    assert s_high > s_low + 0.03


def test_sad_turns_the_mouth_corners_down(clips):
    neutral = clips(emotion="neutral", expression_intensity=0.9)
    sad = clips(emotion="sad", expression_intensity=0.9)
    later = sad.t > 0.5
    s_neutral, s_sad = neutral.series("smile")[later].mean(), sad.series("smile")[later].mean()
    print(f"mean smile: neutral {s_neutral:.3f}, sad {s_sad:.3f}")
    assert s_sad < s_neutral - 0.03


# --- the render itself ---------------------------------------------------------------------------

def test_render_writes_an_h264_video_and_reports_the_face(clips):
    clip = clips()
    info = probe(clip.path)
    assert info.video.codec == "h264" and (info.video.width, info.video.height) == (512, 512)
    assert info.audio is None
    assert abs(info.duration_s - clip.n_frames / FPS) < 0.1
    assert len(clip.measures) == clip.n_frames
    assert clip.result["frames"] == clip.n_frames
    assert (clip.result["width"], clip.result["height"]) == (512, 512)
    assert clip.result["face"]["faces_found"] == 1
    x0, y0, x1, y1 = clip.result["face"]["bbox"]
    assert x1 - x0 >= MIN_FACE_PX and y1 > y0


def test_check_inputs_reports_the_face_before_rendering(tmp_path):
    checked = EmbeddedRenderer().check_inputs(portrait_path=ASTRONAUT)
    assert (checked["width"], checked["height"], checked["source_size"]) == (512, 512, [512, 512])
    assert checked["face"]["faces_found"] == 1 and checked["notes"] == []
    json.dumps(checked)  # recorded as the job's inputs.json
    flat = tmp_path / "flat.png"
    Image.new("RGB", (300, 300), (128, 128, 128)).save(flat)
    with pytest.raises(BadInput, match="No face found in 'flat.png'"):
        EmbeddedRenderer().check_inputs(portrait_path=flat)
    with pytest.raises(BadInput, match="No face found in 'my holiday.png'"):  # the name the user knows
        EmbeddedRenderer().check_inputs(portrait_path=flat, display_name="my holiday.png")


def test_render_reports_progress_and_refuses_empty_clips(tmp_path):
    seen = []
    EmbeddedRenderer().render_frames(portrait_path=ASTRONAUT, n_frames=5, fps=FPS, envelope=[0.0] * 5, voiced_spans=[],
                              controls=Controls(), out_path=tmp_path / "p.mp4", progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0
    with pytest.raises(BadInput, match="n_frames"):
        EmbeddedRenderer().render_frames(portrait_path=ASTRONAUT, n_frames=0, fps=FPS, envelope=[], voiced_spans=[],
                                  controls=Controls(), out_path=tmp_path / "e.mp4")
    assert not (tmp_path / "e.mp4").exists()


def test_a_failed_render_leaves_no_video(tmp_path):
    def cancel(fraction):
        if fraction > 0.3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        EmbeddedRenderer().render_frames(portrait_path=ASTRONAUT, n_frames=20, fps=FPS, envelope=[0.5] * 20,
                                  voiced_spans=[(0.0, 1.0)], controls=Controls(), out_path=tmp_path / "c.mp4",
                                  progress=cancel)
    assert list(tmp_path.iterdir()) == []


def test_preview_frames_are_quick(portrait):
    started = time.perf_counter()
    animator = FaceAnimator(portrait)
    built = time.perf_counter() - started
    state = FrameState(jaw=0.6, blink=0.4, brow=0.5, roll_deg=6, sway_x=2, expression=0.7, emotion="surprised")
    animator.frame(state)
    started = time.perf_counter()
    for _ in range(20):
        frame = animator.frame(state)
    per_frame = (time.perf_counter() - started) / 20
    print(f"FaceAnimator: built in {built * 1000:.1f} ms, preview frame {per_frame * 1000:.2f} ms")
    assert frame.shape == portrait.image.shape and frame.dtype == np.uint8
    assert per_frame < 0.25  # generous: timing belongs to the benchmarks


def test_rest_state_is_exactly_the_portrait(portrait):
    animator = FaceAnimator(portrait)
    assert np.array_equal(animator.frame(FrameState()), portrait.image)
    assert np.array_equal(animator.frame(FrameState(emotion="happy")), portrait.image)


# --- motion planning -----------------------------------------------------------------------------

def plan(**overrides):
    envelope = syllable_envelope(CLIP_S, PHRASES)
    controls = Controls(**{**BASE, **overrides})
    return envelope, plan_motion(n_frames=len(envelope), fps=FPS, envelope=envelope, voiced_spans=PHRASES,
                                 controls=controls, seed=3)


def test_plan_starts_at_rest_and_keeps_silence_shut():
    envelope, states = plan()
    assert states[0] == FrameState(emotion="neutral")
    t = np.arange(len(states)) / FPS
    silent = np.array([not any(start <= x < end for start, end in PHRASES) for x in t])
    assert all(states[i].jaw == 0.0 for i in np.nonzero(silent)[0])
    assert max(s.jaw for s in states) > 0.5


def test_plan_is_deterministic_and_smooth():
    _, first = plan()
    _, again = plan()
    assert first == again
    roll = np.array([s.roll_deg for s in first])
    assert np.abs(np.diff(roll)).max() < 1.5  # degrees per frame: no jitter
    assert np.abs(roll).max() <= 12 * BASE["head_tilt"] + 1e-6


def test_head_tilt_zero_keeps_the_head_still():
    _, states = plan(head_tilt=0.0, emotion="sad", expression_intensity=1.0)
    assert all(s.roll_deg == 0 and s.sway_x == 0 and s.sway_y == 0 for s in states)


def test_blinks_follow_the_rate_and_spare_the_first_moments():
    _, none = plan(blink_rate=0.0)
    assert all(s.blink == 0 for s in none)
    _, many = plan(blink_rate=1.0)
    blink = np.array([s.blink for s in many])
    assert blink[: int(0.3 * FPS)].max() == 0
    assert (blink == 1.0).sum() >= 2  # each blink closes fully on one frame


def test_the_emotion_breathes_with_the_speech_instead_of_holding_one_face():
    envelope, states = plan(emotion="happy", expression_intensity=1.0)
    t = np.arange(len(states)) / FPS
    expression = np.array([s.expression for s in states])
    settled = t >= 0.5  # after the ease-in
    assert expression[settled].max() - expression[settled].min() > 0.15  # never one constant grin
    assert expression.max() <= 1.0 + 1e-9 and expression[settled].min() >= 0.6
    speaking = np.array([any(start + 0.3 <= x < end for start, end in PHRASES) for x in t])
    pausing = np.array([all(not (start <= x < end + 0.5) for start, end in PHRASES) for x in t]) & settled
    assert expression[speaking].mean() > expression[pausing].mean() + 0.05  # it rises with the speech


def test_bilabials_close_the_lips():
    envelope = np.full(50, 0.8)
    controls = Controls(**BASE)
    phonemes = [{"phoneme": "m", "start": 1.0, "end": 1.12}]
    states = plan_motion(n_frames=50, fps=FPS, envelope=envelope, voiced_spans=[(0.0, 2.0)], controls=controls,
                         phonemes=phonemes)
    assert states[27].jaw < 0.3 * states[15].jaw


# --- portraits as people upload them -------------------------------------------------------------

def astronaut() -> Image.Image:
    return Image.open(ASTRONAUT).convert("RGB")


def assert_same_face(found, reference, tolerance=4):
    assert np.abs(np.array(found.face.bbox) - np.array(reference.face.bbox)).max() <= tolerance


def test_exif_rotated_jpeg_is_turned_upright(tmp_path, portrait):
    stored = astronaut().rotate(90, expand=True)  # as a camera held sideways stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "sideways.jpg"
    stored.save(path, quality=95, exif=exif)
    loaded = load_portrait(path)
    assert loaded.image.shape == (512, 512, 3)
    assert_same_face(loaded, portrait)


def test_transparent_png_is_flattened_on_white(tmp_path, portrait):
    rgba = astronaut().convert("RGBA")
    alpha = np.full((512, 512), 255, np.uint8)
    alpha[:, :40] = 0
    rgba.putalpha(Image.fromarray(alpha))
    path = tmp_path / "cutout.png"
    rgba.save(path)
    loaded = load_portrait(path)
    assert (loaded.image[:, :40] == 255).all()
    assert_same_face(loaded, portrait)


@pytest.mark.parametrize("mode", ["L", "I;16", "CMYK"])
def test_greyscale_16bit_and_cmyk_become_rgb(tmp_path, mode):
    image = astronaut()
    if mode == "I;16":
        grey = np.asarray(image.convert("L")).astype(np.uint16) * 257
        converted, path = Image.fromarray(grey), tmp_path / "deep.png"
    elif mode == "CMYK":
        converted, path = image.convert("CMYK"), tmp_path / "print.jpg"
    else:
        converted, path = image.convert("L"), tmp_path / "grey.png"
    converted.save(path)
    loaded = load_portrait(path)
    assert loaded.image.dtype == np.uint8 and loaded.image.shape == (512, 512, 3)
    assert 40 < loaded.image.mean() < 220  # not clipped to white or black
    assert loaded.face.width >= MIN_FACE_PX


def test_huge_photo_is_framed_and_rendered_at_working_size(tmp_path):
    canvas = Image.new("RGB", (6000, 4000), (214, 210, 206))
    canvas.paste(astronaut().resize((4000, 4000), Image.Resampling.BILINEAR), (1000, 0))
    path = tmp_path / "huge.jpg"
    canvas.save(path, quality=85)
    result = EmbeddedRenderer().render_frames(portrait_path=path, n_frames=4, fps=FPS, envelope=[0.0] * 4,
                                       voiced_spans=[], controls=Controls(), out_path=tmp_path / "huge.mp4")
    assert max(result["width"], result["height"]) <= 512
    assert result["width"] % 2 == 0 and result["height"] % 2 == 0
    x0, _, x1, _ = result["face"]["bbox"]
    assert x1 - x0 >= MIN_FACE_PX
    assert any("head-and-shoulders" in note for note in result["notes"])
    assert probe(tmp_path / "huge.mp4").video.width == result["width"]


def test_larger_max_side_keeps_more_detail(tmp_path):
    big = tmp_path / "big.png"
    astronaut().resize((1024, 1024), Image.Resampling.LANCZOS).save(big)
    assert load_portrait(big, max_side=720).image.shape == (720, 720, 3)
    with pytest.raises(BadInput, match="max_side"):
        load_portrait(big, max_side=4096)


def test_no_face_is_a_clear_error(tmp_path):
    gradient = np.tile(np.linspace(30, 220, 400, dtype=np.uint8)[None, :, None], (300, 1, 3))
    path = tmp_path / "gradient.png"
    Image.fromarray(gradient).save(path)
    with pytest.raises(BadInput) as error:
        load_portrait(path)
    assert str(error.value) == ("No face found in 'gradient.png' — use a front-facing portrait where the face is "
                                "clearly visible.")


def test_corrupt_and_missing_files_are_clear_errors(tmp_path):
    junk = tmp_path / "x.png"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(BadInput, match=r"^could not read 'x.png' as an image: "):
        load_portrait(junk)
    truncated = tmp_path / "cut.jpg"
    astronaut().save(truncated, quality=90)
    truncated.write_bytes(truncated.read_bytes()[:4000])
    with pytest.raises(BadInput, match=r"^could not read 'cut.jpg' as an image: "):
        load_portrait(truncated)
    with pytest.raises(BadInput, match="^portrait not found: nowhere.png$"):
        load_portrait(tmp_path / "nowhere.png")


def test_small_faces_and_images_are_refused(tmp_path):
    tiny = tmp_path / "tiny.png"
    astronaut().crop((140, 30, 310, 200)).resize((100, 100), Image.Resampling.LANCZOS).save(tiny)
    with pytest.raises(BadInput, match=rf"The face in 'tiny.png' is only \d+ px wide; at least {MIN_FACE_PX} px"):
        load_portrait(tiny)
    stamp = tmp_path / "stamp.png"
    astronaut().resize((50, 50)).save(stamp)
    with pytest.raises(BadInput, match="'stamp.png' is only 50×50 px"):
        load_portrait(stamp)


def test_several_faces_animate_the_largest(tmp_path, portrait):
    canvas = astronaut()
    second = canvas.crop((150, 20, 300, 200)).resize((135, 162))
    canvas.paste(second, (512 - second.width - 5, 512 - second.height - 5))
    path = tmp_path / "two.png"
    canvas.save(path)
    loaded = load_portrait(path)
    assert loaded.face.faces_found == 2
    assert "found 2 faces (numbered from the left); animating the largest, face 1 (middle)" in loaded.notes
    assert_same_face(loaded, portrait)


def test_two_faces_side_by_side_are_both_counted(tmp_path):
    """Side by side, each face is too small a part of the picture for the detector's first look:
    they are found in tiles, counted once each, and the note says which one moves."""
    pair = Image.new("RGB", (1024, 512))
    pair.paste(astronaut(), (0, 0))
    pair.paste(astronaut(), (512, 0))
    pair.save(tmp_path / "pair.png")
    checked = EmbeddedRenderer().check_inputs(portrait_path=tmp_path / "pair.png")
    assert checked["face"]["faces_found"] == 2
    assert "found 2 faces (numbered from the left); animating the largest, face 1 (left)" in checked["notes"]


def test_a_small_face_in_a_turned_photo_is_framed_like_the_upright_one(tmp_path):
    """Auto-framing decodes only the crop it needs, from the stored (not yet turned) pixels."""
    upright = Image.new("RGB", (1500, 1000), (214, 210, 206))
    upright.paste(astronaut().resize((600, 600)), (800, 200))
    upright.save(tmp_path / "upright.png")
    reference = load_portrait(tmp_path / "upright.png")
    assert any("head-and-shoulders" in note for note in reference.notes)
    turns = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
             5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_270}  # what a camera stores for each EXIF orientation to undo
    for orientation, turn in turns.items():
        exif = Image.Exif()
        exif[0x0112] = orientation
        upright.transpose(turn).save(tmp_path / f"turned-{orientation}.png", exif=exif)
        turned = load_portrait(tmp_path / f"turned-{orientation}.png")
        assert turned.source_size == (1500, 1000) and turned.image.shape == reference.image.shape, orientation
        assert "applied the photo's EXIF orientation" in turned.notes
        assert_same_face(turned, reference)


def test_a_portrait_is_prepared_once_per_version_of_its_file(tmp_path):
    """The render stage reuses what the inputs stage prepared (a big photo is decoded once a job)."""
    path = tmp_path / "me.png"
    astronaut().save(path)
    first, again = load_portrait(path), load_portrait(path)
    assert again.image is first.image and not first.image.flags.writeable
    again.notes.append("mine")  # each caller has its own notes
    assert load_portrait(path).notes == []
    astronaut().transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(path)  # a new version of the file
    assert load_portrait(path).image is not first.image


def test_a_png_too_large_to_decode_at_full_size_is_refused_from_its_header(tmp_path):
    Image.new("1", (9000, 8000)).save(tmp_path / "poster.png")  # 72 megapixels; a 1-bit file of a few KB
    with pytest.raises(BadInput) as error:
        load_portrait(tmp_path / "poster.png")
    assert str(error.value) == ("'poster.png' is 9000×8000 px; a PNG is decoded at full size, so the limit for it "
                                "is 64 megapixels (80 for a JPEG) — scale it down or save it as a JPEG.")
