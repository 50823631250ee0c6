"""The Live tab's hands-free microphone: the page's own recorder, and the server side that hears it.

Why not Gradio's streaming ``gr.Audio``: measured in Chromium on the 2-core machine, its recorder
keeps about 0.7 of a core busy for as long as it records (its live waveform and its per-chunk
events), and the studio's other 1.3 cores then transcribe, speak and draw the answer at half
speed. Gradio also keeps only the newest chunk when the server falls behind, so a busy machine lost
up to 14% of a question. This recorder costs about 0.15 of a core, and loses nothing.

**The page** (``MIC_HTML``/``MIC_JS``, a ``gr.HTML``): Listen asks for the microphone and reads it
through an ``AudioWorklet`` at 16 kHz (the VAD's and Whisper's rate; a browser that cannot record
at 16 kHz sends its own rate, and the detector resamples). Every ``CHUNK_S`` the samples (16-bit,
base64) go to the server function ``hear`` — one request at a time, in order: samples recorded
while a request is on its way wait and go with the next, so nothing is dropped and a slow server
gets fewer, longer chunks. The answer says what the page must do: ``barged`` (someone started
talking: the player stops at once), ``turn`` (a question ended: the player's clock starts from
when the speech stopped, and the component's ``submit`` event asks it — ``live_tab.answer_turn``),
``line`` (the recorder's own status line) and ``stop`` (listening is over, with why). A microphone
that cannot be had (no device, permission denied, a page that is not secure) is one message in
that line.

**The server**: each page's session is a ``Listening`` (its turn detector, its early transcripts,
the question last heard, the reply being spoken), kept in this process under its owner and a
random id the page made (``sessions``): a request names its id, and only its owner's sessions are
looked in, so nobody feeds or reads another's. The component's value is that id (JSON, with the
turn when one is asked), so the tab's events — the turn, a typed question, a persona picked — find
the same session. At most ``SESSIONS_PER_OWNER`` per owner (the oldest goes), and one not heard
from for ``IDLE_S`` is forgotten.

``hear`` is reached through ``/gradio_api/component_server``, not through an event: it runs for its
caller's owner through the guard (``guard.acting_for_caller``), takes no files, and checks every
field of its payload (``audio_chunk``); a bad one is one line in the answer (``error``) and stops
listening, with nothing kept of it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, NamedTuple

import numpy as np

from pipeline.chat import Chat, ChatRequest
from pipeline.converse import live_request
from pipeline.errors import StudioError
from pipeline.hearing import EarlyTranscripts
from pipeline.speech.stt import transcribe_speech
from pipeline.turns import TurnDetector, TurnEvent

from .live_view import MIC_UNAVAILABLE

log = logging.getLogger("studio.live_tab")  # the benchmark reads the hands-free lines there

CHUNK_S = 0.1  # how often the page sends what it recorded (barge-in and the end of a turn wait up to this)
RATES = (8_000, 96_000)  # sample rates a page may send, Hz
MAX_CHUNK_S = 10.0  # one request may carry at most this much audio (a page that fell behind sends more at once)
MAX_LISTEN_S = 30 * 60  # a listening session ends after this (Listen again to go on)
SESSIONS_PER_OWNER = 4  # listening pages per owner; a fifth forgets the oldest
IDLE_S = 120.0  # a session not heard from this long is forgotten (its page closed)
ID = re.compile(r"[0-9a-f]{32}")

LISTENING = "Listening… ask a question; a pause ends it, and talking over the reply stops it."
HEARD = "Heard you — working out what you said…"
STOPPED = "Stopped: the rest of the reply is not spoken. What was said is kept in History."


def too_long_line(limit_s: int) -> str:
    return (f"That went on for over {limit_s} seconds without a pause, so it was not asked — ask in shorter "
            "pieces. Listening again after the next pause.")


# -- the replies being spoken, and how they are stopped (barge-in, the Stop button) ---------------

_stops: dict[tuple[str | None, str], threading.Event] = {}
_stops_lock = threading.Lock()


def register_take(owner: str | None, take: str) -> threading.Event:
    """A new reply ``take`` of ``owner``: its stop event (set: no further sentence is spoken)."""
    stop = threading.Event()
    with _stops_lock:
        _stops[(owner, take)] = stop
    return stop


def forget_take(owner: str | None, take: str) -> None:
    with _stops_lock:
        _stops.pop((owner, take), None)


def stop_take(owner: str | None, take: str | None) -> bool:
    """Stop ``owner``'s reply ``take`` (nobody stops another's); whether there was one to stop."""
    with _stops_lock:
        stop = _stops.get((owner, take or ""))
    if stop is None:
        return False
    stop.set()
    return True


# -- one page's listening session ------------------------------------------------------------------

class Asking(NamedTuple):
    """What a page would ask with now: an answer begun during a pause is asked so (``Listening.ahead``)."""

    chat: Chat
    persona_id: str | None
    conversation_id: str | None
    llm_name: str | None
    allowed: Callable[[], bool]  # the owner's chat quota, checked when the answer is begun


class Listening:
    """One page's hands-free session (see the module docstring). ``feed`` takes the page's chunks in
    order; ``asking`` is what an answer begun during a pause is asked with (``ahead``); ``take`` the
    reply this page is speaking now, which someone talking stops."""

    def __init__(self, settings, owner: str | None) -> None:
        self.owner = owner
        self.detector = TurnDetector()  # raises BackendUnavailable without the VAD model
        self.early = EarlyTranscripts(lambda audio, rate: transcribe_speech(settings, audio, rate),
                                      self.ahead if settings.answer_ahead else None)
        self.asking: Asking | None = None
        self.take: str | None = None
        self.turns = 0
        self.onsets = 0
        self.questions: dict[int, tuple[TurnEvent, int]] = {}  # turn number → (its question, onsets by then)
        self.next_seq = 0
        self.started = self.seen = time.monotonic()
        self.lock = threading.Lock()

    def ahead(self, transcript) -> Any:
        """During a pause: the model started on the answer to ``transcript`` as the page would ask it
        now (its chat, persona, conversation and LLM, within its owner's quota), for the turn to take
        if this was the question (``Chat.prefetch``); None when it may not be asked."""
        if self.asking is None:
            return None
        chat, persona_id, conversation_id, llm_name, allowed = self.asking
        if not persona_id or not allowed():
            return None
        return chat.prefetch(live_request(ChatRequest(persona=persona_id, message=transcript.text,
                                                      conversation_id=conversation_id or None,
                                                      llm=llm_name or None)))

    def question(self, turn: Any) -> tuple[TurnEvent, int] | None:
        """Turn ``turn``'s question, to answer (taken: each is asked once), with how many times someone
        had started talking by its end (``talked_over``); None when there is none to answer — unknown,
        taken, or talked over already (someone started talking after it ended: the question went on,
        and its next turn asks it whole; or it was a barge-in on an answer not begun yet)."""
        with self.lock:
            found = self.questions.pop(turn, None) if type(turn) is int else None
            return None if found is None or self.talked_over(found[1]) else found

    def talked_over(self, onsets: int) -> bool:
        """Whether someone started talking since there had been ``onsets`` onsets."""
        return self.onsets > onsets

    def feed(self, seq: int, rate: int, samples: np.ndarray) -> dict[str, Any]:
        """One chunk (the page's ``seq``-th request) → what the page must do (the module docstring).
        A chunk out of order (a request repeated) is not heard again."""
        with self.lock:
            self.seen = time.monotonic()
            if seq != self.next_seq:
                return {"ignored": True}
            self.next_seq += 1
            answer: dict[str, Any] = {}
            for event in self.detector.feed(rate, samples):
                if event.kind == "speech":
                    self.onsets += 1
                    self.early.withdraw()
                    answer["barged"] = self.onsets
                    if stop_take(self.owner, self.take):
                        answer["line"] = STOPPED
                    # When the speech began, as wall-clock time (for the log a benchmark reads): counted
                    # back from the audio just received. It errs late by the chunk's delivery.
                    log.info("hands-free: someone started talking", extra={
                        "speech_started_at": time.time() - (self.detector.received_s - event.started_s)})
                elif event.kind == "pause":
                    self.early.guess(event)
                elif event.kind == "turn":
                    self.turns += 1
                    self.questions = {self.turns: (event, self.onsets)}  # an older one not asked yet never will be
                    answer["turn"] = {"n": self.turns,
                                      "ago_ms": round((self.detector.listening_s - event.ended_s) * 1000)}
                    answer["line"] = HEARD
                elif event.kind == "too_long":
                    answer["line"] = too_long_line(int(self.detector.max_turn_s))
            if time.monotonic() - self.started > MAX_LISTEN_S:
                answer["stop"] = (f"Listened for {MAX_LISTEN_S // 60} minutes: press Listen to go on.")
            return answer


class Sessions:
    """The listening sessions of this process, by owner and id (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_owner: dict[str | None, OrderedDict[str, Listening]] = {}

    def get(self, owner: str | None, session_id: str | None) -> Listening | None:
        with self._lock:
            self._forget_idle()
            return self._by_owner.get(owner, OrderedDict()).get(session_id or "")

    def open(self, owner: str | None, session_id: str, make: Callable[[], Listening]) -> Listening:
        """``owner``'s session ``session_id``, made (``make``) when it is new."""
        with self._lock:
            self._forget_idle()
            mine = self._by_owner.setdefault(owner, OrderedDict())
            listening = mine.get(session_id)
            if listening is None:
                listening = mine[session_id] = make()
                while len(mine) > SESSIONS_PER_OWNER:
                    mine.popitem(last=False)[1].early.withdraw()
            return listening

    def _forget_idle(self) -> None:
        now = time.monotonic()
        for owner, mine in list(self._by_owner.items()):
            for key, listening in list(mine.items()):
                if now - listening.seen > IDLE_S:
                    del mine[key]
                    listening.early.withdraw()
            if not mine:
                del self._by_owner[owner]

    def count(self, owner: str | None) -> int:
        with self._lock:
            return len(self._by_owner.get(owner, ()))


sessions = Sessions()


def _field(value: str | None, name: str) -> Any:
    """Field ``name`` of the component's value (the JSON the page wrote), or None."""
    try:
        return json.loads(value or "").get(name)
    except (ValueError, AttributeError):
        return None


def session_id(value: str | None) -> str | None:
    """The session id in the component's value (``{"id": …}``), or None."""
    found = _field(value, "id")
    return found if isinstance(found, str) and ID.fullmatch(found) else None


def turn_number(value: str | None) -> int | None:
    """The turn number in the component's value (``{"id": …, "turn": n}``), or None."""
    found = _field(value, "turn")
    return found if type(found) is int else None


def audio_chunk(payload: Any) -> tuple[str, int, int, np.ndarray]:
    """(id, seq, rate, int16 samples) from a ``hear`` request, or ``ValueError`` with what is wrong."""
    if not isinstance(payload, dict) or set(payload) != {"id", "seq", "rate", "pcm"}:
        raise ValueError("a microphone chunk is {id, seq, rate, pcm}")
    found, seq, rate, pcm = payload["id"], payload["seq"], payload["rate"], payload["pcm"]
    if not isinstance(found, str) or not ID.fullmatch(found):
        raise ValueError("the listening session's id is not one this studio makes")
    if type(seq) is not int or seq < 0:
        raise ValueError("a chunk's number must be a whole number from 0")
    if type(rate) is not int or not RATES[0] <= rate <= RATES[1]:
        raise ValueError(f"the microphone's rate must be {RATES[0]}–{RATES[1]} Hz")
    if not isinstance(pcm, str) or len(pcm) > 4 * (2 * int(MAX_CHUNK_S * rate) + 2) // 3:
        raise ValueError(f"a chunk may carry at most {MAX_CHUNK_S:g} s of audio")
    try:
        raw = base64.b64decode(pcm, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a chunk's audio is not base64") from None
    if len(raw) % 2:
        raise ValueError("a chunk's audio is not 16-bit samples")
    return found, seq, rate, np.frombuffer(raw, np.int16)


def hear(settings, owner: str | None, payload: Any) -> dict[str, Any]:
    """One chunk of a page's microphone (see the module docstring) → what the page must do."""
    try:
        found, seq, rate, samples = audio_chunk(payload)
    except ValueError as error:
        return {"error": f"The microphone's audio was refused: {error}.", "stop": True}
    try:
        listening = sessions.open(owner, found, lambda: Listening(settings, owner))
    except StudioError as error:  # no VAD model here
        return {"error": str(error), "stop": True}
    return listening.feed(seq, rate, samples)


def note_asking(chat: Chat, owner: str | None, value: str | None, persona_id: str | None,
                conversation_id: str | None, llm_name: str | None, allowed: Callable[[], bool]) -> Listening | None:
    """What the page would ask with now, for answers begun during a pause; the session (made when
    Listen was just pressed), or None when the value names none."""
    found = session_id(value)
    if found is None:
        return None
    try:
        listening = sessions.open(owner, found, lambda: Listening(chat.settings, owner))
    except StudioError:  # no VAD model: the first chunk's answer says so
        return None
    listening.asking = Asking(chat, persona_id, conversation_id, llm_name, allowed)
    return listening


# -- the page ----------------------------------------------------------------------------------------

def mic_html(player: str) -> str:
    """The recorder: Listen/Stop listening, a level meter, its status line; ``player``: the name of the
    live player it stops and starts the clock of (``live_view``)."""
    return f"""
<div class="live-mic" data-player="{player}" data-state="off" data-onsets="0" data-turns="0">
  <span class="live-mic-label">Or talk hands-free</span>
  <button class="listen-button lg secondary" type="button">Listen hands-free</button>
  <span class="live-level" aria-hidden="true"><span></span></span>
  <p class="live-mic-line">Press Listen, then talk: a pause ends each question, and talking over the reply stops it.</p>
</div>
"""


MIC_CSS = """
.live-mic { display: flex; flex-wrap: wrap; align-items: center; gap: 0.6em; }
.live-mic .live-mic-label { flex-basis: 100%; font-weight: 600; font-size: 0.9em; }
.live-mic .listen-button { padding: 0.5em 1em; border-radius: 6px; cursor: pointer; }
.live-mic[data-state="on"] .listen-button { background: #b91c1c; color: white; }
.live-mic .live-level { flex: 1; min-width: 80px; height: 8px; background: #8884; border-radius: 4px;
                        overflow: hidden; }
.live-mic .live-level > span { display: block; height: 100%; width: 0%; background: #16a34a; }
.live-mic .live-mic-line { flex-basis: 100%; margin: 0; font-size: 0.9em; opacity: 0.85; }
"""

# The worklet hands the page CHUNK_S of 16-bit samples at a time, with their peak for the meter.
_WORKLET = """
class StudioMicTap extends AudioWorkletProcessor {
  constructor(options) { super(); this.size = options.processorOptions.samples; this.fresh(); }
  fresh() { this.chunk = new Int16Array(this.size); this.filled = 0; this.peak = 0; }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      const sample = Math.max(-1, Math.min(1, channel[i]));
      this.peak = Math.max(this.peak, Math.abs(sample));
      this.chunk[this.filled++] = sample * 32767;
      if (this.filled === this.size) {
        this.port.postMessage({ pcm: this.chunk.buffer, peak: this.peak }, [this.chunk.buffer]);
        this.fresh();
      }
    }
    return true;
  }
}
registerProcessor('studio-mic-tap', StudioMicTap);
"""

MIC_JS = """
const root = element.querySelector('.live-mic');
const button = root.querySelector('.listen-button');
const line = root.querySelector('.live-mic-line');
const meter = root.querySelector('.live-level > span');
const player = () => (window.livePlayers || {})[root.dataset.player];
let session = null;  // {id, context, stream, node, seq, pending, sending, rate}
let answering = false;  // a question was heard: the line says so until its answer plays

function say(text) { if (text) line.textContent = text; }
function newId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}
function base64(samples) {
  const bytes = new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}
function tell(value, event) { props.value = JSON.stringify(value); trigger(event); }

let starting = false;
async function start() {
  if (starting) return;
  starting = true;
  try { await begin(); } finally { starting = false; }
}
async function begin() {
  say('Starting the microphone…');
  let stream, context, source;
  try {
    if (!navigator.mediaDevices || !window.AudioWorkletNode) throw new Error('no microphone on this page');
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) { say(UNAVAILABLE); return; }
  try {
    try {
      context = new AudioContext({ sampleRate: 16000 });
      source = context.createMediaStreamSource(stream);
    } catch (error) {  // a browser that records only at its own rate: sent as it is, resampled by the studio
      if (context) context.close();
      context = new AudioContext();
      source = context.createMediaStreamSource(stream);
    }
    await context.audioWorklet.addModule(URL.createObjectURL(new Blob([WORKLET], { type: 'application/javascript' })));
  } catch (error) {
    stream.getTracks().forEach((track) => track.stop());
    if (context) context.close();
    say(UNAVAILABLE);
    return;
  }
  const node = new AudioWorkletNode(context, 'studio-mic-tap',
                                    { processorOptions: { samples: Math.round(context.sampleRate * CHUNK_S) } });
  session = { id: newId(), context, stream, node, seq: 0, pending: [], sending: false, rate: context.sampleRate };
  node.port.onmessage = (event) => {
    meter.style.width = Math.round(Math.min(1, event.data.peak * 2) * 100) + '%';
    const stage = document.querySelector('.live-stage[data-player="' + root.dataset.player + '"]');
    if (answering && stage && stage.dataset.firstFrameMs) { answering = false; say(LISTENING); }
    if (!session || session.node !== node) return;
    session.pending.push(new Int16Array(event.data.pcm));
    send(session);
  };
  source.connect(node);
  root.dataset.state = 'on';
  button.textContent = 'Stop listening';
  tell({ id: session.id }, 'change');  // the studio notes what a question would be asked with
  say(LISTENING);
}

function stop(message) {
  const ending = session;
  session = null;
  if (ending) {
    ending.node.port.onmessage = null;
    ending.stream.getTracks().forEach((track) => track.stop());
    ending.context.close();
  }
  meter.style.width = '0%';
  root.dataset.state = 'off';
  button.textContent = 'Listen hands-free';
  say(message || 'Not listening.');
}

async function send(current) {  // one request at a time, in order: what was recorded meanwhile goes next
  if (current.sending || !current.pending.length) return;
  const length = current.pending.reduce((sum, chunk) => sum + chunk.length, 0);
  const samples = new Int16Array(length);
  let at = 0;
  for (const chunk of current.pending) { samples.set(chunk, at); at += chunk.length; }
  current.pending = [];
  current.sending = true;
  let answer;
  try {
    answer = await server.hear({ id: current.id, seq: current.seq, rate: current.rate, pcm: base64(samples) });
  } catch (error) {
    answer = { error: 'The studio stopped answering the microphone (' + error + ').', stop: true };
  }
  current.sending = false;
  current.seq += 1;
  if (session !== current) return;  // stopped meanwhile
  act(current, answer || {});
  send(current);
}

function act(current, answer) {
  if (answer.barged) {
    player()?.stop();
    root.dataset.onsets = String(answer.barged);
  }
  if (answer.turn) {
    player()?.reset(answer.turn.ago_ms);
    root.dataset.turns = String(answer.turn.n);
    answering = true;
    tell({ id: current.id, turn: answer.turn.n, ago_ms: answer.turn.ago_ms }, 'submit');  // asked: live_tab.answer_turn
  }
  say(answer.line);
  if (answer.stop) stop(answer.error || (typeof answer.stop === 'string' ? answer.stop : ''));
}

button.addEventListener('click', () => { if (session) stop(); else start(); });
"""


def mic_js() -> str:
    """``MIC_JS`` with its constants filled in."""
    constants = (f"const CHUNK_S = {CHUNK_S};\nconst UNAVAILABLE = {json.dumps(MIC_UNAVAILABLE)};\n"
                 f"const LISTENING = {json.dumps(LISTENING)};\nconst WORKLET = {json.dumps(_WORKLET)};\n")
    return constants + MIC_JS
