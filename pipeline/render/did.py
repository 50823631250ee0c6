"""D-ID: the ``did`` renderer — D-ID's Talks API animates our portrait.

Plain httpx over one injected ``httpx.Client``; Basic auth with the key exactly as D-ID's studio
shows it (``Authorization: Basic <DID_API_KEY>``), never sent with the download of a result.
Endpoints, relative to ``DID_BASE_URL`` (default https://api.d-id.com)::

    POST /images   multipart "image" → {id, url}   (url: an s3:// address D-ID reads itself)
    POST /audios   multipart "audio" → {id, url, duration}
    POST /talks    {source_url, script: {type: "audio", audio_url} | {type: "text", input, provider},
                    config: {stitch, result_format, driver_expressions}, webhook} → 201 {id, status: "created"}
    GET  /talks/{id}   status created | started | done (result_url) | error | rejected,
                       error {kind, description} — FaceError, SourceError, …

Errors come as ``{"kind", "description"}`` (or ``{"message"}`` for 401); D-ID's kinds
(``InsufficientCreditsError``, ``FaceError``, …) are read as well as the HTTP status. D-ID does not
bill talks that end in an error, so resuming a job whose talk failed submits a new one (``hosted.py``).

How the studio's controls reach D-ID (``CAPABILITIES``)::

    emotion              → driver_expressions: happy → happy, surprised → surprise,
                           angry / disgusted / sad / fearful → serious, neutral → neutral
    expression_intensity → that expression's intensity (0–1)
    the rest             → not available (recorded on the job as ignored)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

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

KEY_VARIABLE = "DID_API_KEY"
DEFAULT_BASE_URL = "https://api.d-id.com"
DEFAULT_PROVIDER = "microsoft"  # DID_VOICE_ID "en-US-JennyNeural" means microsoft:en-US-JennyNeural
EXPRESSIONS = {"happy": "happy", "surprised": "surprise", "angry": "serious", "disgusted": "serious",
               "sad": "serious", "fearful": "serious", "neutral": "neutral"}
_STATES = {"created": "queued", "started": "rendering", "done": "done", "error": "failed", "rejected": "failed"}

OPTIONS = (
    OptionSpec("voice_id", "text", None, "a voice (provider:voice) that speaks the script instead of our speech",
               label="Voice id", setting="DID_VOICE_ID"),
    OptionSpec("callback_url", "text", None, "D-ID calls it (webhook) when the video is ready", label="Callback URL"),
)
CAPABILITIES = Capabilities(
    hosted=True, options=OPTIONS, whole_reply_only="D-ID renders one whole clip per request, minutes at a time",
    controls={"emotion": "driver_expressions: happy, surprise, serious or neutral",
              "expression_intensity": "the expression's intensity, 0–1"},
    inputs={"portrait": "uploaded image, animated (stitched back into the whole picture)",
            "speech": "our speech uploaded as audio", "voice_id": "D-ID speaks the script instead (provider:voice)",
            "callback_url": "D-ID calls it (webhook) when the video is ready"})


class DIDClient(VendorClient):
    """D-ID's Talks API."""

    service = "D-ID"
    key_variable = KEY_VARIABLE
    url_variable = "DID_BASE_URL"

    def __init__(self, *, api_key: str, base_url: str = DEFAULT_BASE_URL, client: httpx.Client | None = None,
                 timeout_s: float = 60.0, retry: RetryPolicy = DEFAULT_RETRY) -> None:
        super().__init__(api_key=api_key, client=client, timeout_s=timeout_s, retry=retry)
        self.base_url = base_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings, *, client: httpx.Client | None = None) -> DIDClient:
        return cls(api_key=settings.key(KEY_VARIABLE), base_url=settings.render_base_url("did"), client=client,
                   retry=RetryPolicy(retries=3, base_delay_s=settings.hosted_poll_s,
                                     max_delay_s=max(settings.hosted_poll_s, 30.0)))

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Basic {self._api_key}", "Accept": "application/json"}

    def _error_parts(self, body: Any) -> tuple[str | None, str]:
        if not isinstance(body, dict):
            return None, str(body)[:300]
        kind = body.get("kind")
        message = body.get("description") or body.get("message") or body.get("error") or ""
        details = body.get("details")
        if isinstance(details, str) and details and details not in str(message):
            message = f"{message} — {details}"
        return (str(kind) if kind else None), str(message)

    def upload(self, kind: str, path: Path, content_type: str) -> dict:
        """``kind`` "image" or "audio": {"id", "url"}."""
        path = Path(path)
        body = self.call("POST", f"{self.base_url}/{kind}s", what=f"the upload of {path.name}",
                         files={kind: (path.name, path.read_bytes(), content_type)})
        if not isinstance(body, dict) or not body.get("url"):
            raise self.malformed(f"the {kind} upload answer has no url: {str(body)[:120]}")
        return {"id": str(body.get("id") or ""), "url": body["url"]}

    def create_talk(self, payload: dict) -> str:
        body = self.call("POST", f"{self.base_url}/talks", what="the request to create the video", create=True,
                         json=payload)
        talk_id = body.get("id") if isinstance(body, dict) else None
        if not talk_id:
            raise self.malformed(f"the create answer has no id: {str(body)[:120]}")
        return str(talk_id)

    def talk_status(self, talk_id: str) -> RemoteStatus:
        body = self.call("GET", f"{self.base_url}/talks/{talk_id}", what=f"the status of video {talk_id}",
                         retry=False)
        if not isinstance(body, dict) or not body.get("status"):
            raise self.malformed(f"the status answer has no status: {str(body)[:120]}")
        vendor_status = str(body["status"]).lower()
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        code, message = self._error_parts(error) if error else (None, "")
        if vendor_status == "rejected" and not message:
            message = "the talk was rejected by D-ID's moderation"
        duration = body.get("duration")
        return RemoteStatus(state=_STATES.get(vendor_status, "rendering"), vendor_status=vendor_status,
                            video_url=body.get("result_url"), error_code=code, error_message=message or None,
                            duration_s=float(duration) if isinstance(duration, (int, float)) else None)


class DIDRenderer(HostedRenderer):
    name = "did"
    service = "D-ID"
    key_variable = KEY_VARIABLE
    label = "D-ID"
    typical_s = 45.0

    def client(self, settings: Settings, record: RemoteRecord | None = None) -> DIDClient:
        return DIDClient.from_settings(settings)

    def capabilities(self, settings: Settings | None = None) -> Capabilities:
        return CAPABILITIES

    def check_options(self, options: dict | None, settings: Settings | None = None) -> dict:
        if "avatar_id" in (options or {}):
            raise BadInput("D-ID animates your portrait and has no avatar ids here — use the heygen renderer for "
                           "a stock avatar")
        return super().check_options(options, settings)

    def plan(self, job: RenderJob, work_dir: Path, api_version: str | None) -> Plan:
        voice = self.option(job, "voice_id", "DID_VOICE_ID")
        speech = "script" if voice and job.script else "audio"
        uploads = {"portrait": (prepare_portrait(job.portrait, work_dir / "portrait.jpg"), "image/jpeg")}
        if speech == "audio":
            uploads["speech"] = (prepare_speech(job.speech_wav, work_dir / "speech.mp3"), "audio/mpeg")
        provider, _, voice_id = (voice or "").rpartition(":")
        summary = {"mode": "image", "speech": speech,
                   "voice": {"type": provider or DEFAULT_PROVIDER, "voice_id": voice_id} if speech == "script" else None,
                   "expression": EXPRESSIONS[job.controls.emotion]}
        return Plan(mode="image", speech=speech, uploads=uploads, honoured=dict(CAPABILITIES.controls),
                    summary=summary)

    def upload(self, client: DIDClient, name: str, path: Path, content_type: str) -> dict:
        return client.upload("image" if name == "portrait" else "audio", path, content_type)

    def payload(self, job: RenderJob, plan: Plan, assets: dict[str, dict]) -> dict:
        controls = job.controls
        script = ({"type": "text", "input": job.script, "provider": plan.summary["voice"]}
                  if plan.speech == "script" else {"type": "audio", "audio_url": assets["speech"]["url"]})
        expression = {"start_frame": 0, "expression": plan.summary["expression"],
                      "intensity": round(controls.expression_intensity, 2)}
        payload: dict[str, Any] = {
            "source_url": assets["portrait"]["url"], "script": script,
            "config": {"stitch": True, "result_format": "mp4",
                       "driver_expressions": {"expressions": [expression], "transition_frames": 0}},
            "name": f"Avatar Studio {job.job_id}",
        }
        if self.option(job, "callback_url"):
            payload["webhook"] = self.option(job, "callback_url")
        return payload

    def create(self, client: DIDClient, payload: dict, idempotency_key: str) -> str:
        return client.create_talk(payload)

    def status(self, client: DIDClient, remote_id: str) -> RemoteStatus:
        return client.talk_status(remote_id)
