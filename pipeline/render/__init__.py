"""Renderers: the contract (``base``), the registry ``renderers`` and the built-in backends.

- ``embedded`` (``embedded/``): animates the photo itself on the CPU — the offline default;
- ``sadtalker``: a local SadTalker checkout, on a GPU;
- ``heygen`` and ``did``: hosted vendors (``hosted.py`` holds what they share: submit once, poll,
  download, resume without paying twice).

Outside renderers register through the entry point group ``avatar_studio.renderers``.
"""

from __future__ import annotations

from ..registry import Registry
from .base import ALL_CONTROLS, Capabilities, OptionSpec, Renderer, RenderJob

renderers: Registry[Renderer] = Registry("renderer", "avatar_studio.renderers")
renderers.register("embedded", "pipeline.render.embedded:EmbeddedRenderer")
renderers.register("sadtalker", "pipeline.render.sadtalker:SadTalkerRenderer")
renderers.register("heygen", "pipeline.render.heygen:HeyGenRenderer")
renderers.register("did", "pipeline.render.did:DIDRenderer")

__all__ = ["ALL_CONTROLS", "Capabilities", "OptionSpec", "RenderJob", "Renderer", "renderers"]
