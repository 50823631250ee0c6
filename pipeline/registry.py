"""Backends by name.

Each kind of backend (renderers and TTS voices for now; STT, LLMs and enhancers as they land) is a
mapping from name to a zero-argument factory, so a backend's heavy imports happen only when it is
used. Built-in backends register exactly like outside ones would: with ``register``.
Unknown names raise ``UnknownBackend`` listing what is known.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from .errors import UnknownBackend

_factories: dict[str, dict[str, Callable[[], Any]]] = {}
_instances: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def register(kind: str, name: str, factory: Callable[[], Any]) -> None:
    _factories.setdefault(kind, {})[name] = factory


def names(kind: str) -> list[str]:
    return list(_factories.get(kind, {}))


def build(kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """A new backend from its factory, given arguments (settings, say); nothing is cached here.

    For kinds whose instances depend on settings (LLM and STT backends): the backends themselves
    keep their expensive parts (loaded models) cached per model.
    """
    factories = _factories.get(kind, {})
    if name not in factories:
        raise UnknownBackend(f"{kind} {name!r} not found; known: {', '.join(factories) or 'none'}")
    return factories[name](*args, **kwargs)


def get(kind: str, name: str) -> Any:
    """The backend instance for ``name`` (created once, then reused: models stay loaded)."""
    factories = _factories.get(kind, {})
    if name not in factories:
        raise UnknownBackend(f"{kind} {name!r} not found; known: {', '.join(factories) or 'none'}")
    with _lock:
        if (kind, name) not in _instances:
            _instances[(kind, name)] = factories[name]()
        return _instances[(kind, name)]


def _embedded_renderer():
    from .render.embedded import EmbeddedRenderer

    return EmbeddedRenderer()


def _bundled_voice():
    from .speech.tts import bundled_joe

    return bundled_joe()


register("renderer", "embedded", _embedded_renderer)
register("tts", "en_US-joe-medium", _bundled_voice)


def _settings_factory(module: str, cls: str):
    """A factory ``(settings, model=None) -> backend`` importing ``module`` only when first used."""

    def factory(settings, model=None):
        from importlib import import_module

        return getattr(import_module(module, __package__), cls).from_settings(settings, model)

    return factory


register("llm", "local", _settings_factory(".llm.local", "LocalLLM"))
register("llm", "mistral", _settings_factory(".llm.mistral", "MistralLLM"))
register("llm", "gemini", _settings_factory(".llm.gemini", "GeminiLLM"))
register("llm", "openai", _settings_factory(".llm.openai_compat", "OpenAICompatLLM"))
register("stt", "faster-whisper", _settings_factory(".speech.stt", "FasterWhisperSTT"))
register("stt", "openai-whisper", _settings_factory(".speech.stt", "OpenAIWhisperSTT"))


def _hosted_renderer(module: str, cls: str):
    """A zero-argument factory for a hosted renderer (stateless: settings come with each job)."""

    def factory():
        from importlib import import_module

        return getattr(import_module(module, __package__), cls)()

    return factory


register("renderer", "heygen", _hosted_renderer(".render.heygen", "HeyGenRenderer"))
register("renderer", "did", _hosted_renderer(".render.did", "DIDRenderer"))
