"""Benchmark: how soon a live reply starts playing, from the moment the question is submitted.

Each turn goes through the real path — ``pipeline.converse`` over the chat, the "openai" backend
over HTTP, the bundled Piper voice, the analysis, the embedded renderer's stream, ffmpeg — with
one stand-in: the model is a local OpenAI-compatible server that streams like a hosted one
(first token after ``--first-token`` seconds, then ``--rate`` words a second; both defaults are
typical of a small hosted model). A turn's latency is split into:

* llm_first_sentence — submit → the first sentence complete in the stream (the splitter needs
  the first character after it, so one word more);
* speech, analysis, render — the first segment's own costs (render: drawn and encoded with its
  sound into the playable MP4, in one ffmpeg pass);
* first_segment — submit → the first segment playable (the sum, plus queueing between them).

Reported as p50/p95 over ``--turns`` turns (20), after one warm-up turn (which loads the voice
and prepares the portrait), and again with a render job running in the background (a long
script through the Runner, on the same two cores), unless ``--no-background``.

``--spoken N`` adds N spoken turns, as the Live tab hears them hands-free but with no browser:
each question is spoken by Piper, put between a second of quiet and two, and fed at the pace of
a real microphone in 0.1 s chunks at 16 kHz (as the Live tab's recorder sends them) to the turn
detector (Silero VAD) and the early transcripts (``pipeline.hearing``), then answered live. Timed
from the end of the speech:

* vad — until the detector says the turn is over (the end-of-turn pause, plus the chunk it ends in);
* stt_wait — how long the turn then waited for its text (transcribed during the pause, mostly);
* first_segment — from the text to the first segment playable (as above);
* spoken_first_segment — the whole: end of speech → first segment playable;
* answer_begun_in_the_pause (share) — the share of turns that took the answer the model was
  started on during the pause (printed in both columns) (``Chat.prefetch``); ``--not-ahead`` starts it only when the turn is over.

    .venv/bin/python bench/live.py [--turns 20] [--spoken 10] [--not-ahead] [--first-token 0.35] [--rate 40] [--json]
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
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REPLY = ("Start with the profit logic. Market share is a result, not a goal. Ask which customers pay "
         "you more than they cost, and grow there first. Then measure it every quarter.")
QUESTIONS = ["Should we chase market share?", "Where do we start?", "What do we measure first?",
             "How do we grow without a price war?"]
MIC_RATE = 16_000  # what the Live tab's recorder sends (studio.live_mic), in CHUNK_S pieces
CHUNK_S = 0.1
LONG_SCRIPT = " ".join(["This is a long background render that keeps both cores busy while we talk."] * 12)


class PacedModel(BaseHTTPRequestHandler):
    """``POST /v1/chat/completions``, streamed a word at a time at a hosted model's pace."""

    first_token_s = 0.35
    words_per_s = 40.0

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 — http.server's name
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": body.get("model")}

        def send(delta: dict, finish: str | None = None) -> None:
            event = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()

        time.sleep(self.first_token_s)
        words = REPLY.split(" ")
        try:
            for index, word in enumerate(words):
                send({"content": word if index == 0 else " " + word})
                time.sleep(1.0 / self.words_per_s)
            send({}, "stop")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading (a withdrawn answer)
            return


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def one_turn(chat, question: str) -> dict[str, float]:
    from pipeline.chat import ChatRequest
    from pipeline.converse import converse
    from pipeline.sentences import SentenceSplitter

    splitter = SentenceSplitter()
    first_sentence = None
    started = time.perf_counter()
    request = ChatRequest(persona="jenniel", message=question, llm="openai", use_cache=False)
    seen = ""
    with closing(converse(chat, request, started=started)) as events:  # the rest of the reply is not needed
        for event in events:
            if event.kind == "text" and first_sentence is None:
                if splitter.feed(event.text[len(seen):]):
                    first_sentence = event.t_s
                seen = event.text
            if event.kind == "segment":
                segment = event.segment
                return {"llm_first_sentence": first_sentence or event.t_s, **segment.timings,
                        "first_segment": segment.ready_s}
    raise RuntimeError("the turn produced no segment")


def spoken_question(text: str) -> np.ndarray:
    """``text`` spoken by Piper as the recorder hears it: 1 s of room, the question, 2 s of room."""
    from pipeline.speech.base import voices
    from pipeline.settings import resolve

    said = voices.create("en_US-joe-medium", resolve(dotenv=False)).synthesize(text)
    count = int(len(said.samples) * MIC_RATE / said.sample_rate)
    voice = np.interp(np.arange(count) * said.sample_rate / MIC_RATE, np.arange(len(said.samples)), said.samples)
    room = np.random.default_rng(len(text)).standard_normal(3 * MIC_RATE) * 30 / 32768
    audio = np.concatenate([room[:MIC_RATE], voice, room[MIC_RATE:]])
    return (np.clip(audio, -1, 1) * 32767).astype(np.int16)


def one_spoken_turn(chat, settings, audio, ahead: bool = True) -> dict[str, float]:
    """The microphone fed at its own pace to what the Live tab's hands-free listening runs; seconds.
    ``ahead``: the model is started on a pause's words as soon as they are known (``Chat.prefetch``)."""
    from pipeline.chat import ChatRequest
    from pipeline.converse import live_request
    from pipeline.hearing import EarlyTranscripts
    from pipeline.speech.stt import transcribe_speech
    from pipeline.turns import TurnDetector

    def begin(transcript):
        return chat.prefetch(live_request(ChatRequest(persona="jenniel", message=transcript.text, llm="openai",
                                                      use_cache=False)))

    detector = TurnDetector()
    early = EarlyTranscripts(lambda samples, rate: transcribe_speech(settings, samples, rate),
                             begin if ahead else None)
    chunk = int(MIC_RATE * CHUNK_S)
    began = time.perf_counter()
    for start in range(0, len(audio), chunk):
        time.sleep(max(0.0, began + (start + chunk) / MIC_RATE - time.perf_counter()))  # it has been said
        for event in detector.feed(MIC_RATE, audio[start:start + chunk]):
            if event.kind == "pause":
                early.guess(event)
            elif event.kind == "turn":
                ended = began + event.ended_s
                vad = time.perf_counter() - ended
                heard = early.answer(event)
                try:
                    timings = one_turn(chat, heard.transcript.text)
                finally:
                    if heard.prepared is not None:
                        heard.prepared.cancel()
                return {"vad": vad, "stt_wait": heard.waited_s, "first_segment": timings["first_segment"],
                        "spoken_first_segment": time.perf_counter() - ended,
                        "answer_begun_in_the_pause": float(heard.prepared is not None and heard.prepared.claimed)}
    raise RuntimeError("no turn was heard")


def render_in_background(settings) -> Callable[[], None]:
    """A render running on a thread of its own, again and again (a long script: both cores busy);
    returns the function that stops it, waiting for the render under way to finish (no thread is
    cut off mid-encode at exit)."""
    from pipeline.runner import RenderRequest, Runner

    stop = threading.Event()

    def render_forever() -> None:
        runner = Runner(settings)
        while not stop.is_set():
            runner.render(RenderRequest(image=ROOT / "assets" / "astronaut.png", text=LONG_SCRIPT, controller="rules"))

    worker = threading.Thread(target=render_forever, daemon=True)
    worker.start()

    def stopped() -> None:
        stop.set()
        worker.join(timeout=120)

    return stopped


def run(turns: int, background: bool, spoken: int = 0, ahead: bool = True) -> dict[str, dict[str, float]]:
    from pipeline.chat import Chat
    from pipeline.settings import resolve

    settings = resolve(dotenv=False)
    chat = Chat(settings)
    one_turn(chat, "Warm up?")  # loads the voice, prepares the portrait
    stop_background = None
    if background:
        stop_background = render_in_background(settings)
        time.sleep(2.0)  # the render is under way
    samples = [one_turn(chat, QUESTIONS[k % len(QUESTIONS)]) for k in range(turns)]
    questions = [spoken_question(QUESTIONS[k]) for k in range(min(spoken, len(QUESTIONS)))]
    heard = [one_spoken_turn(chat, settings, questions[k % len(questions)], ahead) for k in range(spoken)]
    if stop_background is not None:
        stop_background()
    figures = {name: {"p50": round(statistics.median(s[name] for s in samples), 3),
                      "p95": round(percentile([s[name] for s in samples], 0.95), 3)}
               for name in samples[0]}
    if heard:
        figures.update({f"spoken: {name}": {"p50": round(statistics.median(s[name] for s in heard), 3),
                                            "p95": round(percentile([s[name] for s in heard], 0.95), 3)}
                        for name in heard[0] if name != "answer_begun_in_the_pause"})
        share = statistics.mean(s["answer_begun_in_the_pause"] for s in heard)
        figures["spoken: answer_begun_in_the_pause (share)"] = {"p50": round(share, 3), "p95": round(share, 3)}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--first-token", type=float, default=0.35, help="the model's time to first token, seconds")
    parser.add_argument("--rate", type=float, default=40.0, help="the model's words per second")
    parser.add_argument("--spoken", type=int, default=0, help="hands-free turns heard from a paced microphone")
    parser.add_argument("--not-ahead", action="store_true",
                        help="spoken turns: do not start the model during the pause (as before Chat.prefetch)")
    parser.add_argument("--no-background", action="store_true", help="skip the run with a render in the background")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    PacedModel.first_token_s, PacedModel.words_per_s = args.first_token, args.rate
    server = ThreadingHTTPServer(("127.0.0.1", 0), PacedModel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = tempfile.mkdtemp(prefix="bench-live-")
    os.environ.update({"AVATAR_STUDIO_HOME": home, "OPENAI_API_KEY": "sk-bench",
                       "OPENAI_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}/v1",
                       "OPENAI_MODEL": "paced-bench"})
    results = {"machine": {"cores": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2)},
               "model": {"first_token_s": args.first_token, "words_per_s": args.rate}, "turns": args.turns,
               "idle": run(args.turns, background=False, spoken=args.spoken, ahead=not args.not_ahead)}
    if not args.no_background:
        results["with_background_render"] = run(args.turns, background=True, spoken=args.spoken,
                                                ahead=not args.not_ahead)
    results["machine"]["load_1min_after"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{args.turns} turns, model: first token {args.first_token} s, {args.rate:g} words/s; "
          f"{results['machine']['cores']} cores, load {results['machine']['load_1min']}")
    for label in ("idle", "with_background_render"):
        if label not in results:
            continue
        print(f"\n{label.replace('_', ' ')}:  p50     p95   (seconds from submit, or the step's own cost)")
        for name, figures in results[label].items():
            print(f"  {name:<30} {figures['p50']:>6.3f}  {figures['p95']:>6.3f}")


if __name__ == "__main__":
    main()
