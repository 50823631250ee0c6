"""The Render lab's live preview: a still that shows each control honestly, from a cached portrait.

Real portrait, real face mesh: each preview is measured with the face mesh like the renderer's
tests measure video frames, so "the image changed" means the mouth opened, the brows rose, the
head rolled or the mouth corners moved — not just that some pixels differ.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.controls import CONTROL_NAMES
from pipeline.errors import BadInput
from pipeline.preview import PreviewCache, portrait_image, render_preview
from pipeline.face.mesh import measure
from pipeline.render.embedded.motion import held_tilt_side
from pipeline.face.portrait import load_portrait

ASTRONAUT = Path(__file__).resolve().parents[1] / "assets" / "astronaut.png"
REST = {name: 0.0 for name in CONTROL_NAMES}
MIDDLE = {name: 0.4 for name in CONTROL_NAMES}


@pytest.fixture(scope="module")
def cache() -> PreviewCache:
    """One prepared astronaut for the module: preparing is the slow part (~1 s)."""
    return PreviewCache()


def still(cache, emotion="neutral", **values):
    return render_preview(ASTRONAUT, {**MIDDLE, **values}, emotion=emotion, cache=cache)


def test_every_control_at_zero_shows_the_portrait_itself(cache):
    portrait = load_portrait(ASTRONAUT).image
    for emotion in ("neutral", "happy", None):
        result = render_preview(ASTRONAUT, REST, emotion=emotion, cache=cache)
        assert result.image.shape == portrait.shape and result.image.dtype == np.uint8
        assert np.array_equal(result.image, portrait), emotion


def test_mouth_openness_opens_the_mouth(cache):
    low, high = measure(still(cache, mouth_openness=0.1).image), measure(still(cache, mouth_openness=0.9).image)
    print(f"mouth aperture {low.mouth_aperture:.3f} → {high.mouth_aperture:.3f}")
    assert high.mouth_aperture > low.mouth_aperture + 0.08


def test_eyebrow_raise_lifts_the_brows(cache):
    low, high = measure(still(cache, eyebrow_raise=0.0).image), measure(still(cache, eyebrow_raise=1.0).image)
    print(f"brow height {low.brow_height:.3f} → {high.brow_height:.3f}")
    assert high.brow_height > low.brow_height + 0.02


def test_head_tilt_rolls_the_head_the_way_the_video_will(cache):
    rest = measure(still(cache, head_tilt=0.0).image)
    tilted = measure(still(cache, head_tilt=1.0).image)
    print(f"roll {rest.roll_deg:.2f}° → {tilted.roll_deg:.2f}°")
    assert (tilted.roll_deg - rest.roll_deg) * held_tilt_side(0) > 5.0  # 8° held tilt at head_tilt = 1


def test_expression_intensity_and_the_emotion_shape_the_mouth_corners(cache):
    faint = measure(still(cache, "happy", expression_intensity=0.0).image)
    happy = measure(still(cache, "happy", expression_intensity=1.0).image)
    sad = measure(still(cache, "sad", expression_intensity=1.0).image)
    print(f"smile: faint {faint.smile:.3f}, happy {happy.smile:.3f}, sad {sad.smile:.3f}")
    assert happy.smile > faint.smile + 0.02
    assert sad.smile < faint.smile - 0.02


def test_blink_rate_cannot_be_seen_in_a_still_so_it_is_reported(cache):
    never, often = still(cache, blink_rate=0.0), still(cache, blink_rate=1.0)
    assert np.array_equal(never.image, often.image)
    assert (never.blinks_per_minute, often.blinks_per_minute) == (0.0, 40.0)
    assert "blinks 40/min" in often.summary()


def test_auto_emotion_is_previewed_as_neutral_and_says_so(cache):
    auto = render_preview(ASTRONAUT, {**MIDDLE, "expression_intensity": 1.0}, emotion=None, cache=cache)
    neutral = still(cache, "neutral", expression_intensity=1.0)
    assert np.array_equal(auto.image, neutral.image)
    assert any("auto" in note for note in auto.notes)


def test_a_portrait_is_prepared_once_and_found_again_by_its_content(tmp_path):
    cache = PreviewCache(size=2)
    first = render_preview(ASTRONAUT, MIDDLE, cache=cache)
    assert not first.cached and first.prepared_s > 0 and "first look" in first.summary()
    again = render_preview(ASTRONAUT, {**MIDDLE, "mouth_openness": 0.9}, cache=cache)
    assert again.cached and again.prepared_s == 0 and "first look" not in again.summary()
    assert (cache.misses, cache.hits) == (1, 1)

    copy = tmp_path / "the same photo.png"  # an upload of the same file: same content, same entry
    shutil.copyfile(ASTRONAUT, copy)
    assert render_preview(copy, MIDDLE, cache=cache).cached
    assert not render_preview(ASTRONAUT, MIDDLE, max_side=384, cache=cache).cached  # another size
    assert (cache.misses, cache.hits, len(cache)) == (2, 2, 2)


def test_previews_arriving_together_prepare_a_new_portrait_once():
    cache = PreviewCache()
    results, errors = [], []

    def ask(value):
        try:
            results.append(render_preview(ASTRONAUT, {**MIDDLE, "mouth_openness": value}, cache=cache))
        except Exception as error:  # pragma: no cover - shown by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(value,)) for value in (0.2, 0.5, 0.8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 3
    assert cache.misses == 1 and cache.hits == 2
    assert not all(result.cached for result in results)  # the first ones had to wait, and say so


def test_bad_portraits_are_bad_input_and_not_cached(tmp_path):
    cache = PreviewCache()
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("hello")
    blank = tmp_path / "wall.png"
    Image.new("RGB", (320, 320), (128, 128, 128)).save(blank)
    cases = {None: "choose a portrait", tmp_path / "gone.png": "portrait not found: gone.png",
             not_an_image: "could not read 'notes.png'", blank: "No face found in 'wall.png'"}
    for portrait, message in cases.items():
        with pytest.raises(BadInput, match=message):
            render_preview(portrait, MIDDLE, cache=cache)
    with pytest.raises(BadInput, match="unknown emotion"):
        render_preview(ASTRONAUT, MIDDLE, emotion="smug", cache=cache)
    assert len(cache) == 0


def test_a_portrait_for_display_is_upright_rgb(tmp_path):
    sideways = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    Image.new("RGBA", (300, 200), (200, 100, 50, 255)).convert("RGB").save(sideways, exif=exif)
    image = portrait_image(sideways)
    assert image.mode == "RGB" and image.size == (200, 300)
    with pytest.raises(BadInput, match="portrait not found"):
        portrait_image(tmp_path / "missing.jpg")
