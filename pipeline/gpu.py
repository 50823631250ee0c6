"""GPU work on Hugging Face ZeroGPU Spaces, and everywhere else.

A ZeroGPU Space lends a GPU only to functions decorated with ``spaces.GPU(duration=...)``, for at
most that many seconds a call. ``gpu_task(duration_s)`` is that decorator when the code runs in a
Space (``SPACE_ID`` is set) and the ``spaces`` package is installed; anywhere else it returns the
function unchanged, and ``spaces`` is never imported. The decision is made when the decorator is
applied (module import time). Every Gradio Space has ``spaces``; on one without ZeroGPU hardware
its decorator returns the function unchanged too.

ZeroGPU registers a Space's GPU functions when the app launches: a function first decorated after
that never gets a GPU. So a Space imports every module that holds a ``gpu_task``
(``GPU_TASK_MODULES``) before it builds the app (``import_gpu_tasks``, called by
``studio.launch``). Those modules keep torch and their other heavy imports inside their functions,
so this costs a fraction of a second; and importing ``spaces`` this early also puts it before
anything that could initialise CUDA, which ZeroGPU requires.
"""

from __future__ import annotations

import os
from importlib import import_module
from importlib.util import find_spec
from typing import Callable, TypeVar, Union

F = TypeVar("F", bound=Callable)
Duration = Union[float, Callable[..., float]]  # seconds, or spaces' per-call estimate from the arguments

# Every module with a ``gpu_task``; one that is not there (an optional part left out) is skipped.
GPU_TASK_MODULES = ("pipeline.render.sadtalker", "pipeline.enhance.gfpgan", "pipeline.speech.stt",
                    "pipeline.llm.local")

_decorated: dict[str, Duration] = {}  # "module.qualname" → duration, for the startup line


def in_space() -> bool:
    """True when running in a Hugging Face Space (it sets ``SPACE_ID``)."""
    return bool(os.environ.get("SPACE_ID"))


def on_spaces() -> bool:
    """True in a Hugging Face Space that has the ``spaces`` package (ZeroGPU or not)."""
    return in_space() and find_spec("spaces") is not None


def zero_gpu() -> bool:
    """True on ZeroGPU hardware (the variable the ``spaces`` package itself reads). There, once
    ``spaces`` is imported, torch reports CUDA as available in the main process, yet CUDA work only
    runs inside a ``gpu_task``: code outside one that picks its device by ``torch.cuda.is_available()``
    must ask this first."""
    return in_space() and os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def gpu_task(duration_s: Duration) -> Callable[[F], F]:
    """``@gpu_task(120)``: ``spaces.GPU(duration=120)`` in a Space, a no-op elsewhere."""
    if not on_spaces():
        return lambda function: function
    import spaces  # only here: the package exists only in Spaces

    lend_gpu = spaces.GPU(duration=duration_s)

    def decorate(function: F) -> F:
        _decorated[f"{function.__module__}.{function.__qualname__}"] = duration_s
        return lend_gpu(function)

    return decorate


def import_gpu_tasks() -> dict[str, Duration]:
    """Import every module in ``GPU_TASK_MODULES`` that exists, so its ``gpu_task``s are decorated
    now; returns what is decorated so far ("module.qualname" → duration; empty outside a Space)."""
    for name in GPU_TASK_MODULES:
        try:
            present = find_spec(name) is not None
        except ModuleNotFoundError:  # its package is missing too
            present = False
        if present:
            import_module(name)
    return dict(_decorated)


def describe(decorated: dict[str, Duration]) -> str:
    """One line for the Space's log: which functions may borrow a GPU, and for how long."""
    if not decorated:
        return "no GPU functions"
    return ", ".join(f"{name.rsplit('.', 1)[-1]} ({_seconds(duration)})" for name, duration in sorted(decorated.items()))


def _seconds(duration: Duration) -> str:
    return "estimated per call" if callable(duration) else f"{duration:g} s"
