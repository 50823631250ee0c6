"""The Personas tab's Style section, and the ``learn_style`` endpoint scripts call.

The section sits in the editor, among the persona's fields: a multi-file upload of the creator's
own writing (text, Markdown, Word, PDF, HTML, a CSV export), "Learn style" (a progress bar, then
what was measured: samples, words, sentence length, habits, phrases) and the three style fields
of the form. Learning proposes; it never saves. It fills the fields — ``style_description``,
``style_phrases`` one per line, ``style_examples`` one per paragraph (``personas.form``) — and
since they are form fields like the others, "unsaved changes" lights up, "Save" keeps the style
with the persona, and opening another persona asks before the proposal is dropped. "Clear style"
empties the three fields the same way: the style is gone once the persona is saved. Learning
needs no saved persona (a new one can learn before its first save), so, unlike the Knowledge
section, this one is not given the ``loaded`` state.

``build`` lays the section out where it is called and hands the three fields back to the tab,
which owns the form and wires its "unsaved changes" to every field.

The named endpoint ``learn_style`` (files) answers ``{"profile": …, "style": {"description",
"phrases", "examples"}}``: the whole measured profile and the persona section it proposes, which a
script can put into a persona file itself (``app.py style --persona ID --save`` does it in one
step). Files arrive only as this client's uploads: the guard (``StudioBlocks.process_api``)
refuses any other path before a handler runs. Learning reads and embeds every sample — work like
adding knowledge — so both "Learn" events join the ``style`` quota (``studio.limits``: a user's
waiting work) and share one concurrency group. A file that cannot be read, or too few samples, is
one ``gr.Error`` in the pipeline's words.

Every handler is a module-level function; what they show is shaped in ``style_view``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from personas.model import StyleUse
from personas.style import style_from_profile
from pipeline.errors import BadInput
from pipeline.style import StyleProfile, analyse, samples_from_files

from . import style_view as view
from .common import StudioContext, bind, progress_callback, shown_errors
from .limits import quota

PRIVATE = {"api_visibility": "private"}
LEARNING = {"concurrency_id": "style-learn"}
EXAMPLES_HELP = ("one per paragraph (a blank line between two); the few most like each question are shown to the "
                 "model as the voice to match")
LEARN_API = ("Learn a creator's style from samples of their own writing. Inputs: files (uploads: text, Markdown, Word "
             ".docx, PDF, HTML, CSV; a sample per paragraph, or per row of a CSV's longest text column). Out: profile "
             "(samples, words, phrases, sentence lengths, emoji and punctuation habits, representative examples, "
             "pool) and style — the persona section it proposes: description, phrases, examples.")


def build(ctx: StudioContext, tab: gr.Tab) -> dict[str, gr.components.Component]:
    """The section, laid out where it is called (inside the editor), and its events; returns its
    form fields by key."""
    field: dict[str, gr.components.Component] = {}
    with gr.Accordion("Style", open=True, elem_id="persona-style"):
        gr.Markdown(view.ABOUT, elem_id="style-about")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=280):
                files = gr.File(file_count="multiple", file_types=view.FILE_TYPES, type="filepath",
                                label="Samples of the creator's writing", elem_id="style-files")
                with gr.Row():
                    learn_button = gr.Button("Learn style", variant="secondary", elem_id="style-learn")
                    clear_button = gr.Button("Clear style", variant="stop", size="sm", scale=0, min_width=110,
                                             elem_id="style-clear")
                summary = gr.Markdown(elem_id="style-summary")
            with gr.Column(scale=3, min_width=320):
                field["style_description"] = gr.Textbox(label="How they write", lines=2, max_lines=8,
                                                        placeholder="e.g. Short sentences, emoji now and then, a "
                                                                    "question to the reader",
                                                        elem_id="style-description")
                field["style_phrases"] = gr.Textbox(label="Phrases", info="one per line", lines=4, max_lines=12,
                                                    elem_id="style-phrases")
        field["style_examples"] = gr.Textbox(label="Examples of their writing", info=EXAMPLES_HELP, lines=6,
                                             max_lines=20, elem_id="style-examples")

    # The endpoint's own input and output: plain values, never shown.
    with gr.Column(visible=False):
        api_files = gr.File(file_count="multiple", type="filepath", label="files")
        api_answer = gr.JSON(label="answer")
        api_learn = gr.Button("learn_style", elem_id="learn-style-api")

    ui = {"summary": summary, **field}
    shown = [summary, *field.values()]
    # Files first among the inputs: a quota refusal shows under the upload.
    learn_button.click(bind(learn_from_files, ctx, ui), files, shown, show_progress_on=[summary],
                       validator=quota(ctx, "style"), **LEARNING, **PRIVATE)
    clear_button.click(bind(clear_style, ctx, ui), None, shown, show_progress="hidden", queue=False, **PRIVATE)
    api_learn.click(bind(learn_style, ctx), api_files, api_answer, api_name="learn_style", api_description=LEARN_API,
                    validator=quota(ctx, "style"), **LEARNING)
    return field


def learned(ctx: StudioContext, files: list[str] | None, progress=None) -> tuple[StyleProfile, StyleUse]:
    """The profile of the writing in ``files`` (uploads, named by their file names) and the persona
    section it proposes."""
    if not files:
        raise BadInput(view.CHOOSE_FILES)
    report = progress or (lambda fraction, message: None)
    report(0.05, "reading the samples")
    samples = samples_from_files([(Path(path), Path(path).name) for path in files])
    report(0.4, f"measuring {len(samples):,} samples")
    profile = analyse(samples, ctx.settings.cache)
    report(1.0, "done")
    return profile, style_from_profile(profile)


# -- the section ----------------------------------------------------------------------------------
@shown_errors
def learn_from_files(ctx: StudioContext, files: list[str] | None, progress=gr.Progress()) -> dict[str, Any]:
    """What was measured, and the proposal in the form's style fields (not saved)."""
    profile, style = learned(ctx, files, progress_callback(progress))
    return {"summary": view.profile_markdown(profile, style), "style_description": style.description,
            "style_phrases": "\n".join(style.phrases), "style_examples": "\n\n".join(style.examples)}


def clear_style(ctx: StudioContext) -> dict[str, Any]:
    """The form's style fields emptied (not saved)."""
    return {"summary": view.CLEARED, "style_description": "", "style_phrases": "", "style_examples": ""}


# -- the endpoint ---------------------------------------------------------------------------------
@shown_errors
def learn_style(ctx: StudioContext, files: list[str] | None, progress=gr.Progress()) -> dict[str, Any]:
    if not files:
        raise BadInput("give one or more files of the creator's writing (uploads: handle_file(path) with "
                       "gradio_client)")
    return view.style_answer(*learned(ctx, files, progress_callback(progress)))
