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

Who may use it (``choose_access``): with ``--auth USER:PASS`` (repeatable) or ``--auth-file FILE``
(also ``AVATAR_STUDIO_AUTH_FILE``) the studio has password users; in a Space whose README says
``hf_oauth: true`` (Hugging Face then sets ``OAUTH_CLIENT_ID``) it has Hugging Face users; otherwise
none — the local single creator, for whom nothing is scoped. A studio without users that listens
beyond this machine (``--host 0.0.0.0``, ``--share``) says so in one warning line naming ``--auth``.
A studio with users also gets the per-user quotas and the global queue size
(``pipeline.quotas``).

A browser is opened only on a desktop, and never in a Space.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import sys
import tempfile
from typing import Callable, Mapping

from pipeline.errors import BadInput
from pipeline.gpu import describe, import_gpu_tasks, in_space, on_spaces
from pipeline.passwords import Credentials, gather
from pipeline.settings import Settings, resolve

from .guard import OAUTH, OPEN, PASSWORD, Access

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def choose_access(credentials: Credentials, environ: Mapping[str, str] | None = None) -> Access:
    """Password users when there are credentials; Hugging Face users in a Space with OAuth on;
    else none."""
    env = os.environ if environ is None else environ
    if credentials:
        return Access(PASSWORD)
    if env.get("SPACE_ID") and env.get("OAUTH_CLIENT_ID"):
        return Access(OAUTH)
    return Access(OPEN)


def exposure_warning(host: str, share: bool, access: Access) -> str | None:
    """One line when a studio without users can be reached from other machines, else None."""
    if access.has_users:
        return None
    if share:
        where = "on a public gradio.live link (--share)"
    elif not _loopback(host):
        where = f"on {host}, reachable from other machines"
    else:
        return None
    return (f"warning: the studio is served {where} with no users: anyone who reaches it can see, render, "
            "chat and delete everything; add --auth USER:PASS (or --auth-file FILE; on a Space, hf_oauth: true)")


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def sign_in(credentials: Credentials) -> Callable:
    """Gradio's ``auth`` check for these users; the password hash runs off the event loop."""
    async def check(user: str, password: str) -> bool:
        return await asyncio.to_thread(credentials.verify, user, password)
    return check


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
           auth: list[str] | None = None, auth_file: str | None = None) -> int:
    credentials = gather(auth, auth_file or os.environ.get("AVATAR_STUDIO_AUTH_FILE") or None)
    access = choose_access(credentials)
    host, port = server_address(host, port)
    settings = resolve()
    prepare_home(settings)
    from .app import build_app, launch_options

    if warning := exposure_warning(host, share, access):
        print(warning, file=sys.stderr, flush=True)
    if on_spaces():
        print(f"Hugging Face Space: GPU functions decorated at startup: {describe(import_gpu_tasks())}", flush=True)
    app = build_app(settings, access)
    queue_size = settings.limits.queue_size if access.has_users else None
    app.queue(default_concurrency_limit=1, max_size=queue_size or None).launch(
        server_name=host, server_port=port, inbrowser=opens_browser(open_browser), share=share,
        auth=sign_in(credentials) if access.mode == PASSWORD else None, **launch_options(settings),
    )
    return 0
