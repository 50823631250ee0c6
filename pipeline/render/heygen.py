"""HeyGen: the ``heygen`` renderer — API v3 by default, v2 for older accounts and compatible servers.

Plain httpx over one injected ``httpx.Client``; the key travels in ``X-Api-Key`` (never with the
download of a result, whose link is pre-signed). Endpoints, relative to ``HEYGEN_BASE_URL``
(default https://api.heygen.com) and ``HEYGEN_UPLOAD_URL`` (default https://upload.heygen.com)::

    upload   POST {upload}/v1/asset           raw bytes + Content-Type → data.id (or data.asset_id), data.url
             POST {upload}/v1/talking_photo   (v2, our portrait) → data.talking_photo_id
    v3       POST /v3/videos                  {type: "image", image: {type: "asset_id", asset_id}
                                               | type: "avatar", avatar_id;  audio_asset_id | script + voice_id;
                                               resolution, aspect_ratio, expressiveness, motion_prompt,
                                               background, callback_url, title}  → data.video_id
             GET  /v3/videos/{id}             data.status pending | processing | completed | failed,
                                               data.video_url, data.failure_code / failure_message
             GET  /v3/avatars/looks, /v3/voices   for the UI's pickers
    v2       POST /v2/video/generate          video_inputs[{character: {type: "talking_photo" | "avatar"},
                                               voice: {type: "audio" | "text"}}], dimension → data.video_id
             GET  /v1/video_status.get?video_id=   waiting | pending | processing | completed | failed,
                                               data.video_url, data.error {code, message, detail}
             GET  /v2/avatars, /v2/voices

Where the vendor's documents disagree (v3 status bodies name the id ``id`` or ``video_id``; upload
answers carry ``id`` or ``asset_id``; errors come as ``{"error": {"code", "message"}}``, ``{"code",
"message"}`` or ``{"error": "text"}``) both shapes are accepted. v3 creates carry an
``Idempotency-Key`` (HeyGen replays a repeated request's first answer for 24 h), so a create whose
answer was lost can be sent again without paying twice; see ``hosted.py``.

How the studio's controls reach HeyGen (``capabilities``)::

    v3   expression_intensity → expressiveness low / medium / high (photo avatars and portraits)
         head_tilt, eyebrow_raise, emotion → motion_prompt, a sentence (portraits and photo avatars)
         blink_rate, mouth_openness → not available (recorded on the job as ignored)
    v2   expression_intensity → talking_style stable / expressive (portraits only)
         emotion → expression "happy" for happy, else "default" (portraits only)
         the rest → not available
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from ..controls import Controls
from ..errors import BadInput
from ..remote import DEFAULT_RETRY, RetryPolicy
from ..settings import Settings
from .base import Capabilities, OptionSpec, RenderJob
from .hosted import (
    HostedRenderer,
    Plan,
    RemoteRecord,
    RemoteStatus,
    VendorClient,
    prepare_portrait,
    prepare_speech,
)

KEY_VARIABLE = "HEYGEN_API_KEY"
DEFAULT_BASE_URL = "https://api.heygen.com"
DEFAULT_UPLOAD_URL = "https://upload.heygen.com"
RESOLUTIONS = ("720p", "1080p", "4k")
ASPECT_RATIOS = ("16:9", "9:16")
DIMENSIONS = {("720p", "16:9"): (1280, 720), ("720p", "9:16"): (720, 1280), ("1080p", "16:9"): (1920, 1080),
              ("1080p", "9:16"): (1080, 1920), ("4k", "16:9"): (3840, 2160), ("4k", "9:16"): (2160, 3840)}
_STATES = {"waiting": "queued", "pending": "queued", "queued": "queued", "processing": "rendering",
           "rendering": "rendering", "completed": "done", "succeeded": "done", "failed": "failed", "error": "failed"}

OPTIONS = (
    OptionSpec("avatar_id", "text", None, "a HeyGen avatar or look to animate instead of the portrait",
               label="Avatar id", setting="HEYGEN_AVATAR_ID"),
    OptionSpec("voice_id", "text", None, "a HeyGen voice that speaks the script instead of our speech",
               label="Voice id", setting="HEYGEN_VOICE_ID"),
    OptionSpec("resolution", "choice", None, "default: 720p for a size up to 720 px, else 1080p", label="Resolution",
               choices=RESOLUTIONS),
    OptionSpec("aspect_ratio", "choice", None, "default: the portrait's", label="Aspect ratio",
               choices=ASPECT_RATIOS),
    OptionSpec("background", "text", None, "a colour, #rrggbb", label="Background"),
    OptionSpec("callback_url", "text", None, "HeyGen calls it when the video is ready", label="Callback URL"),
)
WHOLE_REPLY_ONLY = "HeyGen renders one whole video per request, minutes at a time"
V3_CAPABILITIES = Capabilities(
    hosted=True, options=OPTIONS, whole_reply_only=WHOLE_REPLY_ONLY,
    controls={"expression_intensity": "expressiveness low / medium / high (portraits and photo avatars)",
              "head_tilt": "motion_prompt, in words", "eyebrow_raise": "motion_prompt, in words",
              "emotion": "motion_prompt, in words"},
    inputs={"portrait": "uploaded asset, animated (type image)", "avatar_id": "a HeyGen avatar or look instead",
            "speech": "our speech uploaded as an audio asset", "voice_id": "HeyGen speaks the script instead",
            "resolution": ", ".join(RESOLUTIONS), "aspect_ratio": ", ".join(ASPECT_RATIOS),
            "background": "a colour, #rrggbb", "callback_url": "HeyGen calls it when the video is ready"})
V2_CAPABILITIES = Capabilities(
    hosted=True, options=OPTIONS, whole_reply_only=WHOLE_REPLY_ONLY,
    controls={"expression_intensity": "talking_style stable / expressive (portraits only)",
              "emotion": "expression happy / default (portraits only)"},
    inputs={"portrait": "uploaded talking photo", "avatar_id": "a HeyGen avatar instead",
            "speech": "our speech uploaded as an audio asset", "voice_id": "HeyGen speaks the script instead",
            "resolution": "720p, 1080p, 4k (as a dimension)", "aspect_ratio": ", ".join(ASPECT_RATIOS),
            "background": "a colour, #rrggbb", "callback_url": "HeyGen calls it when the video is ready"})


def _first(mapping: Any, *names: str) -> Any:
    if not isinstance(mapping, dict):
        return None
    return next((mapping[name] for name in names if mapping.get(name) not in (None, "")), None)


class HeyGenClient(VendorClient):
    """HeyGen's video API, v3 or v2 (``api_version``)."""

    service = "HeyGen"
    key_variable = KEY_VARIABLE
    url_variable = "HEYGEN_BASE_URL"

    def __init__(self, *, api_key: str, base_url: str = DEFAULT_BASE_URL, upload_url: str = DEFAULT_UPLOAD_URL,
                 api_version: str = "v3", client: httpx.Client | None = None, timeout_s: float = 60.0,
                 retry: RetryPolicy = DEFAULT_RETRY) -> None:
        super().__init__(api_key=api_key, client=client, timeout_s=timeout_s, retry=retry)
        if api_version not in ("v3", "v2"):
            raise ValueError(f"api_version must be v3 or v2, got {api_version!r}")
        self.base_url = base_url.rstrip("/")
        self.upload_url = upload_url.rstrip("/")
        self.api_version = api_version
        self.idempotent_create = api_version == "v3"

    @classmethod
    def from_settings(cls, settings: Settings, *, api_version: str | None = None,
                      client: httpx.Client | None = None) -> HeyGenClient:
        return cls(api_key=settings.key(KEY_VARIABLE), base_url=settings.render_base_url("heygen"),
                   upload_url=settings.render_base_url("heygen-upload"),
                   api_version=api_version or settings.heygen_api_version, client=client,
                   retry=RetryPolicy(retries=3, base_delay_s=settings.hosted_poll_s,
                                     max_delay_s=max(settings.hosted_poll_s, 30.0)))

    def _auth_headers(self) -> dict[str, str]:
        return {"X-Api-Key": self._api_key, "Accept": "application/json"}

    def _error_parts(self, body: Any) -> tuple[str | None, str]:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):  # v3, and v2's {"error": {...}, "data": null}
            return _text(_first(error, "code")), str(_first(error, "message", "detail") or "")
        if isinstance(error, str) and error.strip():
            return _text(_first(body, "code")), error
        return _text(_first(body, "code")), str(_first(body, "message", "msg", "detail") or "")

    # -- uploads ------------------------------------------------------------------------------
    def upload_asset(self, path: Path, content_type: str) -> dict:
        """An image or audio file as a HeyGen asset: {"id", "url"}."""
        body = self.call("POST", f"{self.upload_url}/v1/asset", what="the upload of " + Path(path).name,
                         content=Path(path).read_bytes(), headers={"Content-Type": content_type})
        data = _first(body, "data") or {}
        asset_id = _first(data, "id", "asset_id")
        if not asset_id:
            raise self.malformed(f"the upload answer has no asset id: {str(body)[:120]}")
        return {"id": str(asset_id), "url": _first(data, "url")}

    def upload_talking_photo(self, path: Path, content_type: str) -> dict:
        """v2: our portrait as a talking photo: {"id", "url"}."""
        body = self.call("POST", f"{self.upload_url}/v1/talking_photo", what="the upload of the portrait",
                         content=Path(path).read_bytes(), headers={"Content-Type": content_type})
        data = _first(body, "data") or {}
        photo_id = _first(data, "talking_photo_id", "id")
        if not photo_id:
            raise self.malformed(f"the talking photo answer has no talking_photo_id: {str(body)[:120]}")
        return {"id": str(photo_id), "url": _first(data, "talking_photo_url", "url")}

    # -- videos -------------------------------------------------------------------------------
    def create_video(self, payload: dict, *, idempotency_key: str | None = None) -> str:
        """Submit a video (billed); returns its id."""
        path = "/v3/videos" if self.api_version == "v3" else "/v2/video/generate"
        body = self.call("POST", self.base_url + path, what="the request to create the video", create=True,
                         idempotency_key=idempotency_key, json=payload)
        video_id = _first(_first(body, "data"), "video_id", "id") or _first(body, "video_id")
        if not video_id:
            raise self.malformed(f"the create answer has no video_id: {str(body)[:120]}")
        return str(video_id)

    def video_status(self, video_id: str) -> RemoteStatus:
        if self.api_version == "v3":
            body = self.call("GET", f"{self.base_url}/v3/videos/{video_id}", what=f"the status of video {video_id}",
                             retry=False)
        else:
            body = self.call("GET", f"{self.base_url}/v1/video_status.get", params={"video_id": video_id},
                             what=f"the status of video {video_id}", retry=False)
        data = _first(body, "data")
        if not isinstance(data, dict) or not data.get("status"):
            raise self.malformed(f"the status answer has no data.status: {str(body)[:120]}")
        vendor_status = str(data["status"]).lower()
        error = data.get("error")
        code = _first(data, "failure_code") or (_first(error, "code") if isinstance(error, dict) else None)
        message = _first(data, "failure_message") or (
            _first(error, "detail", "message") if isinstance(error, dict) else error if isinstance(error, str) else None)
        progress = data.get("progress")
        if isinstance(progress, (int, float)):
            progress = progress / 100 if progress > 1 else float(progress)
        else:
            progress = None
        duration = data.get("duration")
        return RemoteStatus(state=_STATES.get(vendor_status, "rendering"), vendor_status=vendor_status,
                            video_url=_first(data, "video_url", "url"), error_code=_text(code),
                            error_message=str(message) if message else None, progress=progress,
                            duration_s=float(duration) if isinstance(duration, (int, float)) else None)

    # -- catalogues for the UI ----------------------------------------------------------------------
    def list_avatars(self, *, max_pages: int = 5) -> list[dict]:
        """Avatars (v2) or avatar looks (v3) the account may use: {"id", "name", "kind", "preview_image_url",
        "default_voice_id"}; ``id`` is what ``avatar_id`` takes."""
        if self.api_version == "v3":
            return [{"id": item.get("id"), "name": item.get("name"), "kind": item.get("avatar_type"),
                     "preview_image_url": item.get("preview_image_url"),
                     "default_voice_id": item.get("default_voice_id")}
                    for item in self._pages("/v3/avatars/looks", max_pages)]
        data = _first(self.call("GET", f"{self.base_url}/v2/avatars", what="the list of avatars"), "data") or {}
        return [{"id": item.get("avatar_id"), "name": item.get("avatar_name"), "kind": "avatar",
                 "preview_image_url": item.get("preview_image_url"), "default_voice_id": item.get("default_voice_id")}
                for item in data.get("avatars") or []]

    def list_voices(self, *, max_pages: int = 5) -> list[dict]:
        """Voices for scripts: {"id", "name", "language", "gender"}; ``id`` is what ``voice_id`` takes."""
        if self.api_version == "v3":
            items = self._pages("/v3/voices", max_pages)
        else:
            data = _first(self.call("GET", f"{self.base_url}/v2/voices", what="the list of voices"), "data") or {}
            items = data.get("voices") or []
        return [{"id": item.get("voice_id") or item.get("id"), "name": item.get("name") or item.get("display_name"),
                 "language": item.get("language"), "gender": item.get("gender")} for item in items]

    def _pages(self, path: str, max_pages: int) -> list[dict]:
        items, token = [], None
        for _ in range(max_pages):
            params = {"limit": 50, **({"token": token} if token else {})}
            body = self.call("GET", self.base_url + path, params=params, what=f"the list at {path}")
            data = body.get("data") if isinstance(body, dict) else None
            items.extend(data if isinstance(data, list) else [])
            token = body.get("next_token") if isinstance(body, dict) and body.get("has_more") else None
            if not token:
                break
        return items


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class HeyGenRenderer(HostedRenderer):
    name = "heygen"
    service = "HeyGen"
    key_variable = KEY_VARIABLE
    label = "HeyGen"
    typical_s = 90.0

    def api_version(self, settings: Settings) -> str:
        return settings.heygen_api_version

    def client(self, settings: Settings, record: RemoteRecord | None = None) -> HeyGenClient:
        return HeyGenClient.from_settings(settings, api_version=record.api_version if record else None)

    def capabilities(self, settings: Settings | None = None) -> Capabilities:
        return V2_CAPABILITIES if settings is not None and settings.heygen_api_version == "v2" else V3_CAPABILITIES

    def check_options(self, options: dict | None, settings: Settings | None = None) -> dict:
        checked = super().check_options(options, settings)
        if checked.get("resolution") and checked["resolution"] not in RESOLUTIONS:
            raise _bad("resolution", checked["resolution"], RESOLUTIONS)
        if checked.get("aspect_ratio") and checked["aspect_ratio"] not in ASPECT_RATIOS:
            raise _bad("aspect_ratio", checked["aspect_ratio"], ASPECT_RATIOS)
        return checked

    def plan(self, job: RenderJob, work_dir: Path, api_version: str | None) -> Plan:
        v3 = (api_version or job.settings.heygen_api_version) == "v3"
        avatar_id = self.option(job, "avatar_id", "HEYGEN_AVATAR_ID")
        voice_id = self.option(job, "voice_id", "HEYGEN_VOICE_ID")
        mode = "avatar" if avatar_id else "image"
        speech = "script" if voice_id and job.script else "audio"
        uploads = {}
        if mode == "image":
            uploads["portrait"] = (prepare_portrait(job.portrait, work_dir / "portrait.jpg"), "image/jpeg")
        if speech == "audio":
            uploads["speech"] = (prepare_speech(job.speech_wav, work_dir / "speech.mp3"), "audio/mpeg")
        capabilities = V3_CAPABILITIES if v3 else V2_CAPABILITIES
        honoured = dict(capabilities.controls)
        notes = []
        if mode == "avatar":
            notes.append(f"HeyGen avatar {avatar_id} was used; the portrait was not sent")
            if not v3:  # v2 talking styles and expressions apply to talking photos only
                honoured = {}
        resolution = self.option(job, "resolution") or ("720p" if job.max_side <= 720 else "1080p")
        aspect = self.option(job, "aspect_ratio") or portrait_aspect(job.portrait if mode == "image" else None)
        summary = {"api_version": "v3" if v3 else "v2", "mode": mode, "speech": speech, "avatar_id": avatar_id,
                   "voice_id": voice_id if speech == "script" else None, "resolution": resolution,
                   "aspect_ratio": aspect, "background": self.option(job, "background")}
        return Plan(mode=mode, speech=speech, uploads=uploads, honoured=honoured, summary=summary, notes=notes)

    def upload(self, client: HeyGenClient, name: str, path: Path, content_type: str) -> dict:
        if name == "portrait" and client.api_version == "v2":
            return client.upload_talking_photo(path, content_type)
        return client.upload_asset(path, content_type)

    def payload(self, job: RenderJob, plan: Plan, assets: dict[str, dict]) -> dict:
        summary, controls = plan.summary, job.controls
        title = f"Avatar Studio {job.job_id}"
        background = {"type": "color", "value": summary["background"]} if summary["background"] else None
        callback = self.option(job, "callback_url")
        if summary["api_version"] == "v3":
            payload: dict[str, Any] = {"title": title, "resolution": summary["resolution"],
                                       "aspect_ratio": summary["aspect_ratio"]}
            if plan.mode == "avatar":
                payload.update(type="avatar", avatar_id=summary["avatar_id"])
            else:
                payload.update(type="image", image={"type": "asset_id", "asset_id": assets["portrait"]["id"]})
            if plan.speech == "script":
                payload.update(script=job.script, voice_id=summary["voice_id"])
            else:
                payload["audio_asset_id"] = assets["speech"]["id"]
            payload.update(expressiveness=intensity_level(controls), motion_prompt=emotion_words(controls))
            if background:
                payload["background"] = background
            if callback:
                payload["callback_url"] = callback
            return payload
        if plan.mode == "avatar":
            character = {"type": "avatar", "avatar_id": summary["avatar_id"], "avatar_style": "normal"}
        else:
            character = {"type": "talking_photo", "talking_photo_id": assets["portrait"]["id"],
                         "talking_style": "expressive" if controls.expression_intensity >= 0.5 else "stable",
                         "expression": "happy" if controls.emotion == "happy" else "default"}
        voice = ({"type": "text", "input_text": job.script, "voice_id": summary["voice_id"]}
                 if plan.speech == "script" else {"type": "audio", "audio_asset_id": assets["speech"]["id"]})
        scene: dict[str, Any] = {"character": character, "voice": voice}
        if background:
            scene["background"] = background
        width, height = DIMENSIONS[(summary["resolution"], summary["aspect_ratio"])]
        payload = {"title": title, "video_inputs": [scene], "dimension": {"width": width, "height": height}}
        if callback:
            payload["callback_url"] = callback
        return payload

    def create(self, client: HeyGenClient, payload: dict, idempotency_key: str) -> str:
        return client.create_video(payload, idempotency_key=idempotency_key)

    def status(self, client: HeyGenClient, remote_id: str) -> RemoteStatus:
        return client.video_status(remote_id)


def _bad(name: str, value: str, choices: tuple[str, ...]) -> BadInput:
    return BadInput(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def portrait_aspect(path: Path | None) -> str:
    """"9:16" for a portrait that is taller than wide, else "16:9"."""
    if path is None or not Path(path).is_file():
        return "16:9"
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        width, height = ImageOps.exif_transpose(image).size
    return "9:16" if height > width else "16:9"


def emotion_words(controls: Controls) -> str:
    """A motion prompt in words from head_tilt, eyebrow_raise and the emotion (HeyGen's motion_prompt)."""
    faces = {"neutral": "a calm, neutral expression", "happy": "a warm, happy smile",
             "sad": "a sad, subdued expression", "angry": "a stern, angry expression",
             "fearful": "a worried, fearful expression", "disgusted": "a displeased, disgusted expression",
             "surprised": "a surprised, wide-eyed expression"}
    head = ("keeps the head steady" if controls.head_tilt < 0.2 else
            "moves the head a little, naturally" if controls.head_tilt < 0.6 else
            "tilts and moves the head expressively")
    brows = ("" if controls.eyebrow_raise < 0.25 else
             ", raising the eyebrows now and then" if controls.eyebrow_raise < 0.6 else
             ", raising the eyebrows often for emphasis")
    return f"Speaks with {faces.get(controls.emotion, faces['neutral'])}, {head}{brows}."


def intensity_level(controls: Controls) -> str:
    """expression_intensity as "low" / "medium" / "high"."""
    value = controls.expression_intensity
    return "low" if value < 1 / 3 else "medium" if value < 2 / 3 else "high"
