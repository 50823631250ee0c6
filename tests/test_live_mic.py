"""The hands-free microphone's server side (``studio.live_mic``): what a chunk must be, whose
session it reaches, barge-in, and the server function reached over plain HTTP the way the page (or
a hostile script) reaches it — ``/gradio_api/component_server`` — in a studio with users.

The audio is real speech (Piper's voice) through the real Silero VAD, sent as the page sends it:
0.1 s of 16 kHz 16-bit samples, base64."""

from __future__ import annotations

import base64
import secrets

import numpy as np
import pytest
from audio_fixtures import spoken

from conftest import USERS
from http_client import login
from studio import live_mic

RATE = 16_000


def new_id() -> str:
    return secrets.token_hex(16)


def spoken_16k(text: str, *, before_s: float = 0.5, after_s: float = 1.0) -> np.ndarray:
    """Quiet, ``text`` in Piper's voice, quiet: 16-bit samples at 16 kHz, as the page records them."""
    samples, rate = spoken(text)
    count = int(len(samples) * RATE / rate)
    voice = np.interp(np.arange(count) * (rate / RATE), np.arange(len(samples)), samples)
    noise = np.random.default_rng(0)
    room = lambda seconds: noise.standard_normal(int(seconds * RATE)) * 30 / 32768  # noqa: E731
    audio = np.concatenate([room(before_s), voice, room(after_s)])
    return (np.clip(audio, -1, 1) * 32767).astype(np.int16)


def chunks(session: str, audio: np.ndarray, seconds: float = live_mic.CHUNK_S, first_seq: int = 0):
    """The page's requests for ``audio``, in order."""
    size = int(seconds * RATE)
    for seq, start in enumerate(range(0, len(audio), size), start=first_seq):
        yield {"id": session, "seq": seq, "rate": RATE,
               "pcm": base64.b64encode(audio[start:start + size].tobytes()).decode()}


def payload(**changes):
    base = {"id": new_id(), "seq": 0, "rate": RATE,
            "pcm": base64.b64encode(np.zeros(1600, np.int16).tobytes()).decode()}
    base.update(changes)
    return base


@pytest.mark.parametrize("bad, reason", [
    ("not a dict", "a microphone chunk is {id, seq, rate, pcm}"),
    ({"id": new_id(), "seq": 0, "rate": RATE}, "a microphone chunk is {id, seq, rate, pcm}"),
    (payload(extra=1), "a microphone chunk is {id, seq, rate, pcm}"),
    (payload(id="../../etc/passwd"), "not one this studio makes"),
    (payload(id=new_id().upper()), "not one this studio makes"),
    (payload(seq=-1), "whole number from 0"),
    (payload(seq=True), "whole number from 0"),
    (payload(seq="3"), "whole number from 0"),
    (payload(rate=4000), "8000–96000 Hz"),
    (payload(rate=16000.5), "8000–96000 Hz"),
    (payload(pcm="@@not base64@@"), "not base64"),
    (payload(pcm=base64.b64encode(b"abc").decode()), "not 16-bit samples"),
    (payload(pcm=["AAAA"]), "at most 10 s of audio"),
    (payload(pcm=base64.b64encode(np.zeros(RATE * 11, np.int16).tobytes()).decode()), "at most 10 s of audio"),
])
def test_a_bad_chunk_is_refused_in_one_line_and_nothing_is_kept(settings, bad, reason):
    before = live_mic.sessions.count(None)
    answer = live_mic.hear(settings, None, bad)
    assert answer["stop"] is True and answer["error"].startswith("The microphone's audio was refused: ")
    assert reason in answer["error"] and answer["error"].count("\n") == 0
    assert live_mic.sessions.count(None) == before


def test_chunks_are_heard_once_and_in_order(settings):
    session = new_id()
    first = payload(id=session)
    assert live_mic.hear(settings, None, first) == {}
    assert live_mic.hear(settings, None, first) == {"ignored": True}  # the same request again
    assert live_mic.hear(settings, None, payload(id=session, seq=5)) == {"ignored": True}  # one went missing
    assert live_mic.hear(settings, None, payload(id=session, seq=1)) == {}
    assert live_mic.sessions.get(None, session).detector.received_s == pytest.approx(0.2)


def test_a_question_ends_on_a_pause_and_talking_again_stops_the_reply(settings):
    session = new_id()
    audio = spoken_16k("How do I find the customers who pay more than they cost?")
    answers = [live_mic.hear(settings, None, chunk) for chunk in chunks(session, audio)]
    turns = [answer["turn"] for answer in answers if "turn" in answer]
    assert len(turns) == 1 and turns[0]["n"] == 1 and turns[0]["ago_ms"] >= 600
    assert [answer["line"] for answer in answers if "turn" in answer] == [live_mic.HEARD]
    listening = live_mic.sessions.get(None, session)
    assert listening.question is not None and listening.onsets == 1

    # A reply is being spoken; the speaker starts again: the reply's stop is set, the page told.
    take = secrets.token_hex(8)
    stop = live_mic.register_take(None, take)
    listening.take = take
    try:
        more = [live_mic.hear(settings, None, chunk)
                for chunk in chunks(session, spoken_16k("Wait, one more thing."), first_seq=len(answers))]
        barged = [answer for answer in more if "barged" in answer]
        assert len(barged) == 1 and barged[0]["barged"] == 2 and barged[0]["line"] == live_mic.STOPPED
        assert stop.is_set()
    finally:
        live_mic.forget_take(None, take)


def test_a_session_is_its_owners_alone(settings):
    session = new_id()
    live_mic.hear(settings, "alice", payload(id=session))
    alice = live_mic.sessions.get("alice", session)
    assert alice is not None and live_mic.sessions.get("bob", session) is None
    live_mic.hear(settings, "bob", payload(id=session))  # bob naming alice's id gets a session of his own
    assert live_mic.sessions.get("bob", session) is not alice and alice.detector.received_s == pytest.approx(0.1)


def test_an_owner_keeps_a_few_sessions_and_idle_ones_are_forgotten(settings, monkeypatch):
    made = [new_id() for _ in range(live_mic.SESSIONS_PER_OWNER + 1)]
    for session in made:
        live_mic.hear(settings, "carol", payload(id=session))
    assert live_mic.sessions.count("carol") == live_mic.SESSIONS_PER_OWNER
    assert live_mic.sessions.get("carol", made[0]) is None and live_mic.sessions.get("carol", made[-1]) is not None
    monkeypatch.setattr(live_mic, "IDLE_S", 0.0)
    assert live_mic.sessions.get("carol", made[-1]) is None and live_mic.sessions.count("carol") == 0


# -- over HTTP, as the page calls it ---------------------------------------------------------------

def _mic_component(app) -> int:
    return next(block_id for block_id, block in app.blocks.items() if getattr(block, "elem_id", None) == "live-listen")


def _call(client, url: str, app, data) -> tuple[int, object]:
    answer = client.post(f"{url}/gradio_api/component_server", json={
        "session_hash": secrets.token_hex(8), "component_id": _mic_component(app), "fn_name": "hear", "data": data})
    return answer.status_code, (answer.json() if answer.headers.get("content-type", "").startswith("application/json")
                                else answer.text)


def test_the_server_function_hears_only_signed_in_users_each_in_their_own_sessions(users_studio):
    import httpx

    url = users_studio.local_url.rstrip("/")
    session = new_id()
    status, _ = _call(httpx.Client(timeout=30), url, users_studio, payload(id=session))
    assert status == 401  # signed out: Gradio's own sign-in check
    alice, bob = login(url, "alice", USERS["alice"]), login(url, "bob", USERS["bob"])
    assert _call(alice, url, users_studio, payload(id=session)) == (200, {})
    assert live_mic.sessions.get("alice", session) is not None and live_mic.sessions.get("bob", session) is None
    assert _call(bob, url, users_studio, payload(id=session, seq=1)) == (200, {"ignored": True})  # his own: seq 0 next
    assert live_mic.sessions.get("alice", session).next_seq == 1
    status, answer = _call(alice, url, users_studio,
                           {"id": session, "seq": 1, "rate": RATE, "pcm": {"path": "/etc/passwd"}})
    assert status == 200 and answer["stop"] is True and "at most 10 s of audio" in answer["error"]
    # Only the recorder's own function can be called there.
    refused = alice.post(f"{url}/gradio_api/component_server", json={
        "session_hash": "x", "component_id": _mic_component(users_studio), "fn_name": "__init__", "data": None})
    assert refused.status_code == 404


def test_the_server_function_refuses_signed_out_visitors_of_a_studio_with_hugging_face_sign_in(settings):
    from types import SimpleNamespace

    from studio.guard import OAUTH, Access, Refused, StudioBlocks, acting_for_caller

    blocks = StudioBlocks(access=Access(OAUTH))
    with pytest.raises(Refused, match="Sign in with Hugging Face"):
        acting_for_caller(blocks, SimpleNamespace(scope={"headers": []}))
    signed_in = {"session": {"oauth_info": {"userinfo": {"preferred_username": "dana"}}}, "headers": []}
    with acting_for_caller(blocks, SimpleNamespace(scope=signed_in)) as owner:
        from studio.guard import current_owner

        assert owner == "dana" and current_owner(blocks.access) == "dana"


def test_a_turn_is_answered_only_from_its_owners_session_and_only_once(settings):
    import json

    import gradio as gr

    from studio import live_tab
    from studio.common import StudioContext
    from studio.guard import Access

    ctx = StudioContext(settings, Access())
    session = new_id()
    audio = spoken_16k("Where do we start?")
    turn = next(answer["turn"] for answer in (live_mic.hear(settings, None, chunk) for chunk in chunks(session, audio))
                if "turn" in answer)
    foreign = json.dumps({"id": new_id(), "turn": turn["n"]})  # a session that is not this owner's
    with pytest.raises(gr.Error, match="Nothing has been heard yet"):
        list(live_tab.answer_turn(ctx, foreign, "jenniel", None, None))
    listening = live_mic.sessions.get(None, session)
    assert listening.question(turn["n"] + 1) is None and listening.question("1") is None  # no such turn
    found = listening.question(turn["n"])
    assert found is not None and len(found[0].audio) > 0
    assert listening.question(turn["n"]) is None  # taken: asked once
