"""What the Live tab shows: the player that plays a live reply's segments back to back, and the
lines under it. No Gradio events here, only layout values and text.

The player is an HTML block with two ``<video>`` elements. Each new segment is loaded into the
one that is not playing while the other plays, and starts the moment the other ends, so the
sentences follow each other without a reload between them; a segment that arrives while nothing
plays starts at once. A page may have several players (the Live tab's and the Chat tab's): each is
named by its component's value and registers its hands under that name in
``window.livePlayers[name]`` — ``enqueue(url)`` adds a segment, ``stop()`` stops the reply
(barge-in: the Stop button, or starting to talk into the microphone; a segment of it still on its
way is not played) and ``reset(agoMs)`` readies the player for the next question, noting when it
was asked (``agoMs`` before now: a hands-free question ended a pause ago); the ``*_js(name)``
snippets call them.
Between replies a third, muted video loops the persona listening (``idle(url)``: blinking and
swaying a little), so the face never freezes. When the first frame of a
reply plays, the player writes how long after the question that was (milliseconds) to its
``data-first-frame-ms`` attribute: what the latency benchmark reads in the browser.

A microphone that cannot be had (no device, permission denied) is one message in the status line
when Record is pressed (``mic_check_js``): Gradio's recorder itself says nothing.
"""

from __future__ import annotations

import json
from typing import Any

PLAYER_HTML = """
<div class="live-stage" data-player="${value}">
  <video class="live-idle" playsinline muted loop autoplay style="display:none"></video>
  <video class="live-segment" playsinline preload="auto" style="display:none"></video>
  <video class="live-segment" playsinline preload="auto" style="display:none"></video>
  <p class="live-hint">Ask something: the reply plays here sentence by sentence.</p>
</div>
"""

PLAYER_CSS = """
.live-stage { position: relative; width: 100%; min-height: 240px; background: #111; border-radius: 8px;
              display: flex; align-items: center; justify-content: center; }
.live-stage video { width: 100%; max-height: 480px; border-radius: 8px; }
.live-stage .live-hint { color: #bbb; position: absolute; margin: 0; padding: 1em; text-align: center; }
"""

PLAYER_JS = """
const videos = Array.from(element.querySelectorAll('video.live-segment'));
const idle = element.querySelector('video.live-idle');
const hint = element.querySelector('.live-hint');
const stage = element.querySelector('.live-stage');
const state = { queue: [], playing: -1, asked: performance.now(), first: false, stopped: false };
const player = {};  // this player's hands, under its name (the component's value) in window.livePlayers
window.livePlayers = window.livePlayers || {};
window.livePlayers[stage.dataset.player || 'live'] = player;

function listen() {  // nothing to say: the idle loop, if there is one
  videos.forEach((video) => { video.style.display = 'none'; });
  if (idle.src) { idle.style.display = ''; idle.play().catch(() => {}); }
}
function start(index) {
  const video = videos[index];
  videos.forEach((other, k) => { other.style.display = k === index ? '' : 'none'; });
  idle.style.display = 'none';
  hint.style.display = 'none';
  state.playing = index;
  video.play().catch(() => {});
}
function preload() {
  const idle = state.playing === 0 ? 1 : 0;
  const video = videos[idle];
  if (!video.dataset.loaded && state.queue.length) {
    video.src = state.queue.shift();
    video.dataset.loaded = '1';
    video.load();
  }
  return idle;
}
videos.forEach((video, index) => {
  video.addEventListener('playing', () => {
    if (!state.first) {
      state.first = true;
      stage.dataset.firstFrameMs = String(Math.round(performance.now() - state.asked));
    }
  });
  video.addEventListener('ended', () => {
    delete video.dataset.loaded;
    state.playing = -1;
    const next = videos[index === 0 ? 1 : 0];
    if (next.dataset.loaded) { start(index === 0 ? 1 : 0); } else { listen(); }
    preload();
  });
});
player.enqueue = (url) => {
  if (!url || state.stopped) return;  // a segment of a stopped reply, still on its way: not played
  state.queue.push(url);
  const idle = preload();
  if (state.playing === -1 && videos[idle].dataset.loaded) { start(idle); preload(); }
};
player.idle = (url) => {
  if (!url) return;
  idle.src = url;
  hint.style.display = 'none';
  if (state.playing === -1) { listen(); }
};
player.stop = () => {
  state.queue = [];
  videos.forEach((video) => { video.pause(); delete video.dataset.loaded; });
  state.playing = -1;
  state.stopped = true;
  listen();
  stage.dataset.stopped = String(Date.now());
};
player.reset = (agoMs) => {
  player.stop();
  state.stopped = false;
  state.asked = performance.now() - (Number(agoMs) || 0);
  state.first = false;
  stage.dataset.agoMs = String(Math.round(Number(agoMs) || 0));  // how long before now the clock started
  delete stage.dataset.firstFrameMs;
};
"""

def _player(name: str, call: str) -> str:
    return f"(window.livePlayers || {{}})['{name}']?.{call}"


# Each page may hold several players (the Live tab's, the Chat tab's), each named by its value.
def enqueue_js(name: str) -> str:
    """The hidden file component's change: each new segment's URL to the player ``name``."""
    return f"(segment) => {{ if (segment && segment.url) {{ {_player(name, 'enqueue(segment.url)')}; }} }}"


def idle_js(name: str) -> str:
    return f"(clip) => {{ if (clip && clip.url) {{ {_player(name, 'idle(clip.url)')}; }} }}"


def reset_js(name: str) -> str:
    """Before a question: the player ready, its clock started; passes the event's inputs on."""
    return f"(...inputs) => {{ {_player(name, 'reset()')}; return inputs.length === 1 ? inputs[0] : inputs; }}"


def stop_js(name: str) -> str:
    """Barge-in: the player silenced at once; passes the event's input on."""
    return f"(take) => {{ {_player(name, 'stop()')}; return take; }}"

LISTENING = "Listening…"


def segment_line(segment: Any, count: int) -> str:
    """The status line once a segment is ready: when, and what it cost."""
    timings = segment.timings
    parts = ", ".join(f"{name} {timings[name]:.2f} s" for name in ("speech", "analysis", "render")
                      if name in timings)
    first = f"First sentence ready {segment.ready_s:.2f} s after the question ({parts})." if segment.index == 0 else ""
    return f"{first} {count} sentence{'s' if count != 1 else ''} spoken so far.".strip()


def finished_line(reply: Any, count: int, first_ready_s: float | None) -> str:
    """The status line once the reply is over."""
    if reply.review == "pending":
        return "Held for your review: nothing is spoken until you approve it (Personas › Review)."
    first = f" The first was ready after {first_ready_s:.2f} s." if first_ready_s is not None else ""
    video = f" The whole reply is kept as job `{reply.job_id}` in History." if reply.job_id else ""
    notes = "".join(f"\n\n_{note}_" for note in reply.notes)
    return f"{count} sentence{'s' if count != 1 else ''} spoken live.{first}{video}{notes}"


MIC_UNAVAILABLE = ("The microphone is not available (no device, or permission was denied) — type your question "
                   "instead, or allow the microphone in the browser's site settings.")


def mic_check_js(mic_id: str, status_id: str) -> str:
    """Installed as the page loads (once a page): pressing Record in the microphone ``mic_id`` also
    asks the browser for the microphone, and when it refuses — no device, permission denied, a page
    that is not secure — ``MIC_UNAVAILABLE`` is written as the status line ``status_id``. Gradio's
    recorder fails silently there (Record does nothing; the error reaches neither the page nor the
    server), so without this the user is left pressing a dead button. The request is made in the
    same click as Gradio's own, and the stream it gets is let go at once (Gradio records from its
    own). The next status the server sends replaces the message; a Record that works clears it."""
    return f"""() => {{
  const flag = 'micCheck_{mic_id}';
  if (window[flag]) return;
  window[flag] = true;
  const message = {json.dumps(MIC_UNAVAILABLE)};
  const line = () => document.querySelector('#{status_id} .md') || document.getElementById('{status_id}');
  document.addEventListener('click', async (event) => {{
    if (!event.target.closest || !event.target.closest('#{mic_id} button.record-button')) return;
    try {{
      if (!navigator.mediaDevices) throw new Error('no media devices on this page');
      const stream = await navigator.mediaDevices.getUserMedia({{ audio: true }});
      stream.getTracks().forEach((track) => track.stop());
      const shown = line();
      if (shown && shown.textContent === message) shown.textContent = '';
    }} catch (error) {{
      const shown = line();
      if (shown) shown.textContent = message;
    }}
  }}, true);
}}"""
