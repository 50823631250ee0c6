"""A persona's spoken reply length (``speaking.max_sentences``): in the file, the editor, the prompt
of a reply to be spoken, what a spoken or rendered reply says, and what a live reply says."""

from __future__ import annotations

import pytest

import fake_llm
from personas import PersonaStore, build_system_prompt
from personas.form import blank_form, form_from_persona, persona_from_form, save_form
from personas.model import Persona, Speaking
from pipeline.chat import Chat, ChatRequest
from pipeline.converse import converse
from pipeline.errors import BadInput

FIVE = "One idea first. Then a second. A third follows. A fourth comes. And a fifth ends it."
SPOKEN_LINE = "Your reply will be spoken aloud: at most"


def form(**changes) -> dict:
    return {**blank_form(), "name": "Mira Okafor", "identity": "You are a structural engineer.", **changes}


def test_the_length_is_checked_and_written_only_when_it_differs_from_the_default():
    assert Speaking().max_sentences == 3
    persona = Persona.from_dict({"id": "mira", "name": "Mira", "identity": "x", "speaking": {"max_sentences": 5}})
    assert persona.speaking.max_sentences == 5 and persona.to_data()["speaking"] == {"max_sentences": 5}
    assert "speaking" not in Persona(id="mira", name="Mira", identity="x").to_data()
    for bad in (0, 13, 2.5, "3", True):
        with pytest.raises(BadInput, match="speaking: max_sentences must be a whole number from 1 to 12"):
            Persona.from_dict({"id": "mira", "name": "Mira", "identity": "x", "speaking": {"max_sentences": bad}})
    with pytest.raises(BadInput, match="speaking: unknown key 'sentences'"):
        Persona.from_dict({"id": "mira", "name": "Mira", "identity": "x", "speaking": {"sentences": 2}})


def test_the_editor_carries_it_as_a_slider_value(settings):
    store = PersonaStore(settings)
    assert blank_form()["spoken_sentences"] == 3
    saved = save_form(store, form(id="mira", spoken_sentences=2.0))  # sliders send floats
    assert saved.speaking.max_sentences == 2 and form_from_persona(store.get("mira"))["spoken_sentences"] == 2
    assert "max_sentences: 2" in (store.user_dir / "mira" / "persona.yaml").read_text()
    with pytest.raises(BadInput, match="^Spoken reply length: speaking: max_sentences must be"):
        persona_from_form(form(id="mira", spoken_sentences=0))


def test_only_a_reply_to_be_spoken_is_asked_to_be_short():
    persona = Persona(id="mira", name="Mira", identity="x", speaking={"max_sentences": 2})
    assert SPOKEN_LINE not in build_system_prompt(persona)
    assert f"{SPOKEN_LINE} 2 sentences, in plain speech" in build_system_prompt(persona, spoken=True)
    one = Persona(id="mira", name="Mira", identity="x", speaking={"max_sentences": 1})
    assert f"{SPOKEN_LINE} 1 sentence," in build_system_prompt(one, spoken=True)


@pytest.fixture
def chat(settings):
    return Chat(settings)


def test_a_rendered_reply_asks_for_and_says_no_more_than_the_persona_s_length(chat):
    fake = fake_llm.install().enqueue(FIVE, FIVE)
    text = chat.ask(ChatRequest(persona="jenniel", message="Tell me?", llm="fake"))
    assert SPOKEN_LINE not in fake.history[0]["messages"][0]["content"] and not text.job_id
    video = chat.ask(ChatRequest(persona="jenniel", message="Say it?", llm="fake", output="video", use_cache=False))
    assert f"{SPOKEN_LINE} 3 sentences" in fake.history[1]["messages"][0]["content"]
    assert video.reply == FIVE  # the text keeps every sentence
    assert chat.jobs.get(video.job_id).text == "One idea first. Then a second. A third follows."
    assert "only the first 3 sentences are spoken" in " ".join(video.notes)


def test_a_live_reply_says_no_more_than_the_persona_s_length(chat, settings):
    store = PersonaStore(settings)
    store.save(Persona.from_dict({**store.get("jenniel").to_data(), "speaking": {"max_sentences": 2}}),
               portrait=store.portrait_path(store.get("jenniel")))
    fake = fake_llm.install().enqueue(FIVE)
    events = list(converse(chat, ChatRequest(persona="jenniel", message="Go?", llm="fake")))
    assert f"{SPOKEN_LINE} 2 sentences" in fake.history[0]["messages"][0]["content"]
    assert [e.segment.text for e in events if e.kind == "segment"] == ["One idea first.", "Then a second."]
    assert events[-1].reply.reply == FIVE
