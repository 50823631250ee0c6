"""The Render lab's work: suggested controls (pipeline) and its API endpoints through gradio_client.

``suggest_controls`` runs the real speech, analysis, emotion and control stages; the LLM is the
scripted ``fake_llm`` backend, so exact answers (good, out of range, garbage) can be checked. The
API tests drive the whole launched studio like a script would: real renders, real files, the job
row read back from SQLite, the MP4's duration probed.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

import fake_llm
from conftest import SAMPLE_PORTRAIT
from fake_enhancer import NegatingEnhancer
from pipeline.controls import CONTROL_NAMES
from pipeline.db import JobStore
from pipeline.errors import BadInput
from pipeline.media import probe
from pipeline.render.sadtalker import SadTalkerSettings

SAMPLE_SPEECH = Path(__file__).resolve().parents[1] / "assets" / "sample_speech.mp3"
ANSWER = {"blink_rate": 0.2, "head_tilt": 1.7, "expression_intensity": 0.9, "mouth_openness": -0.4,
          "eyebrow_raise": 0.65}


@pytest.fixture
def fake():
    return fake_llm.install()


# -- suggest_controls, in the pipeline -------------------------------------------------------------

def test_the_llm_proposal_comes_back_clamped_and_says_why(settings, fake, tmp_path, monkeypatch):
    from pipeline.suggest import suggest_controls

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # to see that the scratch folder goes
    fake.enqueue(json.dumps(ANSWER))
    found = suggest_controls(settings, text="We won the award, I am thrilled!", llm="fake")
    assert found.values() == {**ANSWER, "head_tilt": 1.0, "mouth_openness": 0.0}
    assert found.emotion == "happy" and found.path == "llm-clamped" and found.controller == "llm"
    assert found.detail["raw"] == json.dumps(ANSWER)
    assert "thrilled" in fake.history[0]["messages"][-1]["content"]  # the LLM saw the transcript
    assert found.why[0].startswith("emotion happy")
    assert "fake (scripted) proposed the controls (llm-clamped)" in found.why
    assert "out of range, clamped to 0–1: head_tilt 1.7 → 1.0, mouth_openness -0.4 → 0.0" in found.why
    assert list(found.timings) == ["speech", "analysis", "emotion", "control"] and found.duration_s > 1
    from studio.lab_view import suggestion_answer

    assert suggestion_answer(found)["controller_path"] == "llm-clamped"
    assert JobStore(settings.db_path).list() == []  # no job was made …
    assert not list(tmp_path.glob("avatar-suggest-*"))  # … and the scratch folder is gone


def test_a_garbage_answer_falls_back_to_the_rules_with_the_reason(settings, fake):
    from pipeline.suggest import suggest_controls

    fake.enqueue("I'd say medium-ish on everything?")
    found = suggest_controls(settings, text="This is terrible news. I am so sad.", llm="fake", emotion="sad")
    assert found.path == "rules-fallback" and found.emotion == "sad"
    assert found.why[0] == "emotion sad: set by you (detected: sad)"
    assert found.why[1].startswith("fake (scripted) gave no usable answer (the answer is not JSON")
    assert "the rule-based controller chose: sad (confidence 1.00) leans" in found.why[1]
    assert found.controls.blink_rate < 0.5  # the rules: sad people blink less


def test_the_rules_suggest_from_a_recording_alone(settings):
    from pipeline.suggest import suggest_controls

    found = suggest_controls(settings, audio=SAMPLE_SPEECH, text="  ", controller="rules")
    assert found.path == "rules" and found.controller == "rules"
    assert abs(found.duration_s - 6.84) < 0.1
    assert found.why[1].startswith("rule-based controller: ") and "speech energy" in found.why[1]
    assert all(0 <= value <= 1 for value in found.values().values())


def test_with_only_the_bundled_model_the_rules_answer_at_once_and_say_how_to_get_an_llm(settings, fake):
    """The bundled 135M model cannot answer in JSON: unless it is asked for by name, it is not asked
    (no eight-second wait for a fallback), and the answer says how to get an LLM's suggestions. A
    capable model configured as the studio's own is asked as before."""
    from dataclasses import replace

    from pipeline.llm.local import LocalLLM
    from pipeline.suggest import suggest_controls

    assert not LocalLLM(cache_dir=settings.cache).follows_json
    assert LocalLLM("my/7b", cache_dir=settings.cache).follows_json  # a model of one's own is asked
    found = suggest_controls(replace(settings, llm="local"), text="We won the award, I am thrilled!")
    assert found.path == "rules" and found.controller == "rules"
    assert "local (SmolLM2-135M-Instruct-Q4_1), is too small to propose controls" in found.why[-1]
    assert "AVATAR_STUDIO_LLM" in found.why[-1]
    assert fake.history == []  # (the fake is not the studio's LLM here: nothing asked it)
    fake.enqueue(json.dumps(ANSWER))
    capable = suggest_controls(replace(settings, llm="fake"), text="We won the award, I am thrilled!")
    assert capable.path == "llm-clamped" and len(fake.history) == 1
    assert not any("too small" in line for line in capable.why)


@pytest.mark.parametrize("arguments,message", [
    ({}, "Nothing to say"),
    ({"text": "Hi.", "audio": SAMPLE_SPEECH}, "either a script or an audio file"),
    ({"text": "Hi.", "llm": "nonesuch"}, "unknown LLM backend 'nonesuch'"),
    ({"text": "Hi.", "controller": "vibes"}, "controller must be one of rules, llm"),
    ({"text": "Hi.", "emotion": "smug"}, "unknown emotion 'smug'"),
    ({"text": "Hi.", "persona": "nobody"}, "no persona 'nobody'"),
    ({"text": "Hi.", "portrait": "/nonexistent/me.png"}, "portrait not found: me.png"),
])
def test_suggest_refuses_bad_requests_with_a_specific_message(settings, arguments, message):
    from pipeline.suggest import suggest_controls

    with pytest.raises(BadInput, match=message):
        suggest_controls(settings, controller=arguments.pop("controller", "rules"), **arguments)


# -- the API, through gradio_client ------------------------------------------------------------

def _video_path(video) -> str:
    return video["video"] if isinstance(video, dict) else video


def test_render_returns_a_playable_video_and_records_the_job(studio_client, settings):
    from gradio_client import handle_file

    video, details = studio_client.predict(
        portrait=handle_file(str(SAMPLE_PORTRAIT)), script="Nice to meet you.", emotion="happy",
        blink_rate=0.5, head_tilt=0.0, expression_intensity=0.7, mouth_openness=0.8, eyebrow_raise=0.4,
        api_name="/render")
    assert _video_path(video).endswith(".mp4") and probe(Path(_video_path(video))).duration_s > 0.5
    assert details["status"] == "done" and details["emotion"] == "happy" and details["backend"] == "embedded"
    assert set(details["timings"]) == {"inputs", "speech", "analysis", "emotion", "control", "render", "enhance",
                                       "captions", "encode"}
    assert "enhancer" not in details and "renderer_options" not in details
    job = JobStore(settings.db_path).get(details["job_id"])
    assert job.status == "done" and job.text == "Nice to meet you." and job.emotion == "happy"
    # The sliders are what is rendered: all five are the user's values.
    assert job.controls_user == {"blink_rate": 0.5, "head_tilt": 0.0, "expression_intensity": 0.7,
                                 "mouth_openness": 0.8, "eyebrow_raise": 0.4}
    assert job.controls_final == {**job.controls_user, "emotion": "happy"}
    assert abs(probe(Path(job.video_path)).duration_s - details["duration_s"]) < 0.1


def test_render_from_a_recording_with_a_persona_and_reopen_it_in_the_lab(studio_client, settings):
    from gradio_client import handle_file

    video, details = studio_client.predict(
        portrait=handle_file(str(SAMPLE_PORTRAIT)), script="This is not said.",
        audio=handle_file(str(SAMPLE_SPEECH)), persona="jenniel", api_name="/render")
    assert abs(probe(Path(_video_path(video))).duration_s - 6.84) < 0.15
    assert "the recording was used; the script was not spoken" in details["notes"]
    job = JobStore(settings.db_path).get(details["job_id"])
    assert job.persona == "jenniel" and job.text is None and job.options["emotion"] is None

    # History re-opens a job through LabTab.values_for_job: the job's own copies, same settings.
    lab = _lab(settings)
    values = dict(zip(_lab_field_names(settings), lab.values_for_job(job)))
    assert len(lab.fields) == len(values) == len(_lab_field_names(settings))
    job_dir = settings.job_dir(job.id)
    assert Path(values["portrait"]).parent == job_dir / "input" and Path(values["portrait"]).is_file()
    assert Path(values["audio"]).parent == job_dir / "input" and values["script"] == ""
    assert (values["persona"], values["emotion"], values["backend"]) == ("jenniel", "auto", "embedded")
    assert values["enhance"] is False
    section = SadTalkerSettings.of(settings)  # another renderer's panel stays at its defaults
    assert (values["sadtalker.size"], values["sadtalker.preprocess"], values["sadtalker.pose_style"],
            values["sadtalker.batch_size"]) == (section.size, section.preprocess, section.pose_style,
                                                section.batch_size)
    assert {name: values[name] for name in CONTROL_NAMES} == {  # as the sliders show them: two decimals
        name: round(job.controls_final[name], 2) for name in CONTROL_NAMES}
    assert lab.values_for_job(job.id) == lab.values_for_job(job)


def test_a_suggestion_reaches_the_sliders_rounded_to_their_step():
    from studio import lab_tab

    found = {"controls": {name: 0.45678 + k / 1000 for k, name in enumerate(CONTROL_NAMES)}, "emotion": "happy",
             "why": ["the words are cheerful"], "controller_path": "rules"}
    values = lab_tab.apply_suggestion(found)
    assert values[:len(CONTROL_NAMES)] == [0.46] * len(CONTROL_NAMES)  # not 0.4568, 0.4578…
    assert values[len(CONTROL_NAMES)] == "happy" and "cheerful" in values[-1]


def test_suggest_controls_returns_the_llm_values_and_why(studio_client, fake):
    fake.enqueue(json.dumps(ANSWER))
    found = studio_client.predict(script="What a wonderful surprise!", llm="fake", api_name="/suggest_controls")
    assert found["controls"] == {**ANSWER, "head_tilt": 1.0, "mouth_openness": 0.0}
    assert found["controller_path"] == "llm-clamped" and found["emotion"] in ("happy", "surprised")
    assert any("clamped to 0–1" in line for line in found["why"])
    instant = studio_client.predict(script="What a wonderful surprise!", llm="rules", api_name="/suggest_controls")
    assert instant["controller_path"] == "rules" and set(instant["controls"]) == set(CONTROL_NAMES)


@pytest.mark.parametrize("arguments,message", [
    ({"script": "   "}, "The script is empty"),
    ({"script": "Hi.", "backend": "heygen"}, "HEYGEN_API_KEY is not set"),
    ({"script": "Hi.", "backend": "sadtaker"}, "renderer 'sadtaker' not found; known: embedded"),
    ({"script": "Hi.", "enhance": True}, "Cannot enhance the face: "),
    ({"script": "Hi.", "backend": "sadtalker", "sadtalker_pose_style": 7.5},
     "SadTalker pose style must be a whole number from 0 to 45, got 7.5"),
    ({"script": "Hi.", "backend": "sadtalker", "renderer_options": {"size": 384}},
     "SadTalker size must be one of 256, 512, got 384"),
    ({"script": "Hi.", "renderer_options": {"size": 512}},
     r"the embedded renderer takes no options of its own \(got size\)"),
    ({"script": "Hi.", "renderer_options": "size=512"}, "renderer_options must be a JSON object"),
    ({"script": "Hi.", "persona": "nobody"}, "no persona 'nobody'"),
])
def test_bad_render_requests_are_readable_errors(studio_client, arguments, message):
    from gradio_client import handle_file

    with pytest.raises(Exception, match=message):
        studio_client.predict(portrait=handle_file(str(SAMPLE_PORTRAIT)), api_name="/render", **arguments)


def test_a_portrait_without_a_face_fails_the_job_with_the_reason(studio_client, settings, tmp_path):
    from gradio_client import handle_file
    from PIL import Image

    wall = tmp_path / "wall.png"
    Image.new("RGB", (320, 320), (90, 120, 150)).save(wall)
    with pytest.raises(Exception, match="No face found in 'wall.png'"):
        studio_client.predict(portrait=handle_file(str(wall)), script="Hello there.", api_name="/render")
    [job] = JobStore(settings.db_path).list()
    assert job.status == "failed" and "No face found" in job.error


def _lab(settings):
    import gradio as gr

    from studio import lab_tab
    from studio.common import StudioContext

    with gr.Blocks(), gr.Tab("Render lab") as tab:
        return lab_tab.build(StudioContext(settings), tab)


def _lab_field_names(settings) -> list[str]:
    """The lab's fields in ``LabTab.fields`` order: the base fields, then each renderer's options
    ("sadtalker.size" …) for every renderer with options, in registry order."""
    from pipeline.render import renderers
    from studio.lab_tab import BASE_FIELDS

    return [*BASE_FIELDS, *(f"{name}.{spec.name}" for name in renderers.names()
                            for spec in renderers.create(name, settings).capabilities(settings).options)]


def test_the_lab_fields_are_the_base_fields_then_each_renderers_options(settings):
    lab = _lab(settings)
    names = _lab_field_names(settings)
    assert len(lab.fields) == len(names)
    assert {"sadtalker.size", "sadtalker.batch_size", "heygen.avatar_id", "did.voice_id"} <= set(names)
    for name, component in zip(names, lab.fields):
        if "." in name:  # an option's component says whose option it is
            backend, option = name.split(".")
            assert component.elem_id == f"lab-{backend}-{option.replace('_', '-')}"


# -- SadTalker's own options and the face enhancer (issue 6) -----------------------------------------

@pytest.fixture
def standin_sadtalker(studio_home, monkeypatch, tmp_path_factory):
    """SADTALKER_DIR pointing at the stand-in checkout (``tests/sadtalker_standin.py``: SadTalker's call
    signatures over tiny random networks), allowed on the CPU. Ask for it before ``studio_client``
    so the studio's settings see it."""
    from pipeline.render import sadtalker
    from sadtalker_standin import build_checkout

    checkout = build_checkout(tmp_path_factory.mktemp("sadtalker") / "SadTalker")
    monkeypatch.setenv("SADTALKER_DIR", str(checkout))
    monkeypatch.setenv("SADTALKER_ALLOW_CPU", "1")
    sadtalker.unload_all()
    yield checkout
    sadtalker.unload_all()


def test_sadtalker_options_reach_the_job_only_on_sadtalker(standin_sadtalker, studio_client, settings):
    from gradio_client import handle_file

    from sadtalker_standin import calls

    _, details = studio_client.predict(
        portrait=handle_file(str(SAMPLE_PORTRAIT)), script="Full frame, please.", backend="sadtalker",
        sadtalker_size=512, sadtalker_preprocess="full", sadtalker_pose_style=12, api_name="/render")
    assert (details["status"], details["backend"]) == ("done", "sadtalker")
    assert details["renderer_options"] == {"size": 512, "preprocess": "full", "pose_style": 12}
    job = JobStore(settings.db_path).get(details["job_id"])
    assert job.options["renderer_options"] == {"size": 512, "preprocess": "full", "pose_style": 12}
    facerender = calls(standin_sadtalker, "get_facerender_data")[-1]
    assert (facerender["size"], facerender["preprocess"]) == (512, "full")
    assert calls(standin_sadtalker, "Audio2Coeff.generate")[-1]["pose_style"] == 12

    # History re-opens it with those options; the lab sends them back only for SadTalker
    values = dict(zip(_lab_field_names(settings), _lab(settings).values_for_job(job)))
    assert (values["backend"], values["sadtalker.size"], values["sadtalker.preprocess"],
            values["sadtalker.pose_style"]) == ("sadtalker", 512, "full", 12)
    _, details = studio_client.predict(
        portrait=handle_file(str(SAMPLE_PORTRAIT)), script="Same options, other renderer.", backend="embedded",
        sadtalker_size=512, sadtalker_preprocess="full", sadtalker_pose_style=12, api_name="/render")
    assert details["status"] == "done" and "renderer_options" not in details
    assert JobStore(settings.db_path).get(details["job_id"]).options["renderer_options"] == {}

    # the one renderer_options parameter, as a dict or as JSON text, for any renderer
    _, details = studio_client.predict(
        portrait=handle_file(str(SAMPLE_PORTRAIT)), script="Options as one dict.", backend="sadtalker",
        renderer_options='{"pose_style": 3, "batch_size": 1}', api_name="/render")
    assert details["status"] == "done" and details["renderer_options"] == {"pose_style": 3, "batch_size": 1}
    assert calls(standin_sadtalker, "get_facerender_data")[-1]["batch_size"] == 1
    assert calls(standin_sadtalker, "Audio2Coeff.generate")[-1]["pose_style"] == 3


def test_render_called_positionally_as_before_still_works(studio_client, settings):
    """Callers written before the SadTalker options (the README's example: twelve positional
    values) get the same render: the new inputs are last and have defaults."""
    from gradio_client import handle_file

    _, details = studio_client.predict(handle_file(str(SAMPLE_PORTRAIT)), "Profit logic first.", None, "", "happy",
                                       0.5, 0.3, 0.7, 0.8, 0.4, "embedded", False, api_name="/render")
    assert (details["status"], details["backend"], details["emotion"]) == ("done", "embedded", "happy")
    assert JobStore(settings.db_path).get(details["job_id"]).options["renderer_options"] == {}


@pytest.fixture
def negating_enhancer():
    from pipeline.enhance import enhancers

    with enhancers.registered("negate", NegatingEnhancer):
        yield "negate"


def test_enhance_the_face_runs_the_ready_enhancer(negating_enhancer, studio_client, settings):
    from gradio_client import handle_file

    from media_checks import decode_frames

    video, details = studio_client.predict(portrait=handle_file(str(SAMPLE_PORTRAIT)), script="Sharper, please.",
                                           enhance=True, api_name="/render")
    assert details["status"] == "done" and details["enhancer"] == "negate" and "enhance" in details["timings"]
    assert "negated every pixel" in details["notes"]
    job_dir = settings.job_dir(details["job_id"])
    rendered, delivered = decode_frames(job_dir / "render.mp4"), decode_frames(Path(_video_path(video)))
    middle = len(rendered) // 2
    assert abs(255 - float(rendered[middle].mean()) - float(delivered[middle].mean())) < 6


def test_the_job_table_lists_the_enhance_stage_only_when_an_enhancer_ran():
    from studio.lab_view import job_markdown

    timings = {"render": 0.7, "enhance": 0.001, "encode": 0.2}
    plain = job_markdown({"job_id": "j", "status": "done", "timings": timings})
    enhanced = job_markdown({"job_id": "j", "status": "done", "timings": timings, "enhancer": "gfpgan"})
    assert "| render |" in plain and "| encode |" in plain and "| enhance |" not in plain
    assert "| enhance | 0.00 s |" in enhanced


@pytest.mark.parametrize("what", ["not-an-image", "not-a-number"])
def test_a_bad_portrait_or_control_through_the_api_is_a_failed_job_with_its_reason(studio_app, settings, tmp_path,
                                                                                   what):
    import httpx

    from http_client import error_of, fn_index, join, upload

    url = studio_app.local_url.rstrip("/")
    fake = tmp_path / "photo.png"
    fake.write_text("this is text, not a picture")
    with httpx.Client(timeout=60) as client:
        portrait = upload(client, url, fake if what == "not-an-image" else SAMPLE_PORTRAIT)
        blink = "lots" if what == "not-a-number" else 0.3
        answer = join(client, url, fn_index(studio_app, api_name="render"),
                      [portrait, "Hello.", None, "", "auto", blink, 0.3, 0.4, 0.5, 0.3, "embedded", False,
                       None, None, None, None, False, "as-is", "blurred", ""])  # the raw protocol sends every input
    [job] = JobStore(settings.db_path).list()
    expected = {"not-an-image": "could not read 'photo.png' as an image", "not-a-number": "blink_rate must be a number between 0 and 1, "
                                                                   "got 'lots'"}[what]
    assert expected in error_of(answer) and job.status == "failed" and expected in job.error
