"""The one interface every LLM backend implements.

Messages are plain dicts ``{"role": "system" | "user" | "assistant", "content": str}`` in
chat order, the system prompt (if any) first. A backend implements ``_complete``; callers use

- ``complete(messages, ...) -> Completion``: the whole reply plus what is known about it
  (model, token counts, latency, time to first token);
- ``complete(..., on_token=callback)``: the same, streaming — ``callback(chunk)`` is called with
  each piece of text as it arrives, and the returned ``Completion`` holds the joined text;
- ``stream(messages, ...)``: a generator of text chunks for callers that want to iterate
  (Gradio handlers); the ``Completion`` is on ``.last`` once the generator is exhausted;
- ``complete_json(messages, schema)``: JSON mode. Backends that can constrain their output to a
  JSON schema do (``supports_schema``); the others are asked for JSON in the prompt. The raw text
  and the parsed value (or why it could not be parsed) both come back, so a caller such as the
  LLM controller can record the raw answer and fall back.

Errors are the pipeline's own: ``MissingKey`` (naming the variable), ``AuthFailed``,
``OutOfCredit``, ``RateLimited``, ``RemoteTimeout``, ``RemoteError``, ``BackendUnavailable``.
API keys never appear in their messages.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator

from ..errors import BadInput
from ..registry import Backend

ROLES = ("system", "user", "assistant")
OnToken = Callable[[str], None]


@dataclass
class Completion:
    text: str
    backend: str
    model: str
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None  # request to last token
    first_token_s: float | None = None  # request to first token (streamed calls)
    finish_reason: str | None = None  # "stop", "length", … as the vendor said it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class JsonCompletion:
    completion: Completion
    value: Any | None  # the parsed JSON, or None
    error: str | None = None  # why ``value`` is None, in words
    constrained: bool = False  # the backend enforced the schema (vs. asked in the prompt)


class LLMBackend(Backend):
    """Base class — the LLM contract. Subclasses set ``name``, implement ``from_settings`` and
    ``_complete``, and say in ``unavailable`` (class method, cheap) why they cannot run here now.

    ``model``: the model id in use; ``context_window``: tokens the model accepts, prompt and reply
    together; ``supports_schema``: the backend can constrain output to a JSON schema;
    ``follows_json``: False for a model too small to answer in JSON when asked to (the bundled
    135M one), so that what needs JSON and was not asked of it by name uses the rules at once."""

    name = "llm"
    follows_json = True

    @classmethod
    def from_settings(cls, settings, model: str | None = None) -> "LLMBackend":
        """The registry's constructor: one for ``model`` (None: the configured model)."""
        raise NotImplementedError

    def __init__(self, model: str, *, context_window: int = 8192, supports_schema: bool = False) -> None:
        self.model = model
        self.context_window = context_window
        self.supports_schema = supports_schema
        self.last: Completion | None = None

    # -- to implement -----------------------------------------------------------------------
    def _complete(self, messages: list[dict], *, max_tokens: int, temperature: float,
                  json_schema: dict | None, on_token: OnToken | None) -> Completion:
        raise NotImplementedError

    # -- for callers ------------------------------------------------------------------------
    def complete(self, messages: list[dict], *, max_tokens: int = 400, temperature: float = 0.7,
                 json_schema: dict | None = None, on_token: OnToken | None = None) -> Completion:
        check_messages(messages)
        started = time.perf_counter()
        result = self._complete(messages, max_tokens=max_tokens, temperature=temperature,
                                json_schema=json_schema, on_token=on_token)
        if result.latency_s is None:
            result.latency_s = round(time.perf_counter() - started, 4)
        return result

    def stream(self, messages: list[dict], **options: Any) -> Iterator[str]:
        """Yield text chunks as they arrive; the final ``Completion`` is then on ``self.last``.

        Errors raised by the backend are re-raised from the generator."""
        chunks: queue.Queue = queue.Queue()
        done = object()
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["completion"] = self.complete(messages, on_token=chunks.put, **options)
            except BaseException as error:  # handed to the consumer thread
                outcome["error"] = error
            finally:
                chunks.put(done)

        thread = threading.Thread(target=work, name=f"llm-{self.name}", daemon=True)
        thread.start()
        while (chunk := chunks.get()) is not done:
            yield chunk
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        self.last = outcome["completion"]

    def complete_json(self, messages: list[dict], schema: dict, *, max_tokens: int = 300,
                      temperature: float = 0.2) -> JsonCompletion:
        constrained = self.supports_schema
        if not constrained:
            messages = _ask_for_json(messages, schema)
        completion = self.complete(messages, max_tokens=max_tokens, temperature=temperature,
                                   json_schema=schema if constrained else None)
        value, error = parse_json_answer(completion.text)
        return JsonCompletion(completion=completion, value=value, error=error, constrained=constrained)

    def prepare(self, progress: Callable[[float, str], None] | None = None) -> None:
        """Load what the backend needs before its first answer (a local model), reporting progress.
        Hosted backends have nothing to load; ``complete`` calls this itself when needed."""

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text``; backends with a tokenizer override this. Four characters a token is
        the usual rough figure for English and errs on the side of trimming too much."""
        return max(1, len(text) // 4 + 1)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "context_window": self.context_window}


def check_messages(messages: list[dict]) -> None:
    if not messages:
        raise BadInput("nothing to send to the model: the conversation is empty")
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise BadInput(f"a chat message must be {{'role': one of {ROLES}, 'content': text}}, got {message!r:.80}")


def _ask_for_json(messages: list[dict], schema: dict) -> list[dict]:
    instruction = ("Answer with one JSON object only, no prose and no code fences, matching this JSON schema: "
                   + json.dumps(schema, separators=(",", ":")))
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": messages[0]["content"] + "\n\n" + instruction}, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def parse_json_answer(text: str) -> tuple[Any | None, str | None]:
    """The JSON object in a model's answer: the whole text, a fenced block, or the first ``{…}``
    that parses. Returns (value, None) or (None, what was wrong)."""
    stripped = (text or "").strip()
    if not stripped:
        return None, "the model returned an empty answer"
    candidates = [stripped, *(m.group(1).strip() for m in _FENCE.finditer(stripped))]
    start = stripped.find("{")
    while start != -1:
        depth = 0
        for end in range(start, len(stripped)):
            depth += {"{": 1, "}": -1}.get(stripped[end], 0)
            if depth == 0:
                candidates.append(stripped[start:end + 1])
                break
        start = stripped.find("{", start + 1)
    for candidate in candidates:
        try:
            return json.loads(candidate), None
        except ValueError:
            continue
    return None, f"the answer is not JSON: {stripped[:80]!r}"
