"""What every tab shares: the pipeline objects, choices for dropdowns, and the two translations the
studio makes — pipeline errors into ``gr.Error`` and pipeline progress callbacks into ``gr.Progress``.

The tabs hold no logic of their own beyond arranging components: everything they do is a call into
``pipeline/`` or ``personas/`` through a ``StudioContext``. A tab's handlers are module-level
functions taking that context first (``handler(ctx, *inputs)``); its ``build()`` lays out the
components and wires each event to ``bind(handler, ctx)``. Its ``runner``, ``personas`` and
``chat`` are made for the owner of the event being handled (``guard.current_owner``): in a studio
with users each is a store that sees only that user's jobs, conversations and personas, so a
handler cannot reach another user's items even by asking for them by id.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import gradio as gr

from personas.store import EXAMPLES_DIR, PersonaStore
from pipeline import registry
from pipeline.chat import Chat
from pipeline.db import JobStore
from pipeline.errors import StudioError
from pipeline.runner import Runner
from pipeline.settings import PROJECT_ROOT, Settings

from .guard import Access, current_owner

ASSETS_DIR = PROJECT_ROOT / "assets"
SAMPLE_PORTRAIT = ASSETS_DIR / "astronaut.png"
# What the Render lab shows before anything is rendered: the studio's own render of the sample portrait
# saying the lab's sample script at the sliders' starting values, with its captions.
SAMPLE_VIDEO, SAMPLE_CAPTIONS = ASSETS_DIR / "sample.mp4", ASSETS_DIR / "sample.vtt"
MAX_UPLOAD = "50mb"  # portraits and audio; Gradio refuses bigger uploads before they reach a handler


@dataclass
class StudioContext:
    """The pipeline objects the tabs call, for the owner of the event being handled. Built once
    per app; safe to share between handler threads (each store opens its own database connection
    per call, and the scoped objects are made per use: they are cheap)."""

    settings: Settings
    access: Access = field(default_factory=Access)
    blocks: Any = None  # the StudioBlocks these tabs are built in (its queue: what each owner has waiting)
    jobs: JobStore = field(init=False)  # every job, whoever's: start-up upkeep only

    def __post_init__(self) -> None:
        self.jobs = JobStore(self.settings.db_path)  # applies the migrations once

    @property
    def owner(self) -> str | None:
        return current_owner(self.access)

    @property
    def runner(self) -> Runner:
        return Runner(self.settings, self.jobs.for_owner(self.owner))

    @property
    def personas(self) -> PersonaStore:
        return PersonaStore(self.settings, owner=self.owner)

    @property
    def chat(self) -> Chat:
        return Chat(self.settings, jobs=self.jobs.for_owner(self.owner))

    def waiting(self) -> int:
        """The owner's renders and chat turns waiting in the queue or running."""
        return self.blocks.waiting(self.owner) if self.blocks is not None else 0

    def persona_choices(self) -> list[tuple[str, str]]:
        """(label, id) for every persona that loads, examples included."""
        return [(f"{persona.name} ({persona.id})", persona.id) for persona in self.personas.list()]

    def backend_choices(self, kind: str) -> list[tuple[str, str]]:
        """(label, name) for every backend of ``kind``; one that cannot run now says why in its label."""
        return [(_label(item), item.name) for item in registry.of_kind(kind).availability(self.settings)]


class ForEachEvent:
    """Stands for ``make()``, made again at every attribute use: a tab can keep one name for a
    store (``store.get(...)``) that answers for whoever sent the event being handled."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make

    def __getattr__(self, name: str) -> Any:
        return getattr(self._make(), name)


def public_files() -> list[Path]:
    """The app's own files anyone may send back as inputs: the assets and the example personas'
    portraits."""
    return [path for pattern, root in (("*", ASSETS_DIR), ("*/portrait.*", EXAMPLES_DIR))
            for path in sorted(root.glob(pattern)) if path.is_file()]


@dataclass
class LabTab:
    """What the Render lab offers the other tabs: History's "Open in Render lab" sets ``fields`` to
    ``values_for_job(job)`` (same order) and switches to the lab."""

    fields: list[gr.components.Component]
    values_for_job: Callable[[Any], list]


def _label(item: registry.Availability) -> str:
    if item.ready:
        return item.name
    reason = item.reason or "unavailable"
    return f"{item.name} — unavailable: {reason.split(' — ')[0]}"


def shown_errors(fn: Callable) -> Callable:
    """Run a handler so that a ``StudioError`` reaches the user as ``gr.Error`` with the pipeline's
    own message (works for plain handlers and for generators that stream)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any):
            try:
                yield from fn(*args, **kwargs)
            except StudioError as error:
                raise gr.Error(str(error)) from None
        return stream

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any):
        try:
            return fn(*args, **kwargs)
        except StudioError as error:
            raise gr.Error(str(error)) from None
    return call


def bind(handler: Callable, ctx: StudioContext, names: Mapping[str, Any] | None = None) -> Callable:
    """``handler(ctx, *inputs)`` as the function an event calls, with ``ctx`` filled in.

    Gradio reads the function it is given: its name, its signature (the API's parameter names, a
    ``gr.Progress`` default, a ``gr.SelectData`` hint) and whether it streams. The bound function
    keeps all of the handler's, less ``ctx`` (``functools.partial`` would hide the type hints, and
    with them the ``gr.SelectData``). With ``names`` (name → component), the handler answers with a
    dict by name, ``{"status": "Saved"}``, turned into the dict by component that Gradio takes, so
    a handler can be written and tested without the components."""
    def by_component(answer: Any) -> Any:
        return answer if names is None else {names[name]: value for name, value in answer.items()}

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def event(*args: Any, **kwargs: Any):
            answers = handler(ctx, *args, **kwargs)
            try:
                for answer in answers:
                    yield by_component(answer)
            finally:
                answers.close()  # a stream the browser left stops at once (Chat.stream ends its turn)
    else:
        @functools.wraps(handler)
        def event(*args: Any, **kwargs: Any):
            return by_component(handler(ctx, *args, **kwargs))
    signature = inspect.signature(handler)
    event.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])
    return event


def progress_callback(progress: gr.Progress) -> Callable[[float, str], None]:
    """The pipeline's ``progress(fraction, message)`` shown on a ``gr.Progress``."""
    def report(fraction: float, message: str = "") -> None:
        progress(max(0.0, min(1.0, float(fraction))), desc=message or None)
    return report
