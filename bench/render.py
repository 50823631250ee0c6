"""Benchmark: the embedded renderer on ~10 s of speech at 512 px.

Measures, each in a fresh process so peak memory is its own:

* render  — the render stage (animate every frame + stream into H.264): fps, × real time, peak RSS
            of the Python process and of the ffmpeg encoder;
* floor   — the same frames, rendered into memory first, then encoded alone: the encoder's speed,
            which the render can at best match;
* job     — the whole job through the runner (TTS → … → final MP4), with per-stage timings.

Targets (issue #2): ≥ 250 fps incl. encode, render ≤ 1.5× encoding alone, peak RSS ≤ 600 MB.

    .venv/bin/python bench/render.py [--size 512] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TEXT = ("Good morning, everyone. Today we talk about profit logic, and why chasing market share "
        "is a trap. Build differentiated capabilities first; the share will follow.")
PORTRAIT = ROOT / "assets" / "astronaut.png"


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def _prepare(workdir: Path):
    """Speech and analysis for the benchmark text (cached in workdir across phases)."""
    from pipeline.analysis import Analysis, analyse
    from pipeline.speech import make_speech

    cached = workdir / "analysis.json"
    if not cached.exists():
        make_speech(text=TEXT, audio_path=None, out_dir=workdir)
        cached.write_text(json.dumps(analyse(workdir / "speech.wav", fps=25).to_dict()))
    return Analysis.from_dict(json.loads(cached.read_text())), json.loads((workdir / "speech.json").read_text())


def phase_render(workdir: Path, size: int) -> dict:
    from pipeline.controls import Controls
    from pipeline.render.embedded import EmbeddedRenderer

    analysis, speech = _prepare(workdir)
    renderer = EmbeddedRenderer()
    controls = Controls(blink_rate=0.5, head_tilt=0.5, expression_intensity=0.6, mouth_openness=0.7,
                        eyebrow_raise=0.5, emotion="happy")
    baseline = _peak_mb(resource.RUSAGE_SELF)
    began = time.perf_counter()
    info = renderer.render(portrait_path=PORTRAIT, n_frames=analysis.n_frames, fps=analysis.fps,
                           envelope=analysis.envelope, voiced_spans=analysis.voiced_spans, controls=controls,
                           phonemes=speech.get("phonemes"), out_path=workdir / "render.mp4", max_side=size)
    seconds = time.perf_counter() - began
    return {"frames": info["frames"], "size": f"{info['width']}x{info['height']}", "seconds": round(seconds, 3),
            "fps": round(info["frames"] / seconds, 1), "x_realtime": round(analysis.duration_s / seconds, 1),
            "audio_s": round(analysis.duration_s, 2), "peak_rss_mb": round(_peak_mb(resource.RUSAGE_SELF), 1),
            "rss_before_render_mb": round(baseline, 1),
            "ffmpeg_peak_rss_mb": round(_peak_mb(resource.RUSAGE_CHILDREN), 1)}


def phase_floor(workdir: Path, size: int) -> dict:
    from pipeline.controls import Controls
    from pipeline.media import VideoWriter
    from pipeline.render.embedded import FaceAnimator, plan_motion
    from pipeline.render.portrait import load_portrait

    analysis, speech = _prepare(workdir)
    controls = Controls(blink_rate=0.5, head_tilt=0.5, expression_intensity=0.6, mouth_openness=0.7,
                        eyebrow_raise=0.5, emotion="happy")
    portrait = load_portrait(PORTRAIT, max_side=size)
    animator = FaceAnimator(portrait)
    states = plan_motion(n_frames=analysis.n_frames, fps=analysis.fps, envelope=analysis.envelope,
                         voiced_spans=analysis.voiced_spans, controls=controls, phonemes=speech.get("phonemes"))
    began = time.perf_counter()
    frames = [animator.frame(state) for state in states]
    animate_s = time.perf_counter() - began
    height, width = frames[0].shape[:2]
    began = time.perf_counter()
    with VideoWriter(workdir / "floor.mp4", width=width, height=height, fps=analysis.fps) as writer:
        for frame in frames:
            writer.write(frame)
    encode_s = time.perf_counter() - began
    return {"frames": len(frames), "animate_only_s": round(animate_s, 3),
            "animate_ms_per_frame": round(1000 * animate_s / len(frames), 2),
            "encode_alone_s": round(encode_s, 3), "encode_alone_fps": round(len(frames) / encode_s, 1)}


def phase_job(workdir: Path, size: int) -> dict:
    from pipeline.runner import RenderRequest, Runner
    from pipeline.settings import resolve

    settings = resolve(dotenv=False).with_(home=workdir / "home")
    began = time.perf_counter()
    job = Runner(settings).render(RenderRequest(image=PORTRAIT, text=TEXT, max_side=size))
    return {"seconds": round(time.perf_counter() - began, 2), "timings": job.timings,
            "duration_s": job.duration_s, "peak_rss_mb": round(_peak_mb(resource.RUSAGE_SELF), 1)}


PHASES = {"render": phase_render, "floor": phase_floor, "job": phase_job}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](Path(args.workdir), args.size)))
        return
    with tempfile.TemporaryDirectory() as workdir:
        results = {}
        for phase in ("render", "floor", "job"):
            output = subprocess.run([sys.executable, __file__, "--phase", phase, "--workdir", workdir,
                                     "--size", str(args.size)], capture_output=True, text=True, env=os.environ)
            if output.returncode:
                sys.exit(f"{phase} failed:\n{output.stderr}")
            results[phase] = json.loads(output.stdout.strip().splitlines()[-1])
        render, floor = results["render"], results["floor"]
        results["render_over_encode_alone"] = round(render["seconds"] / floor["encode_alone_s"], 2)
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(f"embedded renderer, {render['size']}, {render['frames']} frames ({render['audio_s']} s of speech), "
          f"{os.cpu_count()} cores")
    print(f"  render + encode : {render['seconds']:.2f} s = {render['fps']} fps = {render['x_realtime']}x real time")
    print(f"  encode alone    : {floor['encode_alone_s']:.2f} s = {floor['encode_alone_fps']} fps (the floor)")
    print(f"  animate alone   : {floor['animate_ms_per_frame']} ms/frame")
    print(f"  render / floor  : {results['render_over_encode_alone']}x")
    print(f"  peak RSS        : {render['peak_rss_mb']} MB python, {render['ffmpeg_peak_rss_mb']} MB ffmpeg")
    job = results["job"]
    print(f"  whole job       : {job['seconds']} s, peak RSS {job['peak_rss_mb']} MB; stages "
          + ", ".join(f"{k} {v:.2f}" for k, v in job["timings"].items()))


if __name__ == "__main__":
    main()
