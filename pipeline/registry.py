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
