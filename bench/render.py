"""Benchmark: the embedded renderer on ~10 s of speech at 512 px.

Measures, each in a fresh process so peak memory is its own:

* render  — the render stage (animate every frame + stream into H.264): fps, × real time, peak RSS
            of the Python process and of the ffmpeg encoder;
* floor   — the same frames, rendered into memory first, then encoded alone: the encoder's speed,
            which the render can at best match;
* job     — the whole job through the runner (TTS → … → final MP4), with per-stage timings;
* verify  — ``media.verify_video`` (a full decode) over the render and over the final MP4 with its
            sound, as the render and encode stages run it: what checking costs a job;
* cold    — ``python app.py render`` of the text, as a person types it: the wall time of the whole
            command, from a new process to its exit, with a new data folder — the first time (the
            voice not yet kept ready in the cache) and then the median of later runs.

Targets (issue #2): ≥ 250 fps incl. encode, render ≤ 1.5× encoding alone, peak RSS ≤ 600 MB;
(issue #16) render + encode ≥ 10× real time, a cold CLI render of 10 s of speech ≤ 3 s.

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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TEXT = ("Good morning, everyone. Today we talk about profit logic, and why chasing market share "
        "is a trap. Build differentiated capabilities first; the share will follow.")
PORTRAIT = ROOT / "assets" / "astronaut.png"


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


class ChildPeakRSS(threading.Thread):
    """Polls /proc for this process's children (ffmpeg) and keeps the largest VmHWM seen.

    (getrusage(RUSAGE_CHILDREN) would count the forked copy of Python before it execs ffmpeg.)"""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kb = 0
        self._done = threading.Event()

    def run(self) -> None:
        me = str(os.getpid())
        while not self._done.wait(0.02):
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    if stat.read_text().rsplit(")", 1)[1].split()[1] != me:
                        continue
                    status = (stat.parent / "status").read_text()
                except (OSError, IndexError):
                    continue
                if "ffmpeg" in status.split("\n", 1)[0]:
                    hwm = next((l for l in status.splitlines() if l.startswith("VmHWM:")), "VmHWM: 0 kB")
                    self.peak_kb = max(self.peak_kb, int(hwm.split()[1]))

    def stop(self) -> float:
        self._done.set()
        self.join()
        return round(self.peak_kb / 1024, 1)


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
    # As in a job: the inputs stage has already loaded the face mesh before the render stage runs.
    renderer.check_inputs(portrait_path=PORTRAIT, max_side=size)
    baseline = _peak_mb(resource.RUSAGE_SELF)
    ffmpeg_peak = ChildPeakRSS()
    ffmpeg_peak.start()
    began = time.perf_counter()
    info = renderer.render_frames(portrait_path=PORTRAIT, n_frames=analysis.n_frames, fps=analysis.fps,
                                  envelope=analysis.envelope, voiced_spans=analysis.voiced_spans, controls=controls,
                                  phonemes=speech.get("phonemes"), out_path=workdir / "render.mp4", max_side=size)
    seconds = time.perf_counter() - began
    ffmpeg_mb = ffmpeg_peak.stop()
    return {"frames": info["frames"], "size": f"{info['width']}x{info['height']}", "seconds": round(seconds, 3),
            "fps": round(info["frames"] / seconds, 1), "x_realtime": round(analysis.duration_s / seconds, 1),
            "audio_s": round(analysis.duration_s, 2), "peak_rss_mb": round(_peak_mb(resource.RUSAGE_SELF), 1),
            "rss_before_render_mb": round(baseline, 1),
            "ffmpeg_peak_rss_mb": ffmpeg_mb}


def phase_floor(workdir: Path, size: int) -> dict:
    from pipeline.controls import Controls
    from pipeline.media import VideoWriter
    from pipeline.render.embedded import FaceAnimator, plan_motion
    from pipeline.face.portrait import load_portrait

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


def phase_verify(workdir: Path, size: int) -> dict:
    from pipeline.media import mux, verify_video

    analysis, _ = _prepare(workdir)
    mux(workdir / "render.mp4", workdir / "speech.wav", workdir / "output.mp4")
    seconds = {}
    for name, audio in (("render.mp4", False), ("output.mp4", True)):
        runs = []
        for _ in range(5):
            began = time.perf_counter()
            verify_video(workdir / name, frames=analysis.n_frames, audio=audio)
            runs.append(time.perf_counter() - began)
        seconds[name] = round(sorted(runs)[len(runs) // 2], 3)
    return {"frames": analysis.n_frames, "render_s": seconds["render.mp4"], "output_s": seconds["output.mp4"],
            "fps": round(analysis.n_frames / seconds["render.mp4"], 1)}


def phase_prepare(workdir: Path, size: int) -> dict:
    analysis, _ = _prepare(workdir)
    return {"audio_s": analysis.duration_s}


PHASES = {"prepare": phase_prepare, "render": phase_render, "floor": phase_floor, "job": phase_job,
          "verify": phase_verify}


def cold_cli(workdir: Path, size: int, repeat: int) -> dict:
    """Wall seconds of whole ``app.py render`` commands in a new data folder (see the docstring)."""
    env = {**os.environ, "AVATAR_STUDIO_HOME": str(workdir / "cold-home"),
           "AVATAR_STUDIO_CACHE": str(workdir / "cold-cache")}
    runs = []
    for _ in range(1 + repeat):
        began = time.perf_counter()
        done = subprocess.run([sys.executable, str(ROOT / "app.py"), "render", "--image", str(PORTRAIT), "--text", TEXT,
                               "--size", str(size), "--json"], capture_output=True, text=True, env=env)
        runs.append(time.perf_counter() - began)
        if done.returncode:
            sys.exit(f"cold render failed:\n{done.stderr}")
    later = sorted(runs[1:])
    return {"first_s": round(runs[0], 2), "seconds": round(later[len(later) // 2], 2),
            "speech_s": json.loads(done.stdout)["duration_s"]}


def _run_phase(phase: str, workdir: str, size: int) -> dict:
    output = subprocess.run([sys.executable, __file__, "--phase", phase, "--workdir", workdir, "--size", str(size)],
                            capture_output=True, text=True, env=os.environ)
    if output.returncode:
        sys.exit(f"{phase} failed:\n{output.stderr}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timed phase; medians are reported")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--phase", choices=list(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](Path(args.workdir), args.size)))
        return
    with tempfile.TemporaryDirectory() as workdir:
        _run_phase("prepare", workdir, args.size)  # speech + analysis once, so every timed run is alike
        results = {}
        for phase, key in (("render", "seconds"), ("floor", "encode_alone_s"), ("job", "seconds")):
            runs = [_run_phase(phase, workdir, args.size) for _ in range(args.repeat if phase != "job" else 1)]
            results[phase] = sorted(runs, key=lambda run: run[key])[len(runs) // 2]  # the median run
        results["verify"] = _run_phase("verify", workdir, args.size)  # over the last render's render.mp4
        results["cold"] = cold_cli(Path(workdir), args.size, args.repeat)
        render, floor = results["render"], results["floor"]
        results["render_over_encode_alone"] = round(render["seconds"] / floor["encode_alone_s"], 2)
        results["load_average"] = [round(load, 2) for load in os.getloadavg()]
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(f"embedded renderer, {render['size']}, {render['frames']} frames ({render['audio_s']} s of speech), "
          f"{os.cpu_count()} cores, median of {args.repeat} runs")
    print(f"  render + encode : {render['seconds']:.2f} s = {render['fps']} fps = {render['x_realtime']}x real time")
    print(f"  encode alone    : {floor['encode_alone_s']:.2f} s = {floor['encode_alone_fps']} fps (the floor)")
    print(f"  animate alone   : {floor['animate_ms_per_frame']} ms/frame")
    print(f"  render / floor  : {results['render_over_encode_alone']}x")
    print(f"  peak RSS        : {render['peak_rss_mb']} MB python, {render['ffmpeg_peak_rss_mb']} MB ffmpeg")
    job = results["job"]
    print(f"  whole job       : {job['seconds']} s, peak RSS {job['peak_rss_mb']} MB; stages "
          + ", ".join(f"{k} {v:.2f}" for k, v in job["timings"].items()))
    verify = results["verify"]
    print(f"  verify_video    : {verify['render_s']:.3f} s over render.mp4 ({verify['fps']} fps), "
          f"{verify['output_s']:.3f} s over output.mp4 with its sound (median of 5)")
    cold = results["cold"]
    print(f"  cold CLI render : {cold['seconds']:.2f} s wall for {cold['speech_s']:.1f} s of speech (median; "
          f"{cold['first_s']:.2f} s the first time, the voice not yet kept ready)")
    print(f"  load average    : {' '.join(map(str, results['load_average']))}")


if __name__ == "__main__":
    main()
