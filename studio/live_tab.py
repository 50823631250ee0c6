"""The Live tab: ask a persona — typed, or spoken into the microphone — and watch it answer
sentence by sentence while the rest of the reply is still being written.

Layout: the player on the left (``live_view.PLAYER_HTML``: two video elements that play the
reply's segments back to back) with a status line under it; on the right the persona and the LLM
(empty: the persona's own, else the studio's), the question box with Ask and Stop, the
microphone (push to talk: record, stop, and the question is transcribed and asked — the player
counts the time to the first frame from that stop, the end of the spoken question; a recording
with no words, or longer than ``MAX_QUESTION_S``, is one message and nothing is asked), the
reply's text as it is written, and the whole reply as one video once it is over.

Asking runs ``pipeline.converse`` (``speak_live``, a generator): every segment it makes is handed
to a hidden file component whose change event gives the segment's URL to the player in the
browser (``live_view.enqueue_js``) — Gradio serves it as its cached copy, to its owner only, like
every output. The reply's text, the status line (when the first sentence was ready, and what it
cost) and, at the end, the whole reply's video follow. A renderer that does not stream, or a
conversation that holds its replies for review, answers as the chat does, with a note saying why.

Between replies the player loops the persona listening (``listening``: ``pipeline.live.idle_clip``,
made once per portrait and controls, shown when the tab opens or the persona changes).

Opening the tab or picking a persona or an LLM loads that model on a thread of its own
(``warm_up``), so the first question does not wait for the bundled model to load.

Hands-free (``hands_free``, a streaming microphone): Record once, then talk. Every chunk (each
``STREAM_EVERY_S``) goes to ``listen``, which feeds this page's ``Listening`` (a
``pipeline.turns.TurnDetector``: Silero VAD). Someone starting to talk barges in: the reply's stop
event is set on the server, and ``barged`` changes so that the browser stops the player. When a
question is over (a pause), ``heard`` changes, the player's clock starts from when the speech
stopped, and ``answer_turn`` takes the question's text (``hear_turn``: usually transcribed during
the pause already, ``pipeline.hearing``) and answers it live in the same event, as a typed one.
Once a pause's words are known, the model is started on their answer at once (``Listening.ahead``:
``Chat.prefetch``, asked as the page would ask — its persona, conversation and LLM, within its
owner's quota); the turn takes that answer when the pause was the end of the question, and it is
withdrawn when the speaker goes on or the turn asks something else. A monologue past the limit
is refused with a message. The microphone's audio arrives as WAV
chunks, and Gradio keeps only the newest one when the server falls behind. When more than
``MAX_LOSS`` of it goes missing, the page says that push to talk is safer on this machine.

Barge-in: Stop — or starting to record a question — stops the player at once in the browser and
sets the reply's stop event on the server (``stop_live``): no further sentence is spoken, and the
job keeps what was. Each reply has a random id (``take``), the key of its stop event in this
process's table (with its owner: nobody stops another user's reply).

The ``/converse`` endpoint is a hidden trigger over hidden inputs (persona, message, conversation
id, LLM) that streams (segment, text so far, conversation id, details, whole video): each update
carries the newest playable segment, and details its timings; the last carries the reply.

A microphone that cannot be had (no device, or permission denied) is one message in the status
line when Record is pressed (``live_view.mic_check_js``); Gradio's recorder says nothing there.

Every handler is a module-level function taking the ``StudioContext``; ``build`` lays out and wires.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from pipeline.chat import Chat, ChatRequest, check_message, persona_llm
from pipeline.converse import converse, live_request
from pipeline.errors import BadInput, StudioError
from pipeline.live import idle_clip
from pipeline.media import probe
from pipeline.render import renderers
from pipeline.hearing import EarlyTranscripts
from pipeline.speech.stt import WHISPER_SAMPLE_RATE, load_speech, transcribe_speech
from pipeline.speech.wav import read_wav
from pipeline.turns import TurnDetector, TurnEvent

from . import live_view as view
from .common import StudioContext, bind, progress_callback, shown_errors
from .limits import chat_allowed, quota

PRIVATE = {"api_visibility": "private"}
PLAYER = "live"  # this tab's player's name (live_view)
MAX_QUESTION_S = 60  # a longer recording is refused: a monologue is not a question, and it transcribes slowly
STREAM_EVERY_S = 0.2  # hands-free: how often the browser sends the microphone (the barge-in delay's largest part)
MAX_LISTEN_S = 30 * 60  # hands-free: a listening session ends after this (Record again to go on)
LOSS_WINDOW_S = 5.0  # hands-free: how long to listen before judging how much of the audio is lost
MAX_LOSS = 0.15  # hands-free: more lost than this, and the page is told push to talk is safer here
CONVERSE_API = ("Ask a persona and get the reply live, sentence by sentence. Inputs: persona id; message; "
                "conversation_id ('' starts one); llm ('' for the persona's). Streams (segment, text, "
                "conversation_id, details, video): segment is the newest playable MP4 (H.264 + AAC) of one "
                "sentence, text the reply so far, details {t_s, segment: {index, text, duration_s, ready_s, "
                "timings}}; the last update has the whole reply's video and details {t_s, reply}.")

log = logging.getLogger(__name__)
_stops: dict[tuple[str | None, str], threading.Event] = {}
_stops_lock = threading.Lock()


def build(ctx: StudioContext, tab: gr.Tab) -> None:
    conversation = gr.State(None)
    take = gr.State("")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            gr.HTML(value=PLAYER, html_template=view.PLAYER_HTML, css_template=view.PLAYER_CSS,
                    js_on_load=view.PLAYER_JS, elem_id="live-player")
            status = gr.Markdown(elem_id="live-status")
        with gr.Column(scale=2, min_width=300):
            with gr.Row():
                persona = gr.Dropdown(ctx.persona_choices(), label="Persona", elem_id="live-persona")
                llm = gr.Dropdown(ctx.backend_choices("llm"), value=None, label="LLM (empty: the persona's)",
                                  elem_id="live-llm")
            message = gr.Textbox(label="Ask", placeholder="Type a question, or record one below", lines=2,
                                 max_lines=6, elem_id="live-message")
            with gr.Row():
                ask = gr.Button("Ask", variant="primary", elem_id="live-ask")
                stop = gr.Button("Stop", variant="stop", elem_id="live-stop")
            mic = gr.Audio(sources=["microphone"], type="filepath", label="Or say it (record, then stop)",
                           elem_id="live-mic")
            hands_free = gr.Audio(sources=["microphone"], streaming=True, type="filepath", elem_id="live-listen",
                                  label="Or talk hands-free (record once: a pause ends each question, "
                                        "talking over the reply stops it)")
            reply = gr.Markdown(elem_id="live-reply")
            whole = gr.Video(label="The whole reply", interactive=False, autoplay=False, elem_id="live-whole")
    segment = gr.File(visible="hidden", elem_id="live-segment")  # each new segment, for the player
    idle = gr.File(visible="hidden", elem_id="live-idle")  # the persona listening, looped between replies
    listener = gr.State(None)  # hands-free: this page's Listening
    turn_heard = gr.Textbox(visible="hidden", elem_id="live-heard")  # hands-free: "turn:ms since it ended", per turn
    barged = gr.Textbox(visible="hidden", elem_id="live-barged")  # hands-free: a count of onsets (barge-in)

    with gr.Column(visible=False):
        api_inputs = [gr.Textbox(label="persona"), gr.Textbox(label="message"), gr.Textbox(label="conversation_id"),
                      gr.Textbox(label="llm")]
        api_outputs = [gr.File(label="segment"), gr.Textbox(label="text"), gr.Textbox(label="conversation_id"),
                       gr.JSON(label="details"), gr.Video(label="video")]
        api_trigger = gr.Button("converse", elem_id="live-api")

    outputs = {"segment": segment, "reply": reply, "status": status, "whole": whole, "conversation": conversation,
               "take": take, "message": message}
    tab.select(bind(refresh, ctx), persona, persona, **PRIVATE).then(
        bind(listening, ctx), persona, idle, show_progress="hidden", **PRIVATE)
    tab.select(bind(refresh_llms, ctx), llm, llm, **PRIVATE)
    # Installed as the page loads, before Record can be pressed: no microphone is one message (live_view)
    for microphone in ("live-mic", "live-listen"):
        ctx.blocks.load(None, None, None, js=view.mic_check_js(microphone, "live-status"), **PRIVATE)
    persona.input(new_conversation, None, [conversation, reply, status], **PRIVATE)
    persona.input(bind(listening, ctx), persona, idle, show_progress="hidden", **PRIVATE)
    gr.on([tab.select, persona.input, llm.input], bind(warm_up, ctx), [persona, llm], None, queue=False,
          show_progress="hidden", **PRIVATE)
    segment.change(None, segment, None, js=view.enqueue_js(PLAYER), **PRIVATE)
    idle.change(None, idle, None, js=view.idle_js(PLAYER), **PRIVATE)
    asked = gr.on([ask.click, message.submit], None, None, None, js=view.reset_js(PLAYER), **PRIVATE)
    asked.then(bind(speak_live, ctx, outputs), [persona, message, conversation, llm], list(outputs.values()),
               validator=quota(ctx, "chat"), show_progress="hidden", **PRIVATE)
    stopping = bind(stop_live, ctx)
    stop.click(stopping, take, status, js=view.stop_js(PLAYER), show_progress="hidden", concurrency_limit=None,
               **PRIVATE)
    mic.start_recording(stopping, take, status, js=view.stop_js(PLAYER), show_progress="hidden",
                        concurrency_limit=None, **PRIVATE)
    recorded = mic.stop_recording(bind(hear, ctx), mic, message, js=view.reset_js(PLAYER),
                               show_progress_on=[message], **PRIVATE)
    recorded.success(bind(speak_live, ctx, outputs), [persona, message, conversation, llm], list(outputs.values()),
                  validator=quota(ctx, "chat"), show_progress="hidden", **PRIVATE)

    hands_free.start_recording(start_listening, None, listener, show_progress="hidden", **PRIVATE)
    hands_free.stream(bind(listen, ctx), [hands_free, listener, take, persona, conversation, llm],
                      [listener, turn_heard, barged, status],
                      stream_every=STREAM_EVERY_S, time_limit=MAX_LISTEN_S, concurrency_limit=None,
                      show_progress="hidden", **PRIVATE)
    barged.change(None, None, None, js=view.stop_js(PLAYER), **PRIVATE)
    turn_heard.change(bind(answer_turn, ctx, outputs), [turn_heard, listener, persona, conversation, llm],
                      list(outputs.values()), js=view.turn_js(PLAYER), validator=quota(ctx, "chat"),
                      show_progress="hidden", **PRIVATE)

    api_trigger.click(bind(converse_api, ctx), api_inputs, api_outputs, api_name="converse",
                      api_description=CONVERSE_API, validator=quota(ctx, "chat"))


def refresh(ctx: StudioContext, persona_id: str | None):
    """On opening the tab: the personas as they are now, the one picked kept."""
    choices = ctx.persona_choices()
    ids = [value for _, value in choices]
    return gr.update(choices=choices, value=persona_id if persona_id in ids else (ids[0] if ids else None))


def refresh_llms(ctx: StudioContext, llm_name: str | None):
    """On opening the tab: the LLM backends as they are now (one that cannot run says why)."""
    choices = ctx.backend_choices("llm")
    return gr.update(choices=choices, value=llm_name if llm_name in [value for _, value in choices] else None)


def listening(ctx: StudioContext, persona_id: str | None):
    """The persona's idle loop (``pipeline.live.idle_clip``: made once, then kept), or nothing when
    it has no portrait or the renderer does not stream — the player then shows the last frame."""
    if not persona_id:
        return None
    try:
        persona = ctx.personas.get(persona_id)
        defaults = ctx.personas.render_defaults(persona)
        if defaults.portrait is None:
            return None
        renderer = renderers.create(ctx.settings.renderer, ctx.settings)
        return str(idle_clip(defaults.portrait, defaults.as_controls(), renderer, ctx.settings.cache / "idle",
                             max_side=ctx.settings.max_side, fps=ctx.settings.fps, settings=ctx.settings))
    except StudioError:
        return None


def warm_up(ctx: StudioContext, persona_id: str | None, llm_name: str | None) -> None:
    """Load the model that will answer (the bundled one takes seconds to load) on a thread of its
    own while the question is typed, so the first reply does not wait for it; returns at once. A
    model that cannot load here says so when the question is asked."""
    if not persona_id:
        return None
    try:
        llm = persona_llm(ctx.settings, ctx.personas.get(persona_id), llm_name or None)
    except StudioError:
        return None
    threading.Thread(target=_prepare_quietly, args=(llm,), name="llm-warm-up", daemon=True).start()
    return None


def _prepare_quietly(llm) -> None:
    try:
        llm.prepare()
    except StudioError:
        pass  # the question's own turn will say why


def new_conversation() -> tuple:
    """(conversation, reply, status): another persona, a new conversation."""
    return None, "", ""


@shown_errors
def speak_live(ctx: StudioContext, persona_id: str | None, message: str | None, conversation_id: str | None,
               llm_name: str | None = None):
    """The live reply to ``message``; yields what changes, by name (see the module docstring)."""
    if not persona_id:
        raise BadInput("pick a persona to ask")
    question = check_message(message)
    take = secrets.token_hex(8)
    stop = _register(ctx.owner, take)
    count, first_ready = 0, None
    yield {"take": take, "message": "", "reply": f"**You:** {question}", "status": view.LISTENING, "whole": None,
           "segment": None}
    try:
        request = ChatRequest(persona=persona_id, message=question, conversation_id=conversation_id or None,
                              llm=llm_name or None)
        for event in converse(ctx.chat, request, stop=stop):
            if event.kind == "text":
                yield {"reply": f"**You:** {question}\n\n**{persona_id}:** {event.text}"}
            elif event.kind == "segment":
                count += 1
                if first_ready is None:
                    first_ready = event.segment.ready_s
                yield {"segment": str(event.segment.video), "status": view.segment_line(event.segment, count)}
            elif event.kind == "note":
                yield {"status": f"_{event.note}_"}
            elif event.kind == "reply":
                done = event.reply
                yield {"conversation": done.conversation_id, "whole": done.video,
                       "reply": f"**You:** {question}\n\n**{persona_id}:** {done.reply}",
                       "status": view.finished_line(done, count, first_ready)}
    finally:
        _forget(ctx.owner, take)


@shown_errors
def hear(ctx: StudioContext, audio: str | None, progress=gr.Progress()) -> str:
    """The recorded question as text, or one clear message when nothing was said in it."""
    if not audio:
        raise BadInput("Nothing was recorded — press Record, ask your question, then stop.")
    length = probe(Path(audio)).duration_s or 0.0
    if length > MAX_QUESTION_S:
        raise BadInput(f"The recording is {int(length // 60)}:{int(length % 60):02d} long; a spoken question may "
                       f"be at most {MAX_QUESTION_S} seconds — ask it in shorter pieces.")
    report = progress_callback(progress)
    report(0.0, "Reading the recording…")
    samples, _ = load_speech(audio, display_name="the recording")
    report(0.3, "Transcribing…")
    transcript = transcribe_speech(ctx.settings, samples, WHISPER_SAMPLE_RATE)  # as a hands-free turn: live
    if not transcript.text.strip():
        raise BadInput("No words were heard in the recording — try again, closer to the microphone.")
    return transcript.text


class Listening:
    """One page's hands-free session: its turn detector, its early transcriptions (``pipeline.hearing``:
    each pause's audio is transcribed while the end of the turn is waited for, and the model is
    started on its answer: ``ahead``), and the question last heard. Kept in the page's ``gr.State``,
    so no other page can reach it."""

    def __init__(self, settings) -> None:
        self.detector = TurnDetector()
        self.early = EarlyTranscripts(lambda audio, rate: transcribe_speech(settings, audio, rate),
                                      self.ahead if settings.answer_ahead else None)
        self.asking: tuple[Chat, str, str | None, str | None, Callable[[], bool]] | None = None
        self.turns = 0
        self.onsets = 0
        self.question: TurnEvent | None = None
        self.first_chunk_at: float | None = None  # monotonic time the first chunk's audio began
        self.warned = False

    def ahead(self, transcript) -> Any:
        """During a pause: the model started on the answer to ``transcript`` as the page would ask it
        now (the chat, persona, conversation and LLM of its latest chunk, and its owner's quota), for
        the turn to take if this was the question (``Chat.prefetch``); None when it may not be asked."""
        if self.asking is None:
            return None
        chat, persona_id, conversation_id, llm_name, allowed = self.asking
        if not persona_id or not allowed():
            return None
        return chat.prefetch(live_request(ChatRequest(persona=persona_id, message=transcript.text,
                                                      conversation_id=conversation_id or None,
                                                      llm=llm_name or None)))

    def lost(self) -> float:
        """The share of the microphone's audio that never arrived, from the audio received against the
        time since the first chunk. Gradio keeps only the newest chunk of a stream, so a server that falls
        behind loses the rest."""
        elapsed = time.monotonic() - (self.first_chunk_at or time.monotonic())
        return max(0.0, 1.0 - self.detector.received_s / elapsed) if elapsed >= LOSS_WINDOW_S else 0.0


def start_listening() -> None:
    """Record pressed on the hands-free microphone: a fresh session (its detector is made with the
    first chunk, so a studio without the VAD model says so then)."""
    return None


@shown_errors
def listen(ctx: StudioContext, chunk: str | None, listening: Listening | None, take: str | None,
           persona_id: str | None = None, conversation_id: str | None = None, llm_name: str | None = None):
    """One chunk of the hands-free microphone → (listening, heard, barged, status). Someone starting
    to talk stops the reply being spoken (on the server here; ``barged`` tells the browser to stop
    playing it) and withdraws any answer begun during a pause; a question that has ended is
    announced on ``heard`` for ``hear_turn``. The persona, conversation and LLM are what an answer
    begun during a pause is asked with (``Listening.ahead``).

    The chunk comes as its WAV file (Gradio's ``filepath``), read here with the standard library.
    The ``numpy`` type decodes each chunk through ffmpeg, and that took longer than the 0.2 s
    between chunks on a busy machine. Gradio then keeps only the newest chunk, and the question
    arrived with holes in it."""
    if listening is None:
        listening = Listening(ctx.settings)
    if not chunk:
        return listening, gr.skip(), gr.skip(), gr.skip()
    samples, rate = read_wav(chunk)
    if listening.asking is None or listening.asking[1:4] != (persona_id, conversation_id, llm_name):
        listening.asking = (ctx.chat, persona_id, conversation_id, llm_name, chat_allowed(ctx))
    if listening.first_chunk_at is None:
        listening.first_chunk_at = time.monotonic() - len(samples) / rate
    heard = barged = status = gr.skip()
    if not listening.warned and listening.lost() > MAX_LOSS:
        listening.warned = True
        status = view.falling_behind_line(listening.lost())
    for event in listening.detector.feed(rate, samples):
        if event.kind == "speech":
            listening.onsets += 1
            listening.early.withdraw()
            barged = str(listening.onsets)
            status = stop_live(ctx, take)
            # When the speech began, as wall-clock time (for the log a benchmark reads): counted back
            # from the audio just received, not forward from the first chunk — audio lost on the way
            # (a busy machine) would put it seconds too early. It errs late by the chunk's delivery.
            log.info("hands-free: someone started talking", extra={
                "speech_started_at": time.time() - (listening.detector.received_s - event.started_s)})
        elif event.kind == "pause":
            listening.early.guess(event)
        elif event.kind == "turn":
            listening.turns += 1
            listening.question = event
            heard = f"{listening.turns}:{round((listening.detector.listening_s - event.ended_s) * 1000)}"
            status = view.HEARD
        elif event.kind == "too_long":
            status = view.too_long_line(int(listening.detector.max_turn_s))
    return listening, heard, barged, status


@shown_errors
def hear_turn(ctx: StudioContext, listening: Listening | None) -> tuple[str, Any]:
    """The question the hands-free microphone last heard, as text (taken: each is asked once), and
    the answer begun on it during the pause (None when none was): the caller's to cancel once the
    turn is over. It was usually transcribed already, during the pause that ended it."""
    question = listening.question if listening is not None else None
    if question is None or question.audio is None:
        raise BadInput("Nothing has been heard yet — press Record on the hands-free microphone and ask.")
    listening.question = None
    heard = listening.early.answer(question)
    transcript = heard.transcript
    log.info("hands-free question: %.2f s heard, transcribed in %.2f s (%s), waited %.2f s for it",
             len(question.audio) / question.rate, transcript.elapsed_s,
             "during the pause" if heard.early else "after the pause", heard.waited_s,
             extra={"stt_s": round(heard.waited_s, 3), "stt_early": heard.early})
    if not transcript.text.strip():
        raise BadInput("No words were heard in what you said — try again, closer to the microphone.")
    return transcript.text, heard.prepared


@shown_errors
def answer_turn(ctx: StudioContext, heard: str | None, listening: Listening | None, persona_id: str | None,
                conversation_id: str | None, llm_name: str | None = None):
    """Hands-free: the question last heard (``hear_turn``), answered live (``speak_live``) in the same
    event — a second event would wait for the text to reach the browser and come back. ``heard`` is
    the "turn:ms" that announced it (the player's clock already started from it)."""
    question, ahead = hear_turn(ctx, listening)
    try:
        yield from speak_live(ctx, persona_id, question, conversation_id, llm_name)
    finally:
        if ahead is not None:  # begun during the pause, not taken by the turn (another persona picked…)
            ahead.cancel()


def stop_live(ctx: StudioContext, take: str | None) -> Any:
    """Barge-in: the reply ``take`` (this owner's) says no further sentence."""
    with _stops_lock:
        stop = _stops.get((ctx.owner, take or ""))
    if stop is None:
        return gr.skip()
    stop.set()
    return "Stopped: the rest of the reply is not spoken. What was said is kept in History."


@shown_errors
def converse_api(ctx: StudioContext, persona: str, message: str, conversation_id: str, llm: str):
    request = ChatRequest(persona=(persona or "").strip(), message=check_message(message),
                          conversation_id=(conversation_id or "").strip() or None, llm=(llm or "").strip() or None)
    for event in converse(ctx.chat, request):
        if event.kind == "segment":
            details = {"t_s": round(event.t_s, 4), "segment": {
                key: value for key, value in event.segment.to_dict().items() if key != "video"}}
            yield str(event.segment.video), event.text, conversation_id or "", details, None
        elif event.kind == "text":
            yield gr.skip(), event.text, conversation_id or "", gr.skip(), None
        elif event.kind == "note":
            yield gr.skip(), event.text, conversation_id or "", {"t_s": round(event.t_s, 4), "note": event.note}, None
        elif event.kind == "reply":
            done = event.reply
            details = {"t_s": round(event.t_s, 4),
                       "reply": {k: v for k, v in done.to_dict().items() if k not in ("video", "audio")}}
            yield gr.skip(), done.reply, done.conversation_id, details, done.video


def _register(owner: str | None, take: str) -> threading.Event:
    stop = threading.Event()
    with _stops_lock:
        _stops[(owner, take)] = stop
    return stop


def _forget(owner: str | None, take: str) -> None:
    with _stops_lock:
        _stops.pop((owner, take), None)
