"""A fake D-ID Talks API on 127.0.0.1, built on ``fake_vendors``.

Like the vendor: ``Authorization: Basic <key>`` on every call (401 ``{"message": "Unauthorized"}``
otherwise); ``POST /images`` and ``POST /audios`` take multipart uploads (parts ``image`` and
``audio``) and answer s3:// addresses that only D-ID itself reads; ``POST /talks`` checks its
source and script (unknown addresses, empty or over-long text, unknown expressions are 400
``{"kind": "ValidationError", "description"}``) and answers 201 ``created``; each ``GET
/talks/{id}`` moves a talk one step: created → started → done with a ``result_url`` on this server
(or ``error`` with ``{kind, description}`` — FaceError — or ``rejected``). The result is a real MP4
made from the uploaded portrait and audio by the bundled ffmpeg (``fake_heygen.result_video``).

Tests steer it with ``release``, ``fail_next`` ((kind, description), or ("rejected", text)),
``expired_links``, ``video_codec`` and ``script(...)`` with ``failure``.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path

from fake_heygen import result_video
from fake_vendors import FakeVendor, Reply, Request, route

KEY = "ZGlkLXRlc3RAZXhhbXBsZS5jb20:did-0123456789SECRETKEY"
EXPRESSIONS = ("neutral", "happy", "surprise", "serious")


def multipart_parts(request: Request) -> dict[str, tuple[str | None, str, bytes]]:
    """A multipart/form-data body as {field name: (file name, content type, bytes)}."""
    content_type = request.header("content-type") or ""
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n"
                                                  + request.raw)
    parts = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            parts[name] = (part.get_filename(), part.get_content_type(), part.get_payload(decode=True) or b"")
    return parts


@dataclass
class FakeTalk:
    id: str
    payload: dict
    image: bytes
    audio: bytes | None
    seconds: float | None
    polls: int = 0
    failure: tuple[str, str] | None = None
    path: Path | None = None


class FakeDID(FakeVendor):
    service = "d-id"

    def __init__(self, *, workdir: Path, key: str | None = KEY) -> None:
        super().__init__()
        self.workdir = Path(workdir)
        self.key = key
        self.images: dict[str, bytes] = {}  # s3 url → bytes
        self.audios: dict[str, bytes] = {}
        self.talks: dict[str, FakeTalk] = {}
        self.release = threading.Event()
        self.release.set()
        self.fail_next: tuple[str, str] | None = None
        self.expired_links = 0
        self.max_text_chars = 5000
        self.video_codec = "libx264"  # what the finished videos are encoded with
        self._state = threading.Lock()

    @property
    def creates(self) -> list[Request]:
        return self.requests_to("create")

    def failure(self, status: int, kind: str, description: str, *, retry_after: float | None = None) -> Reply:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return Reply.json({"kind": kind, "description": description}, status=status, headers=headers)

    def _denied(self, request: Request) -> Reply | None:
        if self.key is None or request.header("authorization") == f"Basic {self.key}":
            return None
        return Reply.json({"message": "Unauthorized"}, status=401)

    # -- uploads -------------------------------------------------------------------------------------
    def _upload(self, request: Request, field: str, store: dict[str, bytes], bucket: str) -> Reply:
        if denied := self._denied(request):
            return denied
        part = multipart_parts(request).get(field)
        if part is None or not part[2]:
            return self.failure(400, "ValidationError", f"a multipart field named {field!r} with the file is required")
        upload_id = f"{field[:3]}_{secrets.token_urlsafe(9)}"
        url = f"s3://{bucket}/auth0|fake/{upload_id}/{part[0] or field}"
        with self._state:
            store[url] = part[2]
        body = {"id": upload_id, "url": url}
        if field == "audio":
            body["duration"] = 1.0
        return Reply.json(body, status=201)

    @route("POST", "/images", name="images")
    def images(self, request: Request) -> Reply:
        return self._upload(request, "image", self.images, "d-id-images-prod")

    @route("POST", "/audios", name="audios")
    def audios(self, request: Request) -> Reply:
        return self._upload(request, "audio", self.audios, "d-id-audios-prod")

    # -- talks ----------------------------------------------------------------------------------------
    @route("POST", "/talks", name="create")
    def create(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        body = request.body or {}
        image = self.images.get(body.get("source_url"))
        if image is None:
            return self.failure(400, "ValidationError", "source_url must point at an uploaded image")
        script = body.get("script") or {}
        audio, seconds = None, None
        if script.get("type") == "audio":
            audio = self.audios.get(script.get("audio_url"))
            if audio is None:
                return self.failure(400, "ValidationError", "script.audio_url must point at an uploaded audio")
        elif script.get("type") == "text":
            text = script.get("input") or ""
            if not text.strip():
                return self.failure(400, "ValidationError", "script.input is required")
            if len(text) > self.max_text_chars:
                return self.failure(400, "ValidationError", f"Text too long: script.input has {len(text)} characters, "
                                                            f"the maximum is {self.max_text_chars}")
            seconds = 0.4 * len(text.split())
        else:
            return self.failure(400, "ValidationError", "script.type must be audio or text")
        for expression in ((body.get("config") or {}).get("driver_expressions") or {}).get("expressions") or []:
            if expression.get("expression") not in EXPRESSIONS or not 0 <= expression.get("intensity", 1) <= 1:
                return self.failure(400, "ValidationError", f"invalid expression {expression}")
        talk = FakeTalk(id=f"tlk_{secrets.token_urlsafe(12)}", payload=body, image=image, audio=audio,
                        seconds=seconds)
        with self._state:
            talk.failure, self.fail_next = self.fail_next, None
            self.talks[talk.id] = talk
        return Reply.json({"id": talk.id, "created_at": "2026-01-01T10:00:00.000Z", "created_by": "auth0|fake",
                           "status": "created", "object": "talk"}, status=201)

    @route("GET", "/talks/{talk_id}", name="status")
    def status(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        talk = self.talks.get(request.params["talk_id"])
        if talk is None:
            return self.failure(404, "NotFoundError", "talk not found")
        body = {"id": talk.id, "object": "talk", "created_at": "2026-01-01T10:00:00.000Z", "user_id": "auth0|fake",
                "source_url": talk.payload["source_url"], "config": talk.payload.get("config", {})}
        with self._state:
            talk.polls += 1
            polls = talk.polls
        if talk.failure and polls > 1:
            kind, description = talk.failure
            if kind == "rejected":
                return Reply.json({**body, "status": "rejected"})
            return Reply.json({**body, "status": "error", "error": {"kind": kind, "description": description}})
        if polls == 1:
            return Reply.json({**body, "status": "created"})
        if polls == 2 or not self.release.is_set():
            return Reply.json({**body, "status": "started", "started_at": "2026-01-01T10:00:01.000Z"})
        if talk.path is None:
            talk.path = result_video(self.workdir / f"{talk.id}.mp4", image=talk.image, audio=talk.audio,
                                     seconds=talk.seconds, codec=self.video_codec)
        return Reply.json({**body, "status": "done", "duration": 2.5,
                           "result_url": f"{self.url}/results/{talk.id}.mp4?AWSAccessKeyId=FAKE&Expires=1760600000"
                                         f"&Signature={secrets.token_hex(8)}"})

    @route("GET", "/results/{name}", name="download")
    def download(self, request: Request) -> Reply:
        if self.expired_links > 0:
            self.expired_links -= 1
            return Reply.text("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                              status=403, content_type="application/xml")
        talk = self.talks.get(request.params["name"].removesuffix(".mp4"))
        if talk is None or talk.path is None:
            return Reply.text("<Error><Code>NoSuchKey</Code></Error>", status=404, content_type="application/xml")
        return Reply(body=talk.path.read_bytes(), content_type="video/mp4")
