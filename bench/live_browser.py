"""Benchmark: a live reply in the browser — from the question to its first video frame playing.

The whole studio on 127.0.0.1 and Chromium (Debian's, through Playwright), the model a local
OpenAI-compatible server streaming at a hosted model's pace (``bench/live.py``'s ``PacedModel``).
The Live tab's player writes, on its stage, how many milliseconds after the question its first
frame played (``data-first-frame-ms``); the question's moment is the Ask click for a typed
question, and the end of the recording (the microphone's stop) for a spoken one — Chromium's
fake capture device plays ``assets/sample_speech.mp3``, so a spoken turn includes transcribing it.

Hands-free turns (``--hands-free``) use a second browser whose fake microphone loops quiet, the
sample question and quiet: the Live tab's streaming microphone hears the question, and the turn
ends on a pause. There the clock starts when the speech stopped (the server's estimate, from the
audio itself). The time is then split into the pause that ends the turn (VAD), transcribing it
(STT: what the studio logs), the first sentence ready (the status line: model, voice, drawing)
and the rest: delivery to the page and the start of playing.

    .venv/bin/python bench/live_browser.py [--typed 20] [--spoken 5] [--hands-free 10] [--background] [--json]

``--background`` keeps a render running in the studio the whole time (a long script, again and again).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
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

from live import PacedModel, percentile, render_in_background  # noqa: E402 — bench/live.py, beside this file

QUESTIONS = ["Should we chase market share?", "Where do we start?", "What do we measure first?",
             "How do we grow without a price war?"]


def fake_microphone(folder: Path) -> Path:
    """The sample speech as 48 kHz mono 16-bit WAV, the format Chromium's fake capture device reads."""
    from imageio_ffmpeg import get_ffmpeg_exe

    out = folder / "mic.wav"
    subprocess.run([get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(ROOT / "assets" / "sample_speech.mp3"),
                    "-ac", "1", "-ar", "48000", "-c:a", "pcm_s16le", str(out)], check=True)
    return out


def conversation_microphone(folder: Path, quiet_s: float = 6.0) -> Path:
    """Quiet, the sample question, quiet (the fake device loops it): a conversation partner."""
    import wave

    import numpy as np
    from imageio_ffmpeg import get_ffmpeg_exe

    raw = subprocess.run([get_ffmpeg_exe(), "-loglevel", "error", "-i", str(ROOT / "assets" / "sample_speech.mp3"),
                          "-ac", "1", "-ar", "48000", "-f", "s16le", "-"], check=True, capture_output=True).stdout
    quiet = np.zeros(int(quiet_s * 48000), np.int16)
    out = folder / "conversation.wav"
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(48000)
        wav.writeframes(np.concatenate([quiet, np.frombuffer(raw, np.int16), quiet]).tobytes())
    return out


class _Heard(logging.Handler):
    """The studio's log lines for hands-free turns: how long transcribing each question took, and
    when (by the audio's clock) each time someone started talking was."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.stt_s: list[float] = []
        self.onsets: list[float] = []  # wall-clock times someone started talking (from the audio's clock)

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "stt_s"):
            self.stt_s.append(float(record.stt_s))
        if hasattr(record, "speech_started_at"):
            self.onsets.append(float(record.speech_started_at))


def forget_answers(settings) -> None:
    """Empty the studio's answer cache before a turn. Each spoken turn is a fresh page, so a fresh
    conversation asking the same words: without this, every turn after the first would take the
    first one's answer from the cache, and no model would be waited for."""
    import sqlite3

    with sqlite3.connect(settings.db_path) as db:
        db.execute("delete from llm_cache")


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
    parser.add_argument("--hands-free", type=int, default=10)
    parser.add_argument("--first-token", type=float, default=0.35)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--background", action="store_true",
                        help="a render running in the studio the whole time (a long script, again and again)")
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
    # Opening the Live tab warms the persona's own model (the bundled one, converted from its GGUF file
    # the first time in a data folder: tens of seconds of both cores). Done here first, so that it is
    # not measured as part of the turns — a studio does it once per data folder and once per process.
    from personas import PersonaStore
    from pipeline.chat import persona_llm

    warming = time.perf_counter()
    persona_llm(settings, PersonaStore(settings).get("jenniel")).prepare()
    print(f"(the persona's own model warmed in {time.perf_counter() - warming:.1f} s, before measuring)",
          file=sys.stderr)
    app = build_app(settings)
    app.queue(default_concurrency_limit=2).launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                                                 **launch_options(settings))
    # the studio renders all along, as it would for someone else's Render lab
    stop_background = render_in_background(settings) if args.background else None
    chromium = os.environ.get("AVATAR_STUDIO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    typed: list[float] = []
    spoken: list[float] = []
    hands_free: dict[str, list[float]] = {}
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
            forget_answers(settings)
            page.locator("#live-message textarea").fill(QUESTIONS[number % len(QUESTIONS)])
            page.locator("#live-ask").click()
            measured = first_frame_ms(page)
            if number:
                typed.append(measured)
        for _ in range(args.spoken):
            forget_answers(settings)
            open_live()  # a fresh recorder each time
            mic = page.locator("#live-mic")
            mic.get_by_role("button", name="Record", exact=True).click()
            time.sleep(7.0)  # one pass of the 6.8 s sample
            mic.locator("button.stop-button").click()
            spoken.append(first_frame_ms(page, timeout_ms=120_000))
        browser.close()
        if args.hands_free:
            hands_free = hands_free_turns(playwright, chromium, app.local_url, home, args.hands_free, settings)
    if stop_background is not None:
        stop_background()
    app.close()
    results = {"machine": {"cores": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2)},
               "background_render": args.background,
               "model": {"first_token_s": args.first_token, "words_per_s": args.rate}}
    for name, values in (("typed", typed), ("spoken", spoken)):
        if values:
            results[name] = {"turns": len(values), "first_frame_p50_s": round(statistics.median(values) / 1000, 3),
                             "first_frame_p95_s": round(percentile(values, 0.95) / 1000, 3)}
    if hands_free.get("total"):
        results["hands_free"] = {"turns": len(hands_free["total"]), **{
            f"{part}_p50_s": round(statistics.median(values) / 1000, 3) for part, values in hands_free.items() if values}, **{
            f"{part}_p95_s": round(percentile(values, 0.95) / 1000, 3) for part, values in hands_free.items() if values}}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    if "hands_free" in results:
        found = results["hands_free"]
        parts = ", ".join(f"{part} {found[f'{part}_p50_s']:.2f}/{found[f'{part}_p95_s']:.2f}"
                          for part in ("vad", "stt", "first_segment", "delivery") if f"{part}_p50_s" in found)
        if "barge_in_p50_s" in found:
            parts += (f"; barge-in, from someone starting to talk to the player stopping, "
                      f"{found['barge_in_p50_s']:.2f}/{found['barge_in_p95_s']:.2f}")
        print(f"hands-free: {found['turns']} turns, from the end of the question to its first frame playing "
              f"p50 {found['total_p50_s']:.2f} s, p95 {found['total_p95_s']:.2f} s ({parts}; p50/p95 s)")
    for name in ("typed", "spoken"):
        if name in results:
            found = results[name]
            print(f"{name}: {found['turns']} turns, first frame playing p50 {found['first_frame_p50_s']:.2f} s, "
                  f"p95 {found['first_frame_p95_s']:.2f} s")
    print(f"(model: first token {args.first_token} s, {args.rate:g} words/s; load {results['machine']['load_1min']}"
          f"{'; a render running in the background' if args.background else ''})")


WATCH_STOPS = """() => {  // every time the player is stopped (its data-stopped, wall-clock ms), kept in order,
  // and when a reply's first frame played (wall-clock ms)
  const stage = document.querySelector('#live-player .live-stage');
  window.benchStops = [];
  window.benchPlayed = [];
  new MutationObserver((changes) => changes.forEach((change) => {
    if (change.attributeName === 'data-stopped') window.benchStops.push(Number(stage.dataset.stopped));
    else if (stage.dataset.firstFrameMs) {
      window.benchPlayed.push(Date.now());
      const mic = document.querySelector('#live-listen .live-mic');  // the turn that first frame answers
      window.benchFirst = window.benchFirst || { turns: mic && mic.dataset.turns, agoMs: stage.dataset.agoMs };
    }
  })).observe(stage, { attributes: true, attributeFilter: ['data-stopped', 'data-first-frame-ms'] });
}"""


def barge_in_ms(stops_ms: list[float], onsets: list[float], played_ms: list[float]) -> list[float]:
    """For each time someone started talking over a reply (the studio's estimate from the audio,
    wall-clock s, after the reply's first frame played), how long until the player in the page
    stopped (the first stop after it, wall-clock ms on this same machine). The player stops at the
    onset itself (barge-in), before a question ends, so the first stop after an onset is that
    one's. Onsets before anything played are the questions themselves, not barge-ins: their next
    stop is the player reset for their own answer, seconds later."""
    found = []
    if not played_ms:
        return found
    for onset in (onset for onset in onsets if onset * 1000 >= min(played_ms)):
        later = [stop for stop in stops_ms if stop >= onset * 1000]
        if later:
            found.append(min(later) - onset * 1000)
    return found


def hands_free_turns(playwright, chromium: str, url: str, home: Path, turns: int, settings) -> dict[str, list[float]]:
    """``turns`` hands-free questions, each on a fresh page: Record, wait for the reply's first frame.
    Milliseconds per turn: total (end of speech → first frame), vad, stt, first_segment, delivery."""
    heard = _Heard()
    logging.getLogger("studio.live_tab").addHandler(heard)
    logging.getLogger("studio.live_tab").setLevel(logging.INFO)
    browser = playwright.chromium.launch(executable_path=chromium, args=[
        "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={conversation_microphone(home)}"])
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["microphone"], origin=url.rstrip("/"))
    parts: dict[str, list[float]] = {"total": [], "vad": [], "stt": [], "first_segment": [], "delivery": [],
                                     "barge_in": []}
    for _ in range(turns):
        forget_answers(settings)
        page = context.new_page()
        page.goto(url)
        page.get_by_role("tab", name="Live").click()
        page.locator("#live-persona input").click()
        page.get_by_role("option", name="Jenniel (jenniel)", exact=True).click()
        page.locator("#live-llm input").click()
        page.get_by_role("option", name="openai", exact=True).click()
        before, onsets_before = len(heard.stt_s), len(heard.onsets)
        page.evaluate(WATCH_STOPS)
        page.locator("#live-listen button.listen-button").click()
        total = first_frame_ms(page, timeout_ms=120_000)
        first = page.evaluate("() => window.benchFirst") or {}
        turns, ago_ms = first.get("turns"), first.get("agoMs")
        status = page.locator("#live-status").inner_text()
        ready = re.search(r"(?:First sentence ready|The first was ready after) ([0-9.]+) s", status)
        page.wait_for_timeout(12_000)  # the loop comes round: someone talks over the reply (or its end)
        parts["barge_in"] += barge_in_ms(page.evaluate("() => window.benchStops"), heard.onsets[onsets_before:],
                                         page.evaluate("() => window.benchPlayed"))
        page.close()
        if len(heard.stt_s) <= before or not ready or not turns or not ago_ms:
            print(f"(a hands-free turn left out: {turns} turns heard, status {status[:80]!r})", file=sys.stderr)
            continue  # not one clean turn (the loop began mid-question): left out
        vad, stt, first = float(ago_ms), heard.stt_s[before] * 1000, float(ready.group(1)) * 1000
        for part, value in (("total", total), ("vad", vad), ("stt", stt), ("first_segment", first),
                            ("delivery", max(0.0, total - vad - stt - first))):
            parts[part].append(value)
    browser.close()
    return parts


if __name__ == "__main__":
    main()
