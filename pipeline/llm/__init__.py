"""LLM backends: ``local`` (transformers, offline default), ``mistral``, ``gemini``, ``openai``
(any OpenAI-compatible server). ``base`` holds the contract; ``llms`` is their registry (outside
backends: the entry point group ``avatar_studio.llms``); ``get_llm`` makes one."""

from __future__ import annotations

from ..registry import Registry
from ..settings import Settings
from .base import Completion, JsonCompletion, LLMBackend, parse_json_answer

llms: Registry[LLMBackend] = Registry("llm", "avatar_studio.llms")
llms.register("local", "pipeline.llm.local:LocalLLM")
llms.register("mistral", "pipeline.llm.mistral:MistralLLM")
llms.register("gemini", "pipeline.llm.gemini:GeminiLLM")
llms.register("openai", "pipeline.llm.openai_compat:OpenAICompatLLM")


def get_llm(settings: Settings, name: str | None = None, model: str | None = None) -> LLMBackend:
    """The backend ``name`` (default: the configured one) for ``model`` (default: configured)."""
    return llms.create(name or settings.llm, settings, model=model)


__all__ = ["Completion", "JsonCompletion", "LLMBackend", "get_llm", "llms", "parse_json_answer"]
