"""The one guard every studio request passes through: who is asking, and which files they may use.

Two findings from outside shaped it. Gradio checks that a file parameter is an upload only when
the payload carries Gradio's ``meta`` marker; a bare ``{"path": "/some/server/file.png"}`` posted
to ``/render`` (or the audio input, or ``/transcribe``) went straight to the handler, which
copied the server's file into a job folder that was then served back. And with ``jobs/`` among
the served folders, any client could fetch any job's inputs by URL.

So every event — named API, private, or posted by ``fn_index`` to ``/gradio_api/queue/join`` —
goes through ``StudioBlocks.process_api`` (the one method Gradio calls for all of them, queued or
not, validators included), which

1. finds the **owner** of the request (``owner_of_request``): ``None`` when the studio has no users
   (the local single creator: nothing is scoped), else the signed-in user name; a signed-out
   visitor of a studio with users is refused before anything runs;
2. checks **every file object in the raw payload**, before Gradio reads or copies anything: it
   must be a file this owner uploaded, a file the studio itself sent this owner (a rendered
   video, a persona's portrait put in the Render lab), or one of the app's own assets (and their
   copies in Gradio's cache). Anything else is one clear error and nothing runs — no job, no copy;
3. runs the event with the owner in a context variable (``current_owner``), which
   ``StudioContext`` turns into owner-scoped stores, so every query the handler makes is the
   owner's (the data layer does the filtering: see ``pipeline.db``);
4. records the files the event sent back as this owner's (``FileGrants``) — whole values, and the
   changes a streaming event sends after its first update (``streamed_file_paths``), so each
   segment of a live reply can be fetched by the one it was made for.

The one call that reaches the studio's code without an event is a component's server function
(``/gradio_api/component_server``): the hands-free microphone's audio (``studio.live_mic``). It
takes no files, and runs for its caller's owner through ``acting_for_caller`` (signed-out
visitors refused), which finds the owner as the HTTP half below does.

``StudioHTTPGuard`` is the HTTP half, an ASGI middleware on Gradio's own app: uploads
(``/gradio_api/upload``) are recorded as the uploader's; ``/gradio_api/file=`` serves nothing
inside the studio's data folder (job folders, personas, chat audio: inputs are never served),
serves files in Gradio's upload/cache folder only to the owner they were given to (others get the
very answer a missing file gets), and fetches no outside URL; and sign-in attempts are slowed
down per user and per address after repeated wrong passwords (``LoginThrottle``).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import parse_qs

import gradio as gr

NOBODY = ""  # a signed-out visitor of a studio with users: owns nothing, may do nothing
OPEN, PASSWORD, OAUTH = "open", "password", "oauth"
SIGN_IN_FIRST = "Sign in first: this studio has users, and every job, conversation and persona belongs to one."
SIGN_IN_WITH_HF = "Sign in with Hugging Face (the button at the top) to use this studio."
GRANTS_PER_OWNER = 20_000  # newest files kept per owner; older ones can no longer be sent back or fetched

_owner: contextvars.ContextVar[str | None] = contextvars.ContextVar("avatar_studio_owner")


@dataclass(frozen=True)
class Access:
    """Whether the studio has users and how they sign in: ``open`` (no users: the local single
    creator, nothing scoped), ``password`` (``--auth`` / ``--auth-file``) or ``oauth`` (Sign in
    with Hugging Face, on a Space with ``hf_oauth: true``)."""

    mode: str = OPEN

    @property
    def has_users(self) -> bool:
        return self.mode != OPEN


def current_owner(access: Access) -> str | None:
    """The owner of the event being handled: ``None`` in a studio without users; outside an
    event (building the app) in a studio with users, ``NOBODY``, who sees only what is shared."""
    if not access.has_users:
        return None
    return _owner.get(NOBODY)


def owner_of_request(access: Access, request: Any) -> str | None:
    """The owner of a Gradio event's request (``gr.Request``; None for internal calls)."""
    if not access.has_users:
        return None
    if access.mode == PASSWORD:
        return getattr(request, "username", None) or NOBODY
    http = getattr(request, "request", None)  # the Starlette request under gr.Request
    return oauth_user(getattr(http, "scope", None) or {})


def oauth_user(scope: dict) -> str:
    """The Hugging Face user name in a request's signed session cookie (Gradio's OAuth keeps the
    OpenID ``userinfo`` there), or ``NOBODY`` when signed out or expired."""
    info = (scope.get("session") or {}).get("oauth_info") or {}
    expires = info.get("expires_at")
    if expires is not None and float(expires) < time.time():
        return NOBODY
    return str((info.get("userinfo") or {}).get("preferred_username") or NOBODY)


# -- which files an owner may use ---------------------------------------------------------------

class FileGrants:
    """The files each owner may send back as inputs and fetch: uploads and what the studio sent
    them (newest ``GRANTS_PER_OWNER`` each), plus public files every owner may use. Paths are kept
    resolved, so a ``..`` or a link cannot dress one file up as another. In memory: a restarted
    studio starts empty, and so does Gradio's cache, which it clears on shutdown."""

    def __init__(self, public: Iterable[Path | str] = ()) -> None:
        self._lock = threading.Lock()
        self._by_owner: dict[str | None, OrderedDict[str, None]] = {}
        self._public: set[str] = set()
        self.add_public(public)

    def add_public(self, paths: Iterable[Path | str]) -> None:
        with self._lock:
            self._public.update(filter(None, map(_resolved, paths)))

    def grant(self, owner: str | None, path: Path | str) -> None:
        key = _resolved(path)
        if key is None or owner == NOBODY:
            return
        with self._lock:
            files = self._by_owner.setdefault(owner, OrderedDict())
            files[key] = None
            files.move_to_end(key)
            while len(files) > GRANTS_PER_OWNER:
                files.popitem(last=False)

    def may_use(self, owner: str | None, path: Path | str) -> bool:
        key = _resolved(path)
        if key is None:
            return False
        with self._lock:
            return key in self._public or key in self._by_owner.get(owner, ())


def _resolved(path: Path | str | None) -> str | None:
    try:
        return str(Path(os.path.abspath(path)).resolve()) if path else None
    except (OSError, ValueError):  # an embedded NUL byte, a path too long
        return None


def _inside(path: str, folder: Path | str) -> bool:
    folder = str(Path(folder).resolve())
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def file_objects(value: Any) -> Iterator[dict]:
    """Every file object in a raw event payload or output: a dict with a ``path``, or one marked as
    Gradio file data (which must then have a path), however deep inside lists and dicts."""
    if isinstance(value, dict):
        meta = value.get("meta")
        if "path" in value or (isinstance(meta, dict) and meta.get("_type") == "gradio.FileData"):
            yield value
            return
        for item in value.values():
            yield from file_objects(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from file_objects(item)


DIFF_SETS = ("add", "replace")


def streamed_file_paths(value: Any) -> Iterator[str]:
    """The file paths a streamed output sends as changes. After its first update, each update a
    generator yields reaches the browser as a diff of the last — ``["add", ["path"], "/…/x.mp4"]``
    when a file output goes from empty to a file — so the file is in no dict with a ``path``
    (``file_objects``), only in the change that sets one."""
    if not isinstance(value, (list, tuple)):
        return
    if (len(value) == 3 and value[0] in DIFF_SETS and isinstance(value[1], list) and value[1]
            and value[1][-1] == "path" and isinstance(value[2], str)):
        yield value[2]
        return
    for item in value:
        if isinstance(item, dict):  # a whole value set by a change: file_objects finds its files
            continue
        yield from streamed_file_paths(item)


def refused_file(grants: FileGrants, owner: str | None, inputs: Iterable[Any]) -> str | None:
    """Why one of ``inputs`` may not be used (the first such file), or None when all may."""
    for found in file_objects(list(inputs)):
        path = found.get("path")
        if not isinstance(path, str) or not path:
            return "A file must be sent by uploading it; this one came as a link or inline data, not an upload."
        if not grants.may_use(owner, path):
            name = Path(path).name or path
            return (f"“{name[:80]}” is not a file you uploaded. Upload the file first: the studio only reads "
                    "files sent to it by this client (or its own sample files).")
    return None


class Refused(gr.Error):
    """The guard's refusal: shown like any ``gr.Error``, and read as its plain message where Gradio
    uses ``str(error)`` (a refusal met while an event's validator runs, as it asks to join the queue)."""

    def __str__(self) -> str:
        return str(self.message)


class StudioBlocks(gr.Blocks):
    """``gr.Blocks`` whose every event passes the guard (see the module docstring)."""

    def __init__(self, *, access: Access | None = None, data_dir: Path | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.access = access or Access()
        self.data_dir = data_dir  # never served: job folders, personas, chat audio
        self.grants = FileGrants()
        self.login_throttle = LoginThrottle() if self.access.mode == PASSWORD else None

    def waiting(self, owner: str | None) -> int:
        """How many of ``owner``'s quota-checked events (renders, chat turns) wait in Gradio's queue
        or run now (``studio.limits``: each such event's validator has a ``quota_kind``)."""
        queue = getattr(self, "_queue", None)
        events = list(getattr(queue, "event_ids_to_events", {}).values())
        return sum(1 for event in events if getattr(event.fn.validator, "quota_kind", None)
                   and self._event_owner(event) == owner)

    def _event_owner(self, event: Any) -> str | None:
        if self.access.mode == OAUTH:
            return oauth_user(getattr(event.request, "scope", None) or {})
        return owner_of_request(self.access, event)  # a queued event keeps its user name like a request

    def share_component_files(self) -> None:
        """Make the files the layout itself shows (the sample portrait in the Render lab) usable
        and fetchable by everyone: call once the layout is built."""
        self.grants.add_public(found["path"] for block in self.blocks.values()
                               for found in file_objects(getattr(block, "value", None)))

    async def process_api(self, block_fn, inputs, state=None, request=None, *args: Any, **kwargs: Any):
        owner = _signed_in(self.access, owner_of_request(self.access, request))
        reason = refused_file(self.grants, owner, inputs or [])
        if reason:
            raise Refused(reason, print_exception=False)
        with _acting_as(owner):
            result = await super().process_api(block_fn, inputs, state, request, *args, **kwargs)
        for found in file_objects(result.get("data")):
            if isinstance(found.get("path"), str):
                self.grants.grant(owner, found["path"])
        for path in streamed_file_paths(result.get("data")):
            self.grants.grant(owner, path)
        return result


def acting_for_caller(blocks: StudioBlocks, request: Any):
    """A call Gradio does not pass through ``process_api`` — a component's server function
    (``/gradio_api/component_server``: the hands-free microphone's audio, ``studio.live_mic``) — run
    for its caller, as an event is: the owner found from the plain HTTP request (``request``, the
    Starlette request Gradio hands such a function) and put in ``current_owner`` while the returned
    context is entered. A signed-out visitor of a studio with users is refused (``Refused``). Such a
    call carries no file objects: its function must take none."""
    return _acting_as(_signed_in(blocks.access, _http_owner(blocks, getattr(request, "scope", None) or {})))


def _signed_in(access: Access, owner: str | None) -> str | None:
    """``owner``, unless it is a signed-out visitor of a studio with users (``Refused``)."""
    if owner == NOBODY:
        raise Refused(SIGN_IN_WITH_HF if access.mode == OAUTH else SIGN_IN_FIRST, print_exception=False)
    return owner


@contextlib.contextmanager
def _acting_as(owner: str | None) -> Iterator[str | None]:
    """``owner`` as ``current_owner`` while entered."""
    token = _owner.set(owner)
    try:
        yield owner
    finally:
        _owner.reset(token)


# -- the HTTP half ------------------------------------------------------------------------------

API = "/gradio_api/"
NOT_ALLOWED = 403  # Gradio's own answer for a file that is missing or not served: refusals look the same


class StudioHTTPGuard:
    """ASGI middleware on Gradio's app (``launch(app_kwargs={"middleware": [...]})``): see the module
    docstring. It finds the studio through ``scope["app"].get_blocks()``; an app that is not a
    ``StudioBlocks`` passes through untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        blocks = _studio_blocks(scope)
        if scope["type"] != "http" or blocks is None:
            await self.app(scope, receive, send)
            return
        path, method = scope.get("path", ""), scope.get("method", "GET")
        _, api, route = path.partition(API)
        if api and method in ("GET", "HEAD") and (route.startswith("file=") or route.startswith("file/")):
            if not self._may_fetch(blocks, scope, route[5:]):
                await _answer(send, NOT_ALLOWED, {"detail": f"File not allowed: {route[5:]}."})
                return
        elif api and method == "POST" and route.rstrip("/") == "upload":
            await self._record_upload(blocks, scope, receive, send)
            return
        elif method == "POST" and path.rstrip("/").endswith("/login") and blocks.login_throttle is not None:
            await blocks.login_throttle.guard(scope, receive, send, self.app)
            return
        await self.app(scope, receive, send)

    def _may_fetch(self, blocks: StudioBlocks, scope, wanted: str) -> bool:
        if "://" in wanted:  # Gradio would fetch and relay any public URL: the studio needs none
            return False
        path = _resolved(wanted)
        if path is None:
            return False
        upload_dir = getattr(scope.get("app"), "uploaded_file_dir", None)
        if upload_dir and _inside(path, upload_dir):
            return blocks.grants.may_use(_http_owner(blocks, scope), path)
        return not (blocks.data_dir and _inside(path, blocks.data_dir))

    async def _record_upload(self, blocks: StudioBlocks, scope, receive, send) -> None:
        owner = _http_owner(blocks, scope)
        if owner == NOBODY:  # Gradio asks no sign-in of uploads when users sign in with Hugging Face
            await _answer(send, 401, {"detail": SIGN_IN_WITH_HF if blocks.access.mode == OAUTH else SIGN_IN_FIRST})
            return
        status, body = [0], bytearray()

        async def keep(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body") and status[0] == 200:
                    try:
                        for path in json.loads(bytes(body)):
                            blocks.grants.grant(owner, path)
                    except (ValueError, TypeError):
                        pass
            await send(message)

        await self.app(scope, receive, keep)


def _studio_blocks(scope) -> StudioBlocks | None:
    app = scope.get("app")
    get_blocks = getattr(app, "get_blocks", None)
    try:
        blocks = get_blocks() if get_blocks else None
    except Exception:  # noqa: BLE001 — no Blocks attached yet
        return None
    return blocks if isinstance(blocks, StudioBlocks) else None


def _http_owner(blocks: StudioBlocks, scope) -> str | None:
    """The owner of a plain HTTP request, found the way Gradio finds its user."""
    access = blocks.access
    if not access.has_users:
        return None
    if access.mode == OAUTH:
        return oauth_user(scope)
    app = scope.get("app")
    cookies = _cookies(scope)
    cookie_id = getattr(app, "cookie_id", "")
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    return (getattr(app, "tokens", {}) or {}).get(token) or NOBODY


def _cookies(scope) -> dict[str, str]:
    from http.cookies import SimpleCookie

    jar = SimpleCookie()
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 — a malformed cookie header: no user
                return {}
    return {key: morsel.value for key, morsel in jar.items()}


async def _answer(send, status: int, payload: dict, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


# -- slowing down password guessing ---------------------------------------------------------------

FREE_TRIES = 5  # wrong passwords before each further try must wait
FIRST_WAIT_S = 2.0  # doubled with each further wrong password …
LONGEST_WAIT_S = 300.0  # … up to five minutes
FORGET_AFTER_S = 900.0  # a quarter of an hour without a wrong password forgets the count


class LoginThrottle:
    """Wrong passwords slow down sign-in, per user name and per client address: after
    ``FREE_TRIES`` wrong ones, the next try must wait 2 s, then 4, 8 … up to 5 min; a try before
    then is answered 429 with the wait, without checking the password. A right password clears
    the user's and the address's count. The address is the TCP peer: behind a proxy, that is the
    proxy's (the per-user count still applies)."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # key → (wrong passwords, when the last one was)

    def wait_s(self, *keys: str) -> float:
        """Seconds until any of ``keys`` may try again (0 when all may now)."""
        now, longest = self._clock(), 0.0
        with self._lock:
            for key in keys:
                count, last = self._failures.get(key, (0, 0.0))
                if count and now - last > FORGET_AFTER_S:
                    self._failures.pop(key, None)
                    continue
                if count >= FREE_TRIES:
                    wait = min(FIRST_WAIT_S * 2 ** (count - FREE_TRIES), LONGEST_WAIT_S)
                    longest = max(longest, last + wait - now)
        return max(0.0, longest)

    def failed(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                count, _ = self._failures.get(key, (0, 0.0))
                self._failures[key] = (count + 1, now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    async def guard(self, scope, receive, send, app) -> None:
        """Answer one ``POST /login``: refused while its user or address must wait, else passed to
        Gradio's login route, whose answer (200 or 400) is counted."""
        body = bytearray()
        while True:
            message = await receive()
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        form = parse_qs(bytes(body).decode("utf-8", "replace"))
        user = (form.get("username") or [""])[0].strip()
        keys = (f"user:{user}", f"address:{(scope.get('client') or ('?',))[0]}")
        wait = self.wait_s(*keys)
        if wait > 0:
            seconds = max(1, round(wait))
            await _answer(send, 429, {"detail": f"Too many wrong passwords: try again in {seconds} s."},
                          headers=[(b"retry-after", str(seconds).encode())])
            return
        replayed = [False]

        async def replay():
            if not replayed[0]:
                replayed[0] = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        async def count(message) -> None:
            if message["type"] == "http.response.start":
                if message["status"] == 200:
                    self.succeeded(*keys)
                elif message["status"] == 400:
                    self.failed(*keys)
            await send(message)

        await app(scope, replay, count)
