"""The ``gfpgan`` face enhancer: GFPGAN v1.3/v1.4 restores the face of a rendered video.

The network is the ``gfpgan`` package's own ``GFPGANv1Clean``, built with the arguments its
``GFPGANer`` helper uses for ``arch="clean"``, ``channel_multiplier=2`` (the architecture of the
published v1.3 and v1.4 weights). The weights come from ``GFPGAN_WEIGHTS``, else from
``SADTALKER_DIR/gfpgan/weights/GFPGANv1.4.pth``, where SadTalker's download script puts them. They
are loaded with ``torch.load(weights_only=True)`` on the CPU, ``params_ema`` taken before
``params``, strictly, then moved to CUDA when there is one; the loaded network stays resident per
(weights file, device) between jobs.

``GFPGANer`` itself is not used. Its face helper (facexlib's ``FaceRestoreHelper``) downloads
RetinaFace and ParseNet weights the first time it runs, which fails offline and on Spaces, and it
detects every frame on its own, so the crop — and with it the restored face — jitters from frame
to frame. Instead the frames go through ``pipeline.enhance.restore_faces``: the bundled MediaPipe
mesh finds the face, its landmarks are smoothed over time, the crop is aligned to the FFHQ
template GFPGAN was trained on, and the restored faces are blended over time where the input did
not move (``GFPGAN_SMOOTHING``, 0 to turn it off); see that module for the method. The decoder's
noise inputs are held fixed (``randomize_noise=False``) for the same reason.

The video is streamed: ``VideoReader`` in, ``VideoWriter`` out, a few frames in memory. All of it
is one ``gpu_task`` (``run_gfpgan``: ZeroGPU on Spaces). With ``keep_audio`` (a hosted vendor's
video, which carries its own speech) the source's audio stream is copied into the result.

Failures are ``BackendUnavailable`` naming what to do: the package missing (the install commands),
no weights (``GFPGAN_WEIGHTS`` and the file looked for), a file that is not a GFPGAN v1.3/v1.4
checkpoint, and running out of GPU memory.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import BackendUnavailable, BadInput
from ..gpu import gpu_task
from ..media import probe
from ..settings import Settings, fraction_setting, path_setting
from .base import Enhancer
from .restore import LANDMARK_RADIUS, RestoreCounts, copy_audio, enhance_video

GPU_SECONDS = 180  # ZeroGPU budget for one video (GFPGAN at 512 px runs at tens of frames/s on a GPU)
# GFPGANer's arguments for arch="clean" with channel_multiplier=2: the v1.3/v1.4 network.
ARCHITECTURE = {"out_size": 512, "num_style_feat": 512, "channel_multiplier": 2, "decoder_load_path": None,
                "fix_decoder": False, "num_mlp": 8, "input_is_latent": True, "different_w": True,
                "narrow": 1, "sft_half": True}
# What ``import gfpgan`` needs (it imports basicsr, facexlib and torchvision at package import).
MODULES = ("gfpgan", "basicsr", "facexlib", "torchvision")
INSTALL = ("pip install -r requirements-gpu.txt, then pip install --no-deps -r requirements-gpu-nodeps.txt "
           "(bash scripts/setup.sh --gpu does both)")
WEIGHTS_HINT = "set GFPGAN_WEIGHTS to a GFPGANv1.4.pth (or v1.3) file from GFPGAN's releases"


# -- what it needs ------------------------------------------------------------------------------
def unavailable_reason(settings: Settings) -> str | None:
    """Why GFPGAN cannot run now (the package, the weights), or None. Cheap: nothing is imported."""
    return package_reason() or weights_reason(settings)


def package_reason() -> str | None:
    missing = [module for module in MODULES if not _installed(module)]
    if missing:
        return f"the gfpgan package is not installed ({', '.join(missing)} missing) — {INSTALL}"
    return None


def _installed(module: str) -> bool:
    """A real package, not a bare folder of that name on ``sys.path``: a SadTalker checkout (which
    the sadtalker renderer puts on the path) has a ``gfpgan/`` folder for weights, and Python would
    import it as an empty namespace package."""
    spec = find_spec(module)
    return spec is not None and spec.origin is not None


def weights_reason(settings: Settings) -> str | None:
    section = GFPGANSettings.of(settings)
    weights = section.weights_path
    if weights is None:
        return f"no GFPGAN weights: {WEIGHTS_HINT}, or SADTALKER_DIR to a SadTalker checkout that has them"
    if not weights.is_file():
        if section.weights is not None:
            return f"GFPGAN_WEIGHTS is {weights}, which is not a file — {WEIGHTS_HINT}"
        return (f"no GFPGAN weights: GFPGAN_WEIGHTS is not set and {weights} does not exist — {WEIGHTS_HINT}, "
                "or run SadTalker's scripts/download_models.sh")
    return None


# -- the resident network -----------------------------------------------------------------------
@dataclass(frozen=True)
class GFPGANModel:
    network: Any  # GFPGANv1Clean, in eval mode, on ``device``
    device: str  # "cuda" or "cpu"
    weights: Path


# Where SadTalker's download script leaves GFPGAN's weights in its checkout, used when GFPGAN_WEIGHTS is unset.
SADTALKER_GFPGAN_WEIGHTS = Path("gfpgan") / "weights" / "GFPGANv1.4.pth"


@dataclass(frozen=True)
class GFPGANSettings:
    """GFPGAN's own settings section, from ``Settings.env``."""

    weights: Path | None = None  # GFPGAN_WEIGHTS: a v1.3/v1.4 .pth
    sadtalker_dir: Path | None = None  # SADTALKER_DIR: its checkout keeps a copy of the weights
    smoothing: float = 0.6  # 0–1: how much a restored face keeps of the last frame's where nothing moved

    @classmethod
    def of(cls, settings: Settings) -> GFPGANSettings:
        env = settings.env
        return cls(weights=path_setting(env, "GFPGAN_WEIGHTS"), sadtalker_dir=path_setting(env, "SADTALKER_DIR"),
                   smoothing=fraction_setting(env, "GFPGAN_SMOOTHING", 0.6))

    @property
    def weights_path(self) -> Path | None:
        """The weights file to use: GFPGAN_WEIGHTS, else where SadTalker's download script puts it
        in SADTALKER_DIR (which may not exist yet), else None."""
        if self.weights is not None:
            return self.weights
        return self.sadtalker_dir / SADTALKER_GFPGAN_WEIGHTS if self.sadtalker_dir is not None else None


_resident: dict[tuple[Path, str], tuple[tuple[int, int], GFPGANModel]] = {}
_load_lock = threading.Lock()


def resident_model(settings: Settings) -> GFPGANModel:
    """The network for the configured weights on this machine's best device, loaded once (again only
    when the file changes)."""
    weights = GFPGANSettings.of(settings).weights_path
    device = "cuda" if _cuda_available() else "cpu"
    stamp = (weights.stat().st_mtime_ns, weights.stat().st_size)
    with _load_lock:
        held = _resident.get((weights, device))
        if held is None or held[0] != stamp:
            _resident.pop((weights, device), None)  # a replaced file: free the old network first
            _resident[(weights, device)] = (stamp, GFPGANModel(load_network(weights, device), device, weights))
        return _resident[(weights, device)][1]


def unload_all() -> None:
    """Drop every resident network (tests; freeing the GPU)."""
    with _load_lock:
        _resident.clear()


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def load_network(weights: Path, device: str):
    """GFPGANv1Clean with ``weights`` loaded strictly, in eval mode, on ``device``."""
    try:
        from gfpgan.archs.gfpganv1_clean_arch import GFPGANv1Clean
    except ImportError as error:
        raise BackendUnavailable(f"the gfpgan package does not import ({error}) — {INSTALL}") from None
    import torch

    try:
        checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - the unpickler and zip reader raise many kinds on a foreign file
        raise BackendUnavailable(f"{weights.name} is not a GFPGAN checkpoint torch can load "
                                 f"({type(error).__name__}) — {WEIGHTS_HINT}") from None
    params = _params(checkpoint)
    if params is None:
        raise BackendUnavailable(f"{weights.name} is not a GFPGAN checkpoint (no params_ema or params "
                                 f"weights in it) — {WEIGHTS_HINT}")
    network = GFPGANv1Clean(**ARCHITECTURE)
    expected = set(network.state_dict())
    missing, unexpected = sorted(expected - set(params)), sorted(set(params) - expected)
    if missing or unexpected:
        example = (missing or unexpected)[0]
        raise BackendUnavailable(
            f"{weights.name} does not fit GFPGAN v1.3/v1.4 (the clean architecture): {len(missing)} weights "
            f"missing, {len(unexpected)} unexpected (e.g. {example}) — GFPGANv1.pth and other networks are "
            f"not supported; {WEIGHTS_HINT}")
    try:
        network.load_state_dict(params, strict=True)
    except RuntimeError as error:  # the right names with the wrong shapes
        raise BackendUnavailable(f"{weights.name} does not fit GFPGAN v1.3/v1.4: "
                                 f"{_first_line(error)} — {WEIGHTS_HINT}") from None
    del checkpoint, params
    network.eval()
    try:
        return network.to(device)
    except torch.cuda.OutOfMemoryError:
        raise _out_of_memory() from None


def _params(checkpoint: Any) -> dict | None:
    if not isinstance(checkpoint, dict):
        return None
    for key in ("params_ema", "params"):  # the EMA weights are the ones GFPGAN publishes for inference
        if isinstance(checkpoint.get(key), dict):
            return checkpoint[key]
    return None


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else (lines[0] if lines else type(error).__name__)


def _out_of_memory() -> BackendUnavailable:
    with contextlib.suppress(Exception):
        import torch

        torch.cuda.empty_cache()
    return BackendUnavailable("GFPGAN ran out of GPU memory — close other programs using the GPU and resume "
                              "the job, or render it again without the face enhancer")


# -- one video ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnhanceJob:
    source: Path  # the rendered video
    out: Path  # the enhanced video, video only
    fps: float
    expected_frames: int  # for progress only; every frame read is written
    smoothing: float


@gpu_task(GPU_SECONDS)
def run_gfpgan(model: GFPGANModel, job: EnhanceJob, progress: Callable[[float], None]) -> RestoreCounts:
    """Every frame of ``job.source`` with its face restored into ``job.out``; returns the counts."""
    import torch

    def restore(aligned: np.ndarray) -> np.ndarray:
        crop = torch.from_numpy(np.ascontiguousarray(aligned)).to(model.device)
        crop = crop.permute(2, 0, 1).unsqueeze(0).float() / 127.5 - 1.0  # RGB in [-1, 1], as trained
        restored = model.network(crop, return_rgb=False, randomize_noise=False)[0]
        restored = (restored[0].clamp(-1.0, 1.0) + 1.0) * 127.5
        return restored.permute(1, 2, 0).float().cpu().numpy()

    total = max(1, job.expected_frames)
    try:
        with torch.inference_mode():
            counts = enhance_video(job.source, job.out, restore, smoothing=job.smoothing, fps=job.fps,
                                   on_frame=lambda done: progress(min(0.99, done / total)))
    except torch.cuda.OutOfMemoryError:
        raise _out_of_memory() from None
    return counts


class GFPGANEnhancer(Enhancer):
    """Restores the face in a video with GFPGAN; see the module docstring."""

    name = "gfpgan"
    label = "GFPGAN"

    @classmethod
    def unavailable(cls, settings: Settings) -> str | None:
        try:
            return unavailable_reason(settings)
        except BadInput as error:  # GFPGAN_SMOOTHING that makes no sense
            return str(error)

    def enhance(self, src: Path, dst: Path, *, settings: Settings | None = None,
                progress: Callable[[float], None] | None = None, keep_audio: bool = False) -> dict:
        """``dst``: ``src`` with the face restored in every frame (same frames, rate and size); the
        source's audio copied in with ``keep_audio``. Returns what the job records."""
        settings, progress = _settings(settings), progress or (lambda fraction: None)
        section = GFPGANSettings.of(settings)
        src, dst = Path(src), Path(dst)
        self.check_ready(settings)
        info = probe(src)
        video = info.video
        if video is None:
            raise BadInput(f"{src.name} has no video stream to enhance")
        if video.width % 2 or video.height % 2:
            raise BadInput(f"{src.name} is {video.width}x{video.height}; the face enhancer needs even sides")
        fps = video.fps or 25.0
        began = time.perf_counter()
        model = resident_model(settings)
        loaded = time.perf_counter()
        with_audio = keep_audio and info.audio is not None
        video_only = dst.with_name(dst.stem + ".video.mp4") if with_audio else dst
        job = EnhanceJob(source=src, out=video_only, fps=fps, expected_frames=round(info.duration_s * fps),
                         smoothing=section.smoothing)
        counts = run_gfpgan(model, job, progress)
        restored_s = time.perf_counter() - loaded
        if with_audio:
            copy_audio(video_only, src, dst)
        progress(1.0)
        return {"weights": model.weights.name, "device": model.device, **counts.to_dict(),
                "smoothing": section.smoothing, "landmark_window": 2 * LANDMARK_RADIUS + 1,
                "audio_kept": with_audio, "seconds": round(time.perf_counter() - began, 3),
                "frames_per_s": round(counts.frames / max(restored_s, 1e-9), 3),
                "notes": counts.notes("GFPGAN")}


def _settings(settings: Settings | None) -> Settings:
    if settings is not None:
        return settings
    from ..settings import resolve

    return resolve()
