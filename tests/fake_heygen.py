"""A fake HeyGen (API v3 and v2, plus the upload host) on 127.0.0.1, built on ``fake_vendors``.

It behaves like the vendor as far as the studio can tell: ``X-Api-Key`` checked on every call (a
wrong key is echoed back in the 401, as some servers do, so redaction is tested); uploads of raw
bytes by Content-Type (``/v1/asset``, ``/v1/talking_photo``); creates validated field by field
(unknown asset ids, a script without a voice, bad enums and an over-long script are 400s in
HeyGen's error shapes); an ``Idempotency-Key`` replays the first answer; videos progress one step
per status poll (v3: pending → processing → completed; v2: waiting → pending → processing →
completed); and the finished video is a real MP4 made by the bundled ffmpeg from the uploaded
portrait and audio (or a tone as long as the script, for HeyGen's own voices), served from a
pre-signed-looking URL on the same server.

Tests steer it through attributes: ``release`` (cleared: videos stay "processing" until set),
``fail_next`` (the next video fails with that code and message), ``expired_links`` (the next N
downloads answer 403 as S3 does), ``max_script_chars``, ``upload_shape`` ("v1" answers ``data.id``,
"v3" ``data.asset_id``), and ``script(...)`` for one-off replies (``failure``).
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from fake_vendors import FakeVendor, Reply, Request, route

KEY = "hg-test-0123456789abcdefSECRETKEY"
AVATARS = {"Abigail_expressive_2024112501": "Abigail (Upper Body)", "Daisy-inskirt-20220818": "Daisy"}
VOICES = {"2d5b0e6cf36f460aa7fc47e3eee4ba54": "Ivy", "1bd001e7e50f421d891986aad5158bc8": "Sara"}
UPLOAD_TYPES = {"image/png": "image", "image/jpeg": "image", "audio/mpeg": "audio", "audio/wav": "audio",
                "video/mp4": "video", "video/webm": "video"}


def result_video(out: Path, *, image: bytes | None = None, audio: bytes | None = None,
                 seconds: float | None = None, codec: str = "libx264") -> Path:
    """A real small talking-head stand-in: the still image (or a colour card) for as long as the
    audio (or a tone of ``seconds``), H.264 (or ``codec``) + AAC, made by the bundled ffmpeg."""
    from pipeline.media import ffmpeg_exe

    out.parent.mkdir(parents=True, exist_ok=True)
    inputs: list[str] = []
    if image is not None:
        (out.parent / f"{out.stem}.jpg").write_bytes(image)
        inputs += ["-loop", "1", "-framerate", "25", "-i", str(out.parent / f"{out.stem}.jpg")]
    else:
        inputs += ["-f", "lavfi", "-i", "color=c=0x3366aa:s=320x240:r=25"]
    if audio is not None:
        (out.parent / f"{out.stem}.mp3").write_bytes(audio)
        inputs += ["-i", str(out.parent / f"{out.stem}.mp3")]
    else:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=220:sample_rate=22050:duration={seconds or 2.0:.2f}"]
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *inputs,
               "-map", "0:v:0", "-map", "1:a:0", "-vf", "scale=320:-2,format=yuv420p", "-c:v", codec,
               *(["-preset", "ultrafast", "-tune", "stillimage"] if codec == "libx264" else []),
               "-c:a", "aac", "-b:a", "64k", "-shortest",
               "-movflags", "+faststart", str(out)]
    subprocess.run(command, check=True, capture_output=True)
    return out


@dataclass
class FakeVideo:
    id: str
    api_version: str
    payload: dict
    polls: int = 0
    failure: tuple[str, str] | None = None
    path: Path | None = None
    inputs: dict = field(default_factory=dict)  # image / audio bytes, or seconds of the vendor's voice


class FakeHeyGen(FakeVendor):
    service = "heygen"

    def __init__(self, *, workdir: Path, key: str | None = KEY) -> None:
        super().__init__()
        self.workdir = Path(workdir)
        self.key = key
        self.assets: dict[str, tuple[str, bytes]] = {}  # id → (file type, bytes)
        self.talking_photos: dict[str, bytes] = {}
        self.videos: dict[str, FakeVideo] = {}
        self.release = threading.Event()
        self.release.set()
        self.fail_next: tuple[str, str] | None = None
        self.expired_links = 0
        self.max_script_chars = 5000
        self.upload_shape = "v1"
        self._idempotent: dict[str, Reply] = {}
        self._state = threading.Lock()

    # -- for tests ---------------------------------------------------------------------------------
    @property
    def creates(self) -> list[Request]:
        return self.requests_to("create") + self.requests_to("create_v2")

    def failure(self, status: int, code: str | int, message: str, *, retry_after: float | None = None,
                legacy: bool = False) -> Reply:
        """An error answer in HeyGen's shape: v3 ``{"error": {code, message, doc_url}}``; ``legacy``:
        v2's ``{"error": {code, message}, "data": null}``."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        error = {"code": code, "message": message}
        body = {"error": error, "data": None} if legacy else {
            "error": {**error, "doc_url": f"https://developers.heygen.com/docs/error-codes#{code}"}}
        return Reply.json(body, status=status, headers=headers)

    # -- auth ----------------------------------------------------------------------------------------
    def _denied(self, request: Request) -> Reply | None:
        presented = request.header("x-api-key")
        if self.key is None or presented == self.key:
            return None
        return self.failure(401, "unauthorized", f"Invalid API key provided: {presented}. Check your key in "
                                                 "Settings > API.")

    # -- uploads ---------------------------------------------------------------------------------------
    @route("POST", "/v1/asset", name="upload")
    def upload(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        content_type = (request.header("content-type") or "").split(";")[0].strip()
        if content_type not in UPLOAD_TYPES or not request.raw:
            return Reply.json({"code": 400, "data": None, "msg": "asset data must be provided",
                               "message": f"unsupported or empty upload ({content_type or 'no Content-Type'})"},
                              status=400)
        asset_id = secrets.token_hex(16)
        kind = UPLOAD_TYPES[content_type]
        with self._state:
            self.assets[asset_id] = (kind, request.raw)
        url = f"{self.url}/assets/{asset_id}"
        if self.upload_shape == "v3":
            return Reply.json({"data": {"asset_id": asset_id, "url": url, "mime_type": content_type,
                                        "size_bytes": len(request.raw)}})
        return Reply.json({"code": 100, "data": {"id": asset_id, "name": asset_id, "file_type": kind, "url": url,
                                                 "image_key": f"image/{asset_id}/original" if kind == "image" else None,
                                                 "folder_id": "", "meta": None, "created_ts": 1_760_000_000},
                           "msg": None, "message": None})

    @route("POST", "/v1/talking_photo", name="talking_photo")
    def talking_photo(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        if UPLOAD_TYPES.get((request.header("content-type") or "").split(";")[0]) != "image" or not request.raw:
            return Reply.json({"code": 400, "data": None, "message": "talking photo must be a png or jpeg image"},
                              status=400)
        photo_id = secrets.token_hex(16)
        with self._state:
            self.talking_photos[photo_id] = request.raw
        return Reply.json({"code": 100, "data": {"talking_photo_id": photo_id,
                                                 "talking_photo_url": f"{self.url}/assets/{photo_id}"},
                           "message": "success"})

    # -- v3 ---------------------------------------------------------------------------------------
    @route("POST", "/v3/videos", name="create")
    def create(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        key = request.header("idempotency-key")
        if key and key in self._idempotent:
            return self._idempotent[key]  # HeyGen replays the first answer for 24 h
        body = request.body or {}
        problem, inputs = self._check_v3(body)
        if problem:
            return self.failure(400, "invalid_parameter", problem)
        video = self._new_video("v3", body, inputs)
        reply = Reply.json({"data": {"video_id": video.id, "status": "pending"}})
        if key:
            self._idempotent[key] = reply
        return reply

    def _check_v3(self, body: dict) -> tuple[str | None, dict]:
        inputs: dict = {}
        if body.get("type") == "avatar":
            if body.get("avatar_id") not in AVATARS:
                return f"avatar {body.get('avatar_id')!r} not found", inputs
        elif body.get("type") == "image":
            image = body.get("image") or {}
            asset = self.assets.get(image.get("asset_id")) if image.get("type") == "asset_id" else None
            if asset is None or asset[0] != "image":
                return "image.asset_id must be an uploaded image asset", inputs
            inputs["image"] = asset[1]
        else:
            return "type must be 'avatar' or 'image'", inputs
        speech = [name for name in ("script", "audio_asset_id", "audio_url") if body.get(name)]
        if len(speech) != 1:
            return "give exactly one of script, audio_url or audio_asset_id", inputs
        if body.get("script"):
            if not body.get("voice_id") and body["type"] != "avatar":
                return "voice_id is required with script", inputs
            if body.get("voice_id") and body["voice_id"] not in VOICES:
                return f"voice {body['voice_id']!r} not found", inputs
            if len(body["script"]) > self.max_script_chars:
                return f"script is too long: {len(body['script'])} characters, at most {self.max_script_chars}", inputs
            inputs["seconds"] = 0.4 * len(body["script"].split())
        elif body.get("audio_asset_id"):
            asset = self.assets.get(body["audio_asset_id"])
            if asset is None or asset[0] != "audio":
                return "audio_asset_id must be an uploaded audio asset", inputs
            inputs["audio"] = asset[1]
        for name, allowed in (("resolution", ("4k", "1080p", "720p")), ("aspect_ratio", ("16:9", "9:16")),
                              ("expressiveness", ("high", "medium", "low"))):
            if name in body and body[name] not in allowed:
                return f"{name} must be one of {', '.join(allowed)}", inputs
        if "motion_prompt" in body and not isinstance(body["motion_prompt"], str):
            return "motion_prompt must be text", inputs
        return None, inputs

    @route("GET", "/v3/videos/{video_id}", name="status")
    def status(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        video = self.videos.get(request.params["video_id"])
        if video is None or video.api_version != "v3":
            return self.failure(404, "not_found", "Video not found")
        state = self._advance(video, ("pending", "processing"))
        data = {"id": video.id, "title": video.payload.get("title"), "status": state, "created_at": 1_760_000_000,
                "video_url": None, "thumbnail_url": None, "duration": None, "failure_code": None,
                "failure_message": None}
        if state == "completed":
            data.update(video_url=self._link(video), thumbnail_url=f"{self.url}/thumbs/{video.id}.jpg",
                        duration=12.5)
        elif state == "failed":
            data.update(failure_code=video.failure[0], failure_message=video.failure[1])
        return Reply.json({"data": data})

    @route("GET", "/v3/avatars/looks", name="looks")
    def looks(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        return Reply.json({"data": [{"id": look, "name": name, "avatar_type": "studio_avatar", "group_id": "ag_1",
                                     "preview_image_url": f"{self.url}/previews/{look}.jpg",
                                     "default_voice_id": next(iter(VOICES))} for look, name in AVATARS.items()],
                           "has_more": False, "next_token": None})

    @route("GET", "/v3/voices", name="voices")
    def voices(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        return Reply.json({"data": [{"voice_id": voice, "name": name, "language": "English", "gender": "female"}
                                    for voice, name in VOICES.items()], "has_more": False, "next_token": None})

    # -- v2 ---------------------------------------------------------------------------------------
    @route("POST", "/v2/video/generate", name="create_v2")
    def create_v2(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        body = request.body or {}
        problem, inputs = self._check_v2(body)
        if problem:
            return self.failure(400, 400175, problem, legacy=True)
        video = self._new_video("v2", body, inputs)
        return Reply.json({"error": None, "data": {"video_id": video.id}})

    def _check_v2(self, body: dict) -> tuple[str | None, dict]:
        inputs: dict = {}
        scenes = body.get("video_inputs")
        if not isinstance(scenes, list) or not scenes:
            return "video_inputs is required", inputs
        character, voice = scenes[0].get("character") or {}, scenes[0].get("voice") or {}
        if character.get("type") == "talking_photo":
            if character.get("talking_photo_id") not in self.talking_photos:
                return "talking_photo_id not found", inputs
            inputs["image"] = self.talking_photos[character["talking_photo_id"]]
            if character.get("talking_style", "stable") not in ("stable", "expressive"):
                return "talking_style must be stable or expressive", inputs
        elif character.get("type") == "avatar":
            if character.get("avatar_id") not in AVATARS:
                return "avatar_id not found", inputs
        else:
            return "character.type must be avatar or talking_photo", inputs
        if voice.get("type") == "text":
            if voice.get("voice_id") not in VOICES or not voice.get("input_text"):
                return "voice.voice_id and voice.input_text are required", inputs
            if len(voice["input_text"]) > self.max_script_chars:
                return f"input_text is too long (max {self.max_script_chars} characters)", inputs
            inputs["seconds"] = 0.4 * len(voice["input_text"].split())
        elif voice.get("type") == "audio":
            asset = self.assets.get(voice.get("audio_asset_id"))
            if asset is None or asset[0] != "audio":
                return "audio_asset_id not found", inputs
            inputs["audio"] = asset[1]
        else:
            return "voice.type must be text or audio", inputs
        dimension = body.get("dimension") or {}
        if not all(isinstance(dimension.get(side), int) for side in ("width", "height")):
            return "dimension.width and dimension.height must be integers", inputs
        return None, inputs

    @route("GET", "/v1/video_status.get", name="status_v2")
    def status_v2(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        video = self.videos.get((request.query.get("video_id") or [""])[0])
        if video is None or video.api_version != "v2":
            return Reply.json({"code": 400, "data": None, "message": "video not found"}, status=404)
        state = self._advance(video, ("waiting", "pending", "processing"))
        data = {"id": video.id, "status": state, "video_url": None, "thumbnail_url": None, "duration": None,
                "error": None, "callback_id": None, "caption_url": None, "gif_url": None}
        if state == "completed":
            data.update(video_url=self._link(video), duration=12.5)
        elif state == "failed":
            data["error"] = {"code": video.failure[0], "message": video.failure[1], "detail": video.failure[1]}
        return Reply.json({"code": 100, "data": data, "message": "Success"})

    @route("GET", "/v2/avatars", name="avatars_v2")
    def avatars_v2(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        return Reply.json({"error": None, "data": {"avatars": [
            {"avatar_id": avatar, "avatar_name": name, "gender": "female",
             "preview_image_url": f"{self.url}/previews/{avatar}.jpg"} for avatar, name in AVATARS.items()],
            "talking_photos": []}})

    @route("GET", "/v2/voices", name="voices_v2")
    def voices_v2(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        return Reply.json({"error": None, "data": {"voices": [
            {"voice_id": voice, "language": "English", "gender": "female", "name": name, "preview_audio": ""}
            for voice, name in VOICES.items()]}})

    # -- results ----------------------------------------------------------------------------------
    @route("GET", "/files/{name}", name="download")
    def download(self, request: Request) -> Reply:
        if self.expired_links > 0:
            self.expired_links -= 1
            return Reply.text("<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired"
                              "</Message></Error>", status=403, content_type="application/xml")
        video = self.videos.get(request.params["name"].removesuffix(".mp4"))
        if video is None or video.path is None:
            return Reply.text("<Error><Code>NoSuchKey</Code></Error>", status=404, content_type="application/xml")
        return Reply(body=video.path.read_bytes(), content_type="video/mp4")

    # -- the render farm ---------------------------------------------------------------------------
    def _new_video(self, api_version: str, payload: dict, inputs: dict) -> FakeVideo:
        video = FakeVideo(id=secrets.token_hex(16), api_version=api_version, payload=payload, inputs=inputs)
        with self._state:
            video.failure, self.fail_next = self.fail_next, None
            self.videos[video.id] = video
        return video

    def _advance(self, video: FakeVideo, waiting: tuple[str, ...]) -> str:
        """One step per poll through the waiting states, then completed (or failed); while ``release``
        is cleared a video stays in the last waiting state ("processing") however often it is polled."""
        with self._state:
            video.polls += 1
            if video.failure and video.polls > 1:
                return "failed"
            if not (self.release.is_set() and video.polls > len(waiting)):
                return waiting[min(video.polls, len(waiting)) - 1]
        if video.path is None:
            video.path = result_video(self.workdir / f"{video.id}.mp4", image=video.inputs.get("image"),
                                      audio=video.inputs.get("audio"), seconds=video.inputs.get("seconds"))
        return "completed"

    def _link(self, video: FakeVideo) -> str:
        # Pre-signed-looking, as HeyGen's CloudFront links are; a fresh signature on every status call.
        return f"{self.url}/files/{video.id}.mp4?Expires=1760600000&Signature={secrets.token_hex(8)}"



def main() -> None:  # for trying the studio by hand
    """``python tests/fake_heygen.py [--port 8765]``: a fake HeyGen that accepts any key, until Ctrl-C."""
    import argparse
    import tempfile
    import time

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    fake = FakeHeyGen(workdir=Path(tempfile.mkdtemp(prefix="fake-heygen-")), key=None)
    fake.start(port=args.port)
    print(f"fake HeyGen at {fake.url} — HEYGEN_BASE_URL={fake.url} HEYGEN_API_KEY=x", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
