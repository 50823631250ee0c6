"""Any OpenAI-compatible chat-completions server: OpenAI itself, Ollama, vLLM, llama.cpp, LM Studio….

Plain httpx, no SDK: the API is one endpoint, ``POST {base}/chat/completions``, where the base
URL includes the version (``https://api.openai.com/v1``, ``http://localhost:11434/v1``). The
``httpx.Client`` is injected (tests, proxies) or made here.

- Without ``on_token`` the request is non-streaming and the JSON body is read whole.
- With ``on_token`` it streams: ``stream: true`` with ``stream_options.include_usage`` so the last
  event carries the token counts; the body is server-sent events, ``data: {chunk}`` lines ending
  with ``data: [DONE]``. A chunk's ``choices[0].delta.content`` is the next piece of text.
- A JSON schema becomes ``response_format: {"type": "json_schema", "json_schema": {"name",
  "schema", "strict": true}}`` (OpenAI structured outputs; Ollama, vLLM and llama.cpp accept it).
- OPENAI_API_KEY is required for OpenAI's own host. Self-hosted servers usually need none: without
  a key no Authorization header is sent; with one it is sent as a Bearer token (OpenRouter, Groq…).
- OpenAI's host gets ``max_completion_tokens`` (its newer models refuse ``max_tokens``); other
  servers get the widely understood ``max_tokens``.

Errors go through ``pipeline.remote``; retries (429, 5xx, timeouts) through ``RetryPolicy``. A
stream that breaks after text was already handed to ``on_token`` is not retried.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import MissingKey, RemoteError
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
from ..settings import Settings
from .base import Completion, LLMBackend, OnToken

KEY_VARIABLE = "OPENAI_API_KEY"
OPENAI_HOSTS = ("api.openai.com",)
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_CONTEXT_WINDOW = 8192  # self-hosted models vary; small enough not to overfill most of them
# Tokens accepted (prompt + reply) by well-known models, matched by prefix (longest first).
CONTEXT_WINDOWS = {
    "gpt-4.1": 1_047_576, "gpt-4o": 128_000, "gpt-4-turbo": 128_000, "gpt-4": 8192, "gpt-3.5-turbo": 16_385,
    "gpt-5": 400_000, "o1": 200_000, "o3": 200_000, "o4-mini": 200_000,
    "llama3.1": 131_072, "llama3.2": 131_072, "llama3": 8192, "qwen2.5": 32_768, "mistral": 32_768,
    "gemma2": 8192, "gemma3": 131_072, "phi3": 4096,
}


def context_window_for(model: str, table: dict[str, int], default: int) -> int:
    """The longest-prefix match of ``model`` (case-insensitive, ignoring an ``org/`` prefix) in ``table``."""
    name = model.lower().rsplit("/", 1)[-1]
    for prefix in sorted(table, key=len, reverse=True):
        if name.startswith(prefix):
            return table[prefix]
    return default


def json_schema_format(schema: dict) -> dict:
    """The ``response_format`` asking an OpenAI-style API (OpenAI, Mistral) for ``schema``, strictly."""
    return {"type": "json_schema", "json_schema": {
        "name": str(schema.get("title") or "answer").replace(" ", "_")[:64], "schema": schema, "strict": True}}


def is_openai_host(base_url: str) -> bool:
    return (urlsplit(base_url).hostname or "").lower() in OPENAI_HOSTS


class HostedLLM(LLMBackend):
    """What the hosted backends (OpenAI-compatible, Mistral, Gemini) share: the endpoint, the key
    (kept out of ``repr``), the timeout and retry policy, a context window looked up by model name,
    and building one from settings. Subclasses set ``key_variable``, ``context_windows`` and
    ``default_context_window``."""

    key_variable: str
    context_windows: dict[str, int]
    default_context_window: int

    def __init__(self, *, model: str, base_url: str, api_key: str | None, timeout_s: float, retry: RetryPolicy,
                 context_window: int | None = None) -> None:
        super().__init__(model, supports_schema=True,
                         context_window=context_window or context_window_for(model, self.context_windows,
                                                                             self.default_context_window))
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retry = retry
        self._api_key = api_key

    @classmethod
    def unavailable(cls, settings: Settings) -> str | None:
        return settings.missing_key(cls.key_variable)

    @classmethod
    def from_settings(cls, settings: Settings, model: str | None = None) -> HostedLLM:
        return cls(api_key=settings.key(cls.key_variable), model=model or settings.llm_model(cls.name),
                   base_url=settings.llm_base_url(cls.name), timeout_s=settings.llm_timeout_s,
                   retry=RetryPolicy(retries=settings.llm_retries))

    def __repr__(self) -> str:  # the key stays out
        return f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r})"


class OpenAICompatLLM(HostedLLM):
    name = "openai"
    key_variable = KEY_VARIABLE
    context_windows = CONTEXT_WINDOWS
    default_context_window = DEFAULT_CONTEXT_WINDOW

    def __init__(self, *, base_url: str, model: str, api_key: str | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, retry: RetryPolicy = DEFAULT_RETRY,
                 client: httpx.Client | None = None, context_window: int | None = None) -> None:
        if not api_key and is_openai_host(base_url):
            raise MissingKey(f"{KEY_VARIABLE} is not set — put it in the environment or in a .env file "
                             f"(or set OPENAI_BASE_URL to a self-hosted OpenAI-compatible server)")
        super().__init__(model=model, base_url=base_url, api_key=api_key or None, timeout_s=timeout_s, retry=retry,
                         context_window=context_window)
        self._client = client or httpx.Client()
        # How errors name the server: "OpenAI" for the real thing, else its address, so a user
        # running Ollama is not told that OpenAI rejected something.
        where = urlsplit(self.base_url).netloc or self.base_url
        self.service = "OpenAI" if is_openai_host(self.base_url) else f"OpenAI-compatible server at {where}"

    @classmethod
    def unavailable(cls, settings: Settings) -> str | None:
        """A key is needed for OpenAI itself; a self-hosted server (OPENAI_BASE_URL) may need none."""
        if is_openai_host(settings.llm_base_url("openai")) and not settings.keys.get(KEY_VARIABLE):
            return (f"{KEY_VARIABLE} is not set — put it in the environment or in a .env file "
                    f"(or set OPENAI_BASE_URL to a self-hosted OpenAI-compatible server)")
        return None

    @classmethod
    def from_settings(cls, settings: Settings, model: str | None = None) -> OpenAICompatLLM:
        base_url = settings.llm_base_url("openai")
        api_key = settings.key(KEY_VARIABLE) if is_openai_host(base_url) else settings.keys.get(KEY_VARIABLE)
        return cls(base_url=base_url, model=model or settings.llm_model("openai"), api_key=api_key,
                   timeout_s=settings.llm_timeout_s, retry=RetryPolicy(retries=settings.llm_retries))

    # -- request ----------------------------------------------------------------------------
    def _payload(self, messages: list[dict], max_tokens: int, temperature: float, json_schema: dict | None,
                 stream: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "temperature": temperature,
            ("max_completion_tokens" if is_openai_host(self.base_url) else "max_tokens"): max_tokens,
        }
        if json_schema is not None:
            payload["response_format"] = json_schema_format(json_schema)
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        return payload

    def _headers(self, stream: bool) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _complete(self, messages: list[dict], *, max_tokens: int, temperature: float,
                  json_schema: dict | None, on_token: OnToken | None) -> Completion:
        started = time.perf_counter()
        payload = self._payload(messages, max_tokens, temperature, json_schema, stream=on_token is not None)

        def attempt() -> Completion:
            try:
                if on_token is None:
                    return self._request_whole(payload)
                return self._request_streamed(payload, on_token, started)
            except httpx.HTTPError as error:
                mapped = transport_error(self.service, error, timeout_s=self.timeout_s,
                                         timeout_hint="try again, or raise AVATAR_STUDIO_LLM_TIMEOUT",
                                         secrets=[self._api_key])
                if mapped is None:
                    raise
                raise mapped from None

        completion = self.retry.call(attempt, what="Chat request")
        completion.latency_s = round(time.perf_counter() - started, 4)  # retries included
        return completion

    def _url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        raise error_for_status(self.service, response.status_code, vendor_message(response.read()),
                               retry_after=parse_retry_after(response.headers.get("retry-after")),
                               key_variable=KEY_VARIABLE, secrets=[self._api_key])

    def _request_whole(self, payload: dict) -> Completion:
        response = self._client.post(self._url(), json=payload, headers=self._headers(False), timeout=self.timeout_s)
        self._raise_for_status(response)
        try:
            body = response.json()
            choice = body["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise self._malformed(f"no choices[0].message in {response.text[:120]!r}") from None
        usage = body.get("usage") or {}
        return Completion(text=text, backend=self.name, model=body.get("model") or self.model,
                          tokens_in=usage.get("prompt_tokens"), tokens_out=usage.get("completion_tokens"),
                          finish_reason=choice.get("finish_reason"))

    def _request_streamed(self, payload: dict, on_token: OnToken, started: float) -> Completion:
        pieces: list[str] = []
        model, finish, usage, first_token_s = self.model, None, {}, None
        with self._client.stream("POST", self._url(), json=payload, headers=self._headers(True),
                                 timeout=self.timeout_s) as response:
            self._raise_for_status(response)
            try:
                for data in _sse_data(response.iter_lines()):
                    if data == "[DONE]":
                        break
                    chunk = self._parse_chunk(data)
                    model = chunk.get("model") or model
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        finish = choice.get("finish_reason") or finish
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            if first_token_s is None:
                                first_token_s = round(time.perf_counter() - started, 4)
                            pieces.append(piece)
                            on_token(piece)
            except (RemoteError, httpx.HTTPError, _BrokenStream) as error:
                if isinstance(error, _BrokenStream):
                    error = self._malformed(str(error))
                if pieces:  # text already went to the caller: a retry would repeat it
                    if isinstance(error, httpx.HTTPError):
                        error = transport_error(self.service, error, timeout_s=self.timeout_s,
                                                secrets=[self._api_key]) or RemoteError(str(error))
                    raise broke_off(error, len(pieces)) from None
                raise error from None
        return Completion(text="".join(pieces), backend=self.name, model=model, tokens_in=usage.get("prompt_tokens"),
                          tokens_out=usage.get("completion_tokens"), first_token_s=first_token_s,
                          finish_reason=finish)

    def _parse_chunk(self, data: str) -> dict:
        try:
            chunk = json.loads(data)
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict):
            raise self._malformed(f"a stream event is not a JSON object: {data[:80]!r}")
        if chunk.get("error"):  # OpenAI reports failures that happen mid-stream as an event
            error = chunk["error"] if isinstance(chunk["error"], dict) else {}
            status = error.get("code") if isinstance(error.get("code"), int) else 500
            raise error_for_status(self.service, status, vendor_message(chunk), key_variable=KEY_VARIABLE,
                                   secrets=[self._api_key])
        return chunk

    def _malformed(self, detail: str) -> RemoteError:
        return malformed(self.service, detail, secrets=[self._api_key])


class _BrokenStream(ValueError):
    """A line of the event stream that is not server-sent-event syntax."""


def _sse_data(lines):
    """The ``data`` payloads of a server-sent-event stream, one per event (multi-line data joined)."""
    buffer: list[str] = []
    for line in lines:
        if not line:
            if buffer:
                yield "\n".join(buffer)
                buffer = []
            continue
        if line.startswith(":"):  # comment / keep-alive
            continue
        field, _, value = line.partition(":")
        if field == "data":
            buffer.append(value.removeprefix(" "))
        elif field not in ("event", "id", "retry"):
            raise _BrokenStream(f"a broken server-sent-event line {line[:80]!r}")
    if buffer:
        yield "\n".join(buffer)
