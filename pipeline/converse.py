"""A chat turn answered live: the reply spoken and drawn sentence by sentence while it is written.

``converse(chat, request)`` runs the chat turn (``Chat.stream``: the model writes on a worker
thread) and, on this thread, cuts the text into sentences as it arrives (``SentenceSplitter``)
and hands each to a ``LiveTake``: a playable segment per sentence, ready while the model is still
writing the next one. It yields ``LiveEvent``s: "text" (the reply so far), "segment" (the newest
playable segment), "note" (something the viewer should know, such as why this renderer does not
stream) and, last, "reply" (the finished ``ChatReply``, whose ``video`` is the whole reply).

The whole reply is also a job in History, as a rendered chat reply is: a job of kind "live",
recorded when the turn starts, so a reply that stops half way still leaves its job with what was
said (status "interrupted" or "failed", the video of the sentences spoken, and its captions,
``output.vtt`` and ``output.srt`` beside it as a render's are). Its timings say when
the first segment was ready and what the segments cost in speech, analysis, render and packaging.

What is spoken:

- the persona's voice, portrait and default controls and emotion (the controller that proposes
  controls from the words is skipped: it would cost an LLM call before the first frame);
- complete sentences only when the model was cut off by its token limit: the unfinished last
  sentence is not said (``finish_reason == "length"``);
- at most ``max_sentences`` sentences (None: the persona's spoken length, ``speaking.max_sentences``,
  which the prompt asks the model to keep to — the turn is asked for as a spoken one).

A caller that stops iterating (a browser that disconnects: Gradio closes the generator) leaves
the job "interrupted" with what was said, recorded on a thread of its own within a second.

A hands-free question's answer may have been begun during the pause that ended it
(``Chat.prefetch`` with ``live_request(request)``): the turn then takes it instead of asking the
model (``pipeline.prefetch``).

``stop`` (a ``threading.Event``) is barge-in: once set, no further sentence is spoken, and the job
keeps what was. The model's turn finishes in the background and is recorded as usual.

A renderer that does not stream (``Capabilities.streams`` false) answers with the whole reply
rendered at once, as the chat's ``output="video"`` does, after a "note" saying why. A reply the
chat will hold for review (``Chat.holds``) is not spoken at all: it is written and held as a
video reply, and approving it renders it (``pipeline.review``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from .captions import write_captions
from .chat import HELD_NOTE, Chat, ChatReply, ChatRequest
from .db import now
from .errors import BadInput, StudioError
from .live import LIVE_KIND, LiveTake, Segment
from .render import renderers
from .sentences import SentenceSplitter, is_complete
from .speech.tts import get_voice
from .speech.tuning import tuning_option


@dataclass
class LiveEvent:
    """One update of a live reply; see the module docstring for the kinds."""

    kind: str  # "text", "segment", "note", "progress" (a whole reply's render) or "reply"
    t_s: float  # seconds since the turn started
    fraction: float = 0.0  # "progress": how far (note: what is happening)
    text: str = ""  # the reply so far
    segment: Segment | None = None
    note: str = ""
    reply: ChatReply | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "t_s": round(self.t_s, 4), "text": self.text}
        if self.segment is not None:
            data["segment"] = self.segment.to_dict()
        if self.note:
            data["note"] = self.note
        if self.reply is not None:
            data["reply"] = self.reply.to_dict()
        return data


def live_request(request: ChatRequest) -> ChatRequest:
    """The chat turn a live reply asks for: text, written to be spoken. An answer begun ahead of
    the turn (``Chat.prefetch``) must be asked for with this request to be the turn's."""
    return replace(request, output="text", spoken=True)


def converse(chat: Chat, request: ChatRequest, *, stop: threading.Event | None = None,
             started: float | None = None, max_sentences: int | None = None) -> Iterator[LiveEvent]:
    """The turn's live events (see the module docstring); raises what the chat raises, after
    recording the live job with what was said."""
    started = time.perf_counter() if started is None else started
    stop = stop or threading.Event()
    if max_sentences is not None and max_sentences < 1:
        raise BadInput(f"max_sentences must be at least 1, got {max_sentences}")
    settings = chat.settings
    persona = chat.personas.get(request.persona)
    max_sentences = max_sentences or persona.speaking.max_sentences
    defaults = chat.personas.render_defaults(persona)
    if defaults.portrait is None:
        raise BadInput(f"persona {persona.id} has no portrait to animate — add one in the Personas tab")
    if chat.holds(request, persona):
        note = HELD_NOTE.split(":")[0]
        yield from _whole_reply(chat, request, started, note=f"{note}: this reply is not spoken live")
        return
    renderer = renderers.create(settings.renderer, settings)
    capabilities = renderer.capabilities(settings)
    if not capabilities.streams:
        yield from _whole_reply(chat, request, started, note=f"{renderer.label or renderer.name} does not stream "
                                f"({capabilities.whole_reply_only}); the reply is rendered whole, then shown")
        return
    controls = defaults.as_controls()
    voice = get_voice(defaults.voice, settings, defaults.voice_tuning)
    job = chat.jobs.create(kind=LIVE_KIND, persona=persona.id, backend=renderer.name, status="running",
                           started_at=now(), image_path=str(defaults.portrait), controls_user=defaults.controls,
                           controls_final=controls.to_dict(),
                           options={"voice": defaults.voice, **tuning_option(defaults.voice_tuning),
                                    "max_side": settings.max_side, "fps": settings.fps,
                                    "emotion": defaults.emotion, "live": True})
    job_dir = settings.job_dir(job.id)
    take = LiveTake(portrait=defaults.portrait, controls=controls, voice=voice, renderer=renderer,
                    folder=job_dir / "live", max_side=settings.max_side, fps=settings.fps, started=started)
    splitter = SentenceSplitter()
    spoken: list[str] = []
    text, reply = "", None

    def speak(sentence: str) -> Iterator[LiveEvent]:
        if stop.is_set() or len(spoken) >= max_sentences:
            return
        segment = take.say(sentence)
        spoken.append(sentence)
        if segment is not None:
            yield LiveEvent("segment", time.perf_counter() - started, text=text, segment=segment)

    try:
        for event in chat.stream(live_request(request)):
            if event.kind == "text":
                new, text = event.text[len(text):], event.text
                yield LiveEvent("text", time.perf_counter() - started, text=text)
                for sentence in splitter.feed(new):
                    yield from speak(sentence)
            elif event.kind == "reply":
                reply = event.reply
                text = reply.reply
        rest = splitter.flush()
        if rest and reply is not None and reply.finish_reason == "length" and not is_complete(rest[-1]):
            rest.pop()  # cut off by the token limit: never say half a sentence
        for sentence in rest:
            yield from speak(sentence)
    except StudioError as error:
        _keep(chat, take, job.id, "failed", f"the reply failed after {len(take.segments)} spoken sentences: {error}")
        raise
    except GeneratorExit:  # the viewer went away (the caller closed us, or dropped us and the collector did)
        # Kept on a thread of its own: a generator dropped mid-reply may be finalised inside some
        # other database write of this thread, which this one would then wait for forever.
        threading.Thread(target=_keep, args=(chat, take, job.id, "interrupted",
                                             f"the viewer left after {len(take.segments)} spoken sentences"),
                         name="live-keep", daemon=False).start()
        raise
    except BaseException:
        _keep(chat, take, job.id, "interrupted", "the live reply was stopped")
        raise
    if reply is None:  # the stream ended without a reply: the chat raised, handled above
        raise StudioError("the chat turn ended without a reply")
    status, message = ("interrupted", f"stopped after {len(take.segments)} spoken sentences (the viewer spoke)") \
        if stop.is_set() else ("done", None)
    video = _keep(chat, take, job.id, status, message)
    chat.store.update_turn(reply.turn_id, job_id=job.id)
    reply.job_id, reply.video = job.id, str(video) if video else None
    yield LiveEvent("reply", time.perf_counter() - started, text=reply.reply, reply=reply)


def _keep(chat: Chat, take: LiveTake, job_id: str, status: str, message: str | None):
    """Record the live job as ``status`` with the video of what was said (None when nothing was)."""
    video = None
    fields: dict[str, Any] = {}
    if take.segments:
        out = chat.settings.job_dir(job_id) / "output.mp4"
        try:
            video = take.finish(out)
        except StudioError as error:
            message = f"{message}; the reply's video could not be joined: {error}" if message else str(error)
            status = "failed"
        else:
            fields.update(video_path=str(video), duration_s=round(take.duration_s, 3),
                          captions=write_captions(out.parent, take.captions()))
    totals: dict[str, float] = {}
    for segment in take.segments:
        for name, seconds in segment.timings.items():
            totals[name] = round(totals.get(name, 0.0) + seconds, 4)
    if take.segments:
        totals["first_segment_ready"] = take.segments[0].ready_s
    notes = [f"spoken live, {len(take.segments)} sentences, each a segment played as it was ready"]
    chat.jobs.update(job_id, status=status, finished_at=now(), error=message if status != "done" else None,
                     error_stage="live" if status != "done" else None, timings=totals, notes=notes,
                     text=" ".join(segment.text for segment in take.segments) or None, **fields)
    take.close()
    return video


def _whole_reply(chat: Chat, request: ChatRequest, started: float, *, note: str) -> Iterator[LiveEvent]:
    """The turn as the chat answers a video reply (rendered whole, or held), after ``note``."""
    yield LiveEvent("note", time.perf_counter() - started, note=note)
    reply = None
    for event in chat.stream(replace(request, output="video")):
        if event.kind == "text":
            yield LiveEvent("text", time.perf_counter() - started, text=event.text)
        elif event.kind == "progress":
            yield LiveEvent("progress", time.perf_counter() - started, note=event.message, fraction=event.fraction)
        elif event.kind == "reply":
            reply = event.reply
    if reply is not None:
        yield LiveEvent("reply", time.perf_counter() - started, text=reply.reply, reply=reply)
