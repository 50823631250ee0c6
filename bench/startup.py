"""Benchmark: how soon the studio serves after ``python app.py``.

Each run starts ``app.py --no-browser`` on a free port of 127.0.0.1 with a data folder of its own
(the first run makes it; later runs find it, as a person's second start does) and times from the
process's start to the first answer of its page (HTTP 200 on ``/``). The process is then stopped.
Reported: every run, the median, and the machine's load.

Target (issue #16): the studio ready to serve ≤ 5 s after launch on 2 cores.

    .venv/bin/python bench/startup.py [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GIVE_UP_S = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def one_start(home: Path) -> float:
    port = free_port()
    env = {**os.environ, "AVATAR_STUDIO_HOME": str(home), "AVATAR_STUDIO_CACHE": str(home / "cache"),
           "GRADIO_TEMP_DIR": str(home / "gradio")}
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--no-browser"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - began < GIVE_UP_S:
            if process.poll() is not None:
                sys.exit(f"app.py exited with {process.returncode} before serving")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - began
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        sys.exit(f"the studio did not serve within {GIVE_UP_S} s")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runs = [round(one_start(Path(folder) / "home"), 2) for _ in range(args.runs)]
    result = {"runs_s": runs, "median_s": sorted(runs)[len(runs) // 2], "first_s": runs[0],
              "load_average": [round(load, 2) for load in os.getloadavg()], "cores": os.cpu_count()}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"studio ready to serve: median {result['median_s']:.2f} s over {args.runs} starts "
          f"(first, a new data folder: {result['first_s']:.2f} s); runs: {', '.join(map(str, runs))}")
    print(f"{result['cores']} cores, load average {' '.join(map(str, result['load_average']))}")


if __name__ == "__main__":
    main()
