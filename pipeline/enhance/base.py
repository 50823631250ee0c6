"""The face-enhancer contract: what every enhancer (built in or a plugin) is.

An enhancer runs between the render and encode stages and restores the face in the rendered video
(``restore.py`` holds the tracking, alignment, smoothing and pasting every face-restoration
network needs around it). What it must say and do:

- ``name`` and ``label``;
- ``unavailable(settings)`` (class method, cheap: imports and loads nothing) — why it cannot run
  here now (its package, its weights), or None; ``check_ready`` raises that reason;
- ``enhance(src, dst, settings=, progress=, keep_audio=)``: ``dst`` is ``src`` with the face
  restored in every frame — the same frame count, rate and size — with the source's sound copied
  in when ``keep_audio`` (a hosted vendor's video carries its speech). Returns what the job
  records (``enhance.json``), with ``notes`` for the user.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable

from ..registry import Backend


class Enhancer(Backend, ABC):
    """Base of every face enhancer (``unavailable``, ``from_settings``, ``check_ready``: ``registry.Backend``)."""

    @abstractmethod
    def enhance(self, src: Path, dst: Path, *, settings, progress: Callable[[float], None] | None = None,
                keep_audio: bool = False) -> dict:
        """The restored video at ``dst``; returns what the job records."""
