"""Start the studio: settings, the app, and Gradio's server (the only place ``launch`` is called)."""

from __future__ import annotations

from pipeline.settings import resolve


def launch(*, host: str = "127.0.0.1", port: int = 7860, open_browser: bool = True) -> int:
    from .app import build_app

    settings = resolve()
    app = build_app(settings)
    app.queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, inbrowser=open_browser,
        allowed_paths=[str(settings.jobs_dir)],
    )
    return 0
