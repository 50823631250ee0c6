"""Chat in a persona's style: the examples of the creator's writing most like each question go in
the system prompt, read off the wire from the OpenAI-compatible fake server (as in
``test_chat_knowledge``); they give way to a long message rather than refuse it; and a studio
without its embedding model still answers, in the persona's plain voice, and says so."""

from __future__ import annotations

import importlib
import sys
from dataclasses import replace

import fake_llm
import pytest
from fake_vendors import FakeOpenAI
from test_persona_style import BAKING, GARDEN, RUNNING, STYLE, TAXES

from personas import PersonaStore, build_system_prompt
from personas.prompt import STYLE_END, STYLE_HEADING
from pipeline.chat import Chat, ChatRequest


@pytest.fixture
def llm_server(monkeypatch):
    with FakeOpenAI(key=None) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


@pytest.fixture
def styled(settings):
    store = PersonaStore(settings)
    return store.save(replace(store.get("jenniel"), style=STYLE))


def system_prompt(server) -> str:
    return server.requests_to("chat")[-1].body["messages"][0]["content"]


def examples_in(system: str) -> list[str]:
    lines = system.split("\n")
    start = lines.index(f"{STYLE_HEADING}:")
    return [line[2:] for line in lines[start:lines.index(STYLE_END)] if line.startswith("> ")]


def test_the_examples_most_like_the_question_are_in_the_prompt(llm_server, settings, styled):
    chat = Chat(settings)
    llm_server.script("chat", llm_server.success("Feed it twice a day! 🍞"))
    reply = chat.ask(ChatRequest(persona="jenniel", message="How do I keep my sourdough starter alive?", llm="openai"))
    system = system_prompt(llm_server)
    assert examples_in(system)[0] == BAKING and len(examples_in(system)) == 3
    assert system.startswith(build_system_prompt(styled))  # the persona's prompt, then the examples
    assert "Writing style: Short, warm sentences" in system
    assert reply.reply == "Feed it twice a day! 🍞" and reply.notes == []

    chat.ask(ChatRequest(persona="jenniel", message="What pace for my first marathon?", llm="openai",
                         conversation_id=reply.conversation_id))
    assert examples_in(system_prompt(llm_server))[0] == RUNNING  # picked again for each question


def test_a_mode_out_of_persona_gets_no_examples(llm_server, settings):
    store = PersonaStore(settings)
    store.save(replace(store.get("adam"), style=STYLE))
    Chat(settings).ask(ChatRequest(persona="adam", message="Tell me about your tomatoes.", llm="openai",
                                   mode="role-play"))
    system = system_prompt(llm_server)
    assert STYLE_HEADING not in system and GARDEN not in system and "Writing style" not in system


def test_examples_give_way_to_a_long_message(settings, styled):
    fake = fake_llm.install()
    question = "Tell me about taxes and tomatoes. " + "Please be thorough. " * 60
    bare = fake.count_tokens(build_system_prompt(styled)) + fake.count_tokens(question) + 8 + 16
    fake.context_window = bare + 100 + 80  # room for the reply (100) and one example (~70 tokens), not three
    reply = Chat(settings).ask(ChatRequest(persona="jenniel", message=question, llm="fake", max_tokens=100))
    shown = examples_in(fake.history[-1]["messages"][0]["content"])
    assert len(shown) == 1 and shown[0] in (TAXES, GARDEN)
    assert "2 of the 3 examples of Jenniel's writing were left out to fit scripted's context window" in reply.notes

    fake.context_window = bare + 100  # no room for any: the message is still answered
    reply = Chat(settings).ask(ChatRequest(persona="jenniel", message=question + "?", llm="fake", max_tokens=100))
    assert STYLE_HEADING not in fake.history[-1]["messages"][0]["content"]
    assert "3 of the 3 examples of Jenniel's writing were left out" in reply.notes[0]


def test_without_the_embedding_model_the_chat_answers_and_says_so(llm_server, settings, styled, monkeypatch):
    monkeypatch.setattr(importlib.import_module("pipeline.knowledge.embed"), "_model", None)
    monkeypatch.setitem(sys.modules, "wordllama", None)  # as if the package were not installed
    llm_server.script("chat", llm_server.success("Sure."))
    reply = Chat(settings).ask(ChatRequest(persona="jenniel", message="Any baking tips?", llm="openai"))
    assert reply.reply == "Sure." and system_prompt(llm_server) == build_system_prompt(styled)
    assert reply.notes == ["examples of Jenniel's writing could not be picked: knowledge needs the wordllama "
                           "package (import of wordllama halted; None in sys.modules) — pip install -r "
                           "requirements.txt"]
