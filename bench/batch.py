"""Benchmark: batch renders, rows per minute on the local executor and on Ray, and Ray's cost per task.

Each run renders the same batch of ``--rows`` rows (short lessons, the bundled voice, the embedded
renderer) into a data folder of its own, through ``BatchRunner`` as ``app.py batch`` does:

- ``local``: worker processes on this machine (``--concurrency``, default the cores);
- ``ray``: a Ray started on this machine for the run (``RAY_ADDRESS=local``; its start is timed
  apart), actors of one CPU each, the job folders shipped through Ray's object store.

Ray's overhead per task is measured twice: from the two batches (the difference per row), and
directly — one actor answering a streamed call that carries a job folder's worth of bytes each
way, as a render's call does (``--payload-kb``), timed over many calls.

Last, a paper estimate (not a measurement): a batch on N GPU workers running SadTalker at the speed
this project's SadTalker notes use (a minute of speech at 256 px takes 1–2 minutes on an A100),
plus the per-task overhead measured here.

    .venv/bin/python bench/batch.py [--rows 20] [--concurrency 2] [--json]

Needs Ray for its second half (``bash scripts/setup.sh --scale``); without it, only ``local`` runs.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LESSONS = ["Welcome back. Today we look at how plants turn light into food.",
           "A fraction is a part of a whole, written as one number over another.",
           "Before we start, take a moment to look at the picture on the board.",
           "Good work so far. Let us try one more example together, slowly."]
SADTALKER_RTF = (1.0, 2.0)  # seconds of A100 work per second of speech at 256 px (the project's SadTalker notes)


def make_batch(folder: Path, rows: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "assets" / "astronaut.png", folder / "teacher.png")
    path = folder / "course.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["portrait", "text", "output"])
        writer.writerows(["teacher.png", LESSONS[n % len(LESSONS)], f"lesson-{n + 1:03d}"] for n in range(rows))
    return path


def run_batch(executor: str, rows: int, concurrency: int, cache: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-batch-{executor}-") as scratch:
        home = Path(scratch) / "home"
        os.environ["AVATAR_STUDIO_HOME"] = str(home)
        os.environ["AVATAR_STUDIO_CACHE"] = str(cache)
        from pipeline.batch import BatchRunner, read_batch_file
        from pipeline.db import JobStore
        from pipeline.settings import resolve

        settings = resolve(dotenv=False)
        runner = BatchRunner(settings)
        batch, _ = runner.open(read_batch_file(make_batch(Path(scratch) / "in", rows)), out_dir=None,
                               executor=executor, concurrency=concurrency)
        load = os.getloadavg()[0]
        began = time.perf_counter()
        report = runner.run(batch.id)
        seconds = time.perf_counter() - began
        jobs = JobStore(settings.db_path).list(limit=rows + 5)
        speech = sum(job.duration_s or 0 for job in jobs)
        work = sum(sum((job.timings or {}).values()) for job in jobs)
        return {"executor": executor, "rows": rows, "concurrency": concurrency, "done": report.counts.get("done", 0),
                "seconds": round(seconds, 2), "rows_per_minute": round(60 * rows / seconds, 1),
                "video_seconds": round(speech, 1), "stage_seconds": round(work, 1),
                "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)}


def ray_call_overhead(calls: int, payload_kb: int) -> dict:
    """One actor, streamed calls carrying ``payload_kb`` each way: the time one call costs."""
    import ray

    @ray.remote(num_cpus=1)
    class Echo:
        def call(self, data: bytes):
            yield ("progress", 0.5)
            yield ("result", data)

    actor = Echo.remote()
    payload = os.urandom(payload_kb * 1024)
    for ref in actor.call.options(num_returns="streaming").remote(payload):  # warm: the actor's process exists
        ray.get(ref)
    times = []
    for _ in range(calls):
        began = time.perf_counter()
        for ref in actor.call.options(num_returns="streaming").remote(payload):
            ray.get(ref)
        times.append(time.perf_counter() - began)
    ray.kill(actor)
    times.sort()
    return {"calls": calls, "payload_kb": payload_kb, "median_ms": round(1000 * times[len(times) // 2], 2),
            "p95_ms": round(1000 * times[int(len(times) * 0.95) - 1], 2)}


def paper_estimate(rows: int, minutes_each: float, workers: int, overhead_s: float) -> dict:
    low, high = (rows * (minutes_each * 60 * rtf + overhead_s) / workers / 3600 for rtf in SADTALKER_RTF)
    return {"rows": rows, "speech_minutes_each": minutes_each, "gpu_workers": workers,
            "hours": [round(low, 2), round(high, 2)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--payload-kb", type=int, default=400, help="bytes each way per call in the direct measure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="bench-batch-cache-"))
    results: dict = {"machine": {"cores": os.cpu_count(), "load_at_start": round(os.getloadavg()[0], 2)}}
    results["local"] = run_batch("local", args.rows, args.concurrency, cache)
    if importlib.util.find_spec("ray") is None:
        results["ray"] = "not installed: bash scripts/setup.sh --scale"
    else:
        os.environ["RAY_ADDRESS"] = "local"
        began = time.perf_counter()
        from pipeline.executors.ray import connect

        ray = connect()
        results["ray_start_s"] = round(time.perf_counter() - began, 2)
        results["ray"] = run_batch("ray", args.rows, args.concurrency, cache)
        results["ray_call"] = ray_call_overhead(50, args.payload_kb)
        ray.shutdown()
        per_row = (results["ray"]["seconds"] - results["local"]["seconds"]) / args.rows * args.concurrency
        results["ray_overhead_per_row_s"] = round(per_row, 3)
    overhead = max(0.0, results.get("ray_overhead_per_row_s", 0.0))
    results["paper_estimate_sadtalker"] = [paper_estimate(200, 3.0, workers, overhead) for workers in (1, 4, 8, 16)]
    shutil.rmtree(cache, ignore_errors=True)
    if args.json:
        print(json.dumps(results))
        return
    print(f"machine: {results['machine']['cores']} cores, load {results['machine']['load_at_start']} at start")
    for name in ("local", "ray"):
        run = results.get(name)
        if isinstance(run, dict):
            print(f"{name:>5}: {run['done']}/{run['rows']} rows in {run['seconds']} s × {run['concurrency']} → "
                  f"{run['rows_per_minute']} rows/min ({run['video_seconds']} s of video, {run['stage_seconds']} s "
                  f"of stage work; load {run['load_before']} → {run['load_after']})")
        elif run:
            print(f"{name:>5}: {run}")
    if "ray_start_s" in results:
        call = results["ray_call"]
        print(f"  ray: start {results['ray_start_s']} s (once per batch); per row vs local "
              f"{results['ray_overhead_per_row_s']} s; one streamed call with {call['payload_kb']} KB each way: "
              f"median {call['median_ms']} ms, p95 {call['p95_ms']} ms")
    print("paper estimate (not measured): 200 lessons of 3 min speech, SadTalker at 1–2 s of A100 work per s of speech:")
    for estimate in results["paper_estimate_sadtalker"]:
        low, high = estimate["hours"]
        print(f"  {estimate['gpu_workers']:>2} GPU workers: {low}–{high} h")


if __name__ == "__main__":
    main()
