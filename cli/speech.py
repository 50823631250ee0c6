"""``transcribe``: speech to text from the command line."""

from __future__ import annotations

import json

from pipeline.settings import resolve
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
