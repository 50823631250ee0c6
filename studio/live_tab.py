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

Hands-free (``hands_free``: the studio's own recorder, ``studio.live_mic``): Listen once, then
talk. The page sends its microphone to the server function ``live_mic.hear`` every 0.1 s, which
feeds the page's ``live_mic.Listening`` (a ``pipeline.turns.TurnDetector``: Silero VAD) and answers
what the page must do. Someone starting to talk barges in: the reply's stop event is set on the
server, and the page stops the player. When a question is over (a pause), the page starts the
player's clock from when the speech stopped and fires the recorder's submit event:
``answer_turn`` takes that turn's text (``hear_turn``: usually transcribed during the pause
already, ``pipeline.hearing``) and answers it live, as a typed question. Once a pause's words are
known, the model is started on their answer at once (``Listening.ahead``: ``Chat.prefetch``, asked
as the page would ask — its persona, conversation and LLM, noted by ``note_asking``, within its
owner's quota); the turn takes that answer when the pause was the end of the question, and it is
withdrawn when the speaker goes on or the turn asks something else. A turn talked over before its
answer began is not answered: the speaker went on, and the next turn asks the whole question. A
monologue past the limit is refused with a message.

Barge-in: Stop — or starting to record a question, or to talk while listening hands-free — stops
the player at once in the browser and sets the reply's stop event on the server (``stop_live``):
no further sentence is spoken, and the job keeps what was. Each reply has a random id (``take``),
the key of its stop event in this process's table (``live_mic.register_take``, with its owner:
nobody stops another user's reply).

The ``/converse`` endpoint is a hidden trigger over hidden inputs (persona, message, conversation
id, LLM) that streams (segment, text so far, conversation id, details, whole video): each update
carries the newest playable segment, and details its timings; the last carries the reply.

A microphone that cannot be had (no device, or permission denied) is one message in the status
line when Record is pressed (``live_view.mic_check_js``; Gradio's recorder says nothing there),
and on the hands-free recorder's own line when Listen is.

Every handler is a module-level function taking the ``StudioContext``; ``build`` lays out and wires.
"""

from __future__ import annotations

import logging
import secrets
import threading
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from pipeline.chat import ChatRequest, check_message, persona_llm
from pipeline.converse import converse
from pipeline.errors import BadInput, StudioError
from pipeline.live import idle_clip
from pipeline.media import probe
from pipeline.render import renderers
from pipeline.speech.stt import WHISPER_SAMPLE_RATE, load_speech, transcribe_speech

from . import live_mic
from . import live_view as view
from .common import StudioContext, bind, progress_callback, shown_errors
from .guard import Refused, acting_for_caller
from .limits import chat_allowed, quota

PRIVATE = {"api_visibility": "private"}
PLAYER = "live"  # this tab's player's name (live_view)
MAX_QUESTION_S = 60  # a longer recording is refused: a monologue is not a question, and it transcribes slowly
CONVERSE_API = ("Ask a persona and get the reply live, sentence by sentence. Inputs: persona id; message; "
                "conversation_id ('' starts one); llm ('' for the persona's). Streams (segment, text, "
                "conversation_id, details, video): segment is the newest playable MP4 (H.264 + AAC) of one "
                "sentence, text the reply so far, details {t_s, segment: {index, text, duration_s, ready_s, "
                "timings}}; the last update has the whole reply's video and details {t_s, reply}.")

log = logging.getLogger(__name__)


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
            hands_free = gr.HTML(value="", html_template=live_mic.mic_html(PLAYER), css_template=live_mic.MIC_CSS,
                                 js_on_load=live_mic.mic_js(), elem_id="live-listen",
                                 server_functions=[hear_function(ctx)])
            reply = gr.Markdown(elem_id="live-reply")
            whole = gr.Video(label="The whole reply", interactive=False, autoplay=False, elem_id="live-whole")
    segment = gr.File(visible="hidden", elem_id="live-segment")  # each new segment, for the player
    idle = gr.File(visible="hidden", elem_id="live-idle")  # the persona listening, looped between replies

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
    ctx.blocks.load(None, None, None, js=view.mic_check_js("live-mic", "live-status"), **PRIVATE)
    noting = bind(note_asking, ctx)
    persona.input(new_conversation, None, [conversation, reply, status], **PRIVATE).then(
        noting, [hands_free, persona, conversation, llm], None, show_progress="hidden", **PRIVATE)
    gr.on([hands_free.change, llm.input], noting, [hands_free, persona, conversation, llm], None,
          show_progress="hidden", **PRIVATE)
    persona.input(bind(listening, ctx), persona, idle, show_progress="hidden", **PRIVATE)
    gr.on([tab.select, persona.input, llm.input], bind(warm_up, ctx), [persona, llm], None, queue=False,
          show_progress="hidden", **PRIVATE)
    segment.change(None, segment, None, js=view.enqueue_js(PLAYER), **PRIVATE)
    idle.change(None, idle, None, js=view.idle_js(PLAYER), **PRIVATE)
    asked = gr.on([ask.click, message.submit], None, None, None, js=view.reset_js(PLAYER), **PRIVATE)
    asked.then(bind(speak_live, ctx, outputs), [persona, message, conversation, llm, hands_free],
               list(outputs.values()), validator=quota(ctx, "chat"), show_progress="hidden", **PRIVATE)
    stopping = bind(stop_live, ctx)
    stop.click(stopping, take, status, js=view.stop_js(PLAYER), show_progress="hidden", concurrency_limit=None,
               **PRIVATE)
    mic.start_recording(stopping, take, status, js=view.stop_js(PLAYER), show_progress="hidden",
                        concurrency_limit=None, **PRIVATE)
    mic.stop_recording(bind(ask_recorded, ctx, outputs), [mic, persona, conversation, llm, hands_free],
                       list(outputs.values()), js=view.reset_js(PLAYER), validator=quota(ctx, "chat"),
                       show_progress="hidden", **PRIVATE)

    # Hands-free: the page's recorder sends its audio to ``hear`` (a server function, live_mic), and
    # asks each question it is told has ended through its submit event.
    # trigger_mode "multiple": a question that goes on after its pause is asked again whole at once,
    # while the answer to its first half (talked over, so no longer spoken) finishes quietly.
    hands_free.submit(bind(answer_turn, ctx, outputs), [hands_free, persona, conversation, llm],
                      list(outputs.values()), validator=quota(ctx, "chat"), show_progress="hidden",
                      trigger_mode="multiple", **PRIVATE)

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
               llm_name: str | None = None, hands_free: str | None = None, onsets: int | None = None):
    """The live reply to ``message``; yields what changes, by name (see the module docstring).
    ``hands_free``: the page's hands-free recorder's value; while it listens, someone talking stops
    this reply (``onsets``: a hands-free question's count of onsets at its end, so one since then
    stops it too), and its next question is asked in this reply's conversation."""
    if not persona_id:
        raise BadInput("pick a persona to ask")
    question = check_message(message)
    take = secrets.token_hex(8)
    owner = ctx.owner
    stop = live_mic.register_take(owner, take)
    listening = live_mic.sessions.get(owner, live_mic.session_id(hands_free))
    if listening is not None:
        listening.take = take
        if onsets is not None and listening.talked_over(onsets):  # someone talked while it was being set up
            stop.set()
    count, first_ready = 0, None

    def superseded() -> bool:  # talked over, and the page's next question is being answered: stay quiet
        return listening is not None and listening.take != take

    yield {"take": take, "message": "", "reply": f"**You:** {question}", "status": view.LISTENING, "whole": None,
           "segment": None}
    try:
        request = ChatRequest(persona=persona_id, message=question, conversation_id=conversation_id or None,
                              llm=llm_name or None)
        for event in converse(ctx.chat, request, stop=stop):
            if superseded():  # (recorded all the same: converse goes on to the model's end)
                if event.kind == "reply":
                    yield {"conversation": event.reply.conversation_id}
                continue
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
                if listening is not None and listening.asking is not None:  # the next question: this conversation
                    listening.asking = listening.asking._replace(conversation_id=done.conversation_id)
                yield {"conversation": done.conversation_id, "whole": done.video,
                       "reply": f"**You:** {question}\n\n**{persona_id}:** {done.reply}",
                       "status": view.finished_line(done, count, first_ready)}
    finally:
        live_mic.forget_take(owner, take)


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


@shown_errors
def ask_recorded(ctx: StudioContext, audio: str | None, persona_id: str | None, conversation_id: str | None,
                 llm_name: str | None = None, hands_free: str | None = None):
    """Push to talk: the recorded question transcribed (``hear``) and answered live (``speak_live``)
    in one event — a second event would wait for the text to reach the page and come back."""
    if not persona_id:
        raise BadInput("pick a persona to ask")
    yield {"status": "_Transcribing your question…_"}
    question = hear(ctx, audio)
    yield from speak_live(ctx, persona_id, question, conversation_id, llm_name, hands_free)


def hear_function(ctx: StudioContext) -> Callable:
    """The hands-free recorder's server function (``live_mic.hear``), run for its caller's owner."""
    def hear(payload: Any, request: gr.Request) -> dict[str, Any]:
        try:
            with acting_for_caller(ctx.blocks, request) as owner:
                return live_mic.hear(ctx.settings, owner, payload)
        except Refused as refused:
            return {"error": str(refused), "stop": True}
    return hear


def note_asking(ctx: StudioContext, hands_free: str | None, persona_id: str | None, conversation_id: str | None,
                llm_name: str | None = None) -> None:
    """Hands-free: what a question would be asked with now (Listen pressed, another persona or LLM
    picked), for the answers begun during its pauses (``live_mic.Listening.ahead``)."""
    live_mic.note_asking(ctx.chat, ctx.owner, hands_free, persona_id, conversation_id, llm_name, chat_allowed(ctx))


def hear_turn(question: Any, listening: live_mic.Listening) -> tuple[str, Any]:
    """A hands-free question as text, and the answer begun on it during the pause (None when none
    was): the caller's to cancel once the turn is over. It was usually transcribed already, during
    the pause that ended it."""
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
def answer_turn(ctx: StudioContext, hands_free: str | None, persona_id: str | None, conversation_id: str | None,
                llm_name: str | None = None):
    """Hands-free: the question the recorder says has ended (its value: the session and the turn's
    number), transcribed (``hear_turn``) and answered live (``speak_live``). The player's clock
    already started from when the speech stopped. A turn talked over before its answer began is
    not answered (``Listening.question``): nothing is shown, and its next turn asks it whole."""
    listening = live_mic.sessions.get(ctx.owner, live_mic.session_id(hands_free))
    if listening is None:
        raise BadInput("Nothing has been heard yet — press Listen and ask.")
    found = listening.question(live_mic.turn_number(hands_free))
    if found is None or found[0].audio is None:
        return
    question, onsets = found
    text, ahead = hear_turn(question, listening)
    try:
        yield from speak_live(ctx, persona_id, text, conversation_id, llm_name, hands_free, onsets)
    finally:
        if ahead is not None:  # begun during the pause, not taken by the turn (another persona picked…)
            ahead.cancel()


def stop_live(ctx: StudioContext, take: str | None) -> Any:
    """Barge-in: the reply ``take`` (this owner's) says no further sentence."""
    if not live_mic.stop_take(ctx.owner, take):
        return gr.skip()
    return live_mic.STOPPED


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


