"""Output formats, measured from the output video: its shape, where the render sits in it (found by
template matching, not read from the job), the face found in it by the face mesh inside the format's
safe area, and a background that is blurred or the render's edges drawn outwards; plus the framing
arithmetic on its own, the shrinking and the refusal."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import SAMPLE_PORTRAIT
from pipeline.errors import BadInput
from pipeline.face.mesh import find_faces
from pipeline.formats import ASPECTS, SAFE_AREAS, frame
from pipeline.media import VideoReader, probe
from pipeline.runner import RenderRequest

SCRIPT = "Framed for the feed."


def first_frame(path) -> np.ndarray:
    with VideoReader(path) as reader:
        return np.array(next(iter(reader)))


def placed(canvas: np.ndarray, render: np.ndarray) -> tuple[int, int, float]:
    """Where ``render`` sits inside ``canvas`` (x, y) and how well it matches there (1 = exactly)."""
    result = cv2.matchTemplate(cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY), cv2.cvtColor(render, cv2.COLOR_RGB2GRAY),
                               cv2.TM_CCOEFF_NORMED)
    _, score, _, (x, y) = cv2.minMaxLoc(result)
    return x, y, score


def sharpness(image: np.ndarray) -> float:
    return float(np.abs(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_64F)).mean())


@pytest.mark.parametrize("preset, background", [("9:16", "blurred"), ("16:9", "extended"), ("1:1", "blurred")])
def test_a_preset_frames_the_render_with_the_face_in_the_safe_area(runner, settings, preset, background):
    job = runner.render(RenderRequest(image=SAMPLE_PORTRAIT, text=SCRIPT, max_side=320, output_format=preset,
                                      background=background))
    folder = settings.job_dir(job.id)
    output, render = first_frame(folder / "output.mp4"), first_frame(folder / "render.mp4")
    height, width = output.shape[:2]
    across, down = ASPECTS[preset]
    assert abs(width / height - across / down) < 0.01, (width, height)
    assert probe(folder / "output.mp4").audio is not None and job.duration_s > 0.5
    # the render at its own size, whole, inside the canvas: never scaled up, never cropped
    rh, rw = render.shape[:2]
    assert (width == rw or height == rh) and width >= rw and height >= rh
    x, y, score = placed(output, render)
    assert score > 0.97
    assert np.abs(output[y:y + rh, x:x + rw].astype(int) - render.astype(int)).mean() < 4
    # the face, found in the output, is inside the safe area
    [face] = find_faces(output)[:1]
    left, top, right, bottom = SAFE_AREAS[preset]
    x0, y0, x1, y1 = face.bbox
    assert x0 >= left * width and x1 <= right * width and y0 >= top * height and y1 <= bottom * height, face.bbox
    # around the render: its edges smeared outwards, or a blurred copy
    band = np.ones(output.shape[:2], bool)
    band[y:y + rh, x:x + rw] = False
    if not band.any():
        return
    if background == "extended":
        rows = output[:, :x] if x > 0 else output[:y]
        spread = rows.astype(int).std(axis=1 if x > 0 else 0).mean()
        assert spread < 3, "the band is not the render's edge drawn outwards"
    else:
        strip = output[:y] if y > 0 else output[:, :x]
        assert sharpness(strip) < sharpness(render) * 0.35, "the background is not blurred"


def test_as_is_leaves_the_render_as_it_is(runner, settings):
    job = runner.render(RenderRequest(image=SAMPLE_PORTRAIT, text=SCRIPT, max_side=256))
    folder = settings.job_dir(job.id)
    assert first_frame(folder / "output.mp4").shape == first_frame(folder / "render.mp4").shape
    assert not (folder / "framing.json").exists() and job.options["output_format"] == "as-is"


def test_the_framing_arithmetic():
    square = frame("9:16", (512, 512), (180, 120, 330, 300))
    assert square.canvas == (512, 912) and square.size == (512, 512) and square.position[0] == 0
    wide = frame("16:9", (448, 512), (150, 100, 300, 280))
    assert wide.canvas == (912, 512) and wide.size == (448, 512)
    # a face at the very edge of a render as wide as the canvas: the render is made smaller to move it in
    edge = frame("9:16", (512, 512), (0, 200, 120, 340))
    assert edge.size[0] < 512 and edge.face[0] >= edge.safe[0]
    assert frame("as-is", (512, 512), (0, 0, 10, 10)) is None


def test_a_face_that_cannot_be_framed_is_refused_in_words():
    with pytest.raises(BadInput, match=r"the face cannot be framed in 9:16: .* px across\) — use the format as-is"):
        frame("9:16", (50, 50), (0, 0, 50, 50))  # a close-up of a tiny render: under 48 px once it fits
    with pytest.raises(BadInput, match="unknown format '4:3'; the formats are as-is, 1:1, 9:16, 16:9"):
        frame("4:3", (512, 512), (0, 0, 10, 10))


def test_an_unknown_format_is_a_failed_job_with_the_reason(runner):
    with pytest.raises(BadInput, match="unknown background 'sparkly'"):
        runner.render(RenderRequest(image=SAMPLE_PORTRAIT, text=SCRIPT, output_format="9:16", background="sparkly"))
    [job] = runner.store.list()
    assert job.status == "failed" and "unknown background 'sparkly'" in job.error


def test_history_says_the_format_and_renders_it_again_in_it(runner, settings):
    from pipeline import history
    from studio import history_view

    job = runner.render(RenderRequest(image=SAMPLE_PORTRAIT, text=SCRIPT, max_side=256, output_format="1:1",
                                      background="extended"))
    details = history.job_details(settings, job)
    assert "format 1:1 (extended)" in history_view.details_markdown(details)
    again = history.rerender_request(settings, job, "embedded")
    assert (again.output_format, again.background) == ("1:1", "extended")


def test_the_cli_takes_a_format_and_refuses_one_it_does_not_know(studio_home, capsys):
    from conftest import run_app
    from pipeline.db import JobStore

    code, out, err = run_app(capsys, "render", "--image", str(SAMPLE_PORTRAIT), "--text", "Square.", "--size", "256",
                             "--format", "1:1", "--background", "extended", "--json")
    assert code == 0, err
    job = JobStore(studio_home / "studio.db").list(limit=1)[0]
    assert (job.options["output_format"], job.options["background"]) == ("1:1", "extended")
    width, height = probe(job.video_path).video.width, probe(job.video_path).video.height
    assert width == height
    with pytest.raises(SystemExit) as refused:  # the parser's one line, before any job
        run_app(capsys, "render", "--image", str(SAMPLE_PORTRAIT), "--text", "Hi.", "--format", "4:3")
    assert refused.value.code == 2
    assert capsys.readouterr().err.startswith("error: argument --format: invalid choice: '4:3'")
