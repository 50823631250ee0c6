"""The Chat tab: talk with a persona — typed or spoken — and watch (or hear) every answer.

Layout: the settings on the left (persona, mode, LLM, reply length, "Reply as" video / audio only
/ text only), the chat in the middle (chatbot; under it the latest reply's sources, the passages
of the persona's documents it was given, numbered as it cites them; message box, microphone), and
on the right the latest reply's video or audio with the turn's facts, then "New conversation" and
the list of conversations. On a narrow window the columns stack in that order: pick, talk, watch,
go back.

Sending is three chained events, like ``gr.ChatInterface``: (1) check the message with the
pipeline's own rule, move it into a ``gr.State``, show it in the chatbot and close the box and
the button until the turn is over (a second message sent meanwhile would not know the
conversation the first one starts); (2) answer it: ``Chat.stream`` runs the turn in a worker
thread and hands back the reply so far as tokens arrive, which this handler (a generator) yields
into the chatbot, then the render's progress (on the video) and the video or audio; (3) refresh
the conversation list and reopen the box — after a failure too (``.failure`` as well as
``.then``: Gradio 6 runs ``.then`` only after success). Because (2) yields on its own thread,
the browser gets the reply as it is written, not when it is done. A failed turn stays recorded
by the pipeline; the chatbot is reloaded from the database so it shows what was kept, and a
question that got no answer goes back into the message box.

The programmatic ``/chat`` endpoint is a hidden trigger over hidden inputs (plain values: persona
id, message, conversation id, mode, LLM, output kind, max tokens, and last — so callers written
before it still work — hold) returning (reply, conversation id, video, audio, details, the reply's
sources and review status among them) — the same pattern
``gr.ChatInterface`` uses for its API — so scripts get a clean signature while the browser's
events carry the UI's state. Both run the same
``Chat.stream``. ``/transcribe`` is the microphone's own event: an audio file in, its text out
into the message box, ready to edit and send.

A video reply is answered live (``pipeline.converse``, as in the Live tab): each sentence goes
to the live player above "Latest reply" (``live_view``, named "chat") the moment it is drawn, and
the whole reply lands in "Latest reply" at the end without playing again. The ``/chat`` endpoint
renders video replies whole, as before.

"Report this reply" under the chat (the latest reply of the conversation on screen reported as
wrong, with a reason and the right answer) is laid out, wired and handled in ``reports_section``,
given the ``conversation`` state.

"Hold replies for review" in the settings shows whether the conversation on screen holds its
replies for the creator's review (a new one: as its persona says). Ticking it for a conversation
on screen changes that conversation at once (``pipeline.review.set_hold``); before the first
message, the conversation starts with it. A held reply is shown as such — marked, quoted, neither
spoken nor rendered — until it is approved in the Personas tab's Review section.

Every handler is a module-level function taking the ``StudioContext`` and the event's inputs;
``build`` lays out the components and wires the events to them (``common.bind``). What the
components show is shaped in ``chat_view``.

The tab opens on the persona of the user's latest conversation (the first persona when there is
none). Changing persona or mode starts a new conversation (the pipeline keeps one persona and one
mode per conversation); the old one stays in the list. Those handlers listen to ``.input`` (the
user's changes only), so resuming a conversation can set persona and mode without resetting it.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from personas.model import Persona
from pipeline import review as pipeline_review
from pipeline.chat import REPLY_TOKENS, ChatRequest, check_message, holds_replies, persona_llm_name
from pipeline.converse import converse
from pipeline.db import Turn
from pipeline.errors import BadInput, StudioError
from pipeline.speech.stt import transcribe_file

from . import chat_view as view
from . import live_view, reports_section
from .chat_view import NO_MODE, THINKING
from .common import StudioContext, bind, progress_callback, shown_errors
from .limits import quota
from .video_view import job_player

OUTPUT_CHOICES = [("Video", "video"), ("Audio only", "audio"), ("Text only", "text")]
LIST_HEADERS = ["Persona", "Title", "Updated"]
LIST_LIMIT = 50
PRIVATE = {"api_visibility": "private"}
PLAYER = "chat"  # this tab's live player's name (live_view)

CHAT_API_DESCRIPTION = (
    "Send a message to a persona and get its reply. Inputs: persona id (e.g. 'jenniel'); the message; "
    "a conversation id to continue, or '' to start a new conversation; mode ('' for none; only for a new "
    "conversation); LLM backend ('' for the persona's own, else the configured one); output: 'text', 'audio' "
    "(the reply spoken) or 'video' (the reply rendered with the persona's portrait and voice); max_tokens, the "
    "longest reply; hold: true to hold the conversation's replies for your review (not spoken or rendered until "
    "approved with /review_approve), false to deliver them whatever the persona says, '' (the default) as the "
    "conversation or its persona says. Returns (reply text, conversation id, video or None, audio or None, "
    "details: turn_id, llm, model, latency, tokens, cached, job_id, notes, review — 'pending' when the reply is "
    "held — and sources, the passages of the persona's documents the reply was given, [{source, locator, text}], "
    "numbered from 1 as it cites them). Streams: with Client.submit the reply grows as it is written."
)
TRANSCRIBE_API_DESCRIPTION = (
    "Transcribe speech (any audio file: wav, mp3, webm, ogg, m4a; up to ten minutes) with the configured "
    "speech-to-text backend. Returns the text ('' when no words were heard)."
)


def build(ctx: StudioContext, tab: gr.Tab, **wiring: Any) -> None:
    personas = ctx.persona_choices()
    shown = _persona(ctx, personas[0][1] if personas else None)  # its modes until the tab is opened
    conversation = gr.State(None)  # id of the conversation on screen; None: the next message starts one
    pending = gr.State("")  # the message being answered (the box is cleared when it is sent)
    listed = gr.State([])  # [(row, conversation id)] for the rows in the list, to map a clicked row back

    with gr.Row(equal_height=False, elem_id="chat-layout"):
        with gr.Column(scale=2, min_width=260, elem_id="chat-settings"):
            persona = gr.Dropdown(personas, value=None, label="Persona", elem_id="chat-persona")
            mode = gr.Dropdown(view.mode_choices(shown), value=NO_MODE, label="Mode", elem_id="chat-mode",
                               info="Changing persona or mode starts a new conversation.")
            llm = gr.Dropdown(ctx.backend_choices("llm"), value=_default_llm(ctx, shown), label="LLM",
                              elem_id="chat-llm")
            length = gr.Slider(20, 600, value=REPLY_TOKENS, step=10, label="Reply length (max tokens)",
                               elem_id="chat-length")
            output = gr.Radio(OUTPUT_CHOICES, value="video", label="Reply as", elem_id="chat-output")
            hold = gr.Checkbox(value=_holds(shown), label="Hold replies for review",
                               info="approve them in the Personas tab's Review section before they are delivered",
                               elem_id="chat-hold")
        with gr.Column(scale=4, min_width=320, elem_id="chat-main"):
            chatbot = gr.Chatbot(label="Chat", height=430, elem_id="chat-chatbot", buttons=["copy"],
                                 placeholder=view.greeting(shown), feedback_options=None)
            sources = gr.Markdown(elem_id="chat-sources", latex_delimiters=[])
            with gr.Row(equal_height=True):
                message = gr.Textbox(label="Message", placeholder="Type a message and press Enter",
                                     show_label=False, lines=1, max_lines=6, scale=5, elem_id="chat-message")
                send = gr.Button("Send", variant="primary", scale=1, min_width=80, elem_id="chat-send")
            mic = gr.Audio(sources=["microphone", "upload"], type="filepath", label="Say it (transcribed into the box)",
                           buttons=["download"], elem_id="chat-mic")
            # -- Report this reply: laid out, wired and handled in studio/reports_section.py ----------
            reports_section.build_chat_report(ctx, conversation=conversation)
        with gr.Column(scale=3, min_width=300, elem_id="chat-reply"):
            player = gr.HTML(value=PLAYER, html_template=live_view.PLAYER_HTML, css_template=live_view.PLAYER_CSS,
                    js_on_load=live_view.PLAYER_JS, elem_id="chat-player")
            video = gr.Video(label="Latest reply", autoplay=True, interactive=False, height=380, buttons=["download"],
                             elem_id="chat-video")
            segment = gr.File(visible="hidden", elem_id="chat-segment")  # a live reply's sentences, for the player
            audio = gr.Audio(label="Latest reply", autoplay=True, interactive=False, visible=False, buttons=["download"],
                             elem_id="chat-audio")
            status = gr.Markdown(elem_id="chat-status")
            new = gr.Button("New conversation", elem_id="chat-new")
            conversations = gr.Dataframe(headers=LIST_HEADERS, value=[], label="Conversations (click one to resume)",
                                         interactive=False, wrap=True, max_height=320, column_widths=["24%", "48%", "28%"],
                                         elem_id="chat-conversations")

    # The /chat endpoint's own inputs and outputs: plain values, never shown (see the module docstring).
    with gr.Column(visible=False):
        api_inputs = [gr.Textbox(label="persona"), gr.Textbox(label="message"), gr.Textbox(label="conversation_id"),
                      gr.Textbox(label="mode"), gr.Textbox(label="llm"), gr.Textbox(value="text", label="output"),
                      gr.Number(value=REPLY_TOKENS, precision=0, label="max_tokens"),
                      gr.Textbox(value="", label="hold")]  # last: callers written before it still work
        api_outputs = [gr.Textbox(label="reply"), gr.Textbox(label="conversation_id"), gr.Video(label="video"),
                       gr.Audio(label="audio"), gr.JSON(label="details")]
        api_trigger = gr.Button("chat", elem_id="chat-api")

    fresh_chat = [conversation, chatbot, status, sources, hold]
    turn_outputs = {"chatbot": chatbot, "conversation": conversation, "status": status, "sources": sources,
                    "video": video, "audio": audio, "message": message, "segment": segment}
    segment.change(None, segment, None, js=live_view.enqueue_js(PLAYER), **PRIVATE)

    # One bound function per handler: events wired to the same function share its concurrency group.
    start_over, turn_over = bind(new_conversation, ctx), bind(end_turn, ctx)
    tab.select(bind(refresh, ctx), [persona, llm, conversation],
               [persona, mode, llm, conversations, listed, *fresh_chat], **PRIVATE)
    persona.input(bind(pick_persona, ctx), persona, [mode, llm, *fresh_chat], **PRIVATE)
    mode.input(start_over, persona, fresh_chat, **PRIVATE)
    new.click(start_over, persona, fresh_chat, **PRIVATE)
    chatbot.clear(start_over, persona, fresh_chat, **PRIVATE)  # its bin icon: a fresh start, not a blank view
    output.change(reply_player, output, [player, video, audio], queue=False, show_progress="hidden", **PRIVATE)
    conversations.select(bind(resume, ctx), listed,
                         [persona, mode, llm, conversation, chatbot, status, sources, video, audio, hold], **PRIVATE)
    hold.input(bind(hold_replies, ctx), [conversation, hold], status, show_progress="hidden", **PRIVATE)

    # Queued (a gr.Error from an unqueued event never reaches the page) but never kept waiting
    # behind someone's render: it only checks the message and echoes it.
    # The quota is checked at the door twice: on sending (its message shows under the box) and on
    # answering (a client posting the answer event on its own meets it too).
    sent = gr.on([message.submit, send.click], take_message, [message, chatbot, output],
                 [message, send, pending, chatbot], concurrency_limit=None, show_progress="hidden",
                 validator=quota(ctx, "chat", output_at=2), js=live_view.reset_js(PLAYER), **PRIVATE)
    answering = sent.success(bind(answer, ctx, turn_outputs),
                             [pending, persona, conversation, mode, llm, output, length, hold, chatbot],
                             list(turn_outputs.values()), show_progress_on=[video, audio],
                             validator=quota(ctx, "chat", output_at=5), **PRIVATE)
    # Gradio 6 runs ``.then`` only after success; a failed turn must give the box back too.
    for after in (answering.then, answering.failure):
        after(turn_over, None, [conversations, listed, message, send], show_progress="hidden", **PRIVATE)

    # preprocess=False: the values arrive as sent, so a reply length that is not a number is the
    # pipeline's readable error rather than Gradio's generic one.
    api_trigger.click(bind(chat, ctx), api_inputs, api_outputs, api_name="chat", api_description=CHAT_API_DESCRIPTION,
                      validator=quota(ctx, "chat", output_at=5), preprocess=False)
    gr.on([mic.stop_recording, mic.upload], bind(transcribe, ctx), mic, message, api_name="transcribe",
          api_description=TRANSCRIBE_API_DESCRIPTION, show_progress_on=[message])


# -- the settings and the conversation list ---------------------------------------------------------
def new_conversation(ctx: StudioContext, persona_id: str | None) -> tuple:
    """(conversation, chatbot, status, sources, hold) for a fresh start with ``persona_id``."""
    persona = _persona(ctx, persona_id)
    return None, gr.update(value=[], placeholder=view.greeting(persona)), "", "", _holds(persona)


@shown_errors
def pick_persona(ctx: StudioContext, persona_id: str | None) -> tuple:
    """(mode, llm, *fresh chat): another persona, its modes and its LLM, a new conversation."""
    persona = _persona(ctx, persona_id)
    return (gr.update(choices=view.mode_choices(persona), value=NO_MODE), _default_llm(ctx, persona),
            *new_conversation(ctx, persona_id))


@shown_errors
def refresh(ctx: StudioContext, persona_id: str | None, llm_name: str | None, conversation_id: str | None) -> tuple:
    """On opening the tab: personas and LLM backends may have come or gone since the page loaded,
    and the persona may hold its replies now (or no longer)."""
    choices = ctx.persona_choices()
    ids = [value for _, value in choices]
    backends = ctx.backend_choices("llm")
    names = [value for _, value in backends]
    kept = persona_id if persona_id in ids else _last_used(ctx, ids)
    rows, pairs = _conversation_rows(ctx)
    persona_update = gr.update(choices=choices, value=kept)
    persona = _persona(ctx, kept)
    if kept == persona_id:
        return (persona_update, gr.skip(), gr.update(choices=backends, value=llm_name if llm_name in names
                                                     else _default_llm(ctx, persona)),
                rows, pairs, gr.skip(), gr.skip(), gr.skip(), gr.skip(), _holds_now(ctx, persona, conversation_id))
    return (persona_update, gr.update(choices=view.mode_choices(persona), value=NO_MODE),
            gr.update(choices=backends, value=_default_llm(ctx, persona)), rows, pairs,
            *new_conversation(ctx, kept))


def _last_used(ctx: StudioContext, ids: list[str]) -> str | None:
    """The persona of this user's latest conversation, else the first: what the tab opens on."""
    latest = ctx.chat.store.list(limit=1)
    if latest and latest[0].persona in ids:
        return latest[0].persona
    return ids[0] if ids else None


@shown_errors
def resume(ctx: StudioContext, pairs: list, event: gr.SelectData) -> tuple:
    """A clicked conversation back on screen: (persona, mode, llm, conversation, chatbot, status,
    sources, video, audio, hold)."""
    conversation_id = view.clicked(pairs, event.row_value, event.index)
    if conversation_id is None:
        return (gr.skip(),) * 10
    record = ctx.chat.store.get(conversation_id)
    persona = ctx.personas.get(record.persona)  # deleted since? say so now, in the store's words
    turns = ctx.chat.history(conversation_id)
    names = [value for _, value in ctx.backend_choices("llm")]
    latest_video, latest_audio = _latest_media(ctx, turns)
    return (gr.update(choices=ctx.persona_choices(), value=record.persona),
            gr.update(choices=view.mode_choices(persona), value=record.mode or NO_MODE),
            record.llm if record.llm in names else gr.skip(),
            conversation_id, gr.update(value=view.chat_messages(turns), placeholder=view.greeting(persona)),
            view.resumed_facts(record, turns), view.sources_markdown(view.latest_sources(turns)), latest_video,
            latest_audio, holds_replies(persona, record))


@shown_errors
def hold_replies(ctx: StudioContext, conversation_id: str | None, hold: bool) -> str:
    """The checkbox ticked or cleared: the conversation on screen holds its next replies, or not
    (none yet: the next message starts one that does)."""
    if not conversation_id:
        return view.hold_for_next(hold)
    pipeline_review.set_hold(ctx.settings, conversation_id, bool(hold), owner=ctx.owner)
    return view.hold_changed(hold)


def end_turn(ctx: StudioContext) -> tuple:
    """(conversations, listed, message, send) once a turn is over, answered or not."""
    return *_conversation_rows(ctx), gr.update(interactive=True), gr.update(interactive=True)


def reply_player(output_kind: str) -> tuple:
    """(live player, video, audio): the players for the kind of reply asked for."""
    return (gr.update(visible=output_kind == "video"), gr.update(visible=output_kind != "audio"),
            gr.update(visible=output_kind == "audio"))


# -- sending a message (see the module docstring) ----------------------------------------------------
@shown_errors
def take_message(text: str, messages: list, _reply_as: str | None = None) -> tuple:
    """(message, send, pending, chatbot): the message checked, echoed, and the box closed."""
    question = check_message(text)  # the pipeline's own rule and words for an empty or too long message
    # The box and button stay off until the turn ends: a second message sent meanwhile would
    # not know the conversation the first one is starting.
    return (gr.update(value="", interactive=False), gr.update(interactive=False), question,
            [*messages, {"role": "user", "content": question}, {"role": "assistant", "content": THINKING}])


@shown_errors
def answer(ctx: StudioContext, question: str, persona_id: str, conversation_id: str | None, mode_name: str,
           llm_name: str, output_kind: str, max_tokens: float, hold: bool, messages: list, progress=gr.Progress()):
    """The reply as it is written, then its sources, video or audio; yields what changes, by name
    (chatbot, conversation, status, sources, video, audio, message). A failed turn reloads the
    chatbot from what the pipeline kept and puts an unanswered question back in the box."""
    persona = _persona(ctx, persona_id)
    request = _chat_request(persona_id, question, conversation_id, mode_name, llm_name, output_kind, max_tokens,
                            None if persona is not None and bool(hold) == _holds(persona) else bool(hold))
    show = progress_callback(progress)
    messages = list(messages)
    yield {"sources": ""}  # the previous reply's sources go with it
    if request.output == "video":
        yield from _answer_live(ctx, request, messages, conversation_id, question, show)
        return
    try:
        for event in ctx.chat.stream(request):
            if event.kind == "text":
                messages[-1] = {"role": "assistant", "content": event.text}
                yield {"chatbot": messages}
            elif event.kind == "progress":
                show(event.fraction, event.message)
            else:
                reply = event.reply
                messages[-1] = {"role": "assistant", "content": view.reply_bubble(reply.reply, reply.review)}
                yield {"chatbot": messages, "conversation": reply.conversation_id, "status": view.reply_facts(reply),
                       "sources": view.sources_markdown(reply.sources),
                       "video": _reply_player(ctx, reply) if reply.video else gr.skip(),
                       "audio": view.audio_value(reply.audio) if reply.audio else gr.skip()}
    except StudioError as error:
        yield _after_failure(ctx, error, conversation_id, question)
        raise


def _after_failure(ctx: StudioContext, error: StudioError, conversation_id: str | None, question: str) -> dict:
    """What a failed turn leaves on screen: the chat as the pipeline kept it, and a question that
    got no answer back in the box (a retry is one click)."""
    kept = getattr(error, "conversation_id", None) or conversation_id
    turns = ctx.chat.history(kept) if kept else []
    unanswered = not turns or (turns[-1].role == "user" and turns[-1].error)
    return {"chatbot": view.chat_messages(turns), "conversation": kept,
            "message": question if unanswered else gr.skip()}


def _answer_live(ctx: StudioContext, request: ChatRequest, messages: list, conversation_id: str | None,
                 question: str, show) -> Any:
    """A video reply, live (``pipeline.converse``): each sentence to the player as soon as it is
    drawn, while the rest is written; the whole reply into "Latest reply" at the end, not played
    again. A renderer that does not stream (or a held reply) ends as a chat video reply does."""
    spoken_live = False
    try:
        for event in converse(ctx.chat, request):
            if event.kind == "text":
                messages[-1] = {"role": "assistant", "content": event.text}
                yield {"chatbot": messages}
            elif event.kind == "segment":
                spoken_live = True
                yield {"segment": str(event.segment.video)}
            elif event.kind == "progress":
                show(event.fraction, event.note)
            elif event.kind == "note":
                yield {"status": f"_{event.note}_"}
            elif event.kind == "reply":
                reply = event.reply
                messages[-1] = {"role": "assistant", "content": view.reply_bubble(reply.reply, reply.review)}
                whole = _reply_player(ctx, reply, autoplay=not spoken_live) if reply.video else gr.skip()
                yield {"chatbot": messages, "conversation": reply.conversation_id, "status": view.reply_facts(reply),
                       "sources": view.sources_markdown(reply.sources), "video": whole}
    except StudioError as error:
        yield _after_failure(ctx, error, conversation_id, question)
        raise


# -- the programmatic endpoints (their parameter names are the API's) --------------------------------
@shown_errors
def chat(ctx: StudioContext, persona: str, message: str, conversation_id: str, mode: str, llm: str, output: str,
         max_tokens: float | None, hold: str | bool | None = None, progress=gr.Progress()):
    request = _chat_request(persona, message, conversation_id, mode, llm, output or "text", max_tokens,
                            pipeline_review.parse_hold(hold))
    show = progress_callback(progress)
    for event in ctx.chat.stream(request):
        if event.kind == "text":
            yield event.text, conversation_id or "", None, None, None
        elif event.kind == "progress":
            show(event.fraction, event.message)
        else:
            reply = event.reply
            details = {k: v for k, v in reply.to_dict().items() if k not in ("video", "audio")}  # files: outputs
            yield (reply.reply, reply.conversation_id, reply.video,
                   view.audio_value(reply.audio) if reply.audio else None, details)


@shown_errors
def transcribe(ctx: StudioContext, audio: str | None, progress=gr.Progress()) -> str:
    if not audio:
        return gr.skip()  # the recording was cleared
    transcript = transcribe_file(ctx.settings, audio, progress=progress_callback(progress),
                                 display_name="the recording")
    if not transcript.text:
        gr.Warning("No words were heard in the recording — try again, closer to the microphone.")
    return transcript.text


def _chat_request(persona: str | None, message: str | None, conversation_id: str | None, mode: str | None,
                  llm: str | None, output: str | None, max_tokens: float | None,
                  hold: bool | None = None) -> ChatRequest:
    """Form or API values → the pipeline's request ("" means "not given": a new conversation, no
    mode, the persona's LLM). The pipeline checks everything else and says what is wrong."""
    mode = (mode or "").strip()
    return ChatRequest(persona=_text(persona), message=_text(message, strip=False),
                       conversation_id=_text(conversation_id) or None,
                       mode=None if mode in ("", NO_MODE) else mode, llm=_text(llm) or None,
                       output=_text(output), max_tokens=_tokens(max_tokens), hold=hold)


def _text(value, *, strip: bool = True) -> str:
    """A text field as sent: the API may send anything where a text is expected."""
    if value is not None and not isinstance(value, str):
        raise BadInput(f"expected text, got {value!r}")
    return (value or "").strip() if strip else value or ""


def _tokens(value) -> int:
    """The reply length as sent (the pipeline judges its range), or the default when not given."""
    if value in (None, ""):
        return REPLY_TOKENS
    try:
        number = float(value)
        whole = int(number)
    except (TypeError, ValueError, OverflowError):
        raise BadInput(f"the reply length must be a whole number of tokens, got {value!r}") from None
    if whole != number:
        raise BadInput(f"the reply length must be a whole number of tokens, got {value!r}")
    return whole


# -- what the handlers look up -------------------------------------------------------------------------
def _persona(ctx: StudioContext, persona_id: str | None) -> Persona | None:
    if not persona_id:
        return None
    try:
        return ctx.personas.get(persona_id)
    except StudioError:
        return None  # gone since the list was made; the next message says so in the pipeline's words


def _holds(persona: Persona | None) -> bool:
    """Whether a new conversation with ``persona`` holds its replies (its persona's setting)."""
    return bool(persona and persona.review.hold_replies)


def _holds_now(ctx: StudioContext, persona: Persona | None, conversation_id: str | None) -> bool:
    """Whether the conversation on screen holds its replies (none: whether a new one would)."""
    if conversation_id and persona is not None:
        try:
            return holds_replies(persona, ctx.chat.store.get(conversation_id))
        except StudioError:
            pass  # deleted since: the next message says so
    return _holds(persona)


def _default_llm(ctx: StudioContext, persona: Persona | None) -> str:
    return persona_llm_name(ctx.settings, persona) if persona else ctx.settings.llm


def _conversation_rows(ctx: StudioContext) -> tuple[list[list[str]], list]:
    return view.conversation_rows(ctx.chat.store.list(limit=LIST_LIMIT))


def _reply_player(ctx: StudioContext, reply, **props: Any) -> Any:
    """A reply's video for "Latest reply", with the captions of the job that made it."""
    job = ctx.runner.store.get(reply.job_id) if reply.job_id else None
    return job_player(ctx.settings, job, **props) or gr.update(value=reply.video, **props)


def _latest_media(ctx: StudioContext, turns: list[Turn]) -> tuple[Any, Any]:
    """The newest reply's video (a file in the job folder) and audio (as samples: it lives outside
    the served folders)."""
    for turn in reversed(turns):
        if turn.job_id:
            try:
                job = ctx.runner.store.get(turn.job_id)
            except StudioError:
                continue  # deleted in History
            if job.video_path:
                return job_player(ctx.settings, job) or job.video_path, gr.skip()
        if turn.audio_path:
            return gr.skip(), view.audio_value(turn.audio_path)
    return None, None
