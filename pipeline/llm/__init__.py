"""LLM backends: ``local`` (transformers, offline default), ``mistral``, ``gemini``, ``openai``
(any OpenAI-compatible server). See ``base`` for the interface; ``get_llm`` builds one."""

from __future__ import annotations

from .. import registry
from ..settings import Settings
from .base import Completion, JsonCompletion, LLMBackend, parse_json_answer


def get_llm(settings: Settings, name: str | None = None, model: str | None = None) -> LLMBackend:
    """The backend ``name`` (default: the configured one) for ``model`` (default: configured)."""
    return registry.build("llm", name or settings.llm, settings, model)


__all__ = ["Completion", "JsonCompletion", "LLMBackend", "get_llm", "parse_json_answer"]
