"""A scripted LLM backend for tests of code that *uses* an LLM (chat, controller, persona check).

It is a real ``LLMBackend`` subclass, registered in the ``llms`` registry like any backend: tests
``enqueue`` the answers it will give and read ``history`` for what it was asked. ``install`` makes
one and registers the class, whose ``from_settings`` hands out that one, so what the studio asks
lands in the fake the test holds. With an empty queue it echoes the last user message, so a
forgotten ``enqueue`` shows up in assertions.
Tests of the backends themselves use the real ones (loopback servers, the bundled model).
"""

from __future__ import annotations

import threading
import time

from pipeline.llm import llms
from pipeline.llm.base import Completion, LLMBackend


class FakeLLM(LLMBackend):
    name = "fake"
    serving: "FakeLLM | None" = None  # the one ``install`` made: what the registry hands out

    @classmethod
    def from_settings(cls, settings, model=None) -> "FakeLLM":
        return cls.serving

    def __init__(self, model: str = "scripted", *, context_window: int = 2048, supports_schema: bool = False) -> None:
        super().__init__(model, context_window=context_window, supports_schema=supports_schema)
        self.answers: list[str | BaseException] = []
        self.history: list[dict] = []
        self._lock = threading.Lock()

    def enqueue(self, *answers: str | BaseException) -> "FakeLLM":
        self.answers.extend(answers)
        return self

    def _complete(self, messages, *, max_tokens, temperature, json_schema, on_token):
        with self._lock:
            self.history.append({"messages": [dict(m) for m in messages], "max_tokens": max_tokens,
                                 "temperature": temperature, "json_schema": json_schema})
            answer = self.answers.pop(0) if self.answers else "echo: " + messages[-1]["content"]
        if isinstance(answer, BaseException):
            raise answer
        words = answer.split(" ")
        if on_token:
            for index, word in enumerate(words):
                on_token(word if index == 0 else " " + word)
        return Completion(text=answer, backend=self.name, model=self.model,
                          tokens_in=sum(self.count_tokens(m["content"]) for m in messages), tokens_out=len(words),
                          finish_reason="stop")


class CutOffLLM(FakeLLM):
    """Stops where a token limit would — its answers end mid-sentence — and says so
    (``finish_reason`` "length")."""

    name = "cutoff"

    def _complete(self, messages, **kwargs):
        from dataclasses import replace

        return replace(super()._complete(messages, **kwargs), finish_reason="length")


def install(monkeypatch=None) -> FakeLLM:
    """Register a fresh FakeLLM as the "fake" llm backend and return it."""
    fake = FakeLLM()
    FakeLLM.serving = fake
    llms.register("fake", FakeLLM)
    return fake


class SlowLLM(FakeLLM):
    """Writes its answer a word at a time with a pause between words, the way a real model streams."""

    name = "slow"

    def __init__(self, *, delay_s: float = 0.05, **kwargs) -> None:
        super().__init__(**kwargs)
        self.delay_s = delay_s

    def _complete(self, messages, *, max_tokens, temperature, json_schema, on_token):
        def paced(chunk):
            time.sleep(self.delay_s)
            on_token(chunk)
        return super()._complete(messages, max_tokens=max_tokens, temperature=temperature, json_schema=json_schema,
                                 on_token=paced if on_token else None)


def install_slow(*answers: str, delay_s: float = 0.05) -> SlowLLM:
    """Register a fresh SlowLLM, with these answers queued, as the "slow" llm backend."""
    slow = SlowLLM(delay_s=delay_s).enqueue(*answers)
    SlowLLM.serving = slow
    llms.register("slow", SlowLLM)
    return slow

