"""Chat with a persona: turns and history in SQLite, trimming, the cache, audio and video replies.

The LLM here is the scripted ``FakeLLM`` (tests/fake_llm.py), so what the chat *sends* can be
checked exactly; the real backends have their own tests, and one CLI test at the end runs the
bundled local model end to end.
"""

from __future__ import annotations

import json

import pytest

import fake_llm
from pipeline.chat import Chat, ChatRequest, fit_history
from pipeline.errors import BadInput, RemoteError


@pytest.fixture
def fake():
    return fake_llm.install()


@pytest.fixture
def chat(settings):
    return Chat(settings)


def ask(chat, message, **options):
    return chat.ask(ChatRequest(persona=options.pop("persona", "jenniel"), message=message, llm="fake", **options))


def test_a_first_message_starts_a_conversation_and_both_turns_are_kept(chat, fake):
    fake.enqueue("Only if the profit logic holds.")
    reply = ask(chat, "Should we chase market share?")
    assert reply.reply == "Only if the profit logic holds." and not reply.cached
    assert reply.llm == "fake" and reply.persona == "jenniel" and reply.turn_id
    sent = fake.history[0]["messages"]
    assert sent[0]["role"] == "system" and "Jenniel" in sent[0]["content"]
    assert sent[1:] == [{"role": "user", "content": "Should we chase market share?"}]
    turns = chat.history(reply.conversation_id)
    assert [(t.role, t.content) for t in turns] == [("user", "Should we chase market share?"),
                                                    ("assistant", "Only if the profit logic holds.")]
    assert turns[1].llm == "fake" and turns[1].tokens_out == 6 and turns[1].latency_s is not None
    conversation = chat.store.get(reply.conversation_id)
    assert conversation.persona == "jenniel" and conversation.title == "Should we chase market share?"


def test_the_next_message_carries_the_history(chat, fake):
    fake.enqueue("First answer.", "Second answer.")
    first = ask(chat, "One?")
    ask(chat, "Two?", conversation_id=first.conversation_id)
    assert [m["content"] for m in fake.history[1]["messages"][1:]] == ["One?", "First answer.", "Two?"]
    assert [t.seq for t in chat.history(first.conversation_id)] == [1, 2, 3, 4]


def test_the_same_question_with_the_same_settings_comes_from_the_cache(chat, fake):
    fake.enqueue("Differentiated capabilities first.")
    first = ask(chat, "Where do we start?")
    tokens = []
    again = chat.ask(ChatRequest(persona="jenniel", message="Where do we start?", llm="fake"), on_token=tokens.append)
    assert again.cached and again.reply == first.reply and len(fake.history) == 1
    assert "".join(tokens) == first.reply and again.conversation_id != first.conversation_id
    with chat.store.connect() as db:
        assert db["llm_cache"].count == 1 and next(db["llm_cache"].rows)["hits"] == 1
    # Different settings are a different question: the model is asked again.
    ask(chat, "Where do we start?", temperature=0.1)
    assert len(fake.history) == 2
    ask(chat, "Where do we start?", use_cache=False)
    assert len(fake.history) == 3


def test_tokens_stream_to_the_caller(chat, fake):
    fake.enqueue("profit logic beats vanity metrics")
    tokens = []
    reply = chat.ask(ChatRequest(persona="jenniel", message="Why?", llm="fake"), on_token=tokens.append)
    assert len(tokens) == 5 and "".join(tokens) == reply.reply


def test_long_histories_are_trimmed_to_fit_the_context_window(chat, fake, settings):
    fake.context_window = 700  # tokens; FakeLLM counts ~4 characters a token
    long_answer = "word " * 120  # ~150 tokens an exchange
    fake.enqueue(*[long_answer] * 3, "short")
    conversation = None
    for index in range(4):
        reply = ask(chat, f"Question {index}?", conversation_id=conversation, max_tokens=100)
        conversation = reply.conversation_id
    sent = fake.history[-1]["messages"]
    assert reply.trimmed_turns > 0 and any("oldest turns were left out" in note for note in reply.notes)
    assert sent[-1]["content"] == "Question 3?" and "Question 0?" not in [m["content"] for m in sent]
    assert sum(fake.count_tokens(m["content"]) for m in sent) <= 700 - 100
    assert chat.history(conversation)[-1].trimmed_turns == reply.trimmed_turns


def test_fit_history_refuses_a_message_that_can_never_fit():
    llm = fake_llm.FakeLLM(context_window=300)
    with pytest.raises(BadInput, match="the message is too long for scripted"):
        fit_history(llm, "system prompt", [], "x" * 2000, reply_tokens=100)


def test_a_reply_too_long_for_the_model_names_the_reply_and_the_window(chat, fake):
    """Not "the message is too long": a short question with a huge reply length blames the reply."""
    fake.context_window = 2048
    with pytest.raises(BadInput) as error:
        ask(chat, "Hi?", max_tokens=4000)
    used = int(str(error.value).split("about ")[1].split(" ")[0])
    assert str(error.value) == (f"a reply of up to 4,000 tokens does not fit scripted: its context window is 2,048 "
                                f"tokens, and this prompt already takes about {used:,} of them — ask for at most "
                                f"{2048 - 16 - used:,}")
    assert fake.history == []


TEMPERATURE_RULE = "the temperature must be a number from 0 to 2 (0 is the most predictable), got "


@pytest.mark.parametrize("options, error", [
    ({"temperature": float("nan")}, TEMPERATURE_RULE + "nan"),
    ({"temperature": float("inf")}, TEMPERATURE_RULE + "inf"),
    ({"temperature": -0.1}, TEMPERATURE_RULE + "-0.1"),
    ({"temperature": 1e9}, TEMPERATURE_RULE + "1e+09"),
    ({"max_tokens": 0}, "the reply length must be at least 1 token, got 0"),
    ({"max_tokens": 1_000_000_000}, "a reply of up to 1,000,000,000 tokens is longer than a chat reply may be (4,096 "
                                    "tokens, about 3,000 words) — ask for 4,096 or fewer"),
])
def test_sampling_out_of_range_is_refused_before_anything_is_stored(chat, fake, options, error):
    with pytest.raises(BadInput) as refused:
        ask(chat, "Hi?", **options)
    assert str(refused.value) == error
    assert chat.store.list() == [] and fake.history == []


def test_the_edges_of_the_sampling_ranges_are_accepted(chat, fake):
    fake.context_window = 8192
    fake.enqueue("Cold.", "Hot.")
    assert ask(chat, "Cold?", temperature=0.0, max_tokens=4096).reply == "Cold."
    assert ask(chat, "Hot?", temperature=2.0, max_tokens=1).reply == "Hot."


@pytest.mark.parametrize("message, error", [
    ("", "type a message"), ("   \n", "type a message"), ("x" * 4001, "the limit is 4000"),
])
def test_bad_messages_are_refused_before_anything_is_stored(chat, fake, message, error):
    with pytest.raises(BadInput, match=error):
        ask(chat, message)
    assert chat.store.list() == [] and fake.history == []


def test_unknown_persona_mode_and_conversation_are_named(chat, fake):
    with pytest.raises(BadInput, match="nobody"):
        ask(chat, "Hi", persona="nobody")
    with pytest.raises(BadInput, match="dance"):
        ask(chat, "Hi", mode="dance")
    with pytest.raises(BadInput, match="no conversation with id 'c-nope'"):
        ask(chat, "Hi", conversation_id="c-nope")
    first = ask(chat, "Hi")
    with pytest.raises(BadInput, match="is with jenniel, not adam"):
        ask(chat, "Hi", persona="adam", conversation_id=first.conversation_id)
    with pytest.raises(BadInput, match="start a new conversation to change mode"):
        ask(chat, "Hi", conversation_id=first.conversation_id, mode="lecture")


def test_a_failed_answer_keeps_the_question_and_is_left_out_of_later_history(chat, fake):
    fake.enqueue(RemoteError("mistral had a server error (HTTP 503)"), "Here is my answer.")
    with pytest.raises(RemoteError, match="HTTP 503"):
        ask(chat, "Lost?")
    conversation = chat.store.list()[0]
    turns = chat.history(conversation.id)
    assert [(t.role, t.content, t.error) for t in turns] == [("user", "Lost?", "mistral had a server error (HTTP 503)")]
    ask(chat, "Again?", conversation_id=conversation.id)
    assert [m["content"] for m in fake.history[-1]["messages"][1:]] == ["Again?"]


def test_an_empty_reply_is_an_error_not_a_silent_blank(chat, fake):
    fake.enqueue("   ")
    with pytest.raises(Exception, match="returned an empty reply"):
        ask(chat, "Anything?")


def test_role_play_mode_uses_the_mode_instructions(chat, fake):
    fake.enqueue("I just want the lowest payment.")
    reply = ask(chat, "Let's start the F&I menu.", persona="adam", mode="role-play")
    assert reply.mode == "role-play" and "customer" in fake.history[0]["messages"][0]["content"].lower()
    assert chat.store.get(reply.conversation_id).mode == "role-play"


def test_an_audio_reply_is_spoken_and_linked_to_the_turn(chat, fake):
    from pipeline.speech.wav import read_wav

    fake.enqueue("Profit logic first.")
    reply = ask(chat, "Quick tip?", output="audio")
    samples, rate = read_wav(reply.audio)
    assert rate > 8000 and len(samples) / rate > 0.5
    assert chat.history(reply.conversation_id)[-1].audio_path == reply.audio


def test_a_video_reply_is_a_render_job_linked_to_the_turn(chat, fake):
    from pipeline.media import probe

    fake.enqueue("Differentiated capabilities win.")
    reply = ask(chat, "One line?", output="video")
    assert reply.job_id and reply.video
    job = chat.jobs.get(reply.job_id)
    assert job.status == "done" and job.persona == "jenniel" and job.text == "Differentiated capabilities win."
    assert chat.history(reply.conversation_id)[-1].job_id == job.id
    info = probe(reply.video)
    assert info.video is not None and info.audio is not None and info.duration_s > 1.0


def test_cli_chat_with_the_bundled_local_model(tmp_path):
    """The acceptance command, offline, on the real bundled SmolLM2 (kept short: 24 tokens)."""
    import subprocess
    import sys

    from conftest import ROOT

    command = [sys.executable, str(ROOT / "app.py"), "chat", "--persona", "jenniel", "--message",
               "Should we chase market share?", "--max-tokens", "24", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["reply"].strip() and reply["llm"] == "local" and reply["conversation_id"]
    assert reply["tokens_out"] and 0 < reply["tokens_out"] <= 24 and reply["video"] is None
    again = subprocess.run(command + ["--conversation", reply["conversation_id"], "--video"],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["conversation_id"] == reply["conversation_id"] and second["video"].endswith("output.mp4")


def test_cli_chat_errors_are_one_readable_line(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "chat", "--persona", "../etc", "--message", "hi"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "chat", "--persona", "jenniel", "--message", "hi",
                           "--llm", "mistral"], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**__import__("os").environ, "MISTRAL_API_KEY": ""})
    assert done.returncode == 1 and done.stderr.strip() == \
        "error: MISTRAL_API_KEY is not set — put it in the environment or in a .env file"



def test_a_reply_cut_off_at_its_length_is_spoken_to_its_last_whole_sentence(chat):
    from pipeline.llm import llms

    fake_llm.CutOffLLM.serving = fake_llm.CutOffLLM().enqueue(
        "Differentiated capabilities win. Market share follows from")
    with llms.registered("cutoff", fake_llm.CutOffLLM):
        reply = chat.ask(ChatRequest(persona="jenniel", message="Say it on camera?", llm="cutoff", output="video"))
    assert reply.reply == "Differentiated capabilities win. Market share follows from"  # the text keeps it all
    assert chat.jobs.get(reply.job_id).text == "Differentiated capabilities win."
    assert "only its whole sentences are spoken" in " ".join(reply.notes)
