"""The studio's app factory: four tabs over one in-process pipeline.

``build_app(settings)`` arranges the tabs (one module each) and wires the few things that cross
them: History can open a job in the Render lab. It does no work at import and starts no server;
``launch_options`` holds what every launch (``studio.launch``, the tests, a Space) passes to
Gradio: the theme and CSS, the upload limit, and the only folders served besides Gradio's own
cache: ``assets/`` and the job outputs.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from pipeline.settings import Settings

from . import chat_tab, history_tab, lab_tab, personas_tab
from .common import ASSETS_DIR, MAX_UPLOAD, StudioContext

STUDIO_CSS = """
.gradio-container { max-width: 1400px !important; }
#studio-header h1 { margin-bottom: 0; }
#studio-header p { margin-top: 2px; opacity: 0.75; }
"""


def build_app(settings: Settings) -> gr.Blocks:
    ctx = StudioContext(settings)
    ctx.runner.store.mark_orphans_interrupted()
    with gr.Blocks(title="Avatar Studio") as app:
        gr.Markdown("# Avatar Studio\nPersona-driven talking avatars: chat, direct the face, keep every render.",
                    elem_id="studio-header")
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("Personas", id="personas", elem_id="tab-personas") as tab:
                personas_tab.build(ctx, tab)
            with gr.Tab("Chat", id="chat", elem_id="tab-chat") as tab:
                chat_tab.build(ctx, tab)
            with gr.Tab("Render lab", id="lab", elem_id="tab-lab") as tab:
                lab = lab_tab.build(ctx, tab)
            with gr.Tab("History", id="history", elem_id="tab-history") as tab:
                history_tab.build(ctx, tab, lab=lab, tabs=tabs)
    return app


def launch_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch`` that every way of serving the studio shares."""
    return {
        "theme": gr.themes.Soft(),
        "css": STUDIO_CSS,
        "max_file_size": MAX_UPLOAD,
        "allowed_paths": [str(ASSETS_DIR), str(settings.jobs_dir)],
    }
