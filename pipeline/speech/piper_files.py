"""The creator's own Piper voices: ``.onnx`` + ``.onnx.json`` pairs found in folders.

**Where.** The folder named by ``AVATAR_STUDIO_VOICES_DIR`` (several may be given, separated by
``os.pathsep``), then ``voices/`` inside the data folder (``AVATAR_STUDIO_HOME``). A voice is named
by its files, as Piper's own download names them: ``en_US-lessac-medium.onnx`` with
``en_US-lessac-medium.onnx.json`` is the voice ``en_US-lessac-medium``. The first folder to hold a
name keeps it; a name the registry already has otherwise (the bundled voice, a plugin's) stays
theirs.

**How they reach the pickers.** ``find_voice_files(settings)`` is the voice registry's finder
(``Registry.add_finder``): every lookup with the settings scans the folders and registers one class
per name (``PiperFileVoice.for_file``), so a voice dropped in a folder is in the next listing, the
CLI and every picker without a restart, and one taken away is gone. A broken pair is registered
too: it is listed, with the reason it cannot be used (``unavailable``), and picking it is that
reason in one line instead of a crash. ``scan(settings)`` also returns what cannot be a voice at
all — a name a persona cannot hold, a name already taken — for the full listing
(``samples.voice_catalog``).

**What is checked**, cheapest first, once per file as it is now (its size and mtime; a replaced
file is checked again): both halves of the pair are there; the ``.onnx.json`` is JSON with what
Piper reads from it (``audio.sample_rate``, ``num_symbols``, ``num_speakers``, ``phoneme_id_map``,
``espeak.voice`` for espeak voices); the ``.onnx`` is an ONNX model (parsed by ``onnx``, about
0.1 s for 60 MB) that takes Piper's inputs, and a speaker id when its config has several speakers.
What only loading can tell — a model and a config from two different voices — is found when the
voice is first loaded (``tts.PiperBackend.load`` speaks one word), and the voice is unavailable
from then on with that reason.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from ..errors import BackendUnavailable, BadInput
from ..registry import needs_module
from .base import VOICE_NAME, VoiceInfo
from .tts import PiperBackend, load_failure, model_key

VOICES_DIR_VARIABLE = "AVATAR_STUDIO_VOICES_DIR"
DATA_FOLDER = "voices"  # inside the data folder
MODEL_SUFFIX, CONFIG_SUFFIX = ".onnx", ".onnx.json"
MIN_MODEL_BYTES = 64 * 1024  # the smallest Piper voices (x_low) are megabytes
PIPER_INPUTS = ("input", "input_lengths", "scales")  # what every Piper model takes ("sid" too with speakers)
DATA_FOLDER_ORIGIN = "the data folder"


@dataclass(frozen=True)
class VoiceFile:
    """One pair (or half a pair) of voice files found in a folder, and what is wrong with it."""

    name: str
    model: Path | None  # the .onnx; None: only its .onnx.json is there
    config: Path | None  # the .onnx.json; None: only the model is there
    origin: str  # which setting named its folder: VOICES_DIR_VARIABLE or DATA_FOLDER_ORIGIN
    language: str | None = None
    quality: str | None = None
    sample_rate: int | None = None
    problem: str | None = None  # why it cannot be used; None: it can (as far as can be told before loading)
    registrable: bool = True  # False: listed only (a name a persona cannot hold, or one already taken)

    @property
    def source(self) -> str:
        """The file, as listings show where a voice comes from."""
        return str(self.model or self.config)

    def info(self, reason: str | None = None) -> VoiceInfo:
        return VoiceInfo(name=self.name, language=self.language, quality=self.quality, sample_rate=self.sample_rate,
                         source=self.source, reason=reason if reason is not None else self.problem)


def voice_folders(settings) -> list[tuple[Path, str]]:
    """(folder, which setting names it), in the order they are searched; folders may not exist."""
    folders: list[tuple[Path, str]] = []
    for part in (settings.env.get(VOICES_DIR_VARIABLE) or "").split(os.pathsep):
        if part.strip():
            folders.append((Path(part.strip()).expanduser().resolve(), VOICES_DIR_VARIABLE))
    folders.append((Path(settings.home) / DATA_FOLDER, DATA_FOLDER_ORIGIN))
    unique: dict[Path, str] = {}
    for folder, origin in folders:
        unique.setdefault(folder, origin)  # a folder named twice is searched once, where it came first
    return list(unique.items())


def scan(settings) -> list[VoiceFile]:
    """Every pair in the voice folders, folder by folder, by name within each; see the module docstring."""
    found: list[VoiceFile] = []
    first: dict[str, VoiceFile] = {}
    for folder, origin in voice_folders(settings):
        try:
            entries = [path for path in folder.iterdir() if path.is_file()]
        except OSError:  # not there (yet), or not readable: nothing to find in it
            continue
        models = {path.name[:-len(MODEL_SUFFIX)]: path for path in entries if path.name.endswith(MODEL_SUFFIX)}
        configs = {path.name[:-len(CONFIG_SUFFIX)]: path for path in entries if path.name.endswith(CONFIG_SUFFIX)}
        for name in sorted(models.keys() | configs.keys()):
            checked = _checked(name, models.get(name), configs.get(name), origin)
            if name in first:
                checked = _listed_only(checked, f"another voice file has this name: {first[name].source}")
            elif not VOICE_NAME.fullmatch(name):
                checked = _listed_only(checked, f"{name!r} cannot name a voice: rename the pair to letters, digits "
                                                "and _ . : - only (at most 100)")
            else:
                first[name] = checked
            found.append(checked)
    return found


def find_voice_files(settings) -> dict[str, type[PiperFileVoice]]:
    """The voice registry's finder: name → a class for each voice file that can take a name."""
    return {file.name: PiperFileVoice.for_file(file) for file in scan(settings) if file.registrable}


class PiperFileVoice(PiperBackend):
    """A Piper voice from the creator's files; ``for_file`` makes the class the registry lists it by."""

    voice_file: ClassVar[VoiceFile]

    @classmethod
    def for_file(cls, file: VoiceFile) -> type[PiperFileVoice]:
        """The class for ``file``: the same one while the file stays as it is, so the registry keeps it."""
        with _classes_lock:
            if file not in _classes:
                _classes[file] = type(f"PiperFileVoice[{file.name}]", (cls,),
                                      {"name": file.name, "label": file.name, "voice_file": file})
            return _classes[file]

    @classmethod
    def unavailable(cls, settings) -> str | None:
        file = cls.voice_file
        if file.problem:
            return file.problem
        return load_failure(file.model, file.config) or needs_module("piper", "piper-tts")

    @classmethod
    def from_settings(cls, settings=None) -> PiperFileVoice:
        reason = cls.unavailable(settings)
        if reason:
            raise BackendUnavailable(f"the voice {cls.name!r} cannot be used: {reason}")
        return cls(name=cls.name, model_path=cls.voice_file.model, config_path=cls.voice_file.config,
                   cache_dir=settings.cache if settings is not None else None)

    @classmethod
    def describe(cls, settings) -> VoiceInfo:
        return cls.voice_file.info()


_classes: dict[VoiceFile, type[PiperFileVoice]] = {}
_classes_lock = threading.Lock()
_checks: dict[tuple, VoiceFile] = {}  # (name, origin, model key, config key) → the file as checked


def _checked(name: str, model: Path | None, config: Path | None, origin: str) -> VoiceFile:
    key = (name, origin, model and model_key(model), config and model_key(config))
    if key not in _checks:
        _checks[key] = _check(name, model, config, origin)
    return _checks[key]


def _listed_only(file: VoiceFile, problem: str) -> VoiceFile:
    return replace(file, problem=problem, registrable=False)


def _check(name: str, model: Path | None, config: Path | None, origin: str) -> VoiceFile:
    if model is None:
        return VoiceFile(name, None, config, origin, problem=f"{config.name} has no {name}{MODEL_SUFFIX} beside it: "
                                                            "a Piper voice is the model and its config, both")
    if config is None:
        return VoiceFile(name, model, None, origin, problem=f"{model.name} has no {name}{CONFIG_SUFFIX} beside it: "
                                                           "download the voice's .onnx.json too")
    try:
        facts = read_voice_config(config)
        speakers = facts.pop("speakers")
        check_model(model, speakers=speakers)
    except BadInput as error:
        return VoiceFile(name, model, config, origin, problem=str(error))
    return VoiceFile(name, model, config, origin, **facts)


def read_voice_config(path: Path) -> dict[str, Any]:
    """language, quality, sample_rate and speakers from a Piper voice's ``.onnx.json``; ``BadInput``
    saying what is wrong when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BadInput(f"{path.name} cannot be read ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadInput(f"{path.name} is not JSON ({error})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path.name} is not a Piper voice config: it holds a {type(data).__name__}, not an object")
    audio = data.get("audio") if isinstance(data.get("audio"), dict) else {}
    espeak = data.get("espeak") if isinstance(data.get("espeak"), dict) else {}
    wrong = [key for key, ok in (
        ("audio.sample_rate", _whole(audio.get("sample_rate"), 1)),
        ("num_symbols", _whole(data.get("num_symbols"), 1)),
        ("num_speakers", _whole(data.get("num_speakers"), 1)),
        ("phoneme_id_map", isinstance(data.get("phoneme_id_map"), dict) and bool(data["phoneme_id_map"])),
        ("espeak.voice", data.get("phoneme_type", "espeak") != "espeak" or isinstance(espeak.get("voice"), str)),
    ) if not ok]
    if wrong:
        raise BadInput(f"{path.name} is not a Piper voice config: {', '.join(wrong)} missing or wrong")
    language = data.get("language") if isinstance(data.get("language"), dict) else {}
    quality = audio.get("quality")
    return {"language": str(language.get("code") or espeak.get("voice") or "") or None,
            "quality": str(quality) if quality else None, "sample_rate": int(audio["sample_rate"]),
            "speakers": int(data["num_speakers"])}


def check_model(path: Path, *, speakers: int = 1) -> None:
    """``BadInput`` unless ``path`` is an ONNX model taking Piper's inputs (and a speaker id when
    its config has several speakers)."""
    size = path.stat().st_size
    if size < MIN_MODEL_BYTES:
        raise BadInput(f"{path.name} is not a voice model: {size:,} bytes, where Piper voices are megabytes")
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # noqa: BLE001 - protobuf's DecodeError and onnx's own: the file is not a model
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        raise BadInput(f"{path.name} is not an ONNX model ({type(error).__name__}: {first_line})") from None
    inputs = {tensor.name for tensor in model.graph.input}
    if not set(PIPER_INPUTS) <= inputs:
        takes = ", ".join(sorted(inputs)) or "no inputs"
        raise BadInput(f"{path.name} is an ONNX model but not a Piper voice: it takes {takes}, where a Piper voice "
                       f"takes {', '.join(PIPER_INPUTS)}")
    if speakers > 1 and "sid" not in inputs:
        raise BadInput(f"{path.name} and its .onnx.json do not match: the config has {speakers} speakers, the model "
                       "takes no speaker id")


def _whole(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low
