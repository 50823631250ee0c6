"""What every hosted-service client shares: error mapping, retries and key redaction.

The hosted LLMs (OpenAI-compatible, Mistral, Gemini) and, later, the hosted renderers (HeyGen,
D-ID) all meet the same failures, and the user should read them in the same words whichever
vendor produced them. A client does three things with this module:

1. turn a vendor's HTTP error into one of our errors with ``error_for_status(service, status,
   vendor_message(body), retry_after=parse_retry_after(header), key_variable=..., secrets=[key])``
   and a transport failure (timeout, refused connection) with ``transport_error``;
2. wrap each attempt in ``RetryPolicy.call(attempt, what="Chat request")``;
3. never put a key into a message: ``redact`` is applied to every vendor text we quote, because
   some servers echo the key they were sent back in their error body.

What is retried (``RetryPolicy.call``)::

    RateLimited (429)           yes: waits the Retry-After the server gave (honoured exactly), or
                                backs off exponentially with jitter when it gave none; a
                                Retry-After longer than ``max_retry_after_s`` fails at once,
                                saying when to try again
    RemoteTimeout               yes, with backoff
    RemoteError, retryable      yes, with backoff (5xx, dropped connections: ``retryable=True``)
    everything else             no: AuthFailed (401/403), OutOfCredit (402, quota), 400/404/422,
                                and any error marked ``retryable=False`` (a stream that broke
                                after text was already handed to the caller cannot be replayed)

When the attempts run out, the last error is raised again, same type, its message prefixed with
what was attempted and how many times — the vendor's own words are kept.

``retryable`` is an attribute set on the error instance (``mark_retryable``), so the error types
in ``pipeline.errors`` stay as they are; when absent, the type decides (table above).
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from .errors import AuthFailed, OutOfCredit, RateLimited, RemoteError, RemoteTimeout

T = TypeVar("T")

MAX_VENDOR_MESSAGE = 300  # characters of the vendor's own words quoted in our messages
REDACTED = "[redacted]"

# A 429 or 403 that is about money or quota rather than speed. Vendors say it in words only:
# OpenAI "insufficient_quota … check your plan and billing details", Mistral "monthly usage limit".
_QUOTA_WORDS = re.compile(
    r"insufficient[_ ]quota|billing|credit|out of quota|quota (?:has been )?exhausted|usage limit|"
    r"payment|exceeded your current quota|spending limit", re.IGNORECASE)
# Gemini answers an invalid key with HTTP 400 INVALID_ARGUMENT "API key not valid" (API_KEY_INVALID).
_BAD_KEY_WORDS = re.compile(r"api[ _-]?key[^.]{0,20}(?:not valid|invalid|not found|expired)|api_key_invalid",
                            re.IGNORECASE)


def mark_retryable(error: RemoteError, retryable: bool = True) -> RemoteError:
    """Say explicitly whether ``RetryPolicy`` may try again after ``error``; returns it."""
    error.retryable = retryable  # type: ignore[attr-defined]
    return error


def broke_off(error: RemoteError, chunks: int) -> RemoteError:
    """A failure after ``chunks`` pieces of a streamed answer already reached the caller: never
    retried, because a retry would repeat that text."""
    return mark_retryable(type(error)(f"{error} (the answer broke off after {chunks} chunks)"), False)


def is_retryable(error: BaseException) -> bool:
    explicit = getattr(error, "retryable", None)
    if explicit is not None:
        return bool(explicit)
    return isinstance(error, (RateLimited, RemoteTimeout))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry one request to a hosted service.

    ``retries`` extra attempts after the first; backoff ``base_delay_s · 2^n`` capped at
    ``max_delay_s``, with jitter (a random half of it) so that parallel clients spread out;
    a server's Retry-After is honoured as given, up to ``max_retry_after_s``."""

    retries: int = 3
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0

    def backoff_s(self, retry_number: int) -> float:
        """The pause before retry ``retry_number`` (1 for the first retry) when the server named none."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** max(0, retry_number - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def call(self, attempt_fn: Callable[[], T], *, what: str, sleep: Callable[[float], None] = time.sleep) -> T:
        """``attempt_fn()`` until it succeeds, fails for good, or the retries run out."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return attempt_fn()
            except RemoteError as error:
                if not is_retryable(error):
                    raise
                retry_after = getattr(error, "retry_after", None)
                if retry_after is not None and retry_after > self.max_retry_after_s:
                    raise _with_message(error, f"{error} — that is longer than we wait; "
                                               f"try again {_when(retry_after)}") from error
                if attempt > self.retries:
                    if attempt == 1:  # retries are switched off: the error says it all
                        raise
                    raise _with_message(error, f"{what} failed after {attempt} attempts: {error}") from error
                sleep(retry_after if retry_after is not None else self.backoff_s(attempt))


DEFAULT_RETRY = RetryPolicy()


def _with_message(error: RemoteError, message: str) -> RemoteError:
    """A copy of ``error`` (same type, same retry_after) with a new message."""
    if isinstance(error, RateLimited):
        return RateLimited(message, error.retry_after)
    return type(error)(message)


def _when(seconds: float) -> str:
    at = datetime.now().astimezone() + timedelta(seconds=seconds)
    if seconds < 90:
        span = f"{seconds:.0f} seconds"
    elif seconds < 90 * 60:
        span = f"{seconds / 60:.0f} minutes"
    else:
        span = f"{seconds / 3600:.1f} hours"
    return f"in about {span} (after {at:%H:%M} local time)"


def parse_retry_after(value: str | None) -> float | None:
    """A Retry-After header in seconds from now: delta-seconds ("30", "1.5") or an HTTP-date.

    None when absent or unreadable; a date in the past is 0."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def vendor_message(body: Any) -> str:
    """The vendor's own explanation from an error body (bytes, text or parsed JSON).

    Understands ``{"error": {"message"}}`` (OpenAI, Gemini — with ``status`` appended), ``{"error":
    "text"}``, ``{"message"}`` (Mistral), ``{"detail": "text" | [{"msg"}]}`` (FastAPI-style, Mistral
    422), ``{"detail": {"status", "message"}}`` (ElevenLabs), a one-element list of those (Gemini
    streams), and plain text or HTML."""
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8", "replace")
    if isinstance(body, str):
        stripped = body.strip()
        try:
            body = json.loads(stripped) if stripped[:1] in "{[" and stripped else stripped
        except ValueError:
            body = stripped
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if isinstance(body, dict):
        message = _message_of(body)
        if message:
            return _shorten(message)
        return _shorten(json.dumps(body, separators=(",", ":")))
    if isinstance(body, str):
        return _shorten(re.sub(r"<[^>]+>", " ", body))
    return "" if body is None else _shorten(str(body))


def _message_of(body: dict) -> str:
    error = body.get("error")
    if isinstance(error, dict):
        message = str(error.get("message") or "").strip()
        status = error.get("status")  # Gemini: RESOURCE_EXHAUSTED, INVALID_ARGUMENT, …
        if message and isinstance(status, str) and status not in message:
            return f"{message} ({status})"
        if message:
            return message
    if isinstance(error, str) and error.strip():
        return error
    for field in ("message", "detail", "error_message", "msg"):
        value = body.get(field)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, list) and value:
            parts = [str(item.get("msg") or item.get("message") or item) if isinstance(item, dict) else str(item)
                     for item in value]
            return "; ".join(parts)
        if isinstance(value, dict) and str(value.get("message") or "").strip():
            return str(value["message"])
    return ""


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_VENDOR_MESSAGE else text[:MAX_VENDOR_MESSAGE - 1] + "…"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret — and any long fragment of one, as in "sk-abc1****wxyz" — replaced."""
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, REDACTED)
        if len(secret) >= 12:
            # Servers often echo a key half-masked; any 6+ character token that is part of the key goes too.
            text = re.sub(r"[\w\-]{6,}", lambda m, key=secret: REDACTED if m.group(0) in key else m.group(0), text)
    return text


def error_for_status(service: str, status: int, vendor_text: str, *, retry_after: float | None = None,
                     key_variable: str | None = None, secrets: Iterable[str | None] = ()) -> RemoteError:
    """The error a user should see for HTTP ``status`` from ``service``, in words, vendor text kept."""
    said = redact(vendor_text or "", secrets).strip()
    tail = f": {said}" if said else ""
    check_key = f" — check {key_variable}" if key_variable else " — check the API key"
    if status == 401 or (status == 400 and _BAD_KEY_WORDS.search(said)):
        return AuthFailed(f"{service} rejected the API key (HTTP {status}){check_key}{tail}")
    if status == 402:
        return OutOfCredit(f"{service} says the account is out of credit (HTTP 402) — top up or change the plan"
                           f"{tail}")
    if status in (403, 429) and retry_after is None and _QUOTA_WORDS.search(said):
        return OutOfCredit(f"{service} says the account's quota or credit is used up (HTTP {status}) — check the "
                           f"plan and billing, or wait for the quota to reset{tail}")
    if status == 403:
        return AuthFailed(f"{service} refused access (HTTP 403){check_key} and that it may use this model{tail}")
    if status == 429:
        wait = f", asking to wait {retry_after:g} s" if retry_after is not None else ""
        return RateLimited(f"{service} is rate limiting requests (HTTP 429{wait}){tail}", retry_after)
    if status == 408:
        return RemoteTimeout(f"{service} timed out handling the request (HTTP 408){tail}")
    if status >= 500:
        return mark_retryable(RemoteError(f"{service} had a server error (HTTP {status}) — usually temporary, try "
                                          f"again shortly{tail}"))
    if status == 404:
        return RemoteError(f"{service} has no such model or endpoint (HTTP 404) — check the model name and the base "
                           f"URL{tail}")
    if status in (400, 413, 422):
        return RemoteError(f"{service} rejected the request (HTTP {status}){tail}")
    return RemoteError(f"{service} answered with HTTP {status}{tail}")


def transport_error(service: str, error: BaseException, *, timeout_s: float | None = None,
                    timeout_hint: str = "", secrets: Iterable[str | None] = ()) -> RemoteError | None:
    """Our error for an httpx (or httpx2, which some SDKs ship) transport failure; None for others.

    Matched by class name so that both libraries' exception trees are understood."""
    names = {cls.__name__ for cls in type(error).__mro__}
    if "TimeoutException" in names:
        within = f" within {timeout_s:g} s" if timeout_s else " in time"
        hint = f" — {timeout_hint}" if timeout_hint else " — try again later"
        return RemoteTimeout(f"{service} did not answer{within}{hint}")
    if "HTTPError" not in names:
        return None
    detail = redact(str(error), secrets) or type(error).__name__
    if names & {"TransportError", "NetworkError", "RemoteProtocolError"}:  # refused, reset, cut off: may pass
        return mark_retryable(RemoteError(f"Could not talk to {service} ({detail}) — check the network and the "
                                          f"base URL"))
    return RemoteError(f"The request to {service} failed ({type(error).__name__}: {detail})")


def malformed(service: str, detail: str, *, secrets: Iterable[str | None] = ()) -> RemoteError:
    """The server answered 2xx but not in the shape its API promises."""
    return RemoteError(f"The answer from {service} was malformed ({redact(_shorten(detail), secrets)}) — is the "
                       f"base URL pointing at the right kind of server?")
