"""Hosted renderers: a vendor (HeyGen, D-ID) animates the portrait; we submit once, poll, keep the result.

A hosted render is billed per video, takes from 30 seconds to many minutes and fails in its own ways,
so the studio treats it as a stage that must survive crashes without paying twice. What
``HostedRenderer.render`` does for one job — and what it writes to ``remote.json`` in the job
folder (atomically, at every step) and to the job row (``remote_id``, ``remote``) through the stage's
``record`` callback:

1. **Prepare** the inputs in formats every vendor takes: the portrait as ``hosted/portrait.jpg``, the
   speech as ``hosted/speech.mp3``.
2. **Upload** them (free), recording each asset's id and the file's SHA-256 so a later attempt reuses it.
3. **Submit** (billed). Before the request, ``remote.json`` says ``submitting`` with a per-attempt
   idempotency key; the moment the vendor answers, its video id goes to ``remote.json`` and to the
   job row — before the first poll.
4. **Poll** with backoff: ``settings.hosted_poll_s`` at first, ×1.5 per poll up to six times that
   (30 s at most), until the video is done or failed or ``settings.hosted_timeout_s`` has passed. A
   429 waits exactly the Retry-After the vendor asked for; 5xx answers and dropped connections are
   tolerated up to ``MAX_POLL_ERRORS`` in a row. Ctrl-C or SIGTERM (``KeyboardInterrupt``) stops at
   once: the runner marks the job ``interrupted`` and the vendor id stays recorded.
5. **Download** the result into a file of this attempt's own (``render.partial-<pid>-<token>.mp4``),
   check it is a video with a duration that decodes from end to end without an error
   (``media.verify_video``), then rename it to ``render.mp4``; ``render.json`` keeps its frame count.
   The vendor's URL expires after days; it is kept as metadata only.
   A link that no longer works (403/404/410) is asked for again once (status calls hand out fresh
   links) before giving up.

**Resume** (``Runner.resume`` re-runs the render stage) reads ``remote.json``: with a vendor id it polls
that id and never submits again — after an interruption, a timeout, a dropped connection or an
expired link alike. Only two situations submit anew:

- the vendor reported the video *failed* (HeyGen and D-ID do not bill failed renders); the failed
  attempt is kept under ``previous`` and a fresh idempotency key is used;
- the process died after sending the create request but before reading the answer. Where the vendor
  honours an ``Idempotency-Key`` (HeyGen v3: repeats within 24 h replay the first answer) the request
  is sent again with the same key — safe; elsewhere the job fails with a message saying the video
  may exist and must be checked in the vendor's dashboard, rather than risk a second bill.

The encode stage keeps the vendor's sound (``encode_hosted``): it already is our speech lip-synced,
or the vendor's own voice when a voice id was chosen. Its length is compared with our speech only in
the first case; a difference beyond ``max(0.25 s, 3 %)`` becomes a note, not a failure — the video is
paid for and playable.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..errors import (
    AuthFailed,
    BadInput,
    OutOfCredit,
    RateLimited,
    RemoteError,
    RemoteTimeout,
    StudioError,
)
from ..files import file_sha256, partial_path
from ..remote import (
    DEFAULT_RETRY,
    RetryPolicy,
    error_for_status,
    is_retryable,
    malformed,
    mark_retryable,
    parse_retry_after,
    redact,
    transport_error,
)
from ..settings import Settings
from .base import ALL_CONTROLS, Renderer, RenderJob

MAX_POLL_ERRORS = 5  # 5xx / dropped connections in a row while polling before the job fails
MAX_POLL_INTERVAL_S = 30.0
DOWNLOAD_TIMEOUT_S = 300.0
UPLOAD_LONG_SIDE = 2048  # portraits are sent at most this large: plenty for 1080p, quick to upload
DURATION_TOLERANCE_S, DURATION_TOLERANCE = 0.25, 0.03
# Progress within the render stage: uploads up to SUBMITTED, polling up to POLLED, then the download.
SUBMITTED, POLLED = 0.12, 0.9

_CREDIT_WORDS = ("insufficient_credit", "insufficientcredit", "insufficient credit", "not enough credit",
                 "out of credit", "payment_insufficient", "credits left", "quota exceeded")
_TOO_LONG_WORDS = ("too long", "too_long", "toolong", "exceeds the maximum length", "text length")
_AUTH_CODES = ("unauthorized", "invalid_credentials", "40009", "400112", "authorizationerror", "unauthorizederror")
_FACE_WORDS = ("faceerror", "face not", "no face", "face_not", "no valid face", "face detection")


@dataclass
class Plan:
    """One vendor request, decided from the job before anything is sent."""

    mode: str  # "image": animate our portrait; "avatar": the vendor's own avatar
    speech: str  # "audio": our speech lip-synced; "script": the vendor speaks the script
    uploads: dict[str, tuple[Path, str]]  # asset name → (file, content type)
    honoured: dict[str, str]  # control → how it reaches the vendor (the rest are ignored)
    summary: dict[str, Any]  # what remote.json keeps about the request (ids and choices, no secrets)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RemoteStatus:
    """A vendor's answer to "how is video X?", in our words."""

    state: str  # "queued" | "rendering" | "done" | "failed"
    vendor_status: str
    video_url: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    progress: float | None = None  # 0–1 when the vendor says
    duration_s: float | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


# -- remote.json ----------------------------------------------------------------------------------

REMOTE_FILE = "remote.json"


@dataclass
class RemoteRecord:
    """The job's dealings with the vendor; see the module docstring for the states."""

    vendor: str
    api_version: str | None = None
    state: str = "new"  # new → submitting → submitted → done | failed
    remote_id: str | None = None
    attempt: int = 1
    idempotency_key: str | None = None
    assets: dict[str, dict] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)
    status: str | None = None  # the vendor's own word
    video_url: str | None = None  # metadata only: the vendor's link expires
    error: str | None = None
    submitted_at: str | None = None
    finished_at: str | None = None
    previous: list[dict] = field(default_factory=list)  # earlier attempts that the vendor failed

    @classmethod
    def load(cls, job_dir: Path) -> RemoteRecord | None:
        path = job_dir / REMOTE_FILE
        if not path.is_file():
            return None
        values = json.loads(path.read_text())
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})

    def save(self, job_dir: Path) -> None:
        """Write atomically and durably: a crash leaves the old or the new file, never half of one."""
        path = job_dir / REMOTE_FILE
        partial = partial_path(path)
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


# -- HTTP shared by the vendor clients --------------------------------------------------------------

class VendorClient:
    """One vendor's API over one ``httpx.Client``: auth, error mapping in words, retries, download.

    Subclasses set ``service`` and ``key_variable`` and implement ``_auth_headers`` and
    ``_error_parts`` (the vendor's error code and message from a body). Auth headers go with API
    calls only, never with downloads: result links are pre-signed URLs on other hosts."""

    service = "vendor"
    key_variable = ""
    url_variable = ""
    idempotent_create = False  # the vendor replays a repeated create with the same Idempotency-Key

    def __init__(self, *, api_key: str, client: httpx.Client | None = None, timeout_s: float = 60.0,
                 retry: RetryPolicy = DEFAULT_RETRY) -> None:
        self._api_key = api_key
        self._http = client or httpx.Client()
        self._owns_http = client is None
        self.timeout_s = timeout_s
        self.retry = retry

    def __repr__(self) -> str:  # the key stays out
        return f"{type(self).__name__}(service={self.service!r})"

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    @property
    def secrets(self) -> list[str]:
        """What must never appear in a message: the key."""
        return [self._api_key]

    # -- to implement ---------------------------------------------------------------------------
    def _auth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _error_parts(self, body: Any) -> tuple[str | None, str]:
        """(the vendor's error code, its message) from a parsed error body."""
        raise NotImplementedError

    # -- calls ----------------------------------------------------------------------------------
    def call(self, method: str, url: str, *, what: str, create: bool = False, idempotency_key: str | None = None,
             retry: bool = True, **kwargs: Any) -> Any:
        """One API call, retried per ``self.retry`` (``retry=False``: once — status polls, whose loop
        has its own rules); returns the parsed JSON answer.

        ``create=True`` marks a billed request: unless the vendor honours ``idempotency_key``, only
        failures that prove it was not accepted (429, a refused connection) are retried, and a lost
        answer (timeout, cut connection) is raised with ``outcome_unknown = True``."""
        headers = {**self._auth_headers(), **kwargs.pop("headers", {})}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        safe_to_repeat = not create or (self.idempotent_create and idempotency_key)

        def attempt() -> Any:
            try:
                response = self._http.request(method, url, headers=headers, timeout=self.timeout_s, **kwargs)
            except httpx.HTTPError as error:
                mapped = transport_error(self.service, error, timeout_s=self.timeout_s, secrets=[self._api_key])
                if mapped is None:
                    raise
                if not safe_to_repeat:
                    if isinstance(error, httpx.ConnectError):  # never reached the vendor: nothing was accepted
                        mark_retryable(mapped, True)
                    else:
                        mark_retryable(mapped, False)
                        mapped.outcome_unknown = True  # type: ignore[attr-defined]
                raise mapped from None
            if response.status_code >= 400:
                error = self.error_for(response, what)
                if not safe_to_repeat and not isinstance(error, RateLimited):
                    mark_retryable(error, False)
                if create and self.idempotent_create and response.status_code == 409:  # the first is still in flight
                    mark_retryable(error, True)
                raise error
            try:
                return response.json()
            except ValueError:
                raise self.malformed(f"{what}: not JSON: {response.text[:120]!r}") from None

        return self.retry.call(attempt, what=what[:1].upper() + what[1:]) if retry else attempt()

    def error_for(self, response: httpx.Response, what: str) -> StudioError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        code, message = self._error_parts(body) if isinstance(body, (dict, list)) else (None, str(body)[:300])
        return classify_error(self.service, response.status_code, code, message, what=what,
                              retry_after=parse_retry_after(response.headers.get("retry-after")),
                              key_variable=self.key_variable, url_variable=self.url_variable,
                              secrets=[self._api_key])

    def malformed(self, detail: str) -> RemoteError:
        return malformed(self.service, detail, secrets=[self._api_key])

    def download(self, url: str, dest: Path, *, timeout_s: float = DOWNLOAD_TIMEOUT_S) -> None:
        """Stream ``url`` into ``dest`` (no API key sent). A link that no longer works raises
        ``LinkExpired``; a partial file never stays behind."""
        try:
            with self._http.stream("GET", url, timeout=timeout_s, follow_redirects=True) as response:
                if response.status_code in (401, 403, 404, 410):
                    raise LinkExpired(f"{self.service}'s link to the finished video no longer works "
                                      f"(HTTP {response.status_code}) — such links expire after some days; "
                                      "resume the job to ask for a fresh one")
                if response.status_code >= 400:
                    response.read()
                    raise self.error_for(response, "the download of the finished video")
                with open(dest, "wb") as handle:
                    handle.writelines(response.iter_bytes(1 << 16))
        except httpx.HTTPError as error:
            dest.unlink(missing_ok=True)
            mapped = transport_error(self.service, error, timeout_s=timeout_s, secrets=[self._api_key])
            if mapped is None:
                raise
            raise mapped from None
        except BaseException:
            dest.unlink(missing_ok=True)
            raise


class LinkExpired(RemoteError):
    """The result URL answered 401/403/404/410 (pre-signed links expire)."""


# -- errors in words --------------------------------------------------------------------------------

def _has(words: Iterable[str], *texts: str | None) -> bool:
    joined = " ".join(t for t in texts if t).lower()
    return any(word in joined for word in words)


def classify_error(service: str, status: int, code: str | None, message: str, *, what: str,
                   retry_after: float | None = None, key_variable: str = "", url_variable: str = "",
                   secrets: Iterable[str | None] = ()) -> StudioError:
    """Our error for a vendor's HTTP error answer, its own words attached (keys redacted).

    Adds to ``remote.error_for_status`` what renderers meet: out-of-credit codes on any status
    (HeyGen's legacy API says it with a 400), a script too long, no face in the portrait."""
    said = _said(code, message, secrets)
    tail = f": {said}" if said else ""
    if status in (400, 403) and str(code or "").lower() in _AUTH_CODES:  # HeyGen's legacy API: a 400
        status = 401
    if status not in (401, 429) and status < 500 and _has(_CREDIT_WORDS, str(code or ""), message):
        return OutOfCredit(f"{service} says the account is out of credit (HTTP {status}) — top up or change the "
                           f"plan, then resume the job{tail}")
    if status in (400, 422) and _has(_FACE_WORDS, str(code or ""), message):
        return face_not_found(service, said)
    if status in (400, 413, 422) and _has(_TOO_LONG_WORDS, str(code or ""), message):
        return text_too_long(service, said)
    if status == 403:
        return AuthFailed(f"{service} refused access (HTTP 403) — check {key_variable or 'the API key'} and that "
                          f"the plan includes API access{tail}")
    if status == 404:
        where = f" and {url_variable}" if url_variable else ""
        return RemoteError(f"{service} found nothing at the address used for {what} (HTTP 404) — check the "
                           f"id{where}{tail}")
    if status in (400, 409, 413, 422):
        return RemoteError(f"{service} refused {what} (HTTP {status}){tail}")
    return error_for_status(service, status, said, retry_after=retry_after, key_variable=key_variable)


def _said(code: Any, message: str | None, secrets: Iterable[str | None]) -> str:
    """The vendor's words with its error code, keys redacted, one line."""
    text = " ".join((message or "").split())
    if code and str(code) not in text:
        text = f"{text} ({code})" if text else str(code)
    return redact(text, list(secrets))[:300]


def face_not_found(service: str, said: str) -> BadInput:
    return BadInput(f"{service} found no face it can animate in the portrait — use a clear, front-facing photo "
                    f"of one person ({service} said: {said})")


def text_too_long(service: str, said: str) -> BadInput:
    return BadInput(f"The script is too long for {service} — shorten it or split it into several videos "
                    f"({service} said: {said})")


def failure_error(service: str, remote_id: str, status: RemoteStatus, *, secrets: Iterable[str | None] = ()
                  ) -> StudioError:
    """Our error for a video the vendor reports as failed."""
    code, message = status.error_code, status.error_message or ""
    said = _said(code, message, secrets) or f"status {status.vendor_status}"
    if _has(_FACE_WORDS, code, message):
        return face_not_found(service, said)
    if _has(_TOO_LONG_WORDS, code, message):
        return text_too_long(service, said)
    if _has(_CREDIT_WORDS, code, message):
        return OutOfCredit(f"{service} stopped video {remote_id} for lack of credit — top up, then resume the job "
                           f"({service} said: {said})")
    return RemoteError(f"{service} could not render video {remote_id} ({said}) — resume the job to submit it "
                       "again, or change the portrait or the script")


# -- polling ------------------------------------------------------------------------------------------

def poll_until_finished(fetch: Callable[[], RemoteStatus], *, service: str, remote_id: str, job_id: str,
                        interval_s: float, timeout_s: float, on_status: Callable[[RemoteStatus, float], None],
                        sleep: Callable[[float], None] = time.sleep,
                        clock: Callable[[], float] = time.monotonic) -> RemoteStatus:
    """``fetch()`` until the video is done or failed; see the module docstring for the rules."""
    started = clock()
    pause = interval_s
    longest = max(interval_s, min(MAX_POLL_INTERVAL_S, interval_s * 6))
    errors = 0
    last: RemoteStatus | None = None
    while True:
        wait = pause
        try:
            status = fetch()
        except RateLimited as error:
            if error.retry_after is not None:
                wait = error.retry_after
        except RemoteError as error:
            if not is_retryable(error):
                raise
            errors += 1
            if errors > MAX_POLL_ERRORS:
                raise type(error)(f"{error} ({errors} status checks in a row failed; the video may still finish "
                                  f"— resume the job to check again)") from error
        else:
            errors, last = 0, status
            on_status(status, clock() - started)
            if status.finished:
                return status
        remaining = timeout_s - (clock() - started)
        if remaining <= 0:
            said = f" (last status: {last.vendor_status})" if last else ""
            raise RemoteTimeout(f"{service} has not finished video {remote_id} after {timeout_s:g} s{said} — it "
                                f"keeps rendering there: resume later with `python app.py resume {job_id}` to "
                                "collect it without paying again")
        sleep(min(wait, remaining))
        pause = min(longest, pause * 1.5)


# -- the renderer -------------------------------------------------------------------------------------

class HostedRenderer(Renderer):
    """Base of the HeyGen and D-ID renderers: ``render`` submits once, polls, downloads. Stateless:
    settings (keys, base URLs) come with each job."""

    name = "hosted"
    service = "vendor"
    key_variable = ""
    typical_s = 60.0  # what a short video usually takes there, for the progress bar

    # -- to implement ---------------------------------------------------------------------------
    def client(self, settings: Settings, record: RemoteRecord | None = None) -> VendorClient:
        raise NotImplementedError

    def plan(self, job: RenderJob, work_dir: Path, api_version: str | None) -> Plan:
        raise NotImplementedError

    def upload(self, client: VendorClient, name: str, path: Path, content_type: str) -> dict:
        raise NotImplementedError

    def payload(self, job: RenderJob, plan: Plan, assets: dict[str, dict]) -> dict:
        raise NotImplementedError

    def create(self, client: VendorClient, payload: dict, idempotency_key: str) -> str:
        raise NotImplementedError

    def status(self, client: VendorClient, remote_id: str) -> RemoteStatus:
        raise NotImplementedError

    def api_version(self, settings: Settings) -> str | None:
        return None

    # -- checks -----------------------------------------------------------------------------------
    # The portrait: the contract's check (readable, a face in it), before any speech is made or
    # anything is paid for.

    @classmethod
    def unavailable(cls, settings: Settings) -> str | None:
        """Why it cannot run: its key is not set (the message names the variable)."""
        return settings.missing_key(cls.key_variable)

    def check_ready(self, settings: Settings) -> None:
        """Before any work: the key is set (``MissingKey`` names the variable)."""
        settings.key(self.key_variable)

    def check_options(self, options: Mapping[str, Any] | None, settings: Settings | None = None) -> dict:
        """The request's own options: each one this vendor takes, as text; unset ones are left out,
        so the environment presets (``HEYGEN_AVATAR_ID`` …) apply to them."""
        options = dict(options or {})
        known = [spec.name for spec in self.capabilities(settings).options]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise BadInput(f"{self.service} does not take {unknown[0]!r}; it takes: {', '.join(known)}")
        for key, value in options.items():
            if value is not None and not isinstance(value, str):
                raise BadInput(f"{key} must be text, got {value!r}")
        return {key: value for key, value in options.items() if value not in (None, "")}

    def option(self, job: RenderJob, key: str, preset: str | None = None) -> str | None:
        """A request option, else the environment preset (``HEYGEN_AVATAR_ID`` …), else None."""
        value = job.options.get(key)
        if value:
            return str(value).strip()
        return job.settings.hosted_presets.get(preset) if preset else None

    # -- the lifecycle ------------------------------------------------------------------------------
    def render(self, job: RenderJob) -> dict:
        """Submit (once), poll and download into ``render.mp4``; returns what ``render.json`` keeps."""
        work = job.job_dir / "hosted"
        work.mkdir(parents=True, exist_ok=True)
        record = RemoteRecord.load(job.job_dir) or RemoteRecord(vendor=self.name,
                                                                 api_version=self.api_version(job.settings))
        plan = self.plan(job, work, record.api_version)  # the version it was submitted with, on resume too
        with self.client(job.settings, record) as client:
            if record.state == "failed":  # the vendor failed it (unbilled): a fresh attempt
                record.previous.append({k: getattr(record, k) for k in (
                    "attempt", "remote_id", "status", "error", "submitted_at", "finished_at")})
                record.attempt += 1
                record.state, record.remote_id, record.status, record.error = "new", None, None, None
                record.idempotency_key = record.video_url = record.submitted_at = record.finished_at = None
            if record.remote_id is None:
                self._submit(client, job, plan, record)
            status = self._poll(client, job, record)
            video, frames = self._download(client, job, record, status)
        capabilities = {name: plan.honoured[name] for name in ALL_CONTROLS if name in plan.honoured}
        ignored = [name for name in ALL_CONTROLS if name not in plan.honoured]
        notes = list(plan.notes)
        if ignored:
            yours = [name for name in ignored if name in job.controls_user]
            notes.append(f"{self.service} does not take {', '.join(ignored)}: those controls were not applied"
                         + (f" (including {', '.join(yours)}, which you set)" if yours else ""))
        job.progress(1.0)
        return {"hosted": True, "service": self.service, "api_version": record.api_version,
                "remote_id": record.remote_id, "mode": plan.mode, "speech": plan.speech,
                "controls_honoured": capabilities, "controls_ignored": ignored, "notes": notes,
                "video_url": record.video_url, "width": video.video.width,
                "height": video.video.height, "frames": frames, "vendor_duration_s": round(video.duration_s, 3),
                "request": record.request}

    def _save(self, job: RenderJob, record: RemoteRecord, **fields: Any) -> None:
        record.save(job.job_dir)
        job.record(remote=record.to_dict(), **fields)

    def _submit(self, client: VendorClient, job: RenderJob, plan: Plan, record: RemoteRecord) -> None:
        if record.state == "submitting" and not client.idempotent_create:
            raise RemoteError(
                f"the studio stopped while asking {self.service} to make this video, so it cannot tell whether "
                f"{self.service} accepted (and billed) it — look for it in your {self.service} account; to render "
                "again anyway, start a new render")
        assets = self._upload_all(client, job, plan, record)
        payload = self.payload(job, plan, assets)
        if record.state != "submitting":  # a repeat after a crash keeps its key: the vendor replays its answer
            record.idempotency_key = f"avatar-studio-{job.job_id}-{record.attempt}"
        record.state, record.request = "submitting", plan.summary
        self._save(job, record)
        try:
            remote_id = self.create(client, payload, record.idempotency_key)
        except StudioError as error:
            if not getattr(error, "outcome_unknown", False):  # the vendor said no: nothing was made
                record.state = "new"
                self._save(job, record)
            raise
        record.state, record.remote_id, record.submitted_at = "submitted", remote_id, _now()
        self._save(job, record, remote_id=remote_id)  # before the first poll
        job.progress(SUBMITTED)

    def _upload_all(self, client: VendorClient, job: RenderJob, plan: Plan, record: RemoteRecord) -> dict[str, dict]:
        assets = {}
        for index, (name, (path, content_type)) in enumerate(plan.uploads.items()):
            digest = file_sha256(path)
            known = record.assets.get(name)
            if not (known and known.get("sha256") == digest):
                known = {**self.upload(client, name, path, content_type), "sha256": digest}
                record.assets[name] = known
                self._save(job, record)
            assets[name] = known
            job.progress(SUBMITTED * (index + 1) / (len(plan.uploads) + 1))
        return assets

    def _poll(self, client: VendorClient, job: RenderJob, record: RemoteRecord) -> RemoteStatus:
        def on_status(status: RemoteStatus, elapsed: float) -> None:
            if status.vendor_status != record.status:
                record.status = status.vendor_status
                self._save(job, record)
            guess = status.progress if status.progress is not None else 1 - math.exp(-elapsed / self.typical_s)
            job.progress(SUBMITTED + (POLLED - SUBMITTED) * min(0.99, max(0.0, guess)))

        settings = job.settings
        status = poll_until_finished(lambda: self.status(client, record.remote_id), service=self.service,
                                     remote_id=record.remote_id, job_id=job.job_id, interval_s=settings.hosted_poll_s,
                                     timeout_s=settings.hosted_timeout_s, on_status=on_status)
        if status.state == "failed":
            error = failure_error(self.service, record.remote_id, status, secrets=client.secrets)
            record.state, record.error, record.finished_at = "failed", str(error), _now()
            self._save(job, record)
            raise error
        return status

    def _download(self, client: VendorClient, job: RenderJob, record: RemoteRecord, status: RemoteStatus):
        """The finished video into ``render.mp4`` once it decodes cleanly; returns (its probe, its frames)."""
        from ..media import probe, verify_video

        target = job.job_dir / "render.mp4"
        partial = partial_path(target)
        job.progress(POLLED)
        for attempt in (1, 2):
            if not status.video_url:
                raise client.malformed(f"video {record.remote_id} is finished but has no video URL")
            record.video_url = status.video_url
            self._save(job, record)
            try:
                client.download(status.video_url, partial)
                break
            except LinkExpired:
                if attempt == 2:
                    raise
                status = self.status(client, record.remote_id)  # a status call hands out a fresh link
        try:
            info = probe(partial)
        except BadInput:
            info = None
        if info is None or info.video is None or not info.duration_s > 0:
            partial.unlink(missing_ok=True)
            raise RemoteError(f"the file {self.service} returned for video {record.remote_id} is not a playable "
                              "video — resume the job to download it again")
        try:
            check = verify_video(partial, name=f"the video {self.service} returned")
        except StudioError as error:
            partial.unlink(missing_ok=True)
            raise RemoteError(f"{error} — resume the job to download it again") from None
        partial.replace(target)
        record.state, record.finished_at = "done", _now()
        self._save(job, record)
        return info, check.frames


# -- encode ---------------------------------------------------------------------------------------------

def encode_hosted(video: Path, out: Path, *, speech_s: float, render: Mapping[str, Any],
                  speech_wav: Path | None = None, frames: int | None = None) -> dict:
    """``output.mp4`` (written at ``out``) from the vendor's video: H.264 (copied when it already is)
    + AAC, faststart, checked by decoding all of it — with exactly ``frames`` frames when the picture
    is copied (a re-encode may fit the frames to a steady rate).

    The vendor's sound is kept: it is our speech lip-synced (``speech == "audio"``) or the vendor's
    own voice (``"script"``). Only in the first case is its length compared with our speech."""
    from ..media import check_deliverable, mux, probe, run_ffmpeg

    service = render.get("service", "the vendor")
    source = probe(video)
    notes: list[str] = []
    copied = True
    if source.audio is None:
        if render.get("speech") != "audio" or speech_wav is None:
            raise RemoteError(f"the video from {service} has no sound — resume the job to download it again")
        mux(video, speech_wav, out)  # lip-synced to our speech: add it back
        notes.append(f"{service}'s video came without sound; our speech was added")
    else:
        h264 = copied = source.video.codec == "h264" and source.video.pix_fmt.startswith("yuv420p")
        video_codec = ["-c:v", "copy"] if h264 else [
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
            "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2"]
        audio_codec = ["-c:a", "copy"] if source.audio.codec == "aac" else ["-c:a", "aac", "-b:a", "128k"]
        partial = partial_path(out)
        try:
            run_ffmpeg(["-i", str(video), "-map", "0:v:0", "-map", "0:a:0", *video_codec, *audio_codec,
                        "-movflags", "+faststart", str(partial)], what=f"preparing {service}'s video for playback")
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
    info = check_deliverable(out, frames=frames if copied else None)
    if render.get("speech") == "audio":
        gap = abs(info.duration_s - speech_s)
        if gap > max(DURATION_TOLERANCE_S, DURATION_TOLERANCE * speech_s):
            notes.append(f"{service}'s video lasts {info.duration_s:.2f} s and the speech {speech_s:.2f} s; "
                         "the video was kept as the vendor made it")
    return {"duration_s": round(info.duration_s, 3), "notes": notes}


def prepare_portrait(source: Path, target: Path) -> Path:
    """The portrait as an upright RGB JPEG, long side at most ``UPLOAD_LONG_SIDE`` (vendors take PNG
    and JPEG only, and some ignore EXIF orientation)."""
    from PIL import Image, ImageOps

    if target.exists():
        return target
    with Image.open(source) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "P"):
            image = image.convert("RGBA")
            flat = Image.new("RGB", image.size, "white")
            flat.paste(image, mask=image.getchannel("A"))
            image = flat
        image = image.convert("RGB")
        image.thumbnail((UPLOAD_LONG_SIDE, UPLOAD_LONG_SIDE))
        partial = partial_path(target)
        image.save(partial, "JPEG", quality=95)
    partial.replace(target)
    return target


def prepare_speech(speech_wav: Path, target: Path) -> Path:
    """Our speech as MP3: the one audio format both vendors' uploads take."""
    from ..media import run_ffmpeg

    if not target.exists():
        partial = partial_path(target)
        run_ffmpeg(["-i", str(speech_wav), "-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3", str(partial)],
                   what="preparing the speech for upload")
        partial.replace(target)
    return target


