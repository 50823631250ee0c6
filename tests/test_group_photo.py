"""A group photo: every face found, the largest animated by default, another one by number
(``--face N`` in the CLI, ``face`` in the API and the Render lab), counted from the left.

Judged from the rendered MP4: which part of the frame moves, and whether the framed face is the
black-and-white one. The photos are composed here from the bundled portrait: copies of it side by
side at different sizes (the middle one largest), one of them in greyscale so that which face was
framed can be seen in the video's colours."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_app
from media_checks import decode_frames
from PIL import Image
from test_render_embedded import ASTRONAUT, FPS, repeated_phrases, syllable_envelope

from pipeline.controls import Controls
from pipeline.db import JobStore
from pipeline.errors import BadInput
from pipeline.face.mesh import measure
from pipeline.face.portrait import check_face_number, load_portrait
from pipeline.render.embedded import EmbeddedRenderer


RIGHT_SAYS = ("That is me, on the right, in black and white. I took the picture, so I stood a little further "
              "back than the others.")


def compose(path: Path, sizes: tuple[int, ...], *, grey: int | None = None, height: int = 560) -> Path:
    """Copies of the bundled portrait side by side, ``sizes`` px square, bottom-aligned on a neutral
    wall; copy number ``grey`` (from 1) in greyscale."""
    wall = Image.new("RGB", (sum(sizes) + 20 * (len(sizes) + 1), height), (128, 128, 128))
    left = 20
    for number, size in enumerate(sizes, 1):
        copy = Image.open(ASTRONAUT).convert("RGB").resize((size, size), Image.LANCZOS)
        if number == grey:
            copy = copy.convert("L").convert("RGB")
        wall.paste(copy, (left, height - size))
        left += size + 20
    wall.save(path)
    return path


@pytest.fixture(scope="module")
def group(tmp_path_factory) -> Path:
    """Three people, the middle one nearest the camera, the one on the right in black and white."""
    return compose(tmp_path_factory.mktemp("group") / "group.png", (480, 600, 500), grey=3, height=640)


def colour(frame: np.ndarray) -> float:
    """How far from grey the frame is: the largest channel difference, 99th percentile."""
    channels = frame.astype(np.int16)
    spread = channels.max(axis=2) - channels.min(axis=2)
    return float(np.percentile(spread, 99))


def test_every_face_is_found_and_numbered_from_the_left(group):
    largest = load_portrait(group)
    assert largest.face.faces_found == 3 and largest.places == ("left", "middle", "right")
    assert largest.face_number == 2
    assert "found 3 faces (numbered from the left); animating the largest, face 2 (middle)" in largest.notes
    right = load_portrait(group, face=3)
    assert right.face_number == 3 and "found 3 faces (numbered from the left); animating face 3 (right)" in right.notes
    assert load_portrait(group, face=1).face_number == 1


@pytest.mark.parametrize("face", [0, -1, 1.5, "two", True])
def test_a_face_number_that_is_not_one_or_more_is_refused(face):
    if face is True:  # a bool is an int to Python, but 1 is a fine face number: the check takes it
        assert check_face_number(face) == 1
        return
    with pytest.raises(BadInput, match="face must be a whole number from 1"):
        check_face_number(face)


def test_the_cli_renders_the_face_asked_for_and_says_how_many_there_are(group, studio_home, capsys):
    """``--face 3`` frames the black-and-white face on the right: the video has no colour. Without
    ``--face``, the largest (in colour) is framed. A number past the faces found is one line."""
    code, stdout, err = run_app(capsys, "render", "--image", str(group), "--text", RIGHT_SAYS, "--face", "3", "--json")
    assert code == 0, err
    right = json.loads(stdout)
    assert "found 3 faces (numbered from the left); animating face 3 (right)" in right["notes"]
    frames = decode_frames(Path(right["video"]))
    assert max(colour(frame) for frame in frames[::10]) <= 12, "face 3 is the grey one: no colour in any frame"
    envelope = json.loads((Path(right["video"]).parent / "analysis.json").read_text())["envelope"]
    aperture = [measure(frame).mouth_aperture for frame in frames]
    r = float(np.corrcoef(aperture, envelope[: len(aperture)])[0, 1])
    assert r >= 0.8, f"the framed face's lips follow the speech at r={r:.2f}"

    code, stdout, err = run_app(capsys, "render", "--image", str(group), "--text", "And I'm in the middle.", "--json")
    assert code == 0, err
    middle = json.loads(stdout)
    assert any("animating the largest, face 2 (middle)" in note for note in middle["notes"])
    assert colour(decode_frames(Path(middle["video"]))[0]) > 60

    code, stdout, err = run_app(capsys, "render", "--image", str(group), "--text", "Hello.", "--face", "4")
    assert code == 2 and stdout == ""
    assert err.strip().splitlines() == [
        "error: face 4 was asked for, but 3 faces were found in 'group.png' (numbered from the left: 1 to 3)"]
    failed = JobStore(studio_home / "studio.db").list()[0]
    assert failed.status == "failed" and failed.error.startswith("face 4 was asked for")
    assert failed.options["face"] == 4

    code, _, err = run_app(capsys, "render", "--image", str(group), "--text", "Hello.", "--face", "0")
    assert code == 2 and err.strip() == "error: face must be a whole number from 1 (the face furthest left), got 0"


def test_the_chosen_face_moves_in_place_and_the_others_stay_still(tmp_path):
    """Two faces large enough to animate where they are: with ``face=2`` the frames change on the
    right half only; by default (both the same size: the first found) the other half moves."""
    pair = compose(tmp_path / "pair.png", (500, 500), height=500)
    phrases = repeated_phrases(2.0)
    envelope = syllable_envelope(2.0, phrases)
    controls = Controls(blink_rate=0.8, head_tilt=0.5, expression_intensity=0.6, mouth_openness=0.8,
                        eyebrow_raise=0.5)

    def moving_halves(face):
        out = tmp_path / f"face-{face}.mp4"
        result = EmbeddedRenderer().render_frames(portrait_path=pair, n_frames=len(envelope), fps=FPS,
                                                  envelope=envelope, voiced_spans=phrases, controls=controls,
                                                  out_path=out, max_side=1040, face=face)
        frames = decode_frames(out).astype(np.int16)
        change = np.abs(frames - frames[0]).max(axis=0).max(axis=2)  # per pixel, over the clip
        half = change.shape[1] // 2
        return result, (change[:, :half] > 24).mean(), (change[:, half:] > 24).mean()

    result, left, right = moving_halves(2)
    assert result["face"]["number"] == 2 and result["face"]["places"] == ["left", "right"]
    assert right > 0.02 and left < right / 20, (left, right)
    result, left, right = moving_halves(None)
    moving, still = (left, right) if result["face"]["number"] == 1 else (right, left)
    assert moving > 0.02 and still < moving / 20, (left, right)


def test_the_studio_offers_the_faces_and_renders_the_one_picked(group, studio_client, settings):
    """The Render lab's face choice: shown for a group photo, numbered from the left with where each
    face is, hidden for a portrait of one; ``face`` through the /render API frames the face picked,
    the job keeps it, and History re-opens the job with it chosen."""
    from gradio_client import handle_file
    from test_lab import _lab, _lab_field_names, _video_path

    from studio.lab_tab import LARGEST, face_choices

    offered = face_choices(str(group))
    assert offered["visible"] is True and offered["value"] == LARGEST
    assert offered["choices"] == [("Largest", LARGEST), ("1: left", "1"), ("2: middle", "2"), ("3: right", "3")]
    assert face_choices(str(group), "3")["value"] == "3"  # a job re-opened keeps its face
    assert face_choices(str(ASTRONAUT), "3")["visible"] is False  # one face: no choice to make

    video, details = studio_client.predict(portrait=handle_file(str(group)), script="The one on the right.",
                                           face=3, api_name="/render")
    assert "found 3 faces (numbered from the left); animating face 3 (right)" in details["notes"]
    assert max(colour(frame) for frame in decode_frames(Path(_video_path(video)))[::10]) <= 12
    job = JobStore(settings.db_path).get(details["job_id"])
    assert job.options["face"] == 3
    values = dict(zip(_lab_field_names(settings), _lab(settings).values_for_job(job)))
    assert values["face"] == "3"

    with pytest.raises(Exception, match=r"face 5 was asked for, but 3 faces were found in 'group.png'"):
        studio_client.predict(portrait=handle_file(str(group)), script="Hi.", face=5, api_name="/render")
    assert JobStore(settings.db_path).list()[0].status == "failed"


def test_a_renderer_that_animates_the_largest_face_refuses_another(group, settings):
    """SadTalker and the hosted renderers animate the largest face only: asking them for that face
    by number is fine, another number is one line saying what to do instead."""
    from pipeline.render import renderers

    did = renderers.create("did", settings)
    assert did.capabilities(settings).picks_face is False
    assert did.check_inputs(group, settings=settings, face=2)["face"]["number"] == 2
    with pytest.raises(BadInput, match=r"^the D-ID renderer animates the largest face \(face 2\); to animate face 1, "
                                       r"use the embedded renderer or crop the photo to that face$"):
        did.check_inputs(group, settings=settings, face=1)
