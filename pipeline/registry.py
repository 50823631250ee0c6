"""Backends by name.

Each kind of backend (renderers, TTS voices, STT, LLMs, face enhancers) is a mapping from name
to a zero-argument factory, so a backend's heavy imports happen only when it is used. Built-in
backends register exactly like outside ones would: with ``register``. Unknown names raise
``UnknownBackend`` listing what is known.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any, Callable

from .errors import StudioError, UnknownBackend

_factories: dict[str, dict[str, Callable[[], Any]]] = {}
_checks: dict[tuple[str, str], Callable[[Any], str | None]] = {}
_instances: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()

# What the embedded renderer does with each control (hosted renderers publish their own tables).
EMBEDDED_HONOURS = {
    "blink_rate": "blinks per minute (0 → none, 0.5 → 17/min, 1 → 40/min)",
    "head_tilt": "held head roll up to 8° plus sway",
    "expression_intensity": "strength of the emotion's expression",
    "mouth_openness": "how wide the jaw opens on loud syllables",
    "eyebrow_raise": "brow lift on emphasis",
    "emotion": "expression template (happy, sad, angry, …)",
}


@dataclass(frozen=True)
class Availability:
    """Whether a backend can be used now, why not, and (renderers) which controls it honours and how."""

    kind: str
    name: str
    reason: str | None = None  # None: ready
    honours: dict[str, str] | None = None

    @property
    def ready(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ready": self.ready, "reason": self.reason, "honours": self.honours}


def register(kind: str, name: str, factory: Callable[[], Any], *,
             check: Callable[[Any], str | None] | None = None) -> None:
    """Add a backend. ``check(settings)`` (optional) returns why it cannot run now, or None."""
    _factories.setdefault(kind, {})[name] = factory
    if check is not None:
        _checks[(kind, name)] = check


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


def availability(kind: str, settings) -> list[Availability]:
    """Every registered backend of ``kind`` with why it cannot run now (a missing key, package or
    GPU), for dropdowns that show what is there. Cheap: nothing is loaded."""
    found = []
    for name in names(kind):
        check = _checks.get((kind, name))
        try:
            reason = check(settings) if check is not None else None
        except StudioError as error:
            reason = str(error)
        honours = None
        if kind == "renderer":
            honours = _renderer_honours(name, settings)
        found.append(Availability(kind, name, reason, honours))
    return found


def _renderer_honours(name: str, settings) -> dict[str, str] | None:
    renderer = get("renderer", name)
    if hasattr(renderer, "capabilities"):
        return dict(renderer.capabilities(settings).controls)
    return dict(getattr(renderer, "honours", EMBEDDED_HONOURS))


def _needs_module(module: str, package: str):
    def check(settings) -> str | None:
        return None if find_spec(module) else f"the {package} package is not installed (pip install {package})"
    return check


def _hosted_ready(name: str):
    def check(settings) -> str | None:
        get("renderer", name).check_ready(settings)  # MissingKey names the variable
        return None
    return check


def _llm_ready(name: str):
    def check(settings) -> str | None:
        if name == "local":
            return _needs_module("transformers", "transformers")(settings)
        build("llm", name, settings)  # hosted: MissingKey names the variable
        return None
    return check


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


register("llm", "local", _settings_factory(".llm.local", "LocalLLM"), check=_llm_ready("local"))
register("llm", "mistral", _settings_factory(".llm.mistral", "MistralLLM"), check=_llm_ready("mistral"))
register("llm", "gemini", _settings_factory(".llm.gemini", "GeminiLLM"), check=_llm_ready("gemini"))
register("llm", "openai", _settings_factory(".llm.openai_compat", "OpenAICompatLLM"), check=_llm_ready("openai"))
register("stt", "faster-whisper", _settings_factory(".speech.stt", "FasterWhisperSTT"),
         check=_needs_module("faster_whisper", "faster-whisper"))
register("stt", "openai-whisper", _settings_factory(".speech.stt", "OpenAIWhisperSTT"),
         check=_needs_module("whisper", "openai-whisper"))


def _hosted_renderer(module: str, cls: str):
    """A zero-argument factory for a hosted renderer (stateless: settings come with each job)."""

    def factory():
        from importlib import import_module

        return getattr(import_module(module, __package__), cls)()

    return factory


register("renderer", "heygen", _hosted_renderer(".render.heygen", "HeyGenRenderer"), check=_hosted_ready("heygen"))
register("renderer", "did", _hosted_renderer(".render.did", "DIDRenderer"), check=_hosted_ready("did"))


def _sadtalker_renderer():
    from .render.sadtalker import SadTalkerRenderer

    return SadTalkerRenderer()


def _sadtalker_ready(settings) -> str | None:
    """Why SadTalker cannot run: SADTALKER_DIR unset, not a checkout, checkpoints missing, no CUDA."""
    from .render.sadtalker import unavailable_reason

    return unavailable_reason(settings)


register("renderer", "sadtalker", _sadtalker_renderer, check=_sadtalker_ready)


def _gfpgan_enhancer():
    from .enhance.gfpgan import GFPGANEnhancer

    return GFPGANEnhancer()


def _gfpgan_ready(settings) -> str | None:
    """Why GFPGAN cannot run: the package (and what it imports) missing, or its weights file."""
    from .enhance.gfpgan import unavailable_reason

    return unavailable_reason(settings)


register("enhancer", "gfpgan", _gfpgan_enhancer, check=_gfpgan_ready)
