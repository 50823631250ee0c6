"""Benchmark: speech-to-text on the 6.8 s sample (``assets/sample_speech.mp3``).

Each run is a fresh process, so the model load is a real first load (with the files in the page
cache, as on any second start of the studio). In each run:

* load       — ``backend.load()``: reading the model into memory;
* first      — the first transcription (it also loads the VAD model and warms the kernels);
* transcribe — a second transcription, the steady state a user sees from the second voice input on;
* decode     — ffmpeg decoding and resampling to 16 kHz alone, which is part of both.

Real-time factor = transcribe seconds / audio seconds (below 1 is faster than real time).
Medians over ``--repeat`` runs.

    .venv/bin/python bench/stt.py [--backend faster-whisper] [--model NAME_OR_PATH] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "assets" / "sample_speech.mp3"


def one_run(backend_name: str, model: str | None) -> dict:
    from pipeline.settings import resolve
    from pipeline.speech import transcribers
    from pipeline.speech.stt import load_speech

    settings = resolve(dotenv=False)
    backend = transcribers.create(backend_name, settings, model=model)
    began = time.perf_counter()
    backend.load()
    load_s = time.perf_counter() - began
    first = backend.transcribe(SAMPLE)
    steady = backend.transcribe(SAMPLE)
    began = time.perf_counter()
    load_speech(SAMPLE)
    decode_s = time.perf_counter() - began
    device = getattr(backend, "device", None)
    if device is None:  # openai-whisper picks at load time, as PyTorch sees the machine
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return {"backend": backend.name, "model": backend.model, "device": device,
            "compute_type": getattr(backend, "compute_type", None), "audio_s": steady.duration_s,
            "load_s": round(load_s, 3), "first_s": first.elapsed_s, "transcribe_s": steady.elapsed_s,
            "decode_s": round(decode_s, 3), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "text": steady.text}


def _run(backend: str, model: str | None) -> dict:
    command = [sys.executable, __file__, "--one-run", "--backend", backend] + (["--model", model] if model else [])
    output = subprocess.run(command, check=False, capture_output=True, text=True, env=os.environ)
    if output.returncode:
        sys.exit(f"run failed:\n{output.stderr}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="faster-whisper")
    parser.add_argument("--model", help="model name or path (default: the backend's default)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh-process runs; medians are reported")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_run:
        print(json.dumps(one_run(args.backend, args.model)))
        return
    runs = [_run(args.backend, args.model) for _ in range(args.repeat)]
    result = dict(runs[0])
    for key in ("load_s", "first_s", "transcribe_s", "decode_s", "peak_rss_mb"):
        result[key] = statistics.median(run[key] for run in runs)
    result["rtf"] = round(result["transcribe_s"] / result["audio_s"], 3)
    result["x_realtime"] = round(result["audio_s"] / result["transcribe_s"], 1)
    result["runs"] = args.repeat
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{result['backend']} {result['model']} on {result['device']}"
          f"{' ' + result['compute_type'] if result['compute_type'] else ''}, {result['audio_s']} s of speech, "
          f"{os.cpu_count()} cores, median of {args.repeat} fresh processes")
    print(f"  model load        : {result['load_s']:.2f} s")
    print(f"  first transcribe  : {result['first_s']:.2f} s")
    print(f"  transcribe        : {result['transcribe_s']:.2f} s = RTF {result['rtf']} = {result['x_realtime']}x real time")
    print(f"    of which decode : {result['decode_s']:.2f} s (ffmpeg → 16 kHz)")
    print(f"  peak RSS          : {result['peak_rss_mb']} MB")
    print(f"  text              : {result['text']!r}")


if __name__ == "__main__":
    main()
