"""The renderer contract: what every renderer (built in or a plugin) is, in one place.

A renderer turns a portrait, speech and the five controls into a video. The pipeline knows a
renderer only through this class; it never probes one for attributes. What it must say and do:

- ``name`` (the registry name) and ``label`` (how people read it).
- ``unavailable(settings)`` (class method, cheap, constructs nothing): why it cannot run here now —
  no key, no checkout, no GPU — or None. ``check_ready`` raises that reason.
- ``capabilities(settings)``: the controls it honours and how (control → one line), the options
  of its own as ``OptionSpec`` data (type, range or choices, default, help: the Render lab builds
  its panel from them, the CLI and the API check against them), and ``hosted`` when a vendor
  renders and the video comes back with its own sound.
- ``check_options(options, settings)``: the request's own options checked and completed with
  their defaults; the default implementation checks them against the specs.
- ``check_inputs(portrait, …)``: before any speech is made — the photo is readable and has a face
  big enough — returning what the job records (working size, face found, notes).
- ``render(job)``: the video. A local renderer writes a video-only H.264 file to ``job.out`` with
  exactly ``job.n_frames`` frames (the stage checks). A hosted one submits, polls and downloads
  inside this call, writing ``render.mp4`` itself and its vendor id through ``job.record`` before
  the first poll, so a resumed job polls instead of paying twice. Either way it returns what
  ``render.json`` keeps: frames, width, height, notes and, when it cannot honour every control,
  ``controls_ignored``.
- ``capabilities().streams``: whether it can draw a live reply piece by piece (sentence by
  sentence, with idling in between) as one continuous take; ``open_stream(...)`` then returns a
  ``RenderStream`` whose ``segment`` calls each write the next piece's video-only H.264 file,
  carrying the face's state (head pose, blink, expression, mouth) over the join. A renderer that
  does not stream says why in ``capabilities().whole_reply_only`` (a vendor renders one whole
  clip; SadTalker renders a clip at once on the GPU), and the live pipeline renders the whole
  reply with it instead, showing that reason.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..controls import CONTROL_NAMES, Controls
from ..errors import BackendUnavailable, BadInput
from ..registry import Backend

ALL_CONTROLS = (*CONTROL_NAMES, "emotion")
OPTION_KINDS = ("int", "float", "choice", "text", "bool")


@dataclass(frozen=True)
class OptionSpec:
    """One option a renderer takes: its name, type, allowed values, default and help line."""

    name: str
    kind: str  # one of OPTION_KINDS
    default: Any = None
    help: str = ""
    label: str = ""
    low: float | None = None  # int / float: the range, both ends allowed
    high: float | None = None
    choices: tuple[Any, ...] = ()  # choice: the allowed values
    setting: str | None = None  # the environment variable that sets the default, if any

    def __post_init__(self) -> None:
        if self.kind not in OPTION_KINDS:
            raise ValueError(f"option {self.name!r}: kind must be one of {', '.join(OPTION_KINDS)}, got {self.kind!r}")

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def check(self, value: Any, renderer: str) -> Any:
        """``value`` as this option's type, or ``BadInput`` naming the renderer and the option."""
        owner = f"{renderer} {self.title.lower()}"
        if value is None or (isinstance(value, str) and not value.strip() and self.kind != "text"):
            return self.default
        if self.kind == "text":
            if not isinstance(value, str):
                raise BadInput(f"{owner} must be text, got {value!r}")
            return value.strip() or self.default
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if str(value).strip().lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).strip().lower() in ("0", "false", "no", "off"):
                return False
            raise BadInput(f"{owner} must be true or false, got {value!r}")
        if self.kind == "choice":
            for choice in self.choices:  # "512" picks 512, "Full" picks "full"
                if value == choice or str(value).strip().lower() == str(choice).lower():
                    return choice
            raise BadInput(f"{owner} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number) or (self.kind == "int" and not number.is_integer()):
            kind = "a whole number" if self.kind == "int" else "a number"
            raise BadInput(f"{owner} must be {kind}{self._range()}, got {value!r}")
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            raise BadInput(f"{owner} must be {'a whole number' if self.kind == 'int' else 'a number'}"
                           f"{self._range()}, got {value!r}")
        return int(number) if self.kind == "int" else number

    def _range(self) -> str:
        if self.low is not None and self.high is not None:
            return f" from {self.low:g} to {self.high:g}"
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "default": self.default, "help": self.help,
                "label": self.title, "low": self.low, "high": self.high, "choices": list(self.choices),
                "setting": self.setting}


@dataclass(frozen=True)
class Capabilities:
    """What a renderer honours and takes — the data the Render lab, the CLI and the docs show.

    ``controls``: control name (or "emotion") → how it is honoured; one that is absent is ignored,
    and the job records it. ``options``: the renderer's own options. ``inputs``: for hosted
    renderers, how the portrait and speech reach the vendor. ``hosted``: a vendor renders.
    ``streams``: it draws live replies piece by piece (``Renderer.open_stream``); when it does not,
    ``whole_reply_only`` says why, in words a person is shown."""

    controls: Mapping[str, str]
    options: tuple[OptionSpec, ...] = ()
    inputs: Mapping[str, str] = field(default_factory=dict)
    hosted: bool = False
    streams: bool = False
    whole_reply_only: str = "it renders a whole reply at once"
    picks_face: bool = False  # it animates the face a request numbers in a group photo, not only the largest
    needs_gpu: bool = False  # it runs on a GPU: a Ray batch gives its jobs a GPU worker

    @property
    def ignored(self) -> list[str]:
        return [name for name in ALL_CONTROLS if name not in self.controls]

    def option(self, name: str) -> OptionSpec | None:
        return next((spec for spec in self.options if spec.name == name), None)

    def defaults(self) -> dict[str, Any]:
        return {spec.name: spec.default for spec in self.options}

    def to_dict(self) -> dict[str, Any]:
        return {"controls": dict(self.controls), "ignored": self.ignored, "inputs": dict(self.inputs),
                "options": [spec.to_dict() for spec in self.options], "hosted": self.hosted,
                "streams": self.streams, "picks_face": self.picks_face,
                "needs_gpu": self.needs_gpu,
                **({} if self.streams else {"whole_reply_only": self.whole_reply_only})}


@dataclass
class RenderJob:
    """Everything a renderer gets for one job. Files are the job's own; ``out`` is where a local
    renderer writes (a name only this attempt uses, renamed to ``render.mp4`` once checked)."""

    job_id: str
    job_dir: Path
    settings: Any  # pipeline.settings.Settings
    portrait: Path
    display_name: str | None  # the portrait's name as the user knows it, for messages
    speech_wav: Path
    speech_s: float
    phonemes: list[dict] | None  # the TTS's phoneme timings, when it gave them
    script: str | None  # the words spoken, when the job has a script (not the user's recording)
    n_frames: int
    fps: int
    envelope: Sequence[float]  # loudness per frame, 0–1
    voiced_spans: Sequence[tuple[float, float]]  # seconds
    controls: Controls  # the final controls
    controls_user: Mapping[str, Any]  # what the user set, for notes
    options: Mapping[str, Any]  # the renderer's own options, checked, with their defaults
    seed: int = 0
    max_side: int = 512
    face: int | None = None  # the face to animate in a group photo, counted from the left; None: the largest
    out: Path | None = None  # local renderers: where to write the video-only H.264 file
    progress: Callable[[float], None] = lambda fraction: None
    record: Callable[..., None] = lambda **fields: None  # job fields to store now (a vendor's id)


class Renderer(Backend, ABC):
    """Base of every renderer; see the module docstring for the contract (``unavailable``,
    ``from_settings`` and ``check_ready`` come from ``registry.Backend``)."""

    @abstractmethod
    def capabilities(self, settings) -> Capabilities:
        """The controls honoured, the options taken, hosted or not."""

    def check_options(self, options: Mapping[str, Any] | None, settings) -> dict[str, Any]:
        """The request's own options, checked against the specs, completed with the defaults."""
        capabilities = self.capabilities(settings)
        options = dict(options or {})
        known = [spec.name for spec in capabilities.options]
        unknown = sorted(set(options) - set(known))
        who = self.label or self.name
        if unknown and not known:
            raise BadInput(f"the {self.name} renderer takes no options of its own (got {', '.join(unknown)})")
        if unknown:
            raise BadInput(f"{who} does not take {unknown[0]!r}; it takes: {', '.join(known)}")
        return {spec.name: spec.check(options.get(spec.name), who) for spec in capabilities.options}

    def check_inputs(self, portrait_path: Path, *, settings=None, max_side: int = 512,
                     display_name: str | None = None, face: int | None = None) -> dict:
        """The portrait checked before any speech is made: readable, the face to animate big enough
        (``face``: numbered from the left in a group photo; None: the largest). Returns what the
        job records (working size, face found, notes). A renderer that cannot pick a face
        (``capabilities().picks_face`` false) refuses any face but the largest."""
        from ..face.portrait import load_portrait

        portrait = load_portrait(portrait_path, max_side=max_side, display_name=display_name, face=face)
        if face is not None and not self.capabilities(settings).picks_face:
            largest = load_portrait(portrait_path, max_side=max_side, display_name=display_name)
            if largest.face_number != portrait.face_number:
                raise BadInput(f"the {self.label or self.name} renderer animates the largest face (face "
                               f"{largest.face_number}); to animate face {face}, use the embedded renderer "
                               "or crop the photo to that face")
        return portrait_facts(portrait)

    @abstractmethod
    def render(self, job: RenderJob) -> dict:
        """The video (see the module docstring); returns what ``render.json`` keeps."""

    def open_stream(self, portrait: Path, controls: Controls, *, fps: int, seed: int = 0, max_side: int = 512,
                    display_name: str | None = None, settings=None) -> "RenderStream":
        """A live take of ``portrait`` (see the module docstring); only when ``capabilities().streams``."""
        reason = self.capabilities(settings).whole_reply_only
        raise BackendUnavailable(f"the {self.label or self.name} renderer does not stream: {reason}")


class RenderStream(ABC):
    """One live take, drawn piece by piece: each ``segment`` continues where the last one stopped.

    ``width``/``height``/``fps`` are the take's; ``frames`` counts the frames written so far."""

    width: int
    height: int
    fps: int
    frames: int = 0

    @abstractmethod
    def segment(self, out: Path, *, n_frames: int, envelope: Sequence[float] = (),
                voiced_spans: Sequence[tuple[float, float]] = (), phonemes: list[dict] | None = None,
                audio: Path | None = None) -> dict:
        """The next ``n_frames`` as an H.264 file at ``out`` — with ``audio`` (the piece's speech, a
        WAV as long as the frames) as its sound, encoded in the same pass, else video only; speech
        timed from the piece's start (no speech: the face idles — blinks, sways, mouth at rest).
        Returns frames, width, height."""

    def close(self) -> None:
        """Let go of what the take holds (nothing by default)."""


def portrait_facts(portrait) -> dict:
    """What the job records about a loaded portrait: working size, original size, notes, face."""
    height, width = portrait.image.shape[:2]
    return {
        "width": width,
        "height": height,
        "source_size": list(portrait.source_size),
        "notes": list(portrait.notes),
        "face": {"bbox": [int(v) for v in portrait.face.bbox], "faces_found": portrait.face.faces_found,
                 "number": portrait.face_number, "places": list(portrait.places)},
    }
