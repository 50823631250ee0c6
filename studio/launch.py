"""Start the studio: settings, the app, and Gradio's server (the only place ``launch`` is called).

What happens before Gradio starts, in order:

1. Where to listen: ``--host``/``--port`` when given, else ``GRADIO_SERVER_NAME``/``GRADIO_SERVER_PORT``
   (a Hugging Face Space sets them to 0.0.0.0 and 7860), else 127.0.0.1:7860.
2. The data folder (``AVATAR_STUDIO_HOME``) is created if it is new and proven writable, so a bad
   path is one ``error:`` line at startup instead of a traceback at the first job.
3. In a Space with the ``spaces`` package, the functions that do GPU work are decorated now
   (``pipeline.gpu.import_gpu_tasks``): ZeroGPU only lends a GPU to functions it saw decorated
   before the app launched. One line in the Space's log says which, and for how long. Gradio
   may be imported first (the studio's modules import some GPU modules themselves): ``spaces``
   must come before anything that initialises CUDA, and Gradio does not.

A browser is opened only on a desktop, and never in a Space.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Mapping

from pipeline.errors import BadInput
from pipeline.gpu import describe, import_gpu_tasks, in_space, on_spaces
from pipeline.settings import Settings, resolve

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``user:pass`` → (user, pass); the password may itself contain colons."""
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise BadInput("--auth takes user:password, both non-empty")
    return user, password


def server_address(host: str | None = None, port: int | None = None,
                   environ: Mapping[str, str] | None = None) -> tuple[str, int]:
    """(host, port) to listen on: the flags win, then ``GRADIO_SERVER_NAME``/``GRADIO_SERVER_PORT``."""
    env = os.environ if environ is None else environ
    host = host or (env.get("GRADIO_SERVER_NAME") or "").strip() or DEFAULT_HOST
    if port is None:
        raw = (env.get("GRADIO_SERVER_PORT") or "").strip()
        port = _port_number(raw) if raw else DEFAULT_PORT
    return host, port


def _port_number(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise BadInput(f"GRADIO_SERVER_PORT must be a port number from 1 to 65535, got {raw!r} — "
                       "fix or unset it, or pass --port")
    return port


def prepare_home(settings: Settings) -> None:
    """Create the data folder if it is new, and check that files can be written in it."""
    try:
        settings.jobs_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=settings.home, prefix=".write-check-"):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise BadInput(f"the data folder {settings.home} cannot be written ({reason}) — set AVATAR_STUDIO_HOME "
                       "to a folder this user can write (on a Space: a mounted storage bucket's path)") from None


def has_desktop() -> bool:
    """A browser can be opened here: macOS, Windows, or a Linux session with a display."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def opens_browser(requested: bool) -> bool:
    """Open one only when asked (no --no-browser), on a desktop, and never in a Space."""
    return requested and has_desktop() and not in_space()


def launch(*, host: str | None = None, port: int | None = None, open_browser: bool = True, share: bool = False,
           auth: str | None = None) -> int:
    credentials = parse_auth(auth)
    host, port = server_address(host, port)
    settings = resolve()
    prepare_home(settings)
    from .app import build_app, launch_options

    if on_spaces():
        print(f"Hugging Face Space: GPU functions decorated at startup: {describe(import_gpu_tasks())}", flush=True)
    app = build_app(settings)
    app.queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, inbrowser=opens_browser(open_browser),
        share=share, auth=credentials, **launch_options(settings),
    )
    return 0
