"""The Personas tab's Style section: how the persona writes, as the creator accepted it.

The section sits in the editor, among the persona's fields, and its three text boxes are form
fields like the others (``personas.form``: ``style_description``, ``style_phrases`` one per line,
``style_examples`` one per paragraph): they are filled when a persona is opened, saved with it on
"Save", and a change to them lights "unsaved changes" like any other field. ``build`` lays the
section out where it is called and hands the three fields back to the tab, which owns the form.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

EXAMPLES_HELP = ("one per paragraph (a blank line between two); the few most like each question are shown to the "
                 "model as the voice to match")


def build(ctx: Any, tab: gr.Tab) -> dict[str, gr.components.Component]:
    """The section, laid out where it is called (inside the editor); returns its form fields by key."""
    field: dict[str, gr.components.Component] = {}
    with gr.Accordion("Style", open=True, elem_id="persona-style"):
        field["style_description"] = gr.Textbox(label="How they write", lines=2, max_lines=8,
                                                placeholder="e.g. Short sentences, emoji now and then, a question "
                                                            "to the reader", elem_id="style-description")
        with gr.Row():
            field["style_phrases"] = gr.Textbox(label="Phrases", info="one per line", lines=6, max_lines=12,
                                                scale=1, elem_id="style-phrases")
            field["style_examples"] = gr.Textbox(label="Examples of their writing", info=EXAMPLES_HELP, lines=6,
                                                 max_lines=20, scale=3, elem_id="style-examples")
    return field
