"""Benchmark: the Render lab's live preview, on the server and as a person sees it in the browser.

* server  — ``pipeline.preview.render_preview`` for ``--values`` slider positions, spread over all
            five controls and a few emotions, after one warm-up call that prepares the portrait
            (its time is reported as ``prepare_s``: what the first preview of a new photo costs).
            ``server_ms`` is the whole call; ``draw_ms`` the frame alone.
* request — one preview as the browser asks for it, over HTTP to the launched studio: Gradio's
            own work (reading the request, encoding the still as JPEG into its cache) on top of
            the call above.
* browser — the studio launched on 127.0.0.1 exactly as ``app.py`` serves it (one queue worker),
            driven by Playwright in Debian's Chromium: for each value, the time from the range
            input's ``input`` event to the new preview image decoded in the page. That is what a
            dragging hand waits for: the event, the HTTP round trip, the still drawn and encoded
            as JPEG, and the image fetched and decoded.
* browser while rendering (``--during-render``) — the same while a render runs in the same
  process (the preview shares the CPU and the GIL with it).

Medians and 95th percentiles; the load average is printed so figures can be compared.

    .venv/bin/python bench/preview.py [--values 50] [--during-render] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PORTRAIT = ROOT / "assets" / "astronaut.png"
CHROMIUM = os.environ.get("AVATAR_STUDIO_CHROMIUM", "/usr/bin/chromium")
CONTROLS = ("blink_rate", "head_tilt", "expression_intensity", "mouth_openness", "eyebrow_raise")
EMOTIONS = ("neutral", "happy", "surprised", "sad")

# One slider step in the page: set the range, fire its input event, wait for a new decoded image.
SLIDE = """async ([control, value]) => {
  const before = document.querySelector('#lab-preview img')?.src;
  const range = document.querySelector(`#lab-${control} input[type=range]`);
  const began = performance.now();
  range.value = value;
  range.dispatchEvent(new Event('input', {bubbles: true}));
  while (performance.now() - began < 30000) {
    const image = document.querySelector('#lab-preview img');
    if (image && image.src !== before) { await image.decode(); return performance.now() - began; }
    await new Promise(requestAnimationFrame);
  }
  throw new Error(`no new preview for ${control} = ${value} within 30 s`);
}"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict:
    return {"n": len(values), "median": round(statistics.median(values), 2), "p95": round(percentile(values, 0.95), 2),
            "max": round(max(values), 2)}


def slider_values(count: int, controls: tuple[str, ...] = CONTROLS) -> list[tuple[str, float]]:
    """``count`` (control, value) pairs: each control swept in turn, never the same value twice running."""
    return [(controls[i % len(controls)], round(((i * 37) % 100) / 100 + 0.005, 3)) for i in range(count)]


def visible_values(count: int) -> list[tuple[str, float]]:
    """As ``slider_values`` without blink_rate, which a still cannot show (the image would not change)."""
    return slider_values(count, tuple(name for name in CONTROLS if name != "blink_rate"))


def bench_server(count: int) -> dict:
    from pipeline.preview import PreviewCache, render_preview

    cache = PreviewCache()
    controls = {name: 0.5 for name in CONTROLS}
    began = time.perf_counter()
    first = render_preview(PORTRAIT, controls, emotion="neutral", cache=cache)
    prepare_s = time.perf_counter() - began
    server, draw = [], []
    for index, (name, value) in enumerate(slider_values(count)):
        controls[name] = value
        result = render_preview(PORTRAIT, controls, emotion=EMOTIONS[index % len(EMOTIONS)], cache=cache)
        assert result.cached
        server.append(result.server_s * 1000)
        draw.append(result.draw_s * 1000)
    return {"prepare_s": round(prepare_s, 3), "first_cached": first.cached, "server_ms": summary(server),
            "draw_ms": summary(draw), "size": list(first.image.shape[1::-1])}


def bench_browser(count: int, during_render: bool) -> dict:
    from playwright.sync_api import sync_playwright

    from pipeline.settings import resolve
    from studio.app import build_app, launch_options

    home = Path(tempfile.mkdtemp(prefix="bench-preview-"))
    settings = resolve({"AVATAR_STUDIO_HOME": str(home)}, dotenv=False)
    app = build_app(settings)
    app.queue(default_concurrency_limit=1).launch(prevent_thread_lock=True, server_name="127.0.0.1",
                                                  server_port=None, quiet=True, **launch_options(settings))
    results = {"request_ms": _requests(app, count)}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(app.local_url)
            page.get_by_role("tab", name="Render lab").click()
            page.wait_for_selector("#lab-preview img", timeout=60_000)
            page.locator("#lab-auto-render input").uncheck()  # a release must not start renders here
            page.locator("#lab-emotion input").click()  # with "auto" the still shows no expression
            page.get_by_role("option", name="happy", exact=True).click()
            page.wait_for_function("() => !document.querySelector('#lab-preview-info').innerText.includes('auto')")
            steps = visible_values(5 + count * (2 if during_render else 1))  # each differs from the last
            for name, value in steps[:5]:  # warm-up: connections, the first JPEGs
                page.evaluate(SLIDE, [name, value])
            results["browser_ms"] = summary([page.evaluate(SLIDE, step) for step in steps[5:5 + count]])
            if during_render:
                results["browser_during_render_ms"] = _while_rendering(app, page, steps[5 + count:])
            browser.close()
    finally:
        app.close()
    return results


def _requests(app, count: int) -> dict:
    """POSTs to the preview event (``queue=False``: a plain request/response), timed end to end."""
    import httpx

    config = httpx.get(app.local_url + "config").json()
    portrait = next(c["props"]["value"] for c in config["components"] if c["props"].get("elem_id") == "lab-portrait")
    controls = {name: 0.5 for name in CONTROLS}
    times = []
    with httpx.Client(base_url=app.local_url) as client:
        for index, (name, value) in enumerate(visible_values(5 + count)):
            controls[name] = value
            began = time.perf_counter()
            answer = client.post("gradio_api/run/lab_preview", json={
                "data": [portrait, "happy", *(controls[c] for c in CONTROLS), ""], "session_hash": "bench"})
            answer.raise_for_status()
            if index >= 5:  # the first five warm up the connection and the portrait
                times.append((time.perf_counter() - began) * 1000)
    return summary(times)


def _while_rendering(app, page, steps: list[tuple[str, float]]) -> dict:
    """Slider steps while renders of a long script run back to back in the studio's own process."""
    from gradio_client import Client, handle_file

    client = Client(app.local_url, verbose=False)
    script = "Profit logic beats market share. " * 8
    stop = threading.Event()

    def keep_rendering():
        while not stop.is_set():
            client.predict(portrait=handle_file(str(PORTRAIT)), script=script, api_name="/render")

    worker = threading.Thread(target=keep_rendering, daemon=True)
    worker.start()
    time.sleep(3)  # let the first render get past submitting (a benchmark, not a test)
    try:
        return summary([page.evaluate(SLIDE, step) for step in steps])
    finally:
        stop.set()
        worker.join(timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=int, default=50, help="slider positions to time (default 50)")
    parser.add_argument("--during-render", action="store_true", help="also time previews while rendering")
    parser.add_argument("--no-browser", action="store_true", help="server time only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = {"load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
              "server": bench_server(args.values)}
    if not args.no_browser:
        report["browser"] = bench_browser(args.values, args.during_render)
    if args.json:
        print(json.dumps(report))
        return 0
    server = report["server"]
    print(f"load average {report['load_average']} on {report['cpus']} CPUs")
    print(f"first preview of the portrait (prepare): {server['prepare_s']:.2f} s")
    print(f"server, per preview ({server['server_ms']['n']} values, {server['size'][0]}×{server['size'][1]}): "
          f"median {server['server_ms']['median']} ms, p95 {server['server_ms']['p95']} ms "
          f"(drawing alone: median {server['draw_ms']['median']} ms, p95 {server['draw_ms']['p95']} ms)")
    for key, label in (("request_ms", "request, HTTP POST → JPEG in Gradio's cache"),
                       ("browser_ms", "browser, slider input → new image"),
                       ("browser_during_render_ms", "browser, same, while rendering")):
        if key in report.get("browser", {}):
            figures = report["browser"][key]
            print(f"{label} ({figures['n']} values): median {figures['median']} ms, p95 {figures['p95']} ms, "
                  f"max {figures['max']} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
