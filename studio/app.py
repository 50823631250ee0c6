"""The studio's app factory.

Until the four-tab studio lands this is one honest page: a portrait, a script or audio, the five
controls and the emotion, and a Render button that runs the same pipeline as the CLI, with
progress. Pipeline errors become ``gr.Error`` with the pipeline's own message.
"""

from __future__ import annotations

import gradio as gr

from pipeline.controls import CONTROL_NAMES, EMOTIONS, Controls
from pipeline.errors import StudioError
from pipeline.runner import RenderRequest, Runner
from pipeline.settings import PROJECT_ROOT, Settings

SAMPLE_PORTRAIT = PROJECT_ROOT / "assets" / "astronaut.png"


def build_app(settings: Settings) -> gr.Blocks:
    runner = Runner(settings)
    runner.store.mark_orphans_interrupted()
    defaults = Controls()

    def render(image, text, audio, emotion, *values, progress=gr.Progress()):
        controls = dict(zip(CONTROL_NAMES, values))
        request = RenderRequest(image=image, text=(text or None) if not audio else None, audio=audio or None,
                                controls=controls, emotion=None if emotion == "auto" else emotion)
        try:
            job = runner.render(request, progress=lambda fraction, stage: progress(fraction, desc=stage))
        except StudioError as error:
            raise gr.Error(str(error)) from None
        return job.video_path, {"job_id": job.id, "emotion": job.emotion, "duration_s": job.duration_s,
                                "controls": job.controls_final, "timings": job.timings, "notes": job.notes}

    with gr.Blocks(title="Avatar Studio") as app:
        gr.Markdown("# Avatar Studio\nPortrait + script → lip-synced talking-head video, offline on CPU.")
        with gr.Row():
            with gr.Column():
                image = gr.Image(value=str(SAMPLE_PORTRAIT), type="filepath", label="Portrait", elem_id="portrait")
                text = gr.Textbox(label="Script", lines=3, elem_id="script",
                                  value="Hello! I am your avatar. Profit logic beats chasing market share.")
                audio = gr.Audio(type="filepath", label="…or audio to lip-sync", elem_id="audio")
                emotion = gr.Dropdown(["auto", *EMOTIONS], value="auto", label="Emotion", elem_id="emotion")
                sliders = [gr.Slider(0, 1, value=getattr(defaults, name), step=0.05, label=name, elem_id=name)
                           for name in CONTROL_NAMES]
                button = gr.Button("Render", variant="primary", elem_id="render")
            with gr.Column():
                video = gr.Video(label="Video", elem_id="video")
                details = gr.JSON(label="Job", elem_id="job")
        button.click(render, [image, text, audio, emotion, *sliders], [video, details], api_name="render")
    return app
