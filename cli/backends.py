"""``backends``: every backend of every kind — built in or installed through an entry point —
whether it can run here now and why not, and for renderers what they honour and the options they
take (their option specs, as the Render lab's panels and ``--option`` use them)."""

from __future__ import annotations

import json

from pipeline import registry
from pipeline.errors import StudioError
from pipeline.render import renderers
from pipeline.settings import resolve

KIND_TITLES = {"renderer": "Renderers", "enhancer": "Face enhancers", "tts": "Voices (TTS)",
               "stt": "Speech to text", "llm": "LLMs"}


def describe(settings, kind: str) -> list[dict]:
    """One dict per backend of ``kind``: name, ready, reason; renderers add honours, ignores, options."""
    found = []
    for item in registry.of_kind(kind).availability(settings):
        entry = {"name": item.name, "ready": item.ready, "reason": item.reason}
        if kind == "renderer":
            try:
                capabilities = renderers.create(item.name, settings).capabilities(settings)
            except StudioError as error:
                entry["reason"] = entry["reason"] or str(error)
            else:
                entry.update(hosted=capabilities.hosted, honours=dict(capabilities.controls),
                             ignores=capabilities.ignored, options=[spec.to_dict() for spec in capabilities.options])
        found.append(entry)
    return found


def cmd_backends(args) -> int:
    settings = resolve()
    kinds = [args.kind] if args.kind else list(registry.KINDS)
    listing = {kind: describe(settings, kind) for kind in kinds}
    if args.json:
        print(json.dumps(listing))
        return 0
    for kind, entries in listing.items():
        print(f"{KIND_TITLES[kind]}:")
        for entry in entries:
            state = "ready" if entry["ready"] else f"unavailable: {entry['reason']}"
            print(f"  {entry['name']:<18} {state}")
            if entry.get("honours") is not None:
                print(f"  {'':<18} honours: {', '.join(entry['honours']) or 'no control'}")
            for option in entry.get("options") or []:
                allowed = (", ".join(map(str, option["choices"])) if option["choices"]
                           else f"{option['low']:g}–{option['high']:g}" if option["low"] is not None
                           else option["kind"])
                default = "" if option["default"] in (None, "") else f", default {option['default']}"
                print(f"  {'':<18} --option {option['name']}=… ({allowed}{default}): {option['help']}")
    return 0
