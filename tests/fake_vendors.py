"""Fake vendor HTTP servers on 127.0.0.1 for the hosted-backend tests.

The framework (``FakeVendor``) is a ``ThreadingHTTPServer`` on port 0 in a daemon thread, used as
a context manager (or through a pytest fixture that enters it). A vendor fake subclasses it and
declares its routes with ``@route(method, "/v1beta/models/{model}:{action}", name="chat")``; the
handler gets a ``Request`` (method, path, query, headers, parsed body, path params) and returns a
``Reply``. Every request is logged in ``requests`` for assertions, with its arrival time.

Tests script what happens next, per route name::

    fake.script("chat", fake.failure(429, retry_after=1), fake.failure(500))  # then the default
    fake.script("chat", Reply.json({...}), delayed(2.0, fake.success("hi")))

A scripted item is a ``Reply`` or a callable ``(request) -> Reply`` (vendor fakes offer
``success``/``failure``/``malformed``… builders returning those); when a route's queue is empty the
route's own handler answers — for the LLM fakes, a vendor-shaped success that streams when the
request asked to. A ``Reply`` can carry a delay before the answer (for timeouts), a body (bytes,
text, or JSON), or a list of chunks written one by one with chunked transfer encoding (SSE), with a
pause between them. State that must persist between calls (an async job's status progressing from
"pending" to "completed" over polls, uploaded files) lives on the fake instance, which is what the
HeyGen and D-ID fakes will need; uploads arrive as raw bytes on ``Request.raw`` (with
``Request.body`` parsed only for JSON and form bodies).

The LLM fakes here (``FakeOpenAI``, ``FakeMistral``, ``FakeGemini``) answer in the vendors' own
shapes: their paths, their auth headers (a wrong or missing key is answered as the vendor would,
echoing the key back as some do, so redaction is tested), their error bodies, their SSE framing
and usage fields.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

# -- the framework ------------------------------------------------------------------------------


@dataclass
class Request:
    """One request as the fake server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    raw: bytes
    body: Any  # parsed JSON, a dict for form bodies, else None (see ``raw``)
    params: dict[str, str] = field(default_factory=dict)  # from the route pattern
    route: str | None = None  # the route's name
    at: float = 0.0  # time.monotonic() on arrival

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass
class Reply:
    """What the fake sends back. ``chunks`` (if given) are streamed one write each."""

    status: int = 200
    body: bytes | str | dict | list | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # pause before answering at all
    chunks: list[bytes] | None = None
    chunk_delay_s: float = 0.0
    content_type: str | None = None

    @classmethod
    def json(cls, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(status=status, body=body, headers=dict(headers or {}), content_type="application/json")

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8",
             headers: dict[str, str] | None = None) -> Reply:
        return cls(status=status, body=text, headers=dict(headers or {}), content_type=content_type)

    @classmethod
    def sse(cls, events: Iterable[str], *, separator: str = "\n\n", chunk_delay_s: float = 0.0,
            headers: dict[str, str] | None = None) -> Reply:
        """Server-sent events, one ``data:`` payload each, every event its own write."""
        chunks = [f"data: {event}{separator}".encode() for event in events]
        return cls(chunks=chunks, chunk_delay_s=chunk_delay_s, content_type="text/event-stream",
                   headers=dict(headers or {}))


Answer = Reply | Callable[[Request], Reply]


def delayed(seconds: float, answer: Answer) -> Callable[[Request], Reply]:
    """``answer``, after ``seconds`` of silence (longer than the client's timeout → a timeout)."""

    def reply(request: Request) -> Reply:
        result = answer(request) if callable(answer) else answer
        return Reply(**{**result.__dict__, "delay_s": seconds})

    return reply


def route(method: str, pattern: str, *, name: str | None = None):
    """Mark a ``FakeVendor`` method as the default handler of ``method pattern``.

    ``{param}`` in the pattern matches one path segment (up to a ``/`` or ``:``)."""

    def mark(handler):
        handler._route = (method.upper(), pattern, name or pattern)
        return handler

    return mark


class FakeVendor:
    """Base class of the fake servers; see the module docstring."""

    service = "fake"

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._scripts: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._routes: list[tuple[str, re.Pattern, str, Callable[[Request], Reply]]] = []
        declared = {}  # attribute name → route spec, subclasses overriding their bases
        for klass in reversed(type(self).__mro__):
            for attribute, value in vars(klass).items():
                if callable(value) and hasattr(value, "_route"):
                    declared[attribute] = value._route
        for attribute, (method, pattern, name) in declared.items():
            self._routes.append((method, _compile(pattern), name, getattr(self, attribute)))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, port: int = 0) -> Self:
        fake = self

        class Handler(_Handler):
            vendor = fake

        server = _QuietServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        server.block_on_close = False  # a handler still sleeping for a timeout test must not hold us
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-{self.service}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first (use it as a context manager)"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting and inspection ---------------------------------------------------------------
    def script(self, name: str, *answers: Answer) -> FakeVendor:
        """Queue what the next requests to route ``name`` get (then the route's default again)."""
        with self._lock:
            self._scripts.setdefault(name, []).extend(answers)
        return self

    def requests_to(self, name: str) -> list[Request]:
        return [r for r in self.requests if r.route == name]

    def pending(self, name: str) -> int:
        """Scripted answers not yet used (a test can check its script was consumed)."""
        return len(self._scripts.get(name, []))

    def sleep(self, seconds: float) -> None:
        """Pause a handler; returns early when the server is stopping."""
        self._stopping.wait(seconds)

    # -- dispatch -------------------------------------------------------------------------------
    def _dispatch(self, request: Request) -> Reply:
        for method, pattern, name, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if method == request.method and match:
                request.params, request.route = match.groupdict(), name
                with self._lock:
                    self.requests.append(request)
                    queue = self._scripts.get(name)
                    answer: Answer = queue.pop(0) if queue else handler
                return answer(request) if callable(answer) else answer
        with self._lock:
            self.requests.append(request)
        return self.not_found(request)

    def not_found(self, request: Request) -> Reply:
        return Reply.json({"error": {"message": f"no route {request.method} {request.path}"}}, status=404)


class _QuietServer(ThreadingHTTPServer):
    """Clients that give up mid-request (the timeout tests) are expected, not worth a traceback."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def _compile(pattern: str) -> re.Pattern:
    parts = re.split(r"(\{\w+\})", pattern)
    regex = "".join(f"(?P<{p[1:-1]}>[^/:]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(regex)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    vendor: FakeVendor

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(method=self.command, path=split.path, query=parse_qs(split.query), headers=headers,
                          raw=raw, body=_parse_body(raw, headers.get("content-type", "")), at=time.monotonic())
        reply = self.vendor._dispatch(request)
        if reply.delay_s:
            self.vendor.sleep(reply.delay_s)
            if self.vendor._stopping.is_set():
                return
        try:
            self._send(reply)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        content_type = reply.content_type
        if reply.chunks is not None:
            self.send_header("Content-Type", content_type or "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            for index, chunk in enumerate(reply.chunks):
                if index and reply.chunk_delay_s:
                    self.vendor.sleep(reply.chunk_delay_s)
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        body = reply.body
        if isinstance(body, (dict, list)):
            data, content_type = json.dumps(body).encode(), content_type or "application/json"
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body or b""
        self.send_header("Content-Type", content_type or "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if "json" in content_type or raw[:1] in (b"{", b"["):
        try:
            return json.loads(raw)
        except ValueError:
            return None
    if "x-www-form-urlencoded" in content_type:
        return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    return None


# -- chat-completion fakes ------------------------------------------------------------------------

DEFAULT_ANSWER = "Hello there, I am a fake model."


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


class FakeChatVendor(FakeVendor):
    """What the three LLM fakes share: key checking, success/failure builders, default answer."""

    key_variable = ""

    def __init__(self, *, key: str | None = "test-key-0123456789abcdef", answer: str = DEFAULT_ANSWER,
                 model: str | None = None) -> None:
        super().__init__()
        self.key = key  # None: accept any or no key (a self-hosted server)
        self.answer = answer
        self.model = model  # None: echo the requested model
        self.usage = (12, 7)  # prompt, completion tokens reported

    # Each vendor: where its key travels, and its error body shape.
    def presented_key(self, request: Request) -> str | None:
        auth = request.header("authorization") or ""
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def error_body(self, status: int, message: str) -> dict:
        raise NotImplementedError

    def bad_key_reply(self, presented: str | None) -> Reply:
        raise NotImplementedError

    def answer_request(self, request: Request, text: str) -> Reply:
        raise NotImplementedError

    # -- builders for scripts ---------------------------------------------------------------------
    def success(self, text: str | None = None) -> Callable[[Request], Reply]:
        """A vendor-shaped answer with ``text``, streamed when the request asked to stream."""
        return lambda request: self.answer_request(request, self.answer if text is None else text)

    def failure(self, status: int, message: str | None = None, *, retry_after: float | str | None = None) -> Reply:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        message = message or {401: "Unauthorized", 402: "Payment required", 429: "Rate limit exceeded",
                              500: "Internal server error", 503: "Service unavailable"}.get(status, "Error")
        return Reply.json(self.error_body(status, message), status=status, headers=headers)

    def malformed(self) -> Reply:
        """A 200 that claims to be JSON but is cut off."""
        return Reply.text('{"id": "x", "choices": [{"mess', content_type="application/json")

    lead_events = 1  # stream events before the first piece of text (a role-only delta)

    def broken_stream(self, pieces: int, message: str = "The server had an error while streaming") -> Callable:
        """A streamed answer that sends ``pieces`` pieces of text, then an error event in the vendor's shape."""

        def reply(request: Request) -> Reply:
            whole = self.answer_request(request, self.answer)
            assert whole.chunks is not None, "broken_stream answers streaming requests only"
            error_event = f"data: {json.dumps(self.error_body(500, message))}\n\n".encode()
            return Reply(chunks=whole.chunks[:self.lead_events + pieces] + [error_event],
                         content_type="text/event-stream")

        return reply

    def handle_chat(self, request: Request) -> Reply:
        if self.key is not None:
            presented = self.presented_key(request)
            if presented != self.key:
                return self.bad_key_reply(presented)
        return self.answer_request(request, self.answer)


class FakeOpenAI(FakeChatVendor):
    """``POST /v1/chat/completions`` as OpenAI answers it (base URL ``{url}/v1``)."""

    service = "openai"
    key_variable = "OPENAI_API_KEY"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @route("POST", "/v1/chat/completions", name="chat")
    def chat(self, request: Request) -> Reply:
        return self.handle_chat(request)

    def error_body(self, status: int, message: str) -> dict:
        kind = {401: ("invalid_request_error", "invalid_api_key"), 429: ("requests", "rate_limit_exceeded"),
                500: ("server_error", None)}.get(status, ("invalid_request_error", None))
        return {"error": {"message": message, "type": kind[0], "param": None, "code": kind[1]}}

    def bad_key_reply(self, presented: str | None) -> Reply:
        # OpenAI quotes the key it was given (masked; the fake quotes it whole to test redaction).
        message = (f"Incorrect API key provided: {presented}. You can find your API key at "
                   "https://platform.openai.com/account/api-keys." if presented else
                   "You didn't provide an API key. You need to provide your API key in an Authorization header "
                   "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        return Reply.json(self.error_body(401, message), status=401)

    def answer_request(self, request: Request, text: str) -> Reply:
        body = request.body or {}
        model = self.model or body.get("model", "gpt-fake")
        prompt, completion = self.usage
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        base = {"id": "chatcmpl-fake1", "created": 1_700_000_000, "model": model, "system_fingerprint": "fp_fake"}
        if not body.get("stream"):
            return Reply.json({**base, "object": "chat.completion", "usage": usage, "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                 "logprobs": None, "finish_reason": "stop"}]})
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict, finish: str | None) -> str:
            event = {**base, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            if with_usage:
                event["usage"] = None
            return json.dumps(event)

        events = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
        events += [chunk({"content": word}, None) for word in _words(text)]
        events.append(chunk({}, "stop"))
        if with_usage:
            events.append(json.dumps({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
        events.append("[DONE]")
        return Reply.sse(events)


class FakeMistral(FakeChatVendor):
    """``POST /v1/chat/completions`` as La Plateforme answers it (base URL ``{url}``)."""

    service = "mistral"
    key_variable = "MISTRAL_API_KEY"

    @property
    def base_url(self) -> str:
        return self.url

    @route("POST", "/v1/chat/completions", name="chat")
    def chat(self, request: Request) -> Reply:
        return self.handle_chat(request)

    def error_body(self, status: int, message: str) -> dict:
        if status == 401:
            return {"detail": message}
        return {"object": "error", "message": message, "type": "invalid_request_error" if status < 500 else
                "internal_server_error", "param": None, "code": str(status)}

    def bad_key_reply(self, presented: str | None) -> Reply:
        # Mistral says only "Unauthorized"; this fake also echoes the key, to test redaction.
        return Reply.json({"message": f"Unauthorized: key {presented!s} is not valid", "request_id": "f00d"},
                          status=401)

    def answer_request(self, request: Request, text: str) -> Reply:
        body = request.body or {}
        model = self.model or body.get("model", "mistral-fake")
        prompt, completion = self.usage
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        base = {"id": "cmpl-fake1", "created": 1_700_000_000, "model": model}
        if not body.get("stream"):
            return Reply.json({**base, "object": "chat.completion", "usage": usage, "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text, "tool_calls": None,
                                         "prefix": False}, "finish_reason": "stop"}]})
        words = _words(text)
        events = [json.dumps({**base, "object": "chat.completion.chunk",
                              "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                           "finish_reason": None}]})]
        for index, word in enumerate(words):
            last = index == len(words) - 1
            event = {**base, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": "stop" if last else None}]}
            if last:  # Mistral puts usage on the chunk that finishes
                event["usage"] = usage
            events.append(json.dumps(event))
        events.append("[DONE]")
        return Reply.sse(events)


class FakeGemini(FakeChatVendor):
    """The Gemini API: ``POST /v1beta/models/{model}:generateContent`` and
    ``:streamGenerateContent?alt=sse`` (``/v1/`` too), key in the ``x-goog-api-key`` header (base URL
    ``{url}``)."""

    service = "gemini"
    key_variable = "GEMINI_API_KEY"
    lead_events = 0

    @property
    def base_url(self) -> str:
        return self.url

    @route("POST", "/{version}/models/{model}:{action}", name="chat")
    def chat(self, request: Request) -> Reply:
        if (request.params["version"] not in ("v1", "v1beta")
                or request.params["action"] not in ("generateContent", "streamGenerateContent")):
            return Reply.json(self.error_body(404, f"Method {request.params['action']} not found"), status=404)
        return self.handle_chat(request)

    def presented_key(self, request: Request) -> str | None:
        return request.header("x-goog-api-key") or (request.query.get("key") or [None])[0]

    _STATUS: ClassVar[dict[int, str]] = {
        400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}

    def error_body(self, status: int, message: str) -> dict:
        return {"error": {"code": status, "message": message, "status": self._STATUS.get(status, "UNKNOWN")}}

    def bad_key_reply(self, presented: str | None) -> Reply:
        # Gemini answers a bad key with 400 INVALID_ARGUMENT / API_KEY_INVALID, not 401.
        body = self.error_body(400, f"API key not valid. Please pass a valid API key. (got {presented})")
        body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                                     "domain": "googleapis.com"}]
        return Reply.json(body, status=400)

    def rate_limited(self, retry_delay_s: int) -> Reply:
        """Gemini's own 429: the wait is in a RetryInfo detail, not a Retry-After header."""
        body = self.error_body(429, "You exceeded your current quota, please check your plan and billing details. "
                                    f"Please retry in {retry_delay_s}s.")
        body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                     "retryDelay": f"{retry_delay_s}s"}]
        return Reply.json(body, status=429)

    def answer_request(self, request: Request, text: str) -> Reply:
        model = self.model or request.params.get("model", "gemini-fake")
        prompt, completion = self.usage

        def response(parts_text: str, final: bool) -> dict:
            candidate: dict[str, Any] = {"content": {"parts": [{"text": parts_text}], "role": "model"}, "index": 0}
            if final:
                candidate["finishReason"] = "STOP"
            usage = {"promptTokenCount": prompt, "totalTokenCount": prompt + (completion if final else 0)}
            if final:
                usage["candidatesTokenCount"] = completion
            return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
                    "responseId": "fake-response-1"}

        if request.params.get("action") == "generateContent":
            return Reply.json(response(text, True))
        words = _words(text)
        # Gemini frames its SSE events with CRLF pairs.
        return Reply.sse([json.dumps(response(w, i == len(words) - 1)) for i, w in enumerate(words)],
                         separator="\r\n\r\n")


# -- text-to-speech fakes ---------------------------------------------------------------------------

SPEECH_KEY = "test-speech-key-0123456789abcdef"


class FakeSpeechVendor(FakeVendor):
    """What the two speech fakes share: key checking, and audio made from the text — a voiced,
    syllable-pulsed tone at ``f0`` Hz, ``seconds_per_char`` long per character at speed 1 (the
    vendor's ``speed`` shortens it, as a real voice's would)."""

    def __init__(self, *, key: str | None = SPEECH_KEY, f0: float = 180.0, rate: int = 24_000,
                 seconds_per_char: float = 0.06) -> None:
        super().__init__()
        self.key = key  # None: any or no key (a self-hosted server)
        self.f0, self.rate, self.seconds_per_char = f0, rate, seconds_per_char

    def audio(self, text: str, speed: float = 1.0):
        import numpy as np

        t = np.arange(int(self.rate * max(0.3, len(text) * self.seconds_per_char / speed))) / self.rate
        voice = sum(np.sin(2 * np.pi * self.f0 * k * t) / k for k in range(1, 6))
        pulses = 0.2 + 0.8 * np.sin(np.pi * 4.0 * t) ** 2  # four syllables a second
        return (0.3 * voice * pulses / 2.3).astype(np.float32)

    @staticmethod
    def pcm16(samples) -> bytes:
        import numpy as np

        return np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2").tobytes()

    def failure(self, status: int, message: str | None = None, *, retry_after: float | str | None = None) -> Reply:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        message = message or {401: "Invalid API key", 429: "Too many requests", 500: "Internal server error",
                              503: "Service unavailable"}.get(status, "Error")
        return Reply.json(self.error_body(status, message), status=status, headers=headers)

    def error_body(self, status: int, message: str) -> dict:
        raise NotImplementedError


class FakeOpenAISpeech(FakeSpeechVendor):
    """``POST /v1/audio/speech`` as OpenAI answers it: a WAV for ``response_format: wav`` (base URL
    ``{url}/v1``); a wrong key is echoed back in the error, as OpenAI does (masked there)."""

    service = "openai-speech"
    voices = ("alloy", "ash", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer")

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @route("POST", "/v1/audio/speech", name="speech")
    def speech(self, request: Request) -> Reply:
        presented = (request.header("authorization") or "")[7:] or None
        if self.key is not None and presented != self.key:
            return Reply.json(self.error_body(401, f"Incorrect API key provided: {presented}."), status=401)
        body = request.body or {}
        if body.get("voice") not in self.voices:
            return Reply.json(self.error_body(400, f"Invalid value for 'voice': {body.get('voice')!r}."), status=400)
        if not 0.25 <= float(body.get("speed", 1.0)) <= 4.0:
            return Reply.json(self.error_body(400, "speed must be between 0.25 and 4.0"), status=400)
        import io
        import wave

        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.rate)
            wav.writeframes(self.pcm16(self.audio(body.get("input", ""), float(body.get("speed", 1.0)))))
        return Reply(body=buffer.getvalue(), content_type="audio/wav")

    def error_body(self, status: int, message: str) -> dict:
        code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
        return {"error": {"message": message, "type": "invalid_request_error" if status < 500 else "server_error",
                          "param": None, "code": code}}


class FakeElevenLabs(FakeSpeechVendor):
    """``POST /v1/text-to-speech/{voice_id}?output_format=pcm_24000`` as ElevenLabs answers it: raw
    16-bit PCM, the key in ``xi-api-key``, errors as ``{"detail": {"status", "message"}}``."""

    service = "elevenlabs"
    voices = ("21m00Tcm4TlvDq8gAcAm", "EXAVITQu4vr4xnSDxMaL")  # Rachel, Sarah

    @property
    def base_url(self) -> str:
        return self.url

    @route("POST", "/v1/text-to-speech/{voice_id}", name="speech")
    def speech(self, request: Request) -> Reply:
        if self.key is not None and request.header("xi-api-key") != self.key:
            return Reply.json(self.error_body(401, "Invalid API key"), status=401)
        if request.params["voice_id"] not in self.voices:
            return Reply.json(self.error_body(404, f"A voice with voice_id {request.params['voice_id']} was not "
                                                   "found."), status=404)
        output_format = (request.query.get("output_format") or ["mp3_44100_128"])[0]
        if output_format != f"pcm_{self.rate}":
            return Reply.json(self.error_body(422, f"this fake answers pcm_{self.rate} only"), status=422)
        body = request.body or {}
        speed = float((body.get("voice_settings") or {}).get("speed", 1.0))
        if not 0.7 <= speed <= 1.2:
            return Reply.json(self.error_body(400, "speed must be between 0.7 and 1.2"), status=400)
        return Reply(body=self.pcm16(self.audio(body.get("text", ""), speed)), content_type="application/octet-stream")

    def error_body(self, status: int, message: str) -> dict:
        kind = {401: "invalid_api_key", 404: "voice_not_found", 429: "too_many_concurrent_requests"}.get(
            status, "error")
        return {"detail": {"status": kind, "message": message}}
