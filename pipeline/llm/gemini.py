"""Google's Gemini models through the ``google-genai`` SDK (``from google import genai``).

One ``genai.Client`` per backend: the key goes in the ``x-goog-api-key`` header, the base URL is
``GEMINI_BASE_URL`` (default ``https://generativelanguage.googleapis.com``) and the API version is
pinned to ``v1beta`` — the version Google documents every feature used here on (system
instructions, ``responseJsonSchema``, thinking budgets) — rather than the SDK's own default, which
has moved between releases. ``vertexai=False`` is explicit so that ``GOOGLE_GENAI_USE_VERTEXAI`` in
the environment cannot send a Gemini API key to Vertex AI.

Chat messages map onto Gemini's shape: system messages become ``system_instruction``, the
``assistant`` role is ``model``, every message one text part. ``generate_content`` answers whole;
``generate_content_stream`` reads ``:streamGenerateContent?alt=sse``, one partial response per
event. A JSON schema is sent as ``response_mime_type="application/json"`` plus
``response_json_schema`` (the field that takes a plain JSON-schema dict; ``response_schema``
wants Google's OpenAPI-subset ``Schema``). Gemini 2.5 Flash models think by default and their
thinking counts against ``max_output_tokens``, which can leave a short answer empty; the
thinking budget is set to 0 for them (a persona's reply needs no deliberation).

Retries: the SDK's own are off (``HttpRetryOptions(attempts=1)``, which is also its 3.x default)
so ``RetryPolicy`` alone retries, honouring Retry-After or the ``RetryInfo.retryDelay`` Gemini
puts in its 429 bodies. Errors: ``google.genai.errors.APIError`` (``ClientError`` 4xx,
``ServerError`` 5xx) carry ``code``, ``message``, ``status`` and the response; they become ours via
``pipeline.remote``. Gemini answers a bad key with HTTP 400 ``API_KEY_INVALID``, which
``error_for_status`` recognises as an authentication failure. Unparseable answers (the SDK raises
``JSONDecodeError``, ``UnknownApiResponseError`` or pydantic's ``ValidationError``) are
malformed-answer errors.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pydantic

from ..errors import BackendUnavailable, RemoteError
from ..remote import (
    DEFAULT_RETRY,
    RetryPolicy,
    broke_off,
    error_for_status,
    malformed,
    parse_retry_after,
    transport_error,
    vendor_message,
)
from ..settings import LLM_ENDPOINTS
from .base import Completion, OnToken
from .openai_compat import HostedLLM

SERVICE = "Gemini"
KEY_VARIABLE = "GEMINI_API_KEY"
DEFAULT_BASE_URL = LLM_ENDPOINTS["gemini"][1]
API_VERSION = "v1beta"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_CONTEXT_WINDOW = 32_768
CONTEXT_WINDOWS = {"gemini-1.5-pro": 2_097_152, "gemini-": 1_048_576, "gemma-3": 131_072}
_NO_THINKING = ("gemini-2.5-flash",)  # models whose thinking can be switched off (budget 0)
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}


class GeminiLLM(HostedLLM):
    name = "gemini"
    key_variable = KEY_VARIABLE
    context_windows = CONTEXT_WINDOWS
    default_context_window = DEFAULT_CONTEXT_WINDOW

    def __init__(self, *, api_key: str, model: str, base_url: str = DEFAULT_BASE_URL,
                 timeout_s: float = DEFAULT_TIMEOUT_S, retry: RetryPolicy = DEFAULT_RETRY,
                 client: Any = None, context_window: int | None = None) -> None:
        """``client``: an ``httpx2.Client``/``httpx.Client`` for the SDK to use (it makes its own otherwise)."""
        try:
            from google import genai
            from google.genai import types
        except ImportError as error:  # pragma: no cover - the package is a requirement
            raise BackendUnavailable(f"the gemini LLM backend needs the google-genai package ({error}) — "
                                     f"pip install google-genai") from None
        super().__init__(model=model, base_url=base_url, api_key=api_key, timeout_s=timeout_s, retry=retry,
                         context_window=context_window)
        self._types = types
        options = types.HttpOptions(base_url=self.base_url, api_version=API_VERSION, timeout=int(timeout_s * 1000),
                                    retry_options=types.HttpRetryOptions(attempts=1),
                                    **({"httpx_client": client} if client is not None else {}))
        self._sdk = genai.Client(api_key=api_key, vertexai=False, http_options=options)

    # -- request ----------------------------------------------------------------------------
    def _request(self, messages: list[dict], max_tokens: int, temperature: float,
                 json_schema: dict | None) -> tuple[list, Any]:
        types = self._types
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        contents = [types.Content(role="model" if m["role"] == "assistant" else "user",
                                  parts=[types.Part(text=m["content"])])
                    for m in messages if m["role"] != "system"]
        if not contents:  # Gemini needs at least one turn; a lone system prompt becomes it
            contents, system = [types.Content(role="user", parts=[types.Part(text=system)])], ""
        config: dict[str, Any] = {"max_output_tokens": max_tokens, "temperature": temperature}
        if system:
            config["system_instruction"] = system
        if json_schema is not None:
            config["response_mime_type"] = "application/json"
            config["response_json_schema"] = json_schema
        if self.model.startswith(_NO_THINKING):
            config["thinking_config"] = types.ThinkingConfig(thinking_budget=0)
        return contents, types.GenerateContentConfig(**config)

    def _complete(self, messages: list[dict], *, max_tokens: int, temperature: float,
                  json_schema: dict | None, on_token: OnToken | None) -> Completion:
        started = time.perf_counter()
        contents, config = self._request(messages, max_tokens, temperature, json_schema)

        def attempt() -> Completion:
            if on_token is None:
                return self._whole(contents, config)
            return self._streamed(contents, config, on_token, started)

        completion = self.retry.call(attempt, what="Chat request")
        completion.latency_s = round(time.perf_counter() - started, 4)  # retries included
        return completion

    def _whole(self, contents: list, config: Any) -> Completion:
        try:
            response = self._sdk.models.generate_content(model=self.model, contents=contents, config=config)
        except Exception as error:  # noqa: BLE001 - the SDK's and its HTTP library's; mapped or re-raised
            raise self._translate(error) from None
        self._check_blocked(response)
        if not response.candidates:
            raise malformed(SERVICE, "the answer has no candidates")
        candidate = response.candidates[0]
        usage = response.usage_metadata
        return Completion(text=_text_of(candidate), backend=self.name, model=response.model_version or self.model,
                          tokens_in=usage.prompt_token_count if usage else None, tokens_out=_tokens_out(usage),
                          finish_reason=_finish(candidate.finish_reason))

    def _streamed(self, contents: list, config: Any, on_token: OnToken, started: float) -> Completion:
        pieces: list[str] = []
        model, finish, usage, first_token_s, answered = self.model, None, None, None, False
        try:
            for response in self._sdk.models.generate_content_stream(model=self.model, contents=contents,
                                                                     config=config):
                self._check_blocked(response)
                model = response.model_version or model
                usage = response.usage_metadata or usage
                if not response.candidates:
                    continue
                answered = True
                candidate = response.candidates[0]
                finish = candidate.finish_reason or finish
                piece = _text_of(candidate)
                if piece:
                    if first_token_s is None:
                        first_token_s = round(time.perf_counter() - started, 4)
                    pieces.append(piece)
                    on_token(piece)
        except Exception as error:  # noqa: BLE001 - the SDK's and its HTTP library's; mapped or re-raised
            mapped = self._translate(error)
            if pieces and isinstance(mapped, RemoteError):  # text already went out: no replay
                raise broke_off(mapped, len(pieces)) from None
            raise mapped from None
        if not answered:
            raise malformed(SERVICE, "the stream carried no candidates")
        return Completion(text="".join(pieces), backend=self.name, model=model,
                          tokens_in=usage.prompt_token_count if usage else None, tokens_out=_tokens_out(usage),
                          first_token_s=first_token_s, finish_reason=_finish(finish))

    def _check_blocked(self, response: Any) -> None:
        feedback = getattr(response, "prompt_feedback", None)
        reason = getattr(feedback, "block_reason", None)
        if reason:
            raise RemoteError(f"{SERVICE} refused the prompt (blocked: {_name(reason)}) — rephrase the message or "
                              f"the persona's instructions")

    def _translate(self, error: Exception) -> Exception:
        """Our error for one the SDK (or its HTTP library) raised; anything unknown is returned as is."""
        from google.genai import errors as genai_errors

        secrets = [self._api_key]
        if isinstance(error, RemoteError):
            return error
        if isinstance(error, genai_errors.APIError):
            headers = getattr(getattr(error, "response", None), "headers", None) or {}
            retry_after = parse_retry_after(headers.get("retry-after")) if hasattr(headers, "get") else None
            if retry_after is None:
                retry_after = _retry_delay(error.details)
            said = vendor_message(error.details) or str(error.message or "")
            return error_for_status(SERVICE, int(error.code or 500), said, retry_after=retry_after,
                                    key_variable=KEY_VARIABLE, secrets=secrets)
        mapped = transport_error(SERVICE, error, timeout_s=self.timeout_s,
                                 timeout_hint="try again, or raise AVATAR_STUDIO_LLM_TIMEOUT", secrets=secrets)
        if mapped is not None:
            return mapped
        if isinstance(error, (json.JSONDecodeError, genai_errors.UnknownApiResponseError, pydantic.ValidationError)):
            return malformed(SERVICE, f"{type(error).__name__}: {error}", secrets=secrets)
        return error  # not ours to translate (a bug, or the caller's on_token failing)


def _text_of(candidate: Any) -> str:
    content = getattr(candidate, "content", None)
    parts = getattr(content, "parts", None) or []
    return "".join(part.text for part in parts if part.text and not part.thought)


def _tokens_out(usage: Any) -> int | None:
    if usage is None or usage.candidates_token_count is None:
        return None
    return usage.candidates_token_count + (usage.thoughts_token_count or 0)  # thinking is billed as output


def _name(value: Any) -> str:
    return str(getattr(value, "value", value))


def _finish(reason: Any) -> str | None:
    if not reason:
        return None
    name = _name(reason)
    return _FINISH.get(name, name.lower())


def _retry_delay(details: Any) -> float | None:
    """The ``retryDelay`` ("29s", "1.5s") of a ``google.rpc.RetryInfo`` in a Gemini error body."""
    error = details.get("error") if isinstance(details, dict) else None
    items = error.get("details") if isinstance(error, dict) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            match = re.fullmatch(r"\s*([\d.]+)s\s*", str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None
