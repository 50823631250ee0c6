"""Backends by name: one typed registry per kind.

Each kind of backend has its contract in its own ``base.py`` and one ``Registry`` instance beside
it: ``render.renderers``, ``enhance.enhancers``, ``speech.voices``, ``speech.transcribers``,
``llm.llms``. A registry maps a name to a backend *class* (or to ``"module:Class"``, imported on
first use, so a backend's heavy imports happen only when it is used) and knows three things about
it, all from the class:

- ``create(name, settings, **kwargs)`` → ``cls.from_settings(settings, **kwargs)``: a new backend
  for this call. Backends are cheap objects; what is expensive (loaded models) they keep in their
  own module-level caches, so creating one per job costs nothing twice.
- ``unavailable(name, settings)`` → ``cls.unavailable(settings)``: why it cannot run now (a
  missing key, package, checkout or GPU) or None. Class-level: nothing is constructed or loaded,
  so listing every backend for a dropdown is cheap.
- ``names()``: built-ins first, in registration order, then outside ones.

Built-in backends register with ``register`` like outside ones would. Installed packages add
backends through the Python entry point group of the kind (``avatar_studio.renderers``,
``avatar_studio.enhancers``, ``avatar_studio.voices``, ``avatar_studio.transcribers``,
``avatar_studio.llms``): the entry point's name is the backend's name and its value the class
(``my_package.module:MyRenderer``). They are read once, on the first lookup, and a built-in name
wins over an outside one. An entry point that cannot be imported is not an error for the rest: it
is listed with the import error as the reason it is unavailable. ``refresh`` reads them again.

Some backends are not known until the settings say where to look: Piper voice files in a folder
(``speech.piper_files``). A kind lists them with ``add_finder(finder)``: ``finder(settings)`` →
{name: class}, a class per thing found, like any registered one. Every lookup that has the settings
(``names(settings)``, ``create``, ``unavailable``, ``availability``) runs the finders first: what
they find now is registered, what they found before and no longer find is removed, and a name
registered otherwise (built in, or an entry point) wins over a found one. ``names()`` without the
settings answers with what the last lookup found.

``unregister`` removes a name; ``registered(...)`` registers one for the length of a ``with``
block (tests). Unknown names raise ``UnknownBackend`` listing what is known.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from importlib.util import find_spec
from typing import Any, Callable, ClassVar, Generic, Iterator, Mapping, TypeVar

from .errors import BackendUnavailable, StudioError, UnknownBackend

T = TypeVar("T")
ENTRY_POINT_PREFIX = "avatar_studio."


class Backend:
    """What every backend of every kind has; each kind's ``base.py`` adds its own contract."""

    name: ClassVar[str] = ""  # the registry name
    label: ClassVar[str] = ""  # how people read it

    @classmethod
    def unavailable(cls, settings) -> str | None:
        """Why this backend cannot run here now (its package, key, weights, GPU), or None. Cheap:
        constructs and loads nothing."""
        return None

    @classmethod
    def from_settings(cls, settings) -> Backend:
        """The registry's constructor: a new backend for one job or call. Backends are cheap objects:
        what is expensive to load (a model) lives in a module-level cache."""
        return cls()

    def check_ready(self, settings) -> None:
        """``BackendUnavailable`` with the reason when it cannot run now."""
        reason = type(self).unavailable(settings)
        if reason:
            raise BackendUnavailable(reason)


@dataclass(frozen=True)
class Availability:
    """Whether a backend can be used now, and why not."""

    kind: str
    name: str
    reason: str | None = None  # None: ready

    @property
    def ready(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ready": self.ready, "reason": self.reason}


class _Broken:
    """Stands in for an outside backend whose module could not be imported: listed, never run."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class Registry(Generic[T]):
    """Name → backend class for one kind (``kind`` as errors say it, e.g. "renderer")."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group  # the entry point group, e.g. "avatar_studio.renderers"
        self._entries: dict[str, type[T] | str | _Broken] = {}
        self._outside_read = False
        self._lock = threading.Lock()
        self._finders: list[Callable[[Any], Mapping[str, type[T]]] | str] = []
        self._found: dict[str, type[T]] = {}  # what the finders put in ``_entries`` at the last lookup

    # -- registering ------------------------------------------------------------------------
    def register(self, name: str, backend: type[T] | str) -> None:
        """Add (or replace) the backend ``name``: its class, or ``"package.module:Class"``."""
        if not isinstance(backend, (type, str)):
            raise TypeError(f"register a backend class or 'module:Class', not {type(backend).__name__}")
        self._entries[name] = backend

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    @contextmanager
    def registered(self, name: str, backend: type[T] | str) -> Iterator[None]:
        """``name`` registered for the length of the block, then what was there before (if any)."""
        self._read_outside()
        before = self._entries.get(name)
        self.register(name, backend)
        try:
            yield
        finally:
            if before is None:
                self.unregister(name)
            else:
                self._entries[name] = before

    def add_finder(self, finder: Callable[[Any], Mapping[str, type[T]]] | str) -> None:
        """Backends found from the settings (see the module docstring): a function, or
        ``"package.module:function"``, imported on the first lookup that runs it."""
        self._finders.append(finder)

    def find(self, settings: Any) -> None:
        """Run the finders for ``settings``: register what they find, drop what they no longer find."""
        if not self._finders or settings is None:
            return
        self._read_outside()
        found: dict[str, type[T]] = {}
        for index, finder in enumerate(self._finders):
            if isinstance(finder, str):
                module, _, attribute = finder.partition(":")
                finder = self._finders[index] = getattr(import_module(module), attribute)
            for name, backend in finder(settings).items():
                found.setdefault(name, backend)
        with self._lock:
            for name, backend in self._found.items():
                if self._entries.get(name) is backend and name not in found:
                    del self._entries[name]
            kept = {}
            for name, backend in found.items():
                if name not in self._entries or self._entries[name] is self._found.get(name):
                    self._entries[name] = kept[name] = backend
            self._found = kept

    def _read_outside(self) -> None:
        """Add the backends installed packages declare under this kind's entry point group."""
        with self._lock:
            if self._outside_read:
                return
            self._outside_read = True
            for point in entry_points(group=self.group):
                self._entries.setdefault(point.name, point.value)

    def refresh(self) -> None:
        """Read the entry points again: packages installed since the first lookup appear."""
        with self._lock:
            self._outside_read = False
        self._read_outside()

    # -- looking up -------------------------------------------------------------------------
    def names(self, settings: Any = None) -> list[str]:
        """Every name, in order; with ``settings``, after running the finders for them."""
        self.find(settings)
        self._read_outside()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def backend_class(self, name: str) -> type[T]:
        """The class registered as ``name``, imported now if it was registered by its path."""
        self._read_outside()
        if name not in self._entries:
            raise UnknownBackend(f"{self.kind} {name!r} not found; known: {', '.join(self._entries) or 'none'}")
        entry = self._entries[name]
        if isinstance(entry, _Broken):
            raise UnknownBackend(f"{self.kind} {name!r} could not be loaded: {entry.reason}")
        if isinstance(entry, str):
            try:
                module, _, attribute = entry.partition(":")
                entry = getattr(import_module(module), attribute)
            except (ImportError, AttributeError) as error:
                self._entries[name] = _Broken(f"{type(error).__name__}: {error}")
                raise UnknownBackend(f"{self.kind} {name!r} could not be loaded: {error}") from None
            self._entries[name] = entry
        return entry

    def create(self, name: str, settings: Any, **kwargs: Any) -> T:
        """A new ``name`` backend for this call (``cls.from_settings(settings, **kwargs)``)."""
        self.find(settings)
        return self.backend_class(name).from_settings(settings, **kwargs)

    def unavailable(self, name: str, settings: Any) -> str | None:
        """Why ``name`` cannot run now, or None; constructs nothing."""
        self.find(settings)
        return self._unavailable(name, settings)

    def _unavailable(self, name: str, settings: Any) -> str | None:
        try:
            return self.backend_class(name).unavailable(settings)
        except UnknownBackend as error:
            return str(error)
        except StudioError as error:  # a check that raises (MissingKey) instead of returning
            return str(error)

    def availability(self, settings: Any) -> list[Availability]:
        """Every backend of this kind with why it cannot run now, for pickers that show what is there."""
        return [Availability(self.kind, name, self._unavailable(name, settings)) for name in self.names(settings)]


def needs_module(module: str, package: str) -> str | None:
    """Why a backend that imports ``module`` cannot run: its package is not installed, or None."""
    return None if find_spec(module) else f"the {package} package is not installed (pip install {package})"


KINDS = {  # kind → (module holding its registry, the registry's name there)
    "renderer": ("pipeline.render", "renderers"),
    "enhancer": ("pipeline.enhance", "enhancers"),
    "tts": ("pipeline.speech.base", "voices"),
    "stt": ("pipeline.speech.base", "transcribers"),
    "llm": ("pipeline.llm", "llms"),
}


def of_kind(kind: str) -> Registry:
    """The registry of ``kind`` ("renderer", "enhancer", "tts", "stt", "llm")."""
    if kind not in KINDS:
        raise UnknownBackend(f"no kind of backend {kind!r}; known: {', '.join(KINDS)}")
    module, attribute = KINDS[kind]
    return getattr(import_module(module), attribute)
