"""The personas tab (being written)."""

from __future__ import annotations

import gradio as gr


def build(ctx, tab, **wiring):
    gr.Markdown("personas")
