"""The Render lab: direct the face with five sliders, see it change at once, render on release.

Four columns: what is said and by whom (persona, portrait, script or recording); the live preview
still (and "Suggest controls"); what shapes it (the emotion, the five sliders); the render (the
button, the video with its stage timings, the backend and what it honours). At 1280×800 the
preview and all five sliders are on screen together; on a phone the columns stack in that
order, so the preview sits right above the sliders. The studio opens on this tab, ready: the sample
portrait and script, and the video they make (``assets/sample.mp4``, the studio's own render of
them at the sliders' starting values, with its captions) until the first render or change.

Events, and why they are wired the way they are:

- **Preview** — any slider or the emotion changing (a drag, "Suggest", History re-opening a job)
  redraws the still through ``pipeline.preview.render_preview`` (≤ 50 ms: the portrait's face and
  fields are cached). It runs outside the queue (``queue=False``: a plain HTTP call, so it never
  waits behind a render under ``default_concurrency_limit=1``), ``trigger_mode="always_last"``
  (a fast drag sends one request at a time and ends on the final value) and with no progress
  overlay. Preview problems are written under the still rather than raised: a toast on every
  slider step would be noise. A new portrait is previewed by its own event, which does raise, so
  a photo without a face is said once, loudly.
- **Render** — the button (``api_name="render"``) and, when "Render when I let go" is on, a slider's
  ``release``; both run ``ctx.runner.render`` with a progress bar and share one concurrency group.
  The sliders are what gets rendered: all five are sent as the user's values, so the video shows
  what the preview showed. A recording, when there is one, is what the avatar says (the script is
  then ignored).
- **Suggest controls** (``api_name="suggest_controls"``) returns one dict (controls, emotion, why);
  a follow-up private event copies it into the sliders, so API callers get a plain answer.
- **Opening the tab** refreshes what may have changed elsewhere: personas made in the Personas tab,
  backends and enhancers registered since start-up, and the preview.
- **Backend options** — each renderer's own options panel is built from the option specs in its
  capabilities (``pipeline/render/base.py``: a choice is a radio, a number in a range a slider, text
  a textbox), for every registered renderer, plugins included; only the chosen one's panel shows,
  and only its values reach the job (``RenderRequest.renderer_options``). They start at the
  renderer's defaults (SadTalker's: the ``SADTALKER_*`` settings).
- **The ``/render`` API** is its own event on a hidden button, so its parameters stay the same for
  every renderer: the controls, ``backend``, ``enhance`` and one ``renderer_options`` dict. The
  three SadTalker parameters it had before (``sadtalker_size`` …) still work for this release.
- **Enhance the face** lights up when a face enhancer (GFPGAN) is registered and ready
  (``pipeline.enhance.first_ready``); otherwise its line says why not.
- **Draw the captions into the video** burns them into the frames (``RenderRequest.burn_captions``);
  the player shows every render's captions as its subtitle track either way (``video_view``).
  **Format** frames the video as-is, 1:1, 9:16 or 16:9, on a blurred or extended background
  (``pipeline/formats.py``). These three, and **Face to animate** (a group photo's face, numbered
  from the left), came after ``renderer_options`` in the ``/render`` API and are its last
  parameters (``LATER_FIELDS``), so callers that pass values by position still fit.

Every handler is a module-level function taking the ``StudioContext`` first (and, for those that
read the options panels, the ``OptionPanels``); ``build`` only lays out the components and wires
them (``common.bind``; ``functools.partial`` where the panels are bound too). It returns a ``LabTab``: the components History fills to
re-open a job, and ``values_for_job`` giving their values for a job (see ``lab_fields``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import gradio as gr

from pipeline.controls import CONTROL_NAMES, EMOTIONS, Controls
from pipeline.db import Job
from pipeline.enhance import first_ready
from pipeline.errors import BackendUnavailable, BadInput, StudioError
from pipeline.formats import AS_IS, BACKGROUNDS, PRESETS
from pipeline.media import probe
from pipeline.preview import faces_in, portrait_image, render_preview
from pipeline.render import OptionSpec, renderers
from pipeline.runner import RenderRequest
from pipeline.stages import renderer_options as job_renderer_options
from pipeline.suggest import suggest_controls

from . import batch_section
from . import lab_view as view
from .common import (SAMPLE_CAPTIONS, SAMPLE_PORTRAIT, SAMPLE_VIDEO, LabTab, StudioContext, bind, progress_callback,
                     shown_errors)
from .limits import quota
from .video_view import caption_downloads, job_player

AUTO = "auto"
NO_PERSONA = ""
DEFAULT_LLM = ""  # the persona's LLM, else the studio's
RULES = "rules"
REST = Controls()  # the sliders' starting values
SLIDER_HELP = {
    "blink_rate": "blinks per minute: see under the preview",
    "head_tilt": "0 still · 1 lively tilt and sway",
    "expression_intensity": "strength of the emotion",
    "mouth_openness": "jaw opening on loud syllables",
    "eyebrow_raise": "brow lift on emphasis",
}
SAMPLE_SCRIPT = "Hello! Move a slider to shape my face, and let go to hear me say it."
# The /render API's parameters that SadTalker's options had before renderer_options (one release).
LEGACY_SADTALKER = {"sadtalker_size": "size", "sadtalker_preprocess": "preprocess", "sadtalker_pose_style": "pose_style"}
# The /render API's parameters that came after renderer_options: last, so positional callers still fit.
LATER_FIELDS = ("burn_captions", "output_format", "background", "face")
BASE_FIELDS = ("portrait", "script", "audio", "persona", "emotion", *CONTROL_NAMES, "backend", "enhance",
               *LATER_FIELDS)
LARGEST = ""  # the face choice that animates the largest face

RENDER_API = f"""Render a talking-head video in one call, like the Render button.

Parameters: portrait (image file), script (text the avatar says; ignored when audio is given),
audio (a recording to lip-sync instead of a script), persona (id: its voice is used; "" for none),
emotion ("auto" to detect it from the speech, or one of {", ".join(EMOTIONS)}),
blink_rate, head_tilt, expression_intensity, mouth_openness, eyebrow_raise (each 0–1; exactly
these are rendered), backend (renderer name: "embedded", "sadtalker", "heygen", "did", or a
plugin's), enhance (true: run the installed face enhancer, GFPGAN, on the rendered video; an error
saying what is missing when none is ready), renderer_options (a dict, or JSON text, of the chosen
renderer's own options — SadTalker: size 256/512, preprocess crop/full, pose_style 0–45,
batch_size; HeyGen: avatar_id, voice_id, resolution, aspect_ratio, background; D-ID: voice_id;
left out ones take their defaults; `python app.py backends --json` lists each renderer's options).
Deprecated, kept for this release: sadtalker_size, sadtalker_preprocess, sadtalker_pose_style
(the same as renderer_options size, preprocess, pose_style when backend is "sadtalker").
burn_captions (true: the captions are drawn into the video's frames as well; every render writes
them beside the video as output.vtt and output.srt either way), output_format ("as-is", "1:1",
"9:16" or "16:9": the video framed for where it is posted, the face in the format's safe area),
background ("blurred" or "extended": what fills the frame around the video), face (in a group
photo, the face to animate, counted from the left, 1 to the faces found; empty or null: the largest).

Returns (video, details): the MP4, and a dict with job_id, status, video, duration_s, controls,
emotion, timings (seconds per stage), captions (vtt, srt, cues, source, burned_in), notes, backend,
persona, controller, and when used, renderer_options and enhancer."""

SUGGEST_API = """Suggest the five controls and the emotion for a script or a recording, without rendering.

Parameters: script, audio (one of them), persona (id or ""), emotion ("auto" or one to force),
llm ("" for the persona's or the studio's LLM, "rules" for the instant rule-based controller, or
an LLM backend name). The LLM's answer is checked: out-of-range values are clamped, missing ones
filled by the rules, an unusable answer falls back to the rules.

Returns a dict: controls {name: 0–1}, emotion, confidence, controller, controller_path (llm,
llm-clamped, llm-partial, rules-fallback, rules), why (lines), answer (the LLM's raw answer,
backend, model, what was clamped or filled in), duration_s, timings."""


@dataclass
class OptionPanels:
    """Each renderer's options panel: the panel, and its (spec, component) pairs in spec order."""

    panels: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, list[tuple[OptionSpec, Any]]] = field(default_factory=dict)

    def components(self) -> list:
        return [component for pairs in self.fields.values() for _, component in pairs]

    def names(self) -> list[str]:
        return [f"{backend}.{spec.name}" for backend, pairs in self.fields.items() for spec, _ in pairs]

    def chosen(self, backend: str | None, values: Sequence[Any]) -> dict:
        """The options of ``backend`` from the values of ``components()`` (same order), blanks left out."""
        found, index = {}, 0
        for name, pairs in self.fields.items():
            for spec, _ in pairs:
                if name == backend and values[index] not in (None, ""):
                    found[spec.name] = values[index]
                index += 1
        return found

    def visibility(self, backend: str | None) -> list:
        return [gr.update(visible=name == backend) for name in self.panels]


def build(ctx: StudioContext, tab: gr.Tab) -> LabTab:
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=250):  # who says what
            persona = gr.Dropdown(persona_choices(ctx), value=NO_PERSONA, label="Persona",
                                  info="Its portrait, voice and default controls", elem_id="lab-persona",
                                  allow_custom_value=True)
            portrait = gr.Image(value=str(SAMPLE_PORTRAIT), type="filepath", image_mode=None, format="png",
                                sources=["upload", "clipboard"], label="Portrait", height=240,
                                elem_id="lab-portrait")
            face = gr.Dropdown([("Largest", LARGEST)], value=LARGEST, label="Face to animate", visible=False,
                               info="this photo has several faces, numbered from the left", allow_custom_value=True,
                               elem_id="lab-face")
            script = gr.Textbox(value=SAMPLE_SCRIPT, label="Script", lines=3, max_lines=8,
                                placeholder="What the avatar says", elem_id="lab-script")
            audio = gr.Audio(sources=["upload", "microphone"], type="filepath",
                             label="…or a recording", elem_id="lab-audio")
            audio_info = gr.Markdown(elem_id="lab-audio-info")
        with gr.Column(scale=5, min_width=250):  # the face, next to (on a phone: right above) the sliders
            preview = gr.Image(label="Live preview", type="numpy", format="jpeg", interactive=False, height=320,
                               buttons=["fullscreen"], elem_id="lab-preview")
            preview_info = gr.Markdown(elem_id="lab-preview-info")
            suggest_llm = gr.Dropdown(llm_choices(ctx), value=DEFAULT_LLM, label="Suggest with",
                                      info=f"default: the persona's LLM, else {ctx.settings.llm}",
                                      allow_custom_value=True, elem_id="lab-suggest-llm")
            suggest_button = gr.Button("Suggest controls", elem_id="lab-suggest")
            why = gr.Markdown(elem_id="lab-why")
        with gr.Column(scale=4, min_width=250):  # what shapes it
            emotion = gr.Dropdown(emotion_choices(), value=AUTO, label="Emotion", elem_id="lab-emotion")
            sliders = [gr.Slider(0, 1, value=getattr(REST, name), step=0.01, label=name.replace("_", " "),
                                 info=SLIDER_HELP[name], elem_id=f"lab-{name}") for name in CONTROL_NAMES]
            auto_render = gr.Checkbox(True, label="Render when I let go of a slider", elem_id="lab-auto-render")
        with gr.Column(scale=4, min_width=250):  # the render: the video, what it took, how
            render_button = gr.Button("Render", variant="primary", elem_id="lab-render")
            video = gr.Video(value=str(SAMPLE_VIDEO), subtitles=str(SAMPLE_CAPTIONS), label="Video",
                             interactive=False, height=320, elem_id="lab-video")
            job_summary = gr.Markdown(view.SAMPLE_LINE, elem_id="lab-job")
            captions = gr.File(label="Captions (WebVTT, SRT)", file_count="multiple", interactive=False,
                               elem_id="lab-captions")
            backend = gr.Dropdown(ctx.backend_choices("renderer"), value=ctx.settings.renderer, label="Backend",
                                  allow_custom_value=True, elem_id="lab-backend")
            honours_line, honours_table = view.honours(ctx.settings, ctx.settings.renderer)
            honours_md = gr.Markdown(honours_line, elem_id="lab-honours")
            with gr.Accordion("How this backend honours each control", open=False):
                honours_detail = gr.Markdown(honours_table, elem_id="lab-honours-table")
            options = option_panels(ctx, ctx.settings.renderer)
            enhancer_name, enhancer_info = first_ready(ctx.settings)
            enhance = gr.Checkbox(False, label="Enhance the face", info=enhancer_info,
                                  interactive=enhancer_name is not None, elem_id="lab-enhance")
            burn = gr.Checkbox(False, label="Draw the captions into the video", elem_id="lab-burn-captions",
                               info="for feeds that play without captions; the .vtt and .srt are made either way")
            output_format = gr.Radio(list(PRESETS), value=AS_IS, label="Format", elem_id="lab-format",
                                     info="framed for where it is posted, the face where apps draw no buttons")
            background = gr.Radio(list(BACKGROUNDS), value=BACKGROUNDS[0], label="Around the video",
                                  elem_id="lab-background", info="a blurred copy, or its edges drawn outwards")
            with gr.Accordion("Job details", open=False):
                details = gr.JSON(label="Render", elem_id="lab-details")
                suggestion = gr.JSON(label="Suggestion", elem_id="lab-suggestion")
            # The /render API's own inputs (hidden): one options dict for every renderer, and the
            # three SadTalker parameters it took before, for one more release.
            with gr.Group(visible=False):
                api_render = gr.Button("Render (API)", visible=False, elem_id="lab-api-render")
                legacy = [gr.Number(None, visible=False, label="sadtalker_size"),
                          gr.Textbox(None, visible=False, label="sadtalker_preprocess"),
                          gr.Number(None, visible=False, label="sadtalker_pose_style")]
                api_options = gr.JSON(None, visible=False, label="renderer_options")

    # -- live preview ------------------------------------------------------------------------
    preview_inputs = [portrait, emotion, *sliders, face]
    # queue=False already keeps previews off the queue; their own unlimited concurrency group keeps
    # them from waiting behind a render even if someone turns the queue back on.
    quiet = {"show_progress": "hidden", "trigger_mode": "always_last", "queue": False, "api_visibility": "private",
             "concurrency_id": "lab-preview", "concurrency_limit": None}
    gr.on([*(slider.change for slider in sliders), emotion.change], preview_quietly, preview_inputs,
          [preview, preview_info], api_name="lab_preview", **quiet)  # named for bench/preview.py
    portrait.change(preview_portrait, preview_inputs, [preview, preview_info], **quiet)
    # A new photo: its faces to choose from (shown for a group photo only); a number it has kept.
    portrait.change(face_choices, [portrait, face], face, queue=False, api_visibility="private",
                    show_progress="hidden")
    face.input(preview_quietly, preview_inputs, [preview, preview_info], **quiet)
    opened = [tab.select, ctx.blocks.load] if ctx.blocks is not None else [tab.select]  # the studio opens here
    gr.on(opened, preview_quietly, preview_inputs, [preview, preview_info], **quiet)

    # .input, not .change: History setting the persona must not overwrite the job's own values.
    persona.input(bind(use_persona, ctx), persona, [portrait, emotion, *sliders], api_visibility="private",
                  queue=False)
    audio.change(describe_recording, audio, audio_info, queue=False, api_visibility="private",
                 show_progress="hidden")
    # What is said, or by whom, changed (typed, uploaded, a persona picked, or a job opened from
    # History): the video, its job, captions and the suggestion's "why" were for the old inputs.
    gr.on([script.change, portrait.change, audio.change, persona.input], clear_results, None,
          [video, details, captions, why, suggestion], queue=False, api_visibility="private",
          show_progress="hidden")
    # Render pressed: the video on show is not the one coming, so it goes at once (the sample's too).
    render_button.click(clear_video, None, [video, details, captions], queue=False, api_visibility="private",
                        show_progress="hidden")

    # -- suggest -----------------------------------------------------------------------------
    suggest_button.click(bind(suggest, ctx), [script, audio, persona, emotion, suggest_llm], suggestion,
                         api_name="suggest_controls", api_description=SUGGEST_API,
                         show_progress_on=[why], concurrency_id="lab-suggest").success(
        apply_suggestion, suggestion, [*sliders, emotion, why], api_visibility="private", queue=False)

    # -- render ------------------------------------------------------------------------------
    # preprocess=False: the handler gets the payload as sent, so a portrait that is not an image, or
    # a control that is not a number, reaches the pipeline and becomes a failed job with its reason
    # (Gradio's own decoding would refuse it first with a generic error and record nothing). The
    # guard has already checked every file in it is this client's upload.
    base_inputs = [portrait, script, audio, persona, emotion, *sliders, backend, enhance, burn, output_format,
                   background, face]
    panel_fields = options.components()
    lab_render = partial(render_from_lab, ctx, options)
    render_button.click(lab_render, [*base_inputs, *panel_fields], [video, details], api_visibility="private",
                        concurrency_id="lab-render", preprocess=False, validator=quota(ctx, "render"))
    gr.on([slider.release for slider in sliders], partial(render_on_release, ctx, options),
          [auto_render, *base_inputs, *panel_fields], [video, details], trigger_mode="always_last",
          concurrency_id="lab-render", api_visibility="private", preprocess=False, validator=quota(ctx, "render"))
    newer = len(LATER_FIELDS)
    api_render.click(bind(render, ctx), [*base_inputs[:-newer], *legacy, api_options, *base_inputs[-newer:]],
                     [video, details], api_name="render", api_description=RENDER_API, concurrency_id="lab-render",
                     preprocess=False, validator=quota(ctx, "render"))
    details.change(view.job_markdown, details, job_summary, queue=False, api_visibility="private",
                   show_progress="hidden")
    details.change(bind(caption_downloads, ctx), details, captions, queue=False, api_visibility="private",
                   show_progress="hidden")

    # -- backends and what may have changed elsewhere -----------------------------------------
    panels = list(options.panels.values())
    backend.change(partial(backend_chosen, ctx, options), backend, [honours_md, honours_detail, *panels],
                   queue=False, api_visibility="private", show_progress="hidden")
    gr.on(opened, partial(refresh, ctx, options), backend,
          [persona, backend, suggest_llm, enhance, honours_md, honours_detail, *panels],
          queue=False, api_visibility="private", show_progress="hidden")

    batch_section.build(ctx)  # the last section of the tab: many videos from one file

    fields = [*base_inputs, *panel_fields]
    return LabTab(fields=fields, values_for_job=partial(values_for_job, ctx, options))


def lab_fields(options: OptionPanels) -> list[str]:
    """The order History's "Open in Render lab" fills the lab in (``LabTab.fields``)."""
    return [*BASE_FIELDS, *options.names()]


# -- handlers -------------------------------------------------------------------------------------

def preview_quietly(image, chosen_emotion, *values):
    """Slider moves: problems go under the still, not in a toast. ``values``: the five controls,
    then the face chosen."""
    try:
        return _preview(image, chosen_emotion, values)
    except StudioError as error:
        return gr.skip(), f"**Preview:** {error}"


@shown_errors
def preview_portrait(image, chosen_emotion, *values):
    """A new portrait: a photo that cannot be animated is said once, as an error."""
    if not image:
        return None, "Choose a persona or upload a portrait to see the preview."
    return _preview(image, chosen_emotion, values)


@shown_errors
def face_choices(image, current=LARGEST):
    """The faces of a new portrait to choose from: shown when it has several, numbered from the
    left, with where each is; the chosen number kept while the photo has that many faces. A photo
    that cannot be animated hides the choice (the preview says why)."""
    places = faces_in(image)
    if len(places) < 2:
        return gr.update(choices=[("Largest", LARGEST)], value=LARGEST, visible=False)
    choices = [("Largest", LARGEST), *((f"{number}: {place}", str(number)) for number, place in enumerate(places, 1))]
    kept = str(current) if str(current or "").isdigit() and 1 <= int(current) <= len(places) else LARGEST
    return gr.update(choices=choices, value=kept, visible=True)


@shown_errors
def use_persona(ctx: StudioContext, persona_id):
    """A persona picked: its portrait, its forced emotion (else auto) and its default controls."""
    if not persona_id:
        return [gr.skip()] * (2 + len(CONTROL_NAMES))
    chosen = ctx.personas.get(persona_id)
    path = ctx.personas.portrait_path(chosen)
    if path is None:
        gr.Warning(f"{chosen.name} has no portrait yet; keeping the current one")
    controls = chosen.controls()
    forced = (chosen.default_controls or {}).get("emotion")
    return [portrait_image(path) if path else gr.skip(), forced or AUTO,
            *(view.slider_value(getattr(controls, name)) for name in CONTROL_NAMES)]


def clear_results() -> tuple:
    """(video, details, captions, why, suggestion), emptied: they no longer match the inputs."""
    return None, None, None, "", None


def clear_video() -> tuple:
    """(video, details, captions), emptied: a new render is on its way."""
    return None, None, None


def describe_recording(recording: str | None) -> str:
    """Once a recording reaches the server: say that it replaces the script."""
    if not recording:
        return ""
    try:
        seconds = f"{probe(Path(recording)).duration_s:.1f} s"
    except StudioError as error:
        return f"**Recording:** {error}"
    return f"Recording ready ({seconds}): the avatar will say it instead of the script."


@shown_errors
def suggest(ctx: StudioContext, script: str | None = None, audio: str | None = None,
            persona: str | None = NO_PERSONA, emotion: str | None = AUTO, llm: str | None = DEFAULT_LLM) -> dict:
    text, recording = _what_is_said(script, audio)
    result = suggest_controls(ctx.settings, text=text, audio=recording, emotion=_forced(emotion),
                              persona=persona or None, llm=None if llm in (DEFAULT_LLM, RULES, None) else llm,
                              controller=RULES if llm == RULES else "llm", owner=ctx.owner)
    return view.suggestion_answer(result)


def apply_suggestion(found: dict | None):
    if not found:
        return [gr.skip()] * (len(CONTROL_NAMES) + 2)
    lines = "\n".join(f"- {line}" for line in found.get("why", []))
    return [*(view.slider_value(found["controls"][name]) for name in CONTROL_NAMES), found["emotion"],
            f"**Why these controls** ({found['controller_path']})\n{lines}"]


@shown_errors
def render(ctx: StudioContext, portrait: Any, script: str | None = None, audio: Any = None,
           persona: str | None = NO_PERSONA, emotion: str | None = AUTO, blink_rate: float = REST.blink_rate,
           head_tilt: float = REST.head_tilt, expression_intensity: float = REST.expression_intensity,
           mouth_openness: float = REST.mouth_openness, eyebrow_raise: float = REST.eyebrow_raise,
           backend: str | None = None, enhance: bool = False, sadtalker_size: int | None = None,
           sadtalker_preprocess: str | None = None, sadtalker_pose_style: float | None = None,
           renderer_options: dict | str | None = None, burn_captions: bool = False, output_format: str | None = AS_IS,
           background: str | None = BACKGROUNDS[0], face: int | str | None = None, progress=gr.Progress()):
    """The /render API (and the lab's button, through ``render_from_lab``): one job, its video and details."""
    portrait, audio = _upload_path(portrait), _upload_path(audio)
    if not portrait:
        raise BadInput("choose a portrait: pick a persona or upload a photo")
    chosen_backend = backend or ctx.settings.renderer
    legacy = {"sadtalker_size": sadtalker_size, "sadtalker_preprocess": sadtalker_preprocess,
              "sadtalker_pose_style": sadtalker_pose_style}
    own = _options_dict(renderer_options)
    if chosen_backend == "sadtalker":  # the deprecated parameters; renderer_options wins
        own = {**{LEGACY_SADTALKER[key]: value for key, value in legacy.items() if value not in (None, "")}, **own}
    text, recording = _what_is_said(script, audio)
    chosen_persona = ctx.personas.get(persona) if persona else None
    values = dict(zip(CONTROL_NAMES, (blink_rate, head_tilt, expression_intensity, mouth_openness, eyebrow_raise)))
    request = RenderRequest(
        image=portrait, text=text, audio=recording, persona=chosen_persona.id if chosen_persona else None,
        backend=backend or None, controls=values, emotion=_forced(emotion),
        voice=chosen_persona.voice if chosen_persona else None, renderer_options=own,
        voice_tuning=chosen_persona.voice_tuning if chosen_persona else None,
        burn_captions=bool(burn_captions), output_format=output_format or None, background=background or None,
        face=_face(face), **_enhancer(ctx, enhance))
    job = ctx.runner.render(request, progress=progress_callback(progress))
    return job.video_path, view.render_details(job, ignored_script=bool(recording and (script or "").strip()))


def render_from_lab(ctx: StudioContext, options: OptionPanels, *values, progress=gr.Progress()):
    """The Render button: the base fields, then every options panel's values (the chosen backend's are
    sent). The player gets the video with its captions (``video_view``); the API answers the path."""
    count = len(BASE_FIELDS)
    base, panel_values = dict(zip(BASE_FIELDS, values[:count])), values[count:]
    chosen = base["backend"] or ctx.settings.renderer
    _, details = render(ctx, **base, renderer_options=options.chosen(chosen, panel_values), progress=progress)
    return job_player(ctx.settings, ctx.runner.store.get(details["job_id"])), details


def render_on_release(ctx: StudioContext, options: OptionPanels, auto: bool, portrait, script, audio, *rest,
                      progress=gr.Progress()):
    """A slider let go: render only when asked to and there is something to say."""
    if not auto or not ((script or "").strip() or audio):
        return gr.skip(), gr.skip()
    return render_from_lab(ctx, options, portrait, script, audio, *rest, progress=progress)


def backend_chosen(ctx: StudioContext, options: OptionPanels, name):
    """A backend picked: what it honours, and its own options panel (the others hidden)."""
    return (*view.honours(ctx.settings, name), *options.visibility(name))


def refresh(ctx: StudioContext, options: OptionPanels, backend_name):
    """Opening the tab: personas, backends, LLMs and the enhancer may have changed elsewhere."""
    name, info = first_ready(ctx.settings)
    enhancer = (gr.update(interactive=True, info=info) if name
                else gr.update(interactive=False, value=False, info=info))
    return (gr.update(choices=persona_choices(ctx)), gr.update(choices=ctx.backend_choices("renderer")),
            gr.update(choices=llm_choices(ctx)), enhancer, *backend_chosen(ctx, options, backend_name))


def values_for_job(ctx: StudioContext, options: OptionPanels, job: Job | str) -> list:
    """The lab's fields for ``job`` in ``lab_fields`` order: its own input copies, its text,
    persona, forced emotion (else auto), the controls it was rendered with, its backend, whether
    it asked for a face enhancer and for its captions drawn in, its format and background, and
    every options panel's values (its own renderer's from the job, the others at their defaults)."""
    job = job if isinstance(job, Job) else ctx.runner.store.get(job)
    job_dir = ctx.settings.job_dir(job.id)
    controls = {**Controls().to_dict(), **(job.controls_final or job.controls_user or {})}
    copy = _job_copy(job_dir, "portrait")
    recording = _job_copy(job_dir, "audio")
    recorded = job.options or {}
    backend_name = job.backend or ctx.settings.renderer
    own = job_renderer_options(recorded)
    panel_values = [own.get(spec.name, spec.default) if name == backend_name else spec.default
                    for name, pairs in options.fields.items() for spec, _ in pairs]
    return [str(copy) if copy else None, job.text or "", str(recording) if recording else None,
            job.persona or NO_PERSONA, recorded.get("emotion") or AUTO,
            *(view.slider_value(controls[name]) for name in CONTROL_NAMES), backend_name,
            bool(recorded.get("enhancer")), bool(recorded.get("burn_captions")), recorded.get("output_format") or AS_IS,
            recorded.get("background") or BACKGROUNDS[0], str(recorded["face"]) if recorded.get("face") else LARGEST,
            *panel_values]


# -- the options panels -----------------------------------------------------------------------------

def option_panels(ctx: StudioContext, current: str | None) -> OptionPanels:
    """An options panel for every registered renderer that has options, built from its specs."""
    built = OptionPanels()
    for name in renderers.names():
        try:
            renderer = renderers.create(name, ctx.settings)
            specs = renderer.capabilities(ctx.settings).options
        except StudioError:  # a plugin that cannot even say what it takes: no panel for it
            continue
        if not specs:
            continue
        with gr.Accordion(f"{renderer.label or name} options", open=True, visible=name == current,
                          elem_id=f"lab-{name}-options") as panel:
            built.fields[name] = [(spec, option_field(name, spec)) for spec in specs]
        built.panels[name] = panel
    return built


def option_field(backend: str, spec: OptionSpec):
    """The component for one option: a choice is a radio, a number in a range a slider."""
    elem_id = f"lab-{backend}-{spec.name.replace('_', '-')}"
    common = {"label": spec.title, "info": spec.help or None, "elem_id": elem_id}
    if spec.kind == "choice":
        labels = [(f"{choice} px" if spec.name == "size" and isinstance(choice, int) else str(choice), choice)
                  for choice in spec.choices]
        return gr.Radio(labels, value=spec.default, **common)
    if spec.kind in ("int", "float") and spec.low is not None and spec.high is not None:
        return gr.Slider(spec.low, spec.high, value=spec.default, step=1 if spec.kind == "int" else None, **common)
    if spec.kind in ("int", "float"):
        return gr.Number(spec.default, precision=0 if spec.kind == "int" else None, **common)
    if spec.kind == "bool":
        return gr.Checkbox(bool(spec.default), **common)
    return gr.Textbox(spec.default or "", placeholder=spec.setting and f"default: {spec.setting}", **common)


def _options_dict(value: Any) -> dict:
    """``renderer_options`` as sent: a dict, JSON text of one, or nothing."""
    if value in (None, "", {}):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise BadInput(f"renderer_options must be a JSON object, got {value[:80]!r}") from None
    if not isinstance(value, dict):
        raise BadInput(f"renderer_options must be a JSON object (a dict), got {value!r}")
    return value


# -- helpers: choices, the request's small decisions, and what is shown ---------------------------

def _preview(image: str | None, chosen_emotion: str | None, values) -> tuple[Any, str]:
    face = values[len(CONTROL_NAMES)] if len(values) > len(CONTROL_NAMES) else None
    result = render_preview(image, dict(zip(CONTROL_NAMES, values)), emotion=_forced(chosen_emotion),
                            face=_face(face))
    return result.image, result.summary()


def _face(value: Any) -> Any:
    """The face choice as the pipeline takes it: None for the largest, a number as an int; anything
    else as sent, for the pipeline to refuse in words."""
    if value in (None, LARGEST):
        return None
    return int(value) if str(value).strip().isdigit() else value


def _forced(emotion: str | None) -> str | None:
    return None if emotion in (None, "", AUTO) else emotion


def _what_is_said(script: str | None, audio: str | None) -> tuple[str | None, str | None]:
    """(text, recording) to send: a recording wins over the script; an empty script stays a script
    so the pipeline can say it is empty."""
    if audio:
        return None, audio
    return (script if script is not None else ""), None


def _enhancer(ctx: StudioContext, enhance: bool) -> dict:
    """The request's enhancer, when one is asked for and one is ready."""
    if not enhance:
        return {}
    name, why_not = first_ready(ctx.settings)
    if name is None:
        raise BackendUnavailable(f"Cannot enhance the face: {why_not.rstrip('.')}. "
                                 "Turn “Enhance the face” off to render.")
    return {"enhancer": name}


def _upload_path(value: Any) -> str | None:
    """The file path in a raw file payload (``{"path": …}``, as the guard checked it), or None."""
    if isinstance(value, dict):
        value = value.get("path")
    return str(value) if value else None


def _job_copy(job_dir: Path, stem: str) -> Path | None:
    """The job's own copy of an input (``input/portrait.png``): served, and still there after the
    original upload is gone."""
    return next(iter(sorted((job_dir / "input").glob(f"{stem}.*"))), None)


def persona_choices(ctx: StudioContext) -> list[tuple[str, str]]:
    return [("None: use the portrait", NO_PERSONA), *ctx.persona_choices()]


def emotion_choices() -> list[tuple[str, str]]:
    return [("auto (from the speech)", AUTO), *((emotion, emotion) for emotion in EMOTIONS)]


def llm_choices(ctx: StudioContext) -> list[tuple[str, str]]:
    return [("LLM (default)", DEFAULT_LLM), ("rules (instant)", RULES),
            *((f"LLM: {label}", name) for label, name in ctx.backend_choices("llm"))]
