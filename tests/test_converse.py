"""A chat turn answered live (``pipeline.converse``): segments while the model is still writing.

The model is the scripted fake (tests/fake_llm.py), paced like a real stream where timing
matters; the voice, the analysis, the embedded renderer's stream and ffmpeg are real.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

import fake_llm
from pipeline.chat import Chat, ChatRequest
from pipeline.converse import LIVE_KIND, converse
from pipeline.errors import RemoteError
from pipeline.llm import llms
from pipeline.media import VideoWriter, probe
from pipeline.render import Capabilities, Renderer, renderers

ANSWER = "Profit logic comes first. Market share follows from it. Then we measure it every quarter."


@pytest.fixture
def chat(settings):
    return Chat(settings)


def ask(chat, llm, **options):
    return ChatRequest(persona="jenniel", message="Where do we start?", llm=llm, **options)


def test_segments_arrive_while_the_model_is_still_writing(chat):
    fake_llm.install_slow(ANSWER, delay_s=0.25)  # 15 words: almost 4 s of writing
    events = list(converse(chat, ask(chat, "slow")))
    kinds = [event.kind for event in events]
    assert kinds[-1] == "reply" and kinds.count("segment") == 3
    first_segment = next(event for event in events if event.kind == "segment")
    assert first_segment.segment.text == "Profit logic comes first."
    assert first_segment.t_s < events[-1].t_s
    # The first sentence was playable before the model had written its last word.
    last_text = max(event.t_s for event in events if event.kind == "text")
    assert first_segment.t_s < last_text
    reply = events[-1].reply
    assert reply.reply == ANSWER and reply.video and reply.job_id
    job = chat.jobs.get(reply.job_id)
    assert job.kind == LIVE_KIND and job.status == "done" and job.persona == "jenniel"
    assert job.video_path == reply.video and job.timings["first_segment_ready"] == first_segment.segment.ready_s
    assert set(job.timings) >= {"speech", "analysis", "render"}
    assert chat.history(reply.conversation_id)[-1].job_id == job.id
    info = probe(reply.video)
    segments = [event.segment for event in events if event.kind == "segment"]
    assert info.audio is not None and info.duration_s == pytest.approx(sum(s.duration_s for s in segments), abs=0.05)


def test_a_live_reply_is_captioned_like_a_render(chat):
    """The live job's output.vtt and output.srt: the reply's words, each sentence's cues starting
    inside that sentence's segment, all inside the video."""
    from test_captions import check_readable, normalised, parse

    fake_llm.install_slow(ANSWER, delay_s=0.0)
    events = list(converse(chat, ask(chat, "slow")))
    job = chat.jobs.get(events[-1].reply.job_id)
    assert job.captions and job.captions["source"] == "tts"
    cues = parse(open(job.captions["vtt"], encoding="utf-8").read(), separator=".")
    assert cues == parse(open(job.captions["srt"], encoding="utf-8").read(), separator=",")
    check_readable(cues, probe(job.video_path).duration_s)
    assert normalised(" ".join(" ".join(lines) for _, _, lines in cues)) == normalised(ANSWER)
    segments = [event.segment for event in events if event.kind == "segment"]
    third = next(cue for cue in cues if cue[2][0].startswith("Then"))
    assert segments[2].start_s <= third[0] < segments[2].start_s + segments[2].duration_s



def test_a_live_reply_is_drawn_at_the_studios_size(settings):
    """``settings.max_side`` reaches the live take as it reaches every render (the portrait drawn at
    the default 512 px is bigger than 256)."""
    fake_llm.install().enqueue("Profit logic comes first.")
    chat = Chat(replace(settings, max_side=256))
    events = list(converse(chat, ask(chat, "fake")))
    videos = [event.segment.video for event in events if event.kind == "segment"] + [events[-1].reply.video]
    assert len(videos) == 2
    for video in videos:
        info = probe(video).video
        assert max(info.width, info.height) <= 256
    assert chat.jobs.get(events[-1].reply.job_id).options["max_side"] == 256  # History says the size


def test_a_reply_cut_off_at_the_token_limit_is_spoken_to_its_last_whole_sentence(chat):
    fake = fake_llm.CutOffLLM().enqueue("Profit logic comes first. Market share follows from")
    fake_llm.CutOffLLM.serving = fake
    with llms.registered("cutoff", fake_llm.CutOffLLM):
        events = list(converse(chat, ask(chat, "cutoff")))
    said = [event.segment.text for event in events if event.kind == "segment"]
    assert said == ["Profit logic comes first."]
    assert events[-1].reply.reply == "Profit logic comes first. Market share follows from"  # the text is kept


def test_barge_in_stops_the_speech_and_keeps_what_was_said(chat):
    fake_llm.install_slow(ANSWER, delay_s=0.1)
    stop = threading.Event()
    events = []
    for event in converse(chat, ask(chat, "slow"), stop=stop):
        events.append(event)
        if event.kind == "segment":
            stop.set()  # the viewer starts speaking while the first sentence plays
    assert [event.segment.text for event in events if event.kind == "segment"] == ["Profit logic comes first."]
    job = chat.jobs.get(events[-1].reply.job_id)
    assert job.status == "interrupted" and "stopped after 1 spoken sentences" in job.error
    assert job.video_path and probe(job.video_path).duration_s > 1.0


class FailingLLM(fake_llm.FakeLLM):
    """Writes one sentence and a half, then the connection drops."""

    name = "failing"

    def _complete(self, messages, *, on_token=None, **kwargs):
        for word in "Profit logic comes first. Market share".split(" "):
            on_token(word + " ")
        raise RemoteError("the LLM server closed the connection")


def test_a_model_failing_mid_reply_keeps_what_was_spoken(chat):
    FailingLLM.serving = FailingLLM()
    with llms.registered("failing", FailingLLM), pytest.raises(RemoteError, match="closed the connection"):
        list(converse(chat, ask(chat, "failing")))
    job = chat.jobs.list(limit=1)[0]
    assert job.kind == LIVE_KIND and job.status == "failed"
    assert job.error.startswith("the reply failed after 1 spoken sentences: the LLM server closed")
    assert job.text == "Profit logic comes first." and probe(job.video_path).audio is not None


class WholeClipRenderer(Renderer):
    """A renderer that does not stream: a grey clip of the right length."""

    name = "wholeclip"
    label = "Whole clip"

    def capabilities(self, settings):
        return Capabilities(controls={}, whole_reply_only="it needs all of the audio first")

    def render(self, job):
        import numpy as np

        with VideoWriter(job.out, width=64, height=64, fps=job.fps) as writer:
            for _ in range(job.n_frames):
                writer.write(np.full((64, 64, 3), 128, np.uint8))
        return {"frames": job.n_frames, "width": 64, "height": 64}


def test_a_renderer_that_does_not_stream_renders_the_whole_reply_and_says_why(settings):
    fake = fake_llm.install().enqueue("Profit logic comes first.")
    with renderers.registered("wholeclip", WholeClipRenderer):
        chat = Chat(replace(settings, renderer="wholeclip"))
        events = list(converse(chat, ask(chat, "fake")))
    assert events[0].kind == "note" and "Whole clip does not stream (it needs all of the audio first)" in events[0].note
    assert "segment" not in [event.kind for event in events]
    reply = events[-1].reply
    assert reply.video and chat.jobs.get(reply.job_id).kind == "render" and len(fake.history) == 1


def test_a_live_job_cannot_be_resumed(chat, settings):
    from pipeline.errors import BadInput
    from pipeline.runner import Runner

    FailingLLM.serving = FailingLLM()
    with llms.registered("failing", FailingLLM), pytest.raises(RemoteError):
        list(converse(chat, ask(chat, "failing")))
    job = chat.jobs.list(limit=1)[0]
    with pytest.raises(BadInput, match="spoken live, sentence by sentence"):
        Runner(settings, chat.jobs).resume(job.id)


def test_a_viewer_who_leaves_mid_reply_leaves_the_job_with_what_was_said(chat):
    import time

    fake_llm.install_slow(ANSWER, delay_s=0.1)
    events = converse(chat, ask(chat, "slow"))
    first = next(event for event in events if event.kind == "segment")
    job_id = chat.jobs.list(limit=1)[0].id
    events.close()  # what Gradio does when the browser goes away
    deadline = time.monotonic() + 10
    while chat.jobs.get(job_id).status == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    job = chat.jobs.get(job_id)
    assert job.status == "interrupted" and job.error == "the viewer left after 1 spoken sentences"
    assert job.text == first.segment.text and probe(job.video_path).duration_s > 1.0


def test_a_held_reply_is_not_spoken_live(chat):
    fake = fake_llm.install().enqueue("Profit logic comes first. Then share.")
    events = list(converse(chat, ask(chat, "fake", hold=True)))
    assert events[0].kind == "note" and events[0].note.startswith("held for your review")
    assert "segment" not in [event.kind for event in events]
    reply = events[-1].reply
    assert reply.review == "pending" and reply.video is None and reply.job_id is None and len(fake.history) == 1
    assert chat.jobs.list(limit=5) == []  # nothing rendered, live or whole
    turn = chat.history(reply.conversation_id)[-1]
    assert turn.review == "pending" and turn.requested_output["output"] == "video"


def test_the_cli_streams_one_json_line_per_segment_then_the_reply(studio_home):
    """``chat --video --stream --json`` against an OpenAI-compatible server on 127.0.0.1."""
    import json
    import os
    import subprocess
    import sys

    from conftest import ROOT
    from fake_vendors import FakeOpenAI

    with FakeOpenAI(key=None) as server:
        server.script("chat", server.success(ANSWER))
        env = {**os.environ, "AVATAR_STUDIO_HOME": str(studio_home), "OPENAI_BASE_URL": server.base_url}
        done = subprocess.run([sys.executable, "app.py", "chat", "--persona", "jenniel", "--llm", "openai",
                               "--message", "Where do we start?", "--video", "--stream", "--json"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    segments, reply = lines[:-1], lines[-1]
    assert [s["text"] for s in segments] == ["Profit logic comes first.", "Market share follows from it.",
                                             "Then we measure it every quarter."]
    assert all(s["segment"].endswith(f"segment-{k:03d}.mp4") and os.path.exists(s["segment"])
               for k, s in enumerate(segments))
    assert [s["t_s"] for s in segments] == sorted(s["t_s"] for s in segments)
    assert reply["reply"] == ANSWER and reply["video"].endswith("output.mp4") and reply["job_id"]


def test_the_cli_stream_needs_a_video(studio_home):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    done = subprocess.run([sys.executable, "app.py", "chat", "--persona", "jenniel", "--message", "hi", "--stream"],
                          cwd=ROOT, env={**os.environ, "AVATAR_STUDIO_HOME": str(studio_home)}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip() == "error: --stream answers with a live video: add --video"


def test_two_live_replies_at_once_keep_to_themselves(chat, settings):
    """Two sessions answered at the same time (the fake echoes each question): each gets its own
    segments, its own job and its own conversation — nothing of one in the other."""
    from concurrent.futures import ThreadPoolExecutor

    fake_llm.install_slow(delay_s=0.05)  # nothing queued: it echoes the question, word by word

    def live(question: str):
        events = list(converse(Chat(settings), ChatRequest(persona="jenniel", message=question, llm="slow")))
        return [e.segment for e in events if e.kind == "segment"], events[-1].reply

    with ThreadPoolExecutor(2) as pool:
        alpha, beta = pool.map(live, ["Alpha asks first. Alpha again.", "Beta asks second. Beta again."])
    for (segments, reply), name in ((alpha, "Alpha"), (beta, "Beta")):
        assert [s.text for s in segments] == [f"echo: {name} asks {'first' if name == 'Alpha' else 'second'}.",
                                              f"{name} again."]
        job = chat.jobs.get(reply.job_id)
        assert job.status == "done" and job.text == " ".join(s.text for s in segments)
        assert all(str(s.video).startswith(str(settings.job_dir(job.id))) for s in segments)
    assert alpha[1].conversation_id != beta[1].conversation_id
