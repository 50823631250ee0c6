"""Where personas live: shipped examples in the repo, the user's own in the data dir.

    personas/examples/<id>/persona.yaml (+ portrait.*)       shipped with the code, read-only
    <AVATAR_STUDIO_HOME>/personas/<id>/persona.yaml (+ portrait.*)   made or edited in the studio
    <AVATAR_STUDIO_HOME>/users/<user>/personas/<id>/…        the same, per user, in a studio with users

In a studio with users each user has a store of their own (``PersonaStore(settings, owner=name)``):
they see the shared examples and their own personas, never another user's; editing an example
saves a copy in their own folder. A signed-out visitor (owner ``""``) sees the examples and can
save nothing.

A user persona with the same id as an example overrides it: editing an example saves a copy in
the data dir (portrait included), and deleting that copy brings the example back. Examples
themselves are never written or deleted by the store.

Every path is built from a checked slug and then resolved and checked to be inside its root, so
neither a hostile id ("../x", "/etc/passwd") nor a symlink planted in the data dir can make the
store read, write or delete anything elsewhere. Writes go to a temporary file in the same folder
and are moved into place (``os.replace``), so a crash never leaves half a persona. Nothing is
created on disk until the first ``save``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.controls import Controls
from pipeline.errors import BadInput
from pipeline.settings import Settings
from pipeline.speech.tuning import VoiceTuning

from . import yamlfile
from .model import SLUG_MAX, Persona, check_slug, slugify

log = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
PERSONA_FILE = "persona.yaml"
PORTRAIT_STEM = "portrait"
PORTRAIT_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}  # Pillow format → file suffix
MAX_PORTRAIT_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True)
class RenderDefaults:
    """What a persona brings to a render: its portrait file, voice, the controls it sets (emotion
    apart) and the emotion it forces. Values the user sets win over these."""

    portrait: Path | None
    voice: str | None
    controls: dict = field(default_factory=dict)
    emotion: str | None = None
    voice_tuning: VoiceTuning = field(default_factory=VoiceTuning)  # the voice's speed and pitch

    def as_controls(self) -> Controls:
        """The standard controls with the persona's own and its emotion laid on top: what a live
        reply (and its idle loop) is drawn with, no controller asked."""
        return Controls().merge({**self.controls, **({"emotion": self.emotion} if self.emotion else {})})


class PersonaStore:
    """Personas by id; see the module docstring for the layout and the rules."""

    def __init__(self, settings: Settings, *, examples_dir: Path | None = None, owner: str | None = None) -> None:
        self.settings = settings
        self.owner = owner
        self.examples_dir = Path(examples_dir or EXAMPLES_DIR)
        self.user_dir = Path(settings.personas_dir if owner is None else settings.owner_dir(owner) / "personas")

    # -- reading ------------------------------------------------------------------------------
    def list(self) -> list[Persona]:
        """Every persona that loads, sorted by name then id; files that do not load are logged
        and reported by ``problems()`` rather than hiding all the others."""
        return self._scan()[0]

    def problems(self) -> list[str]:
        """Why each persona folder that did not load was skipped, one message each."""
        return self._scan()[1]

    def ids(self) -> list[str]:
        return sorted({persona.id for persona in self.list()})

    def get(self, slug: str) -> Persona:
        """The persona ``slug`` (a user copy wins over an example); unknown → ``BadInput``."""
        slug = check_slug(slug)
        user = self._load(self.user_dir, slug, "user")
        if user is not None:
            return user
        example = self._load(self.examples_dir, slug, "example")
        if example is not None:
            return example
        raise BadInput(f"no persona {slug!r}; known: {', '.join(self.ids()) or 'none'}")

    def exists(self, slug: str) -> bool:
        slug = check_slug(slug)
        return any(self._file(root, slug).is_file() for root in (self.user_dir, self.examples_dir))

    def portrait_path(self, persona: Persona) -> Path | None:
        """The persona's portrait file, or None when it has none (or the file is gone)."""
        if not persona.portrait:
            return None
        roots = (self.examples_dir,) if persona.origin == "example" else (self.user_dir, self.examples_dir)
        for root in roots:
            folder = self._folder(root, persona.id)
            path = self._inside(folder, folder / persona.portrait)
            if path.is_file():
                return path
        return None

    def render_defaults(self, persona: Persona) -> RenderDefaults:
        """The persona's portrait, voice, default controls and emotion, for a render request (the
        CLI's ``render --persona`` and a chat reply's video both start from these)."""
        controls = dict(persona.default_controls or {})
        emotion = controls.pop("emotion", None)
        return RenderDefaults(portrait=self.portrait_path(persona), voice=persona.voice, controls=controls,
                              emotion=emotion, voice_tuning=persona.voice_tuning)

    def free_id(self, name: str) -> str:
        """An unused id for a new persona called ``name`` ("Jenniel" → "jenniel-2" if taken)."""
        base = slugify(name)
        candidate, number = base, 1
        while self.exists(candidate):
            number += 1
            suffix = f"-{number}"
            candidate = base[:SLUG_MAX - len(suffix)].rstrip("-") + suffix
        return candidate

    # -- writing ------------------------------------------------------------------------------
    def save(self, persona: Persona, portrait: Path | str | None = None) -> Persona:
        """Write ``persona`` to the data dir (an example's id saves an overriding copy) and return
        it as stored. ``portrait``: an image to copy in as its portrait (JPEG, PNG or WebP)."""
        if not isinstance(persona, Persona):
            raise BadInput(f"save expects a Persona, got {type(persona).__name__}")
        self._check_signed_in()
        folder = self._folder(self.user_dir, persona.id)
        example_folder = self._folder(self.examples_dir, persona.id)
        is_override = (example_folder / PERSONA_FILE).is_file()
        folder.mkdir(parents=True, exist_ok=True)
        folder = self._inside(self.user_dir, folder)  # after mkdir: catches a symlink planted there

        if portrait is not None:
            persona = replace(persona, portrait=_copy_portrait(Path(portrait), folder))
        elif persona.portrait and not (folder / persona.portrait).is_file():
            shipped = self._inside(example_folder, example_folder / persona.portrait)
            if not shipped.is_file():
                raise BadInput(f"portrait {persona.portrait!r} of persona {persona.id!r} not found; "
                               "give the image to save it with the persona")
            _atomic_copy(shipped, folder / persona.portrait)  # the copy must stand on its own

        _atomic_write(folder / PERSONA_FILE, yamlfile.dump(persona).encode("utf-8"))
        return replace(persona, origin="edited-example" if is_override else "user")

    def delete(self, slug: str) -> None:
        """Delete a persona made or edited in the studio. Shipped examples cannot be deleted;
        deleting an edited example brings the shipped one back."""
        slug = check_slug(slug)
        self._check_signed_in()
        folder = self._folder(self.user_dir, slug)
        if (folder / PERSONA_FILE).is_file():
            if (self.user_dir / slug).is_symlink():  # rmtree would empty whatever it points at
                raise BadInput(f"persona folder {slug!r} is a link; remove it by hand")
            shutil.rmtree(folder)
            return
        if self._file(self.examples_dir, slug).is_file():
            raise BadInput(f"{slug!r} is a shipped example and cannot be deleted; only personas made or "
                           "edited in the studio can be")
        raise BadInput(f"no persona {slug!r} to delete; known: {', '.join(self.ids()) or 'none'}")

    def _check_signed_in(self) -> None:
        if self.owner == "":
            raise BadInput("sign in first: the personas you make and edit are kept as yours")

    # -- paths --------------------------------------------------------------------------------
    def _folder(self, root: Path, slug: str) -> Path:
        return self._inside(root, root / check_slug(slug))

    def _file(self, root: Path, slug: str) -> Path:
        folder = self._folder(root, slug)
        return self._inside(folder, folder / PERSONA_FILE)

    @staticmethod
    def _inside(root: Path, path: Path) -> Path:
        """``path`` resolved, or ``BadInput`` when it (through a link, say) leaves ``root``."""
        resolved_root = root.resolve()
        resolved = path.resolve()
        if resolved != resolved_root and resolved_root not in resolved.parents:
            raise BadInput(f"{path.name!r} points outside {root}; refusing to use it")
        return resolved

    def _load(self, root: Path, slug: str, origin: str) -> Persona | None:
        path = self._file(root, slug)
        if not path.is_file():
            return None
        if origin == "user" and (self.examples_dir / slug / PERSONA_FILE).is_file():
            origin = "edited-example"
        return yamlfile.read(path, origin=origin, expected_id=slug)

    def _scan(self) -> tuple[list[Persona], list[str]]:
        found: dict[str, Persona] = {}
        problems: list[str] = []
        for root, origin in ((self.examples_dir, "example"), (self.user_dir, "user")):
            if not root.is_dir():
                continue
            for folder in sorted(root.iterdir()):
                if folder.name.startswith(".") or not folder.is_dir():
                    continue
                try:
                    persona = self._load(root, check_slug(folder.name, "persona folder name"), origin)
                except BadInput as error:
                    problems.append(str(error))
                    log.warning("skipped a persona: %s", error)
                    continue
                if persona is not None:
                    found[persona.id] = persona  # user copies come second and win
        personas = sorted(found.values(), key=lambda p: (p.name.casefold(), p.id))
        return personas, problems


def _copy_portrait(source: Path, folder: Path) -> str:
    """Check ``source`` is a JPEG, PNG or WebP image and copy it in as ``portrait.<ext>``;
    returns the new file name. The face check is the renderer's job (``load_portrait``)."""
    from PIL import Image, UnidentifiedImageError

    name = source.name
    if not source.is_file():
        raise BadInput(f"portrait not found: {name}")
    if source.stat().st_size > MAX_PORTRAIT_BYTES:
        raise BadInput(f"portrait '{name}' is over {MAX_PORTRAIT_BYTES // (1024 * 1024)} MB; use a smaller photo")
    try:
        with Image.open(source) as image:
            image_format = image.format
            image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise BadInput(f"portrait '{name}' is not an image Avatar Studio can read (use JPEG, PNG or WebP)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadInput(f"portrait '{name}' could not be read as an image: {error}") from None
    if image_format not in PORTRAIT_SUFFIX:
        raise BadInput(f"portrait '{name}' is a {image_format} image; use JPEG, PNG or WebP")
    target = PORTRAIT_STEM + PORTRAIT_SUFFIX[image_format]
    _atomic_copy(source, folder / target)
    for old in folder.glob(PORTRAIT_STEM + ".*"):  # a previous portrait in another format
        if old.name != target and old.suffix.lower() in PORTRAIT_SUFFIX.values():
            old.unlink()
    return target


def _atomic_write(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _atomic_copy(source: Path, target: Path) -> None:
    with open(source, "rb") as file:
        _atomic_write(target, file.read())
