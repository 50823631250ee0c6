"""Benchmark: a live reply in the browser — from the question to its first video frame playing.

The whole studio on 127.0.0.1 and Chromium (Debian's, through Playwright), the model a local
OpenAI-compatible server streaming at a hosted model's pace (``bench/live.py``'s ``PacedModel``).
The Live tab's player writes, on its stage, how many milliseconds after the question its first
frame played (``data-first-frame-ms``); the question's moment is the Ask click for a typed
question, and the end of the recording (the microphone's stop) for a spoken one — Chromium's
fake capture device plays ``assets/sample_speech.mp3``, so a spoken turn includes transcribing it.

    .venv/bin/python bench/live_browser.py [--typed 20] [--spoken 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from live import PacedModel, percentile  # noqa: E402 — bench/live.py, beside this file

QUESTIONS = ["Should we chase market share?", "Where do we start?", "What do we measure first?",
             "How do we grow without a price war?"]


def fake_microphone(folder: Path) -> Path:
    """The sample speech as 48 kHz mono 16-bit WAV, the format Chromium's fake capture device reads."""
    from imageio_ffmpeg import get_ffmpeg_exe

    out = folder / "mic.wav"
    subprocess.run([get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(ROOT / "assets" / "sample_speech.mp3"),
                    "-ac", "1", "-ar", "48000", "-c:a", "pcm_s16le", str(out)], check=True)
    return out


def first_frame_ms(page, timeout_ms: int = 60_000) -> float:
    stage = page.locator("#live-player .live-stage")
    page.wait_for_function("() => document.querySelector('#live-player .live-stage').dataset.firstFrameMs",
                           timeout=timeout_ms)
    value = float(stage.get_attribute("data-first-frame-ms"))
    page.wait_for_function("() => document.querySelector('#live-whole video')?.src?.includes('output.mp4')",
                           timeout=timeout_ms)  # the reply is over before the next question
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--typed", type=int, default=20)
    parser.add_argument("--spoken", type=int, default=5)
    parser.add_argument("--first-token", type=float, default=0.35)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    PacedModel.first_token_s, PacedModel.words_per_s = args.first_token, args.rate
    server = ThreadingHTTPServer(("127.0.0.1", 0), PacedModel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = Path(tempfile.mkdtemp(prefix="bench-live-browser-"))
    base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    os.environ.update({"AVATAR_STUDIO_HOME": str(home), "GRADIO_TEMP_DIR": str(home / "gradio"),
                       "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": base_url, "OPENAI_MODEL": "paced-bench"})
    from playwright.sync_api import sync_playwright

    from pipeline.settings import resolve
    from studio.app import build_app, launch_options

    settings = resolve(dotenv=False)
    app = build_app(settings)
    app.queue(default_concurrency_limit=2).launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                                                 **launch_options(settings))
    chromium = os.environ.get("AVATAR_STUDIO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    typed: list[float] = []
    spoken: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={fake_microphone(home)}"])
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.grant_permissions(["microphone"], origin=app.local_url.rstrip("/"))
        page = context.new_page()

        def open_live() -> None:  # a fresh Live tab: persona and model picked
            page.goto(app.local_url)
            page.get_by_role("tab", name="Live").click()
            page.locator("#live-persona input").click()
            page.get_by_role("option", name="Jenniel (jenniel)", exact=True).click()
            page.locator("#live-llm input").click()
            page.get_by_role("option", name="openai", exact=True).click()

        open_live()
        for number in range(args.typed + 1):  # the first is a warm-up: the voice loads, the portrait is prepared
            page.locator("#live-message textarea").fill(QUESTIONS[number % len(QUESTIONS)])
            page.locator("#live-ask").click()
            measured = first_frame_ms(page)
            if number:
                typed.append(measured)
        for _ in range(args.spoken):
            open_live()  # a fresh recorder each time
            mic = page.locator("#live-mic")
            mic.get_by_role("button", name="Record", exact=True).click()
            time.sleep(7.0)  # one pass of the 6.8 s sample
            mic.locator("button.stop-button").click()
            spoken.append(first_frame_ms(page, timeout_ms=120_000))
        browser.close()
    app.close()
    results = {"machine": {"cores": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2)},
               "model": {"first_token_s": args.first_token, "words_per_s": args.rate}}
    for name, values in (("typed", typed), ("spoken", spoken)):
        if values:
            results[name] = {"turns": len(values), "first_frame_p50_s": round(statistics.median(values) / 1000, 3),
                             "first_frame_p95_s": round(percentile(values, 0.95) / 1000, 3)}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name in ("typed", "spoken"):
        if name in results:
            found = results[name]
            print(f"{name}: {found['turns']} turns, first frame playing p50 {found['first_frame_p50_s']:.2f} s, "
                  f"p95 {found['first_frame_p95_s']:.2f} s")
    print(f"(model: first token {args.first_token} s, {args.rate:g} words/s; load {results['machine']['load_1min']})")


if __name__ == "__main__":
    main()
