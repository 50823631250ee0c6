"""Benchmark: the gfpgan face enhancer on a real embedded render.

Measures, in this process:

* around   — everything but the network (face tracking, alignment, temporal blend, paste-back,
             streamed decode and encode) with an identity restorer: frames/s;
* gfpgan   — the whole enhancer through ``GFPGANEnhancer.enhance`` (``run_gfpgan``): frames/s,
             seconds per second of video, the first call's model load, peak RSS, and peak VRAM on CUDA.

It needs the GPU stack (``bash scripts/setup.sh --gpu``; on a CPU machine the CI-style
``.venv-gpu``). The weights are ``GFPGAN_WEIGHTS`` when set, else a seeded random GFPGANv1Clean saved
to a temp file (same architecture and size, so the same speed).

    .venv-gpu/bin/python bench/enhance.py [--seconds 2] [--size 512] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TEXT = "Good morning. Today we talk about profit logic, and why market share is a trap."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="frames to enhance, in seconds of video")
    parser.add_argument("--size", type=int, default=512, help="long side of the render, px")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    from pipeline.enhance.restore import enhance_video
    from pipeline.enhance.gfpgan import ARCHITECTURE, GFPGANEnhancer, GFPGANSettings, package_reason
    from pipeline.media import VideoReader, VideoWriter
    from pipeline.runner import RenderRequest, Runner
    from pipeline.settings import resolve

    if package_reason():
        raise SystemExit(f"error: {package_reason()}")
    work = Path(tempfile.mkdtemp(prefix="bench-enhance-"))
    os.environ["AVATAR_STUDIO_HOME"] = str(work / "home")
    weights = os.environ.get("GFPGAN_WEIGHTS")
    if not weights:
        from gfpgan.archs.gfpganv1_clean_arch import GFPGANv1Clean

        torch.manual_seed(0)
        weights = str(work / "random-gfpgan.pth")
        torch.save({"params_ema": GFPGANv1Clean(**ARCHITECTURE).state_dict()}, weights)
        os.environ["GFPGAN_WEIGHTS"] = weights
    settings = resolve()
    job = Runner(settings).render(RenderRequest(image=ROOT / "assets" / "astronaut.png", text=TEXT,
                                                max_side=args.size))
    render = settings.job_dir(job.id) / "render.mp4"
    clip = work / "clip.mp4"  # the first --seconds of the render
    with VideoReader(render) as reader, VideoWriter(clip, width=reader.width, height=reader.height) as writer:
        for index, frame in enumerate(reader):
            if index >= round(args.seconds * settings.fps):
                break
            writer.write(frame)
    frames = round(args.seconds * settings.fps)

    began = time.perf_counter()
    enhance_video(clip, work / "around.mp4", lambda aligned: aligned, smoothing=GFPGANSettings.of(settings).smoothing)
    around_s = time.perf_counter() - began

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    enhancer = GFPGANEnhancer()
    began = time.perf_counter()
    first = enhancer.enhance(clip, work / "gfpgan.mp4", settings=settings, progress=lambda fraction: None,
                             keep_audio=False)
    first_s = time.perf_counter() - began
    began = time.perf_counter()
    enhancer.enhance(clip, work / "gfpgan2.mp4", settings=settings, progress=lambda fraction: None, keep_audio=False)
    warm_s = time.perf_counter() - began
    result = {
        "device": first.get("device"), "size": args.size, "frames": frames,
        "around_fps": round(frames / around_s, 1),
        "gfpgan_fps": round(frames / warm_s, 3),
        "gfpgan_s_per_video_s": round(warm_s / args.seconds, 1),
        "first_call_s": round(first_s, 1), "model_load_s": round(first_s - warm_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_vram_mb": round(torch.cuda.max_memory_allocated() / 2**20) if cuda else None,
        "weights": "GFPGAN_WEIGHTS" if "random-gfpgan" not in weights else "random (same architecture)",
    }
    if args.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            print(f"{name:22} {value}")


if __name__ == "__main__":
    main()
