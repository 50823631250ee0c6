"""Mistral's hosted models (La Plateforme) through the official ``mistralai`` SDK.

The SDK (``from mistralai.client import Mistral``) is built once per backend with the key, the base
URL (``MISTRAL_BASE_URL``, default ``https://api.mistral.ai``; the SDK appends
``/v1/chat/completions``) and the per-request timeout. ``chat.complete`` answers whole,
``chat.stream`` yields server-sent events whose ``data.choices[0].delta.content`` is the next
piece of text; the usage arrives on the chunk that finishes. A JSON schema is sent as
``response_format: {"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}``.

Retries: the SDK's own are switched off (``retry_config=None``) and ``RetryPolicy`` does them, as
for every hosted backend. The SDK's retry loop is bounded by elapsed time rather than attempts,
sleeps any Retry-After however long, and ends by raising a bare "API error occurred"; ours counts
attempts (``AVATAR_STUDIO_LLM_RETRIES``), caps the wait it will honour, and says what happened.

Errors: the SDK raises ``MistralError`` subclasses carrying ``status_code``, ``headers`` and
``body``; they become our errors through ``pipeline.remote.error_for_status`` (the key redacted).
A 2xx the SDK cannot parse (``ResponseValidationError``) is a malformed answer. Transport failures
surface as ``httpx2`` exceptions, which ``remote.transport_error`` understands by class name.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..errors import BackendUnavailable, RemoteError
from ..remote import (
    DEFAULT_RETRY,
    RetryPolicy,
    broke_off,
    error_for_status,
    malformed,
    mark_retryable,
    parse_retry_after,
    transport_error,
    vendor_message,
)
from ..settings import LLM_ENDPOINTS
from .base import Completion, OnToken
from .openai_compat import HostedLLM, json_schema_format

SERVICE = "Mistral"
KEY_VARIABLE = "MISTRAL_API_KEY"
DEFAULT_BASE_URL = LLM_ENDPOINTS["mistral"][1]
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_CONTEXT_WINDOW = 32_768
CONTEXT_WINDOWS = {
    "mistral-large": 131_072, "mistral-medium": 131_072, "mistral-small": 131_072, "ministral": 131_072,
    "open-mistral-nemo": 131_072, "codestral": 262_144, "magistral": 131_072, "pixtral": 131_072,
    "open-mistral-7b": 32_768, "open-mixtral-8x7b": 32_768, "open-mixtral-8x22b": 65_536,
}


class MistralLLM(HostedLLM):
    name = "mistral"
    key_variable = KEY_VARIABLE
    context_windows = CONTEXT_WINDOWS
    default_context_window = DEFAULT_CONTEXT_WINDOW

    def __init__(self, *, api_key: str, model: str, base_url: str = DEFAULT_BASE_URL,
                 timeout_s: float = DEFAULT_TIMEOUT_S, retry: RetryPolicy = DEFAULT_RETRY,
                 client: Any = None, context_window: int | None = None) -> None:
        """``client``: an ``httpx2.Client`` for the SDK to use (it makes its own otherwise)."""
        try:
            from mistralai.client import Mistral
        except ImportError as error:  # pragma: no cover - the package is a requirement
            raise BackendUnavailable(f"the mistral LLM backend needs the mistralai package ({error}) — "
                                     f"pip install mistralai") from None
        super().__init__(model=model, base_url=base_url, api_key=api_key, timeout_s=timeout_s, retry=retry,
                         context_window=context_window)
        options: dict[str, Any] = {"client": client} if client is not None else {}
        self._sdk = Mistral(api_key=api_key, server_url=self.base_url, timeout_ms=int(timeout_s * 1000),
                            retry_config=None, **options)

    def _complete(self, messages: list[dict], *, max_tokens: int, temperature: float,
                  json_schema: dict | None, on_token: OnToken | None) -> Completion:
        started = time.perf_counter()
        request: dict[str, Any] = {
            "model": self.model, "max_tokens": max_tokens, "temperature": temperature,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        }
        if json_schema is not None:
            request["response_format"] = json_schema_format(json_schema)

        def attempt() -> Completion:
            if on_token is None:
                return self._whole(request)
            return self._streamed(request, on_token, started)

        completion = self.retry.call(attempt, what="Chat request")
        completion.latency_s = round(time.perf_counter() - started, 4)  # retries included
        return completion

    def _whole(self, request: dict) -> Completion:
        try:
            response = self._sdk.chat.complete(**request)
            choice = response.choices[0]
            text = _text_of(choice.message.content if choice.message else None)
        except (IndexError, AttributeError):
            raise malformed(SERVICE, "no choices[0].message in the answer") from None
        except Exception as error:  # noqa: BLE001 - the SDK's and httpx2's; mapped or re-raised
            raise self._translate(error) from None
        usage = response.usage
        return Completion(text=text, backend=self.name, model=response.model or self.model,
                          tokens_in=usage.prompt_tokens if usage else None,
                          tokens_out=usage.completion_tokens if usage else None,
                          finish_reason=str(choice.finish_reason) if choice.finish_reason else None)

    def _streamed(self, request: dict, on_token: OnToken, started: float) -> Completion:
        pieces: list[str] = []
        model, finish, usage, first_token_s = self.model, None, None, None
        try:
            with self._sdk.chat.stream(**request) as events:
                for event in events:
                    chunk = event.data
                    model = chunk.model or model
                    usage = chunk.usage or usage
                    for choice in chunk.choices or []:
                        finish = choice.finish_reason or finish
                        piece = _text_of(choice.delta.content)
                        if piece:
                            if first_token_s is None:
                                first_token_s = round(time.perf_counter() - started, 4)
                            pieces.append(piece)
                            on_token(piece)
        except Exception as error:  # noqa: BLE001 - the SDK's and httpx2's; mapped or re-raised
            mapped = self._translate(error)
            if pieces and isinstance(mapped, RemoteError):  # text already went out: no replay
                raise broke_off(mapped, len(pieces)) from None
            raise mapped from None
        return Completion(text="".join(pieces), backend=self.name, model=model,
                          tokens_in=usage.prompt_tokens if usage else None,
                          tokens_out=usage.completion_tokens if usage else None,
                          first_token_s=first_token_s, finish_reason=str(finish) if finish else None)

    def _translate(self, error: Exception) -> Exception:
        """Our error for one the SDK (or its HTTP library) raised; anything unknown is returned as is."""
        from mistralai.client.errors import (
            MistralError,
            NoResponseError,
            ResponseValidationError,
        )

        secrets = [self._api_key]
        if isinstance(error, MistralError):
            body = error.body or ""
            if isinstance(error, ResponseValidationError) or 200 <= error.status_code < 300:
                event = _error_event(body)
                said = vendor_message(event) if event else ""
                if said:  # an error reported as an event in the middle of a stream
                    return RemoteError(f"{SERVICE} reported an error while answering: {said}")
                return malformed(SERVICE, f"{error.message[:120]}", secrets=secrets)
            return error_for_status(SERVICE, error.status_code, vendor_message(body),
                                    retry_after=parse_retry_after(error.headers.get("retry-after")),
                                    key_variable=KEY_VARIABLE, secrets=secrets)
        if isinstance(error, NoResponseError):
            return mark_retryable(RemoteError(f"{SERVICE} sent no response — try again"))
        return transport_error(SERVICE, error, timeout_s=self.timeout_s,
                               timeout_hint="try again, or raise AVATAR_STUDIO_LLM_TIMEOUT", secrets=secrets) or error


def _text_of(content: Any) -> str:
    """Message content is a string, or (reasoning models) a list of chunks: keep the text ones."""
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(getattr(chunk, "text", "") for chunk in content if getattr(chunk, "type", None) == "text")


def _error_event(body: str) -> dict | None:
    """The error object of a stream event the SDK could not read as a chunk, if it is one.

    The SDK hands its decoder ``{"data": <event>}``, so that wrapper is looked through."""
    try:
        value = json.loads(body)
    except (TypeError, ValueError):
        return None
    if isinstance(value, dict) and isinstance(value.get("data"), dict):
        value = value["data"]
    if isinstance(value, dict) and "choices" not in value and (value.get("object") == "error" or "error" in value):
        return value
    return None
