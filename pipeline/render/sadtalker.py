"""The SadTalker renderer: a local SadTalker checkout driven in-process, models kept resident.

SadTalker (github.com/OpenTalker/SadTalker) is not vendored: ``SADTALKER_DIR`` points at a checkout
whose ``checkpoints/`` and ``gfpgan/weights/`` are laid out as its ``scripts/download_models.sh``
leaves them, and we import its ``src`` package and call the same pieces its ``inference.py`` calls:
``CropAndExtract`` (face crop + 3DMM coefficients of the photo), ``get_data`` and ``Audio2Coeff``
(speech → expression and head-pose coefficients), ``get_facerender_data`` and
``AnimateFromCoeff`` (coefficients → 25 fps video). Its demo class reloads all three models on
every call and moves the files it is given; here the models are loaded once per (checkout, size,
preprocess, device, fp16) and stay resident between jobs, and SadTalker only ever sees copies of
the job's portrait and speech, in a scratch folder of its own (its face renderer also writes and
deletes ``<audio name>.wav`` in its output folder, so the copies live in a separate ``input/``).

How the studio's controls reach SadTalker (``SADTALKER_HONOURS``; exact values in ``plan_controls``)::

    control               SadTalker knob                          value
    expression_intensity  get_facerender_data(expression_scale)   0.5 + value  (0.5 → 1.0, its default)
    head_tilt             still_mode, input_roll_list,            0 → still_mode=True, no angle lists;
                          input_pitch_list                        else roll [8t, 4t, 8t]°, pitch [0, 4t, 0]°
                                                                  interpolated over the clip (t = head_tilt;
                                                                  replaces the audio-driven roll and pitch,
                                                                  yaw stays audio-driven)
    blink_rate            the blink ratio sequence (ratio_gt)     blinks/min as the embedded renderer:
                          that get_data makes and Audio2Exp       0 → none, 0.5 → 17, 1 → 40; SadTalker's
                          reads                                   own 5-frame blink shape, seeded gaps
    mouth_openness        not honoured: SadTalker's 64 expression coefficients are the BFM expression
    eyebrow_raise         PCA basis (Deep3DFaceRecon), with no coefficient for the jaw or the brows alone
    emotion               not honoured: SadTalker has no emotion input

Pose style (0–45) and preprocess (``crop``/``full``), size (256/512) and batch size are settings
(``SADTALKER_*``), overridable per job through ``options``. On CUDA with ``SADTALKER_FP16`` the face
renderer (most of the work) runs under float16 autocast; face extraction and audio-to-coefficient
stay float32. All GPU work is one ``gpu_task`` (ZeroGPU on Spaces). SadTalker's 25 fps output is
resampled and trimmed or padded to exactly the job's ``n_frames`` at its ``fps`` and re-encoded
with ``VideoWriter`` (H.264, no audio), scaled to fit ``max_side``.

Failures are ``StudioError``s naming what to do: ``BackendUnavailable`` for a missing checkout,
missing checkpoints (listed), no CUDA (``SADTALKER_ALLOW_CPU=1`` to run on the CPU anyway), missing
SadTalker dependencies and running out of GPU memory; ``BadInput`` when SadTalker finds no face.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import pickle
import shutil
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..controls import Controls
from ..errors import BackendUnavailable, BadInput, StudioError
from ..gpu import gpu_task
from ..media import VideoReader, VideoWriter, probe
from ..settings import Settings, bool_setting, choice_setting, int_setting, path_setting
from .base import Capabilities, OptionSpec, Renderer, RenderJob
from .embedded.motion import blinks_per_minute

SADTALKER_SIZES = (256, 512)
SADTALKER_PREPROCESS = ("crop", "full")
SADTALKER_POSE_STYLES = (0, 45)  # its audio-to-pose model knows 46 styles
SADTALKER_BATCH_SIZES = (1, 64)
SADTALKER_FPS = 25  # SadTalker's get_data and face renderer work at 25 fps, fixed
GPU_SECONDS = 240  # ZeroGPU budget for one render (a minute of speech at 256 px takes ~1–2 min on an A100)
MAX_ROLL_DEG = 8.0  # held head roll at head_tilt=1 (the embedded renderer's maximum, too)
MAX_PITCH_DEG = 4.0  # the slow nod at head_tilt=1
BLINK_SHAPE = (0.5, 0.9, 1.0, 0.9, 0.5)  # SadTalker's own blink profile, eyes closed at 1
BLINK_FIRST_S = 0.3

SADTALKER_HONOURS = {
    "expression_intensity": "SadTalker's expression scale: 0.5 + value (0 → 0.5, 0.5 → 1.0, its default, 1 → 1.5)",
    "head_tilt": "0 → still mode (no head motion); above 0 a held roll of up to 8° swaying by half, "
                 "and a nod of up to 4° pitch, over the clip",
    "blink_rate": "blinks per minute in SadTalker's blink sequence (0 → none, 0.5 → 17/min, 1 → 40/min)",
}
NOT_HONOURED = {
    "mouth_openness": "SadTalker's expression coefficients have no jaw-only coefficient",
    "eyebrow_raise": "SadTalker's expression coefficients have no brow-only coefficient",
    "emotion": "SadTalker has no emotion input",
}

# The parts of a checkout we import (module paths as in SadTalker's own inference.py).
CHECKOUT_FILES = ("src/utils/init_path.py", "src/utils/preprocess.py", "src/test_audio2coeff.py",
                  "src/facerender/animate.py", "src/generate_batch.py", "src/generate_facerender_batch.py",
                  "src/config")
FACE_WEIGHTS = ("gfpgan/weights/alignment_WFLW_4HG.pth", "gfpgan/weights/detection_Resnet50_Final.pth")
DOWNLOAD_HINT = "run `bash scripts/download_models.sh` inside the checkout"


@dataclass(frozen=True)
class SadTalkerSettings:
    """SadTalker's own settings section, from ``Settings.env`` (``SADTALKER_*``), checked when used."""

    checkout: Path | None = None  # SADTALKER_DIR: the checkout (checkpoints/ and gfpgan/weights/ inside)
    size: int = 256  # its face renderer's resolution: 256 or 512 (which checkpoint)
    preprocess: str = "crop"  # "crop": the face only; "full": pasted back into the whole photo
    pose_style: int = 0  # 0–45, its audio-to-pose model's style
    batch_size: int = 2  # frames per face-renderer batch (lower it when the GPU runs out of memory)
    fp16: bool = True  # half precision for the face renderer, on CUDA only
    allow_cpu: bool = False  # run without CUDA (minutes per second of video)

    @classmethod
    def of(cls, settings: Settings) -> SadTalkerSettings:
        env = settings.env
        return cls(checkout=path_setting(env, "SADTALKER_DIR"),
                   size=int(choice_setting(env, "SADTALKER_SIZE", "256", tuple(map(str, SADTALKER_SIZES)))),
                   preprocess=choice_setting(env, "SADTALKER_PREPROCESS", "crop", SADTALKER_PREPROCESS),
                   pose_style=int_setting(env, "SADTALKER_POSE_STYLE", 0, *SADTALKER_POSE_STYLES),
                   batch_size=int_setting(env, "SADTALKER_BATCH_SIZE", 2, *SADTALKER_BATCH_SIZES),
                   fp16=bool_setting(env, "SADTALKER_FP16", True),
                   allow_cpu=bool_setting(env, "SADTALKER_ALLOW_CPU", False))


def option_specs(section: SadTalkerSettings) -> tuple[OptionSpec, ...]:
    """SadTalker's per-job options; their defaults are the settings."""
    low, high = SADTALKER_POSE_STYLES
    return (
        OptionSpec("size", "choice", section.size, "its face renderer's resolution: 512 is sharper, slower",
                   label="Size", choices=SADTALKER_SIZES, setting="SADTALKER_SIZE"),
        OptionSpec("preprocess", "choice", section.preprocess, "crop: animate the face · full: the whole photo",
                   label="Preprocess", choices=SADTALKER_PREPROCESS, setting="SADTALKER_PREPROCESS"),
        OptionSpec("pose_style", "int", section.pose_style, "head-motion style of SadTalker's pose model",
                   label="Pose style", low=low, high=high, setting="SADTALKER_POSE_STYLE"),
        OptionSpec("batch_size", "int", section.batch_size, "frames per face-renderer batch (lower it when "
                   "the GPU runs out of memory)", label="Batch size", low=SADTALKER_BATCH_SIZES[0],
                   high=SADTALKER_BATCH_SIZES[1], setting="SADTALKER_BATCH_SIZE"),
    )


def required_checkpoints(size: int, preprocess: str) -> list[str]:
    """Files (relative to the checkout) that a render at ``size`` with ``preprocess`` loads."""
    mapping = "mapping_00109-model.pth.tar" if preprocess == "full" else "mapping_00229-model.pth.tar"
    return [f"checkpoints/SadTalker_V0.0.2_{size}.safetensors", f"checkpoints/{mapping}", *FACE_WEIGHTS]


def unavailable_reason(settings: Settings, *, size: int | None = None, preprocess: str | None = None,
                       check_cuda: bool = True) -> str | None:
    """Why SadTalker cannot run now, or None. Cheap: looks at files, and at CUDA last."""
    try:
        section = SadTalkerSettings.of(settings)
    except StudioError as error:  # a SADTALKER_* variable that makes no sense
        return str(error)
    checkout = section.checkout
    if checkout is None:
        return ("SADTALKER_DIR is not set — clone github.com/OpenTalker/SadTalker, download its checkpoints "
                "and set SADTALKER_DIR to the checkout (bash scripts/setup_sadtalker.sh clones it and downloads "
                "them; see docs/gpu-workstation.md)")
    if not checkout.is_dir():
        return f"SADTALKER_DIR={checkout} does not exist — point it at a SadTalker checkout"
    missing = [name for name in CHECKOUT_FILES if not (checkout / name).exists()]
    if missing:
        return (f"SADTALKER_DIR={checkout} is not a SadTalker checkout (no {', '.join(missing)}) — "
                "point it at a clone of github.com/OpenTalker/SadTalker")
    size = size or section.size
    preprocess = preprocess or section.preprocess
    missing = [name for name in required_checkpoints(size, preprocess) if not (checkout / name).is_file()]
    if missing:
        return f"SadTalker checkpoints missing in {checkout}: {', '.join(missing)} — {DOWNLOAD_HINT}"
    if check_cuda and not section.allow_cpu and not _cuda_available():
        return ("SadTalker needs a CUDA GPU and none is available — install a CUDA build of torch, or set "
                "SADTALKER_ALLOW_CPU=1 to run it on the CPU (minutes per second of video), or use the "
                "embedded renderer")
    return None


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# -- controls -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ControlPlan:
    """What the controls become in SadTalker's calls (recorded in render.json)."""

    expression_scale: float
    still_mode: bool
    input_roll_list: list[float] | None
    input_pitch_list: list[float] | None
    blinks_per_minute: float
    honoured: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"expression_scale": self.expression_scale, "still_mode": self.still_mode,
                "input_roll_list": self.input_roll_list, "input_pitch_list": self.input_pitch_list,
                "blinks_per_minute": self.blinks_per_minute}


def plan_controls(controls: Controls, *, sadtalker_frames: int) -> ControlPlan:
    """The exact SadTalker arguments for ``controls`` on a clip of ``sadtalker_frames`` (25 fps)."""
    tilt = controls.head_tilt
    roll = pitch = None
    if tilt > 0:
        held = round(MAX_ROLL_DEG * tilt, 4)
        nod = round(MAX_PITCH_DEG * tilt, 4)
        # SadTalker interpolates a list over the clip; it needs ≥3 frames and no two equal neighbours
        roll = [held, round(held / 2, 4), held] if sadtalker_frames >= 3 else [held]
        pitch = [0.0, nod, 0.0] if sadtalker_frames >= 3 else [0.0]
    ignored = list(NOT_HONOURED)
    return ControlPlan(expression_scale=round(0.5 + controls.expression_intensity, 4), still_mode=tilt <= 0,
                       input_roll_list=roll, input_pitch_list=pitch,
                       blinks_per_minute=round(blinks_per_minute(controls.blink_rate), 4),
                       honoured=dict(SADTALKER_HONOURS), ignored=ignored)


def blink_schedule(n_frames: int, per_minute: float, seed: int = 0) -> np.ndarray:
    """Per-frame eye closure (0 open … 1 closed) at 25 fps, ``per_minute`` blinks on average.

    SadTalker's own schedule (``generate_blink_seq_randomly``) blinks every 0.4–2.8 s whatever is
    asked; this one keeps its 5-frame blink shape but spaces blinks at the requested rate, with
    gamma-distributed gaps (seeded, so a re-render blinks the same way)."""
    ratio = np.zeros(int(n_frames), dtype=np.float32)
    if per_minute <= 0 or n_frames <= 0:
        return ratio
    rng = np.random.default_rng([int(seed), 7])
    mean_gap = 60.0 / per_minute
    when = BLINK_FIRST_S + rng.uniform(0.1, 1.0) * min(mean_gap, 3.0)
    width = len(BLINK_SHAPE)
    while True:
        start = int(round(when * SADTALKER_FPS))
        if start + width > n_frames:
            break
        ratio[start:start + width] = BLINK_SHAPE
        when += max(0.5, mean_gap * rng.gamma(4.0, 0.25))
    return ratio


# -- resident models ----------------------------------------------------------------------------
@dataclass
class SadTalkerModels:
    """SadTalker's three models and the batch functions of one checkout, loaded for one device."""

    key: tuple
    device: str
    fp16: bool
    crop_and_extract: Any
    audio_to_coeff: Any
    animate_from_coeff: Any
    get_data: Callable
    get_facerender_data: Callable


_resident: dict[tuple, SadTalkerModels] = {}
_load_lock = threading.Lock()
_checkout_on_path: list[str] = []


def resident_models(settings: Settings, *, size: int, preprocess: str) -> SadTalkerModels:
    """The models for this checkout, size, preprocess and device: loaded on first use, then kept."""
    reason = unavailable_reason(settings, size=size, preprocess=preprocess)
    if reason:
        raise BackendUnavailable(reason)
    device = "cuda" if _cuda_available() else "cpu"
    section = SadTalkerSettings.of(settings)
    fp16 = bool(section.fp16 and device == "cuda")
    key = (str(section.checkout), size, preprocess, device, fp16)
    with _load_lock:
        if key not in _resident:
            _resident[key] = _load(section.checkout, key, size=size, preprocess=preprocess,
                                   device=device, fp16=fp16)
        return _resident[key]


def unload_all() -> None:
    """Drop every resident model (tests; a settings change that frees the GPU)."""
    with _load_lock:
        _resident.clear()


def _load(checkout: Path, key: tuple, *, size: int, preprocess: str, device: str, fp16: bool) -> SadTalkerModels:
    modules = _import_checkout(checkout)
    paths = modules["init_path"].init_path(str(checkout / "checkpoints"), str(checkout / "src" / "config"),
                                           size, False, preprocess)
    try:
        # its face detector finds its weights at the relative path gfpgan/weights (else downloads them)
        with _working_directory(checkout):
            crop_and_extract = modules["preprocess"].CropAndExtract(paths, device)
            audio_to_coeff = modules["test_audio2coeff"].Audio2Coeff(paths, device)
            animate_from_coeff = modules["animate"].AnimateFromCoeff(paths, device)
    except ImportError as error:
        raise _missing_dependency(checkout, error) from None
    except pickle.UnpicklingError as error:  # torch>=2.6 loads checkpoints with weights_only=True
        raise BackendUnavailable(
            f"torch refused to load a SadTalker checkpoint in {checkout} as plain weights ({str(error)[:200]}) — "
            "check that the files came from SadTalker's own download script; if they did, set "
            "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 for the studio and try again") from None
    except (FileNotFoundError, KeyError, RuntimeError) as error:
        if _is_oom(error):
            raise _out_of_memory(size, None) from None
        raise BackendUnavailable(f"SadTalker could not load its models from {checkout}: {error} — "
                                 f"check the checkpoints ({DOWNLOAD_HINT})") from None
    return SadTalkerModels(key=key, device=device, fp16=fp16, crop_and_extract=crop_and_extract,
                           audio_to_coeff=audio_to_coeff, animate_from_coeff=animate_from_coeff,
                           get_data=modules["generate_batch"].get_data,
                           get_facerender_data=modules["generate_facerender_batch"].get_facerender_data)


_MODULES = {"init_path": "src.utils.init_path", "preprocess": "src.utils.preprocess",
            "test_audio2coeff": "src.test_audio2coeff", "animate": "src.facerender.animate",
            "generate_batch": "src.generate_batch", "generate_facerender_batch": "src.generate_facerender_batch"}


def _import_checkout(checkout: Path) -> dict[str, Any]:
    """Import SadTalker's ``src`` package from ``checkout`` (forgetting another checkout's ``src``)."""
    root = str(checkout)
    loaded = sys.modules.get("src")
    if loaded is not None and not any(str(p).startswith(root + os.sep) or str(p) == os.path.join(root, "src")
                                      for p in getattr(loaded, "__path__", [])):
        for name in [name for name in sys.modules if name == "src" or name.startswith("src.")]:
            del sys.modules[name]
    for previous in _checkout_on_path:
        if previous in sys.path and previous != root:
            sys.path.remove(previous)
    if root not in sys.path:
        sys.path.insert(0, root)
        _checkout_on_path[:] = [root]
    importlib.invalidate_caches()
    try:
        return {short: importlib.import_module(name) for short, name in _MODULES.items()}
    except ImportError as error:
        raise _missing_dependency(checkout, error) from None


def _missing_dependency(checkout: Path, error: ImportError) -> BackendUnavailable:
    # Not the checkout's own requirements.txt: it pins numpy 1.23 and other releases that no longer
    # install on Python 3.11; requirements-gpu.txt has what its code needs today.
    return BackendUnavailable(f"SadTalker's own dependencies are missing ({error}) — install the GPU path into "
                              "this environment: bash scripts/setup.sh --gpu (requirements-gpu.txt; see "
                              "docs/gpu-workstation.md)")


@contextlib.contextmanager
def _working_directory(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _is_oom(error: BaseException) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is SadTalker's first dependency
        return False
    return isinstance(error, torch.cuda.OutOfMemoryError)


def _out_of_memory(size: int, batch_size: int | None) -> BackendUnavailable:
    with contextlib.suppress(Exception):
        import torch

        torch.cuda.empty_cache()
    smaller = ["SADTALKER_BATCH_SIZE=1" if batch_size and batch_size > 1 else None,
               "SADTALKER_SIZE=256" if size == 512 else None]
    hint = " or ".join(s for s in smaller if s) or "close other programs using the GPU"
    return BackendUnavailable(f"SadTalker ran out of GPU memory (size {size}, batch size {batch_size or '-'}) — "
                              f"set {hint} and resume the job, or render it with the embedded renderer")


# -- one render ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SadTalkerJob:
    portrait: Path  # the scratch copy
    audio: Path  # the scratch copy
    work_dir: Path
    size: int
    preprocess: str
    pose_style: int
    batch_size: int
    plan: ControlPlan
    seed: int
    display_name: str


@gpu_task(GPU_SECONDS)
def run_sadtalker(models: SadTalkerModels, job: SadTalkerJob, progress: Callable[[float], None]) -> Path:
    """SadTalker's inference steps with the control plan applied; returns its 25 fps MP4."""
    import torch

    try:
        first_frame_dir = job.work_dir / "first_frame_dir"
        first_frame_dir.mkdir(parents=True, exist_ok=True)
        face = _extract_face(models, job, first_frame_dir)
        first_coeff_path, crop_pic_path, crop_info = face
        progress(0.15)
        batch = models.get_data(first_coeff_path, str(job.audio), models.device, None, still=job.plan.still_mode)
        blinks = blink_schedule(int(batch["num_frames"]), job.plan.blinks_per_minute, job.seed)
        original = batch["ratio_gt"]
        batch["ratio_gt"] = torch.as_tensor(blinks, dtype=original.dtype).reshape(original.shape).to(original.device)
        coeff_path = models.audio_to_coeff.generate(batch, str(job.work_dir), job.pose_style, None)
        progress(0.3)
        data = models.get_facerender_data(
            coeff_path, crop_pic_path, first_coeff_path, str(job.audio), job.batch_size,
            None, job.plan.input_pitch_list, job.plan.input_roll_list,
            expression_scale=job.plan.expression_scale, still_mode=job.plan.still_mode,
            preprocess=job.preprocess, size=job.size)
        autocast = (torch.autocast(device_type="cuda", dtype=torch.float16) if models.fp16
                    else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            video = models.animate_from_coeff.generate(data, str(job.work_dir), str(job.portrait), crop_info,
                                                       enhancer=None, background_enhancer=None,
                                                       preprocess=job.preprocess, img_size=job.size)
        progress(0.85)
        return Path(video)
    except torch.cuda.OutOfMemoryError:
        raise _out_of_memory(job.size, job.batch_size) from None


def _extract_face(models: SadTalkerModels, job: SadTalkerJob, save_dir: Path) -> tuple:
    no_face = (f"SadTalker found no face in {job.display_name} — use a well-lit, front-facing photo with one "
               "clear face, try SADTALKER_PREPROCESS=full, or render it with the embedded renderer")
    try:
        found = models.crop_and_extract.generate(str(job.portrait), str(save_dir), job.preprocess,
                                                 source_image_flag=True, pic_size=job.size)
    except StudioError:
        raise
    except (TypeError, ValueError, IndexError, AttributeError) as error:
        # its cropper raises a bare string (a TypeError) when the landmark detector sees no face
        raise BadInput(f"{no_face} ({type(error).__name__}: {error})") from None
    if not found or found[0] is None or len(found) < 3:  # it returns (None, None) when it finds none
        raise BadInput(no_face)
    return tuple(found[:3])


class SadTalkerRenderer(Renderer):
    """Renders with a local SadTalker checkout (``SADTALKER_DIR``); see the module docstring."""

    name = "sadtalker"
    label = "SadTalker"

    @classmethod
    def unavailable(cls, settings: Settings) -> str | None:
        return unavailable_reason(settings)

    def capabilities(self, settings: Settings) -> Capabilities:
        return Capabilities(controls=SADTALKER_HONOURS, options=option_specs(SadTalkerSettings.of(settings)),
                            needs_gpu=True,
                            whole_reply_only="SadTalker generates a whole clip's motion at once from all of its audio")

    def check_inputs(self, portrait_path: Path, *, settings: Settings | None = None, max_side: int = 512,
                     display_name: str | None = None, face: int | None = None) -> dict:
        """Fail before any speech is made when SadTalker cannot run, then check the photo like
        every renderer does (readable, one face big enough; SadTalker crops the largest)."""
        if settings is not None:
            self.check_ready(settings)
        return super().check_inputs(portrait_path, settings=settings, max_side=max_side, display_name=display_name,
                                    face=face)

    def render(self, job: RenderJob) -> dict:
        """``job.n_frames`` at ``job.fps`` into a video-only H.264 MP4 at ``job.out``."""
        n_frames, fps, out_path = int(job.n_frames), int(job.fps), Path(job.out)
        if n_frames <= 0:
            raise BadInput(f"nothing to render: n_frames must be positive, got {n_frames}")
        if fps <= 0:
            raise BadInput(f"fps must be positive, got {fps}")
        chosen = self.check_options(job.options, job.settings)
        speech = Path(job.speech_wav)
        if not speech.is_file():
            raise StudioError(f"the speech for this job is missing ({speech.name}); resume the job from its speech stage")
        name = job.display_name or Path(job.portrait).name
        models = resident_models(job.settings, size=chosen["size"], preprocess=chosen["preprocess"])
        plan = plan_controls(job.controls, sadtalker_frames=math.ceil(n_frames * SADTALKER_FPS / fps))
        work_dir = Path(job.job_dir) / "sadtalker-work"
        shutil.rmtree(work_dir, ignore_errors=True)
        try:
            portrait, audio = _scratch_inputs(Path(job.portrait), speech, work_dir / "input")
            work = SadTalkerJob(portrait=portrait, audio=audio, work_dir=work_dir, size=chosen["size"],
                                preprocess=chosen["preprocess"], pose_style=chosen["pose_style"],
                                batch_size=chosen["batch_size"], plan=plan, seed=int(job.seed), display_name=name)
            video = run_sadtalker(models, work, job.progress)
            width, height, source_frames = write_exact(video, out_path, n_frames=n_frames, fps=fps,
                                                       max_side=job.max_side)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        job.progress(1.0)
        notes = [f"SadTalker ignores {', '.join(plan.ignored)}"] if plan.ignored else []
        return {"frames": n_frames, "width": width, "height": height, "notes": notes,
                "controls_honoured": plan.honoured, "controls_ignored": plan.ignored,
                "sadtalker": {**chosen, "device": models.device, "fp16": models.fp16,
                              "source_frames_read": source_frames, **plan.to_dict()}}


def _scratch_inputs(portrait: Path, speech: Path, input_dir: Path) -> tuple[Path, Path]:
    """Copies SadTalker may move, overwrite or delete; it reads only .png/.jpg/.jpeg as images."""
    input_dir.mkdir(parents=True, exist_ok=True)
    if portrait.suffix.lower() in (".png", ".jpg", ".jpeg"):
        image = input_dir / f"portrait{portrait.suffix.lower()}"
        shutil.copyfile(portrait, image)
    else:
        from PIL import Image

        image = input_dir / "portrait.png"
        with Image.open(portrait) as photo:
            photo.convert("RGB").save(image)
    audio = input_dir / "speech.wav"
    shutil.copyfile(speech, audio)
    return image, audio


def write_exact(source: Path, out_path: Path, *, n_frames: int, fps: int, max_side: int) -> tuple[int, int, int]:
    """Re-encode ``source`` as exactly ``n_frames`` at ``fps`` (nearest earlier source frame; the last
    one repeated if the source is short), scaled to fit ``max_side`` with even sides, streamed.

    Returns (width, height, frames read from the source)."""
    info = probe(source)
    if info.video is None:
        raise StudioError("SadTalker produced no video; see the job log")
    src_fps = info.video.fps or SADTALKER_FPS
    scale = min(1.0, max_side / max(info.video.width, info.video.height))
    width = max(2, int(info.video.width * scale) // 2 * 2)
    height = max(2, int(info.video.height * scale) // 2 * 2)
    current, exhausted = None, False
    with VideoReader(source, size=(width, height)) as reader, \
            VideoWriter(out_path, width=width, height=height, fps=fps) as writer:
        frames = iter(reader)
        for index in range(n_frames):
            wanted = int(math.floor(index * src_fps / fps + 1e-6))
            while not exhausted and reader.frames_read <= wanted:
                frame = next(frames, None)
                exhausted = frame is None
                current = current if exhausted else frame
            if current is None:
                raise StudioError("SadTalker produced an empty video; see the job log")
            writer.write(current)
    return width, height, reader.frames_read
