"""The Render lab: direct the face with five sliders, see it change at once, render on release.

Four columns: what is said and by whom (persona, portrait, script or recording); the live preview
still (and "Suggest controls"); what shapes it (the emotion, the five sliders); the render (the
button, the video with its stage timings, the backend and what it honours). At 1280×800 the
preview and all five sliders are on screen together; on a phone the columns stack in that
order, so the preview sits right above the sliders.

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
- **Backend options** — choosing the ``sadtalker`` backend shows its own options (output size,
  preprocess, pose style), which reach the job as ``RenderRequest.renderer_options``; for any other
  backend they are hidden and not sent. They start at the ``SADTALKER_*`` settings.
- **Enhance the face** lights up when a face enhancer (GFPGAN) is registered and ready; otherwise
  its line says why not (the package or its weights are missing).

``build`` returns a ``LabTab``: the components History fills to re-open a job, and
``values_for_job`` giving their values for a job (see ``LAB_FIELDS``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from pipeline import registry
from pipeline.cli import render_result
from pipeline.controls import CONTROL_NAMES, EMOTIONS, Controls
from pipeline.errors import BackendUnavailable, BadInput, StudioError
from pipeline.jobs import Job
from pipeline.media import probe
from pipeline.preview import portrait_image, render_preview
from pipeline.runner import RenderRequest
from pipeline.settings import SADTALKER_POSE_STYLES, SADTALKER_PREPROCESS, SADTALKER_SIZES
from pipeline.stages import timings_to_show
from pipeline.suggest import suggest_controls

from .common import SAMPLE_PORTRAIT, LabTab, StudioContext, progress_callback, shown_errors
from .limits import quota

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
NO_ENHANCER = "no face enhancer is installed (GFPGAN: see the README's GPU workstation steps)"
SADTALKER = "sadtalker"  # the backend whose own options the lab offers
SADTALKER_OPTIONS = ("sadtalker_size", "sadtalker_preprocess", "sadtalker_pose_style")
# The order History's "Open in Render lab" fills them in (LabTab.fields / values_for_job).
LAB_FIELDS = ("portrait", "script", "audio", "persona", "emotion", *CONTROL_NAMES, "backend", "enhance",
              *SADTALKER_OPTIONS)

RENDER_API = f"""Render a talking-head video in one call, like the Render button.

Parameters: portrait (image file), script (text the avatar says; ignored when audio is given),
audio (a recording to lip-sync instead of a script), persona (id: its voice is used; "" for none),
emotion ("auto" to detect it from the speech, or one of {", ".join(EMOTIONS)}),
blink_rate, head_tilt, expression_intensity, mouth_openness, eyebrow_raise (each 0–1; exactly
these are rendered), backend (renderer name: "embedded", "sadtalker", "heygen", "did"), enhance
(true: run the installed face enhancer, GFPGAN, on the rendered video; an error saying what is
missing when none is ready), and SadTalker's own options, used only when backend is "sadtalker"
(left out: the SADTALKER_SIZE / SADTALKER_PREPROCESS / SADTALKER_POSE_STYLE settings):
sadtalker_size (256 or 512 px), sadtalker_preprocess ("crop": the face region; "full": the whole
photo), sadtalker_pose_style (0–45, the head-motion style of SadTalker's pose model).

Returns (video, details): the MP4, and a dict with job_id, status, video, duration_s, controls,
emotion, timings (seconds per stage), notes, backend, persona, controller, and when used,
renderer_options and enhancer."""

SUGGEST_API = """Suggest the five controls and the emotion for a script or a recording, without rendering.

Parameters: script, audio (one of them), persona (id or ""), emotion ("auto" or one to force),
llm ("" for the persona's or the studio's LLM, "rules" for the instant rule-based controller, or
an LLM backend name). The LLM's answer is checked: out-of-range values are clamped, missing ones
filled by the rules, an unusable answer falls back to the rules.

Returns a dict: controls {name: 0–1}, emotion, confidence, controller, controller_path (llm,
llm-clamped, llm-partial, rules-fallback, rules), why (lines), answer (the LLM's raw answer,
backend, model, what was clamped or filled in), duration_s, timings."""


def build(ctx: StudioContext, tab: gr.Tab) -> LabTab:
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=250):  # who says what
            persona = gr.Dropdown(_persona_choices(ctx), value=NO_PERSONA, label="Persona",
                                  info="Its portrait, voice and default controls", elem_id="lab-persona",
                                  allow_custom_value=True)
            portrait = gr.Image(value=str(SAMPLE_PORTRAIT), type="filepath", image_mode=None, format="png",
                                sources=["upload", "clipboard"], label="Portrait", height=240,
                                elem_id="lab-portrait")
            script = gr.Textbox(value=SAMPLE_SCRIPT, label="Script", lines=3, max_lines=8,
                                placeholder="What the avatar says", elem_id="lab-script")
            audio = gr.Audio(sources=["upload", "microphone"], type="filepath",
                             label="…or a recording", elem_id="lab-audio")
            audio_info = gr.Markdown(elem_id="lab-audio-info")
        with gr.Column(scale=5, min_width=250):  # the face, next to (on a phone: right above) the sliders
            preview = gr.Image(label="Live preview", type="numpy", format="jpeg", interactive=False, height=320,
                               buttons=["fullscreen"], elem_id="lab-preview")
            preview_info = gr.Markdown(elem_id="lab-preview-info")
            suggest_llm = gr.Dropdown(_llm_choices(ctx), value=DEFAULT_LLM, label="Suggest with",
                                      info=f"default: the persona's LLM, else {ctx.settings.llm}",
                                      allow_custom_value=True, elem_id="lab-suggest-llm")
            suggest_button = gr.Button("Suggest controls", elem_id="lab-suggest")
            why = gr.Markdown(elem_id="lab-why")
        with gr.Column(scale=4, min_width=250):  # what shapes it
            emotion = gr.Dropdown(_emotion_choices(), value=AUTO, label="Emotion", elem_id="lab-emotion")
            sliders = [gr.Slider(0, 1, value=getattr(REST, name), step=0.01, label=name.replace("_", " "),
                                 info=SLIDER_HELP[name], elem_id=f"lab-{name}") for name in CONTROL_NAMES]
            auto_render = gr.Checkbox(True, label="Render when I let go of a slider", elem_id="lab-auto-render")
        with gr.Column(scale=4, min_width=250):  # the render: the video, what it took, how
            render_button = gr.Button("Render", variant="primary", elem_id="lab-render")
            video = gr.Video(label="Video", interactive=False, height=320, elem_id="lab-video")
            job_summary = gr.Markdown(elem_id="lab-job")
            backend = gr.Dropdown(ctx.backend_choices("renderer"), value=ctx.settings.renderer, label="Backend",
                                  allow_custom_value=True, elem_id="lab-backend")
            honours_line, honours_table = _honours(ctx, ctx.settings.renderer)
            honours = gr.Markdown(honours_line, elem_id="lab-honours")
            with gr.Accordion("How this backend honours each control", open=False):
                honours_detail = gr.Markdown(honours_table, elem_id="lab-honours-table")
            with gr.Accordion("SadTalker options", open=True, visible=ctx.settings.renderer == SADTALKER,
                              elem_id="lab-sadtalker-options") as sadtalker_options:
                sadtalker_size = gr.Radio([(f"{size} px", size) for size in SADTALKER_SIZES],
                                          value=ctx.settings.sadtalker_size, label="Size",
                                          info="SadTalker's face renderer: 512 is sharper, slower",
                                          elem_id="lab-sadtalker-size")
                sadtalker_preprocess = gr.Radio(list(SADTALKER_PREPROCESS), value=ctx.settings.sadtalker_preprocess,
                                                label="Preprocess",
                                                info="crop: animate the face · full: the whole photo",
                                                elem_id="lab-sadtalker-preprocess")
                low, high = SADTALKER_POSE_STYLES
                sadtalker_pose_style = gr.Slider(low, high, value=ctx.settings.sadtalker_pose_style, step=1,
                                                 label="Pose style", info="head-motion style of SadTalker's pose model",
                                                 elem_id="lab-sadtalker-pose-style")
            enhancer_name, enhancer_info = _enhancer_state(ctx)
            enhance = gr.Checkbox(False, label="Enhance the face", info=enhancer_info,
                                  interactive=enhancer_name is not None, elem_id="lab-enhance")
            with gr.Accordion("Job details", open=False):
                details = gr.JSON(label="Render", elem_id="lab-details")
                suggestion = gr.JSON(label="Suggestion", elem_id="lab-suggestion")

    # -- live preview ------------------------------------------------------------------------
    def preview_quietly(image, chosen_emotion, *values):
        """Slider moves: problems go under the still, not in a toast."""
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

    preview_inputs = [portrait, emotion, *sliders]
    # queue=False already keeps previews off the queue; their own unlimited concurrency group keeps
    # them from waiting behind a render even if someone turns the queue back on.
    quiet = {"show_progress": "hidden", "trigger_mode": "always_last", "queue": False, "api_visibility": "private",
             "concurrency_id": "lab-preview", "concurrency_limit": None}
    gr.on([*(slider.change for slider in sliders), emotion.change], preview_quietly, preview_inputs,
          [preview, preview_info], api_name="lab_preview", **quiet)  # named for bench/preview.py
    portrait.change(preview_portrait, preview_inputs, [preview, preview_info], **quiet)
    tab.select(preview_quietly, preview_inputs, [preview, preview_info], **quiet)

    # -- persona -----------------------------------------------------------------------------
    @shown_errors
    def use_persona(persona_id):
        if not persona_id:
            return [gr.skip()] * (2 + len(sliders))
        chosen = ctx.personas.get(persona_id)
        path = ctx.personas.portrait_path(chosen)
        if path is None:
            gr.Warning(f"{chosen.name} has no portrait yet; keeping the current one")
        controls = chosen.controls()
        forced = (chosen.default_controls or {}).get("emotion")
        return [portrait_image(path) if path else gr.skip(), forced or AUTO,
                *(getattr(controls, name) for name in CONTROL_NAMES)]

    # .input, not .change: History setting the persona must not overwrite the job's own values.
    persona.input(use_persona, persona, [portrait, emotion, *sliders], api_visibility="private", queue=False)

    # -- the recording: say that it replaces the script once it has reached the server ----------
    def describe_recording(recording: str | None) -> str:
        if not recording:
            return ""
        try:
            seconds = f"{probe(Path(recording)).duration_s:.1f} s"
        except StudioError as error:
            return f"**Recording:** {error}"
        return f"Recording ready ({seconds}): the avatar will say it instead of the script."

    audio.change(describe_recording, audio, audio_info, queue=False, api_visibility="private",
                 show_progress="hidden")

    # -- suggest -----------------------------------------------------------------------------
    @shown_errors
    def suggest(script: str | None = None, audio: str | None = None, persona: str | None = NO_PERSONA,
                emotion: str | None = AUTO, llm: str | None = DEFAULT_LLM) -> dict:
        text, recording = _what_is_said(script, audio)
        result = suggest_controls(ctx.settings, text=text, audio=recording, emotion=_forced(emotion),
                                  persona=persona or None, llm=None if llm in (DEFAULT_LLM, RULES, None) else llm,
                                  controller=RULES if llm == RULES else "llm", owner=ctx.owner)
        return result.to_dict()

    def apply_suggestion(found: dict | None):
        if not found:
            return [gr.skip()] * (len(sliders) + 2)
        lines = "\n".join(f"- {line}" for line in found.get("why", []))
        return [*(found["controls"][name] for name in CONTROL_NAMES), found["emotion"],
                f"**Why these controls** ({found['controller_path']})\n{lines}"]

    suggest_button.click(suggest, [script, audio, persona, emotion, suggest_llm], suggestion,
                         api_name="suggest_controls", api_description=SUGGEST_API,
                         show_progress_on=[why], concurrency_id="lab-suggest").success(
        apply_suggestion, suggestion, [*sliders, emotion, why], api_visibility="private", queue=False)

    # -- render ------------------------------------------------------------------------------
    # preprocess=False: the handler gets the payload as sent, so a portrait that is not an image, or
    # a control that is not a number, reaches the pipeline and becomes a failed job with its reason
    # (Gradio's own decoding would refuse it first with a generic error and record nothing). The
    # guard has already checked every file in it is this client's upload.
    @shown_errors
    def render(portrait: Any, script: str | None = None, audio: Any = None,
               persona: str | None = NO_PERSONA, emotion: str | None = AUTO, blink_rate: float = REST.blink_rate,
               head_tilt: float = REST.head_tilt, expression_intensity: float = REST.expression_intensity,
               mouth_openness: float = REST.mouth_openness, eyebrow_raise: float = REST.eyebrow_raise,
               backend: str | None = None, enhance: bool = False, sadtalker_size: int | None = None,
               sadtalker_preprocess: str | None = None, sadtalker_pose_style: float | None = None,
               progress=gr.Progress()):
        portrait, audio = _upload_path(portrait), _upload_path(audio)
        if not portrait:
            raise BadInput("choose a portrait: pick a persona or upload a photo")
        options = _renderer_options(backend or ctx.settings.renderer, sadtalker_size, sadtalker_preprocess,
                                    sadtalker_pose_style)
        text, recording = _what_is_said(script, audio)
        chosen_persona = ctx.personas.get(persona) if persona else None
        values = dict(zip(CONTROL_NAMES, (blink_rate, head_tilt, expression_intensity, mouth_openness,
                                          eyebrow_raise)))
        request = RenderRequest(
            image=portrait, text=text, audio=recording, persona=chosen_persona.id if chosen_persona else None,
            backend=backend or None, controls=values, emotion=_forced(emotion),
            voice=chosen_persona.voice if chosen_persona else None, renderer_options=options,
            **_enhancer(ctx, enhance))
        job = ctx.runner.render(request, progress=progress_callback(progress))
        return job.video_path, _details(job, ignored_script=bool(recording and (script or "").strip()))

    def render_on_release(auto: bool, portrait, script, audio, *rest, progress=gr.Progress()):
        """A slider let go: render only when asked to and there is something to say."""
        if not auto or not ((script or "").strip() or audio):
            return gr.skip(), gr.skip()
        return render(portrait, script, audio, *rest, progress=progress)

    sadtalker_fields = [sadtalker_size, sadtalker_preprocess, sadtalker_pose_style]
    render_inputs = [portrait, script, audio, persona, emotion, *sliders, backend, enhance, *sadtalker_fields]
    render_button.click(render, render_inputs, [video, details], api_name="render", api_description=RENDER_API,
                        concurrency_id="lab-render", preprocess=False, validator=quota(ctx, "render"))
    gr.on([slider.release for slider in sliders], render_on_release, [auto_render, *render_inputs],
          [video, details], trigger_mode="always_last", concurrency_id="lab-render", api_visibility="private",
          preprocess=False, validator=quota(ctx, "render"))
    details.change(_job_markdown, details, job_summary, queue=False, api_visibility="private",
                   show_progress="hidden")

    # -- backends and what may have changed elsewhere -----------------------------------------
    def backend_chosen(name):
        return (*_honours(ctx, name), gr.update(visible=name == SADTALKER))

    backend.change(backend_chosen, backend, [honours, honours_detail, sadtalker_options], queue=False,
                   api_visibility="private", show_progress="hidden")

    def refresh(backend_name):
        name, info = _enhancer_state(ctx)
        enhancer = (gr.update(interactive=True, info=info) if name
                    else gr.update(interactive=False, value=False, info=info))
        return (gr.update(choices=_persona_choices(ctx)), gr.update(choices=ctx.backend_choices("renderer")),
                gr.update(choices=_llm_choices(ctx)), enhancer, *backend_chosen(backend_name))

    tab.select(refresh, backend, [persona, backend, suggest_llm, enhance, honours, honours_detail, sadtalker_options],
               queue=False, api_visibility="private", show_progress="hidden")

    # -- History's "open in Render lab" ---------------------------------------------------------
    def values_for_job(job: Job | str) -> list:
        """The lab's fields for ``job`` in ``LAB_FIELDS`` order: its own input copies, its text,
        persona, forced emotion (else auto), the controls it was rendered with, its backend, whether
        it asked for a face enhancer, and its SadTalker options (a job on another backend: the
        settings' defaults)."""
        job = job if isinstance(job, Job) else ctx.runner.store.get(job)
        job_dir = ctx.settings.job_dir(job.id)
        controls = {**Controls().to_dict(), **(job.controls_final or job.controls_user or {})}
        copy = _job_copy(job_dir, "portrait")
        recording = _job_copy(job_dir, "audio")
        options = job.options or {}
        backend_name = job.backend or ctx.settings.renderer
        own = (options.get("renderer_options") or {}) if backend_name == SADTALKER else {}
        return [str(copy) if copy else None, job.text or "", str(recording) if recording else None,
                job.persona or NO_PERSONA, options.get("emotion") or AUTO,
                *(float(controls[name]) for name in CONTROL_NAMES), backend_name, bool(options.get("enhancer")),
                int(own.get("size") or ctx.settings.sadtalker_size),
                own.get("preprocess") or ctx.settings.sadtalker_preprocess,
                int(own.get("pose_style", ctx.settings.sadtalker_pose_style))]

    return LabTab(fields=[portrait, script, audio, persona, emotion, *sliders, backend, enhance, *sadtalker_fields],
                  values_for_job=values_for_job)


# -- helpers: choices, the request's small decisions, and what is shown ---------------------------

def _preview(image: str | None, chosen_emotion: str | None, values) -> tuple[Any, str]:
    result = render_preview(image, dict(zip(CONTROL_NAMES, values)), emotion=_forced(chosen_emotion))
    return result.image, result.summary()


def _forced(emotion: str | None) -> str | None:
    return None if emotion in (None, "", AUTO) else emotion


def _what_is_said(script: str | None, audio: str | None) -> tuple[str | None, str | None]:
    """(text, recording) to send: a recording wins over the script; an empty script stays a script
    so the pipeline can say it is empty."""
    if audio:
        return None, audio
    return (script if script is not None else ""), None


def _enhancer_state(ctx: StudioContext) -> tuple[str | None, str]:
    """(the first ready face enhancer or None, the checkbox's line: what it runs, or why it can't)."""
    found = registry.availability("enhancer", ctx.settings)
    ready = [item.name for item in found if item.ready]
    if ready:
        return ready[0], f"run {ready[0]} on the rendered face"
    return None, (f"{found[0].name} cannot run: {found[0].reason}" if found else NO_ENHANCER)


def _enhancer(ctx: StudioContext, enhance: bool) -> dict:
    """The request's enhancer, when one is asked for and one is ready."""
    if not enhance:
        return {}
    name, why_not = _enhancer_state(ctx)
    if name is None:
        raise BackendUnavailable(f"Cannot enhance the face: {why_not.rstrip('.')}. "
                                 "Turn “Enhance the face” off to render.")
    return {"enhancer": name}


def _renderer_options(backend: str, size: Any, preprocess: Any, pose_style: Any) -> dict:
    """SadTalker's own options for a SadTalker job (those given; the rest come from the settings);
    nothing for any other backend, which has no such options (the lab always sends the fields).
    The renderer's ``check_options`` judges the values when the job is submitted, so a bad one is
    a failed job with its reason; only the pose style's slider is checked here, in its own words."""
    if backend != SADTALKER:
        return {}
    given = {"size": size, "preprocess": preprocess, "pose_style": pose_style}
    options = {name: value for name, value in given.items() if value not in (None, "")}
    if "pose_style" in options:
        try:
            whole = float(pose_style) == int(float(pose_style))
        except (TypeError, ValueError, OverflowError):
            whole = False
        if not whole:
            low, high = SADTALKER_POSE_STYLES
            raise BadInput(f"SadTalker pose style must be a whole number from {low} to {high}, got {pose_style}")
        options["pose_style"] = int(float(pose_style))
    return options


def _upload_path(value: Any) -> str | None:
    """The file path in a raw file payload (``{"path": …}``, as the guard checked it), or None."""
    if isinstance(value, dict):
        value = value.get("path")
    return str(value) if value else None


def _job_copy(job_dir: Path, stem: str) -> Path | None:
    """The job's own copy of an input (``input/portrait.png``): served, and still there after the
    original upload is gone."""
    return next(iter(sorted((job_dir / "input").glob(f"{stem}.*"))), None)


def _details(job: Job, *, ignored_script: bool = False) -> dict:
    details = {**render_result(job), "backend": job.backend, "persona": job.persona, "controller": job.controller}
    options = job.options or {}
    if options.get("renderer_options"):
        details["renderer_options"] = options["renderer_options"]
    if options.get("enhancer"):
        details["enhancer"] = options["enhancer"]
    if job.controls_ignored:
        details["controls_ignored"] = job.controls_ignored
    if ignored_script:
        details["notes"] = [*details.get("notes", []), "the recording was used; the script was not spoken"]
    return details


def _job_markdown(details: dict | None) -> str:
    """The job in a few lines: id, status, length, emotion, backend; seconds per stage; notes."""
    if not details:
        return ""
    timings = details.get("timings") or {}
    head = (f"**Job `{details['job_id']}`** · {details['status']} · {details.get('duration_s') or 0:.1f} s of "
            f"video · emotion {details.get('emotion')} · {details.get('backend')} · "
            f"rendered in {sum(timings.values()):.1f} s")
    rows = "\n".join(f"| {stage} | {seconds:.2f} s |"
                     for stage, seconds in timings_to_show(timings, details.get("enhancer")).items())
    notes = "".join(f"\n- {note}" for note in details.get("notes", []))
    return f"{head}\n\n| stage | time |\n|---|---:|\n{rows}\n{notes}"


def _honours(ctx: StudioContext, name: str | None) -> tuple[str, str]:
    """A line saying whether the backend can run and what it honours, and a table of how."""
    found = next((item for item in registry.availability("renderer", ctx.settings) if item.name == name), None)
    if found is None:
        return (f"**No renderer called {name!r}.**" if name else ""), ""
    honours = found.honours or {}
    controls = (*CONTROL_NAMES, "emotion")
    honoured = [c.replace("_", " ") for c in controls if c in honours]
    ignored = [c.replace("_", " ") for c in controls if c not in honours]
    state = "ready" if found.ready else f"**unavailable**: {found.reason}"
    line = f"**{found.name}**: {state}. Honours {', '.join(honoured) or 'nothing'}"
    line += f"; ignores {', '.join(ignored)}." if ignored else "."
    rows = "\n".join(f"| {c.replace('_', ' ')} | {honours.get(c, 'ignored')} |" for c in controls)
    return line, f"| control | how {found.name} honours it |\n|---|---|\n{rows}"


def _persona_choices(ctx: StudioContext) -> list[tuple[str, str]]:
    return [("None: use the portrait", NO_PERSONA), *ctx.persona_choices()]


def _emotion_choices() -> list[tuple[str, str]]:
    return [("auto (from the speech)", AUTO), *((emotion, emotion) for emotion in EMOTIONS)]


def _llm_choices(ctx: StudioContext) -> list[tuple[str, str]]:
    return [("LLM (default)", DEFAULT_LLM), ("rules (instant)", RULES),
            *((f"LLM: {label}", name) for label, name in ctx.backend_choices("llm"))]
