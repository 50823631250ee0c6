"""Face enhancers: the contract (``base``), the registry ``enhancers``, the restoration loop every
enhancer shares (``restore``) and the built-in ``gfpgan``. Outside enhancers register through the
entry point group ``avatar_studio.enhancers``."""

from __future__ import annotations

from ..registry import Registry
from .base import Enhancer

enhancers: Registry[Enhancer] = Registry("enhancer", "avatar_studio.enhancers")
enhancers.register("gfpgan", "pipeline.enhance.gfpgan:GFPGANEnhancer")
NO_ENHANCER = "no face enhancer is installed (GFPGAN: see docs/gpu-workstation.md)"


def first_ready(settings) -> tuple[str | None, str]:
    """The face enhancer an "Enhance the face" switch runs: (the first ready one's name, a line
    saying what it runs), or (None, why the first one cannot run)."""
    found = enhancers.availability(settings)
    ready = [item.name for item in found if item.ready]
    if ready:
        return ready[0], f"run {ready[0]} on the rendered face"
    return None, (f"{found[0].name} cannot run: {found[0].reason}" if found else NO_ENHANCER)

__all__ = ["Enhancer", "enhancers", "first_ready"]
