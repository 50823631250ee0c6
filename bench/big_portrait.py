"""Benchmark: peak memory of a whole render (``app.py render``) from a big portrait.

Each render runs as its own ``python app.py render`` process (a fresh data folder, the bundled
voice, the embedded renderer) and its peak resident set is read from the kernel when it exits
(``os.wait4``'s ``ru_maxrss``: the largest of that process and the ffmpeg processes it started,
which is the Python process by far): what a person running the command would see in ``top`` at worst.

Portraits, made in a temporary folder from ``assets/astronaut.png``:

* astronaut 512×512 PNG — the baseline: what any render costs (Python, the face mesh, the voice);
* 8000×8000 PNG — a format that cannot be decoded at a reduced size: its full-size decode is the
  one big buffer (``pipeline/face/portrait.py``);
* 8000×8000 RGBA PNG — the same with transparency to flatten (the costliest conversion);
* 4000×3000 JPEG — decoded at a reduced size by ``Image.draft``;
* 10000×8000 PNG — over ``MAX_FULL_DECODE_PIXELS``: refused before decoding.

Target (issue 12): every accepted portrait renders under 600 MB peak RSS. The load average is
printed, since the wall times (not the memory) depend on it.

    .venv/bin/python bench/big_portrait.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASTRONAUT = ROOT / "assets" / "astronaut.png"
TEXT = "Good morning. This portrait was a very large photo."
BUDGET_MB = 600


def make_portraits(folder: Path) -> dict[str, Path]:
    """The portraits, made in a child process: a child's peak RSS starts from its parent's at
    ``exec``, so the ~900 MB this process would need to make them would show up in every render."""
    subprocess.run([sys.executable, __file__, "--make", str(folder)], check=True)
    return {label: Path(path) for label, path in json.loads((folder / "portraits.json").read_text()).items()}


def _make(folder: Path) -> None:
    from PIL import Image

    face = Image.open(ASTRONAUT).convert("RGB")
    portraits = {"astronaut 512×512 PNG": ASTRONAUT}
    big = folder / "big.png"
    face.resize((8000, 8000), Image.Resampling.BILINEAR).save(big, compress_level=1)
    portraits["8000×8000 PNG"] = big
    cutout = Image.new("RGBA", (8000, 8000), (0, 0, 0, 0))
    cutout.paste(face.resize((7000, 7000), Image.Resampling.BILINEAR), (500, 1000))
    cutout.save(folder / "cutout.png", compress_level=1)
    portraits["8000×8000 RGBA PNG"] = folder / "cutout.png"
    photo = Image.new("RGB", (4000, 3000), (214, 210, 206))
    photo.paste(face.resize((3000, 3000), Image.Resampling.BILINEAR), (500, 0))
    photo.save(folder / "photo.jpg", quality=90)
    portraits["4000×3000 JPEG"] = folder / "photo.jpg"
    huge = Image.new("RGB", (10000, 8000), (214, 210, 206))
    huge.paste(face.resize((8000, 8000), Image.Resampling.BILINEAR), (1000, 0))
    huge.save(folder / "huge.png", compress_level=1)
    portraits["10000×8000 PNG"] = folder / "huge.png"
    (folder / "portraits.json").write_text(json.dumps({label: str(path) for label, path in portraits.items()}))


def render(image: Path, home: Path) -> dict:
    """One ``app.py render`` in a child process: its exit code, message, peak RSS and wall time."""
    environment = {**os.environ, "AVATAR_STUDIO_HOME": str(home)}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "render", "--image", str(image),
                                  "--text", TEXT, "--json"], stdout=out, stderr=err, env=environment, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        payload = json.loads(out.read() or b"{}")
        error = err.read().decode().strip()
    return {"exit": child.returncode, "status": payload.get("status"), "error": error or None,
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "wall_s": round(wall, 2),
            "size_mb": round(image.stat().st_size / 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--make", help=argparse.SUPPRESS)  # the child process that makes the portraits
    args = parser.parse_args()
    if args.make:
        return _make(Path(args.make))
    with tempfile.TemporaryDirectory(prefix="big-portrait-") as folder:
        portraits = make_portraits(Path(folder))
        results = {}
        for label, image in portraits.items():
            results[label] = render(image, Path(folder) / f"home-{len(results)}")
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"load_average": load, "budget_mb": BUDGET_MB, "results": results}, indent=1))
        return
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs; budget {BUDGET_MB} MB")
    for label, result in results.items():
        verdict = ("refused: " + (result["error"] or "").removeprefix("error: ") if result["exit"]
                   else "ok" if result["peak_rss_mb"] <= BUDGET_MB else "OVER BUDGET")
        print(f"{label:<22} {result['size_mb']:>6.1f} MB file  peak {result['peak_rss_mb']:>7.1f} MB  "
              f"{result['wall_s']:>6.2f} s  {verdict}")


if __name__ == "__main__":
    main()
