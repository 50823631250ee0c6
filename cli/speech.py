"""``transcribe``: speech to text from the command line. ``voices``: every TTS voice there is — the
bundled one, plugins, the creator's Piper voice files — with its language, quality, sample rate,
where it comes from and, for one that cannot be used, why; then the folders voice files are
looked for in."""

from __future__ import annotations

import json

from pipeline.settings import resolve
from pipeline.speech.piper_files import voice_folders
from pipeline.speech.samples import voice_catalog
from pipeline.speech.stt import transcribe_file

from .output import ProgressBar


def cmd_transcribe(args) -> int:
    bar = ProgressBar()
    try:
        transcript = transcribe_file(resolve(), args.file, backend=args.backend, model=args.model,
                                     language=args.language, progress=bar)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(transcript.to_dict()))
    else:
        print(transcript.text)
    return 0


def cmd_voices(args) -> int:
    settings = resolve()
    listed = voice_catalog(settings)
    folders = [{"path": str(folder), "setting": origin, "exists": folder.is_dir()}
               for folder, origin in voice_folders(settings)]
    if args.json:
        print(json.dumps({"voices": [info.to_dict() for info in listed], "folders": folders}))
        return 0
    width = max(len(info.name) for info in listed)
    print("Voices:")
    for info in listed:
        facts = "  ".join(fact for fact in (info.language, info.quality,
                                            f"{info.sample_rate} Hz" if info.sample_rate else None) if fact)
        state = f"  {facts}" if info.available else f"  unavailable: {info.reason}"
        print(f"  {info.name:<{width}}{state}")
        print(f"  {'':<{width}}  from {info.source}")
    print("Voice folders (put a Piper voice's .onnx and .onnx.json in one):")
    for folder in folders:
        missing = "" if folder["exists"] else "; not there yet"
        print(f"  {folder['path']} ({folder['setting']}{missing})")
    return 0
