"""Start the studio: settings, the app, and Gradio's server (the only place ``launch`` is called)."""

from __future__ import annotations

import os
import sys

from pipeline.errors import BadInput
from pipeline.settings import resolve


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``user:pass`` → (user, pass); the password may itself contain colons."""
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise BadInput("--auth takes user:password, both non-empty")
    return user, password


def has_desktop() -> bool:
    """A browser can be opened here: macOS, Windows, or a Linux session with a display."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def launch(*, host: str = "127.0.0.1", port: int = 7860, open_browser: bool = True, share: bool = False,
           auth: str | None = None) -> int:
    from .app import build_app, launch_options

    credentials = parse_auth(auth)
    settings = resolve()
    app = build_app(settings)
    app.queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, inbrowser=open_browser and has_desktop(), share=share,
        auth=credentials, **launch_options(settings),
    )
    return 0
