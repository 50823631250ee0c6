"""The studio's app factory: five tabs over one in-process pipeline.

``build_app(settings, access)`` arranges the tabs (one module each) and wires the few things that
cross them: History can open a job in the Render lab. It does no work at import and starts no
server. The app is a ``guard.StudioBlocks``: every event passes the guard (who is asking, and
whether each file they send is theirs to send). ``launch_options`` holds what every launch
(``studio.launch``, the tests, a Space) passes to Gradio: the theme and CSS, the upload limit, the
guard's HTTP half, and the folders Gradio may copy outputs from — ``assets/`` and the job
folders. Those are never served as they are: the guard refuses every URL inside the data folder,
and a finished video reaches a browser as Gradio's cached copy, given to its owner only.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from pipeline.settings import Settings

from . import chat_tab, history_tab, lab_tab, live_tab, personas_tab
from .common import ASSETS_DIR, MAX_UPLOAD, StudioContext, public_files
from .guard import OAUTH, Access, StudioBlocks, StudioHTTPGuard

STUDIO_CSS = """
.gradio-container { max-width: 1400px !important; }
#studio-header h1 { margin-bottom: 0; }
#studio-header p { margin-top: 2px; opacity: 0.75; }
"""


def build_app(settings: Settings, access: Access | None = None) -> gr.Blocks:
    """The studio; ``access`` says whether it has users (default: none, the local single creator)."""
    access = access or Access()
    ctx = StudioContext(settings, access)
    ctx.jobs.mark_orphans_interrupted()
    with StudioBlocks(title="Avatar Studio", access=access, data_dir=settings.home) as app:
        ctx.blocks = app
        gr.Markdown("# Avatar Studio\nPersona-driven talking avatars: chat, direct the face, keep every render.",
                    elem_id="studio-header")
        if access.mode == OAUTH:  # Sign in with Hugging Face: every item is the signed-in user's
            gr.LoginButton(elem_id="studio-login")
        with gr.Tabs(selected="lab", elem_id="tabs") as tabs:  # a first screen that starts creating
            with gr.Tab("Personas", id="personas", elem_id="tab-personas") as tab:
                personas_tab.build(ctx, tab)
            with gr.Tab("Chat", id="chat", elem_id="tab-chat") as tab:
                chat_tab.build(ctx, tab)
            with gr.Tab("Live", id="live", elem_id="tab-live") as tab:
                live_tab.build(ctx, tab)
            with gr.Tab("Render lab", id="lab", elem_id="tab-lab") as tab:
                lab = lab_tab.build(ctx, tab)
            with gr.Tab("History", id="history", elem_id="tab-history") as tab:
                history_tab.build(ctx, tab, lab=lab, tabs=tabs)
    app.grants.add_public(public_files())
    app.share_component_files()
    return app


def launch_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch`` that every way of serving the studio shares."""
    return {
        "theme": gr.themes.Soft(),
        "css": STUDIO_CSS,
        "max_file_size": MAX_UPLOAD,
        "allowed_paths": [str(ASSETS_DIR), str(settings.jobs_dir)],
        "app_kwargs": {"middleware": [Middleware(StudioHTTPGuard)]},
    }
