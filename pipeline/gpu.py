"""GPU work on Hugging Face ZeroGPU Spaces, and everywhere else.

A ZeroGPU Space lends a GPU only to functions decorated with ``spaces.GPU(duration=...)``, for at
most that many seconds a call. ``gpu_task(duration_s)`` is that decorator when the code runs in a
Space (``SPACE_ID`` is set) and the ``spaces`` package is installed; anywhere else it returns the
function unchanged, and ``spaces`` is never imported. The decision is made when the decorator is
applied (module import time), which is also when ZeroGPU needs to see the decorated functions.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from typing import Callable, TypeVar, Union

F = TypeVar("F", bound=Callable)
Duration = Union[float, Callable[..., float]]  # seconds, or spaces' per-call estimate from the arguments


def on_spaces() -> bool:
    """True in a Hugging Face Space that has the ``spaces`` package (ZeroGPU or not)."""
    return bool(os.environ.get("SPACE_ID")) and find_spec("spaces") is not None


def gpu_task(duration_s: Duration) -> Callable[[F], F]:
    """``@gpu_task(120)``: ``spaces.GPU(duration=120)`` in a Space, a no-op elsewhere."""
    if not on_spaces():
        return lambda function: function
    import spaces  # only here: the package exists only in Spaces

    return spaces.GPU(duration=duration_s)
