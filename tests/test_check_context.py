"""The persona check asks each question with the prompt the chat would send — the passages the
persona's documents hold for it and the examples of the creator's writing most like it — and
reports a style score: how close the replies come to those examples, by the same embedding model.
Real documents, real vectors, the scripted ``FakeLLM``."""

from __future__ import annotations

import importlib
import sys
from dataclasses import replace

import pytest
from fake_llm import FakeLLM
from test_persona_style import BAKING, GARDEN, RUNNING, STYLE, TAXES

from personas import KnowledgeUse, PersonaStore, build_system_prompt, format_report, run_check
from personas.prompt import GROUNDED, NOTHING_FOUND, STYLE_HEADING
from pipeline.knowledge import Knowledge

QUESTIONS = ["How do I keep my sourdough starter alive?", "What pace for my first marathon?",
             "When should I file my tax return?"]
LIKE_THE_SAMPLES = [
    "Feed the starter every night and bake once it doubles. Let the loaf cool first! 🍞",
    "Run slow enough to chat, add a long run each weekend, and be patient with the miles. 🏃",
    "Put your receipts together as they come and send the return early, not at midnight on the last day.",
]
UNRELATED = [
    "The committee reviewed the annual report and approved the budget for the coming year.",
    "Members are reminded that the library will be closed during the public holiday.",
    "The minutes of the previous meeting were read and accepted without amendment.",
]
HANDBOOK = """# Staff handbook

## Holidays

Every employee has 28 days of paid holiday a year, including public holidays.

## Expenses

Travel expenses are refunded within 30 days when the receipt is uploaded to the finance portal.
"""


@pytest.fixture
def store(settings) -> PersonaStore:
    return PersonaStore(settings)


@pytest.fixture
def styled(store):
    return replace(store.get("jenniel"), style=STYLE)


def systems(llm: FakeLLM) -> list[str]:
    return [call["messages"][0]["content"] for call in llm.history]


def test_each_question_is_asked_with_the_examples_most_like_it(styled, settings):
    llm = FakeLLM().enqueue(*LIKE_THE_SAMPLES)
    report = run_check(styled, llm, questions=QUESTIONS, cache=settings.cache)
    for system, first in zip(systems(llm), (BAKING, RUNNING, TAXES)):
        assert system.split(f"{STYLE_HEADING}:\nExample 1:\n> ", 1)[1].startswith(first)
    assert [r.examples for r in report.results] == [3, 3, 3] and report.notes == []


def test_the_style_score_is_higher_for_replies_written_like_the_samples(styled, settings):
    alike = run_check(styled, FakeLLM().enqueue(*LIKE_THE_SAMPLES), questions=QUESTIONS, cache=settings.cache)
    unlike = run_check(styled, FakeLLM().enqueue(*UNRELATED), questions=QUESTIONS, cache=settings.cache)
    assert 0 <= unlike.style_score < alike.style_score <= 100
    assert all(a.style > u.style for a, u in zip(alike.results, unlike.results))
    assert alike.style_score == round(sum(r.style for r in alike.results) / 3)
    assert alike.score == unlike.score and alike.passed == unlike.passed  # reported, not part of passing
    text = format_report(alike)
    assert f"Style: {alike.style_score}/100 close to the creator's writing" in text and "not part of the score" in text


def test_no_style_score_without_a_style_or_the_embedding_cache(styled, store, settings):
    plain = run_check(store.get("jenniel"), FakeLLM().enqueue(*LIKE_THE_SAMPLES), questions=QUESTIONS,
                      cache=settings.cache)
    assert plain.style_score is None and all(r.style is None for r in plain.results)
    assert "Style:" not in format_report(plain)
    llm = FakeLLM().enqueue(*LIKE_THE_SAMPLES)
    without_cache = run_check(styled, llm, questions=QUESTIONS)
    assert without_cache.style_score is None and STYLE_HEADING not in systems(llm)[0]
    assert systems(llm)[0] == build_system_prompt(styled)


def test_a_reply_that_reads_an_example_back_is_an_echo(styled, settings):
    report = run_check(styled, FakeLLM().enqueue(BAKING, "Sure! " + GARDEN, LIKE_THE_SAMPLES[2]),
                       questions=QUESTIONS, cache=settings.cache)
    baking, garden, taxes = report.results
    assert baking.echoed and baking.score == 0 and baking.style is None  # the example shown with the question
    assert garden.echoed  # one of the creator's examples, even if not shown with this question
    assert not taxes.echoed and taxes.style is not None
    assert report.style_score == round(taxes.style / 3)  # an echo counts 0, it does not earn 100


def test_a_grounded_persona_is_checked_with_its_documents(store, settings, tmp_path):
    handbook = tmp_path / "handbook.md"
    handbook.write_text(HANDBOOK)
    [added] = Knowledge(settings).add("jenniel", [handbook])
    assert added.ok
    grounded = store.save(replace(store.get("jenniel"), knowledge=KnowledgeUse(grounded=True)))
    llm = FakeLLM().enqueue("28 days [1].", "I don't know.")
    report = run_check(grounded, llm, questions=["How many days of paid holiday do I get?"],
                       knowledge=Knowledge(settings))
    [system] = systems(llm)
    assert GROUNDED in system and "> Every employee has 28 days of paid holiday a year" in system
    assert NOTHING_FOUND not in system and report.results[0].passages >= 1

    blind = FakeLLM()
    run_check(grounded, blind, questions=["How many days of paid holiday do I get?"])  # the old gap: no documents
    assert NOTHING_FOUND in systems(blind)[0]
    other = FakeLLM()
    run_check(grounded, other, questions=["How many days?"], knowledge=Knowledge(settings, "someone-else"))
    assert NOTHING_FOUND in systems(other)[0]  # another owner's documents are not this persona's


def test_without_the_embedding_model_the_check_goes_on_and_says_so(styled, settings, monkeypatch):
    monkeypatch.setattr(importlib.import_module("pipeline.knowledge.embed"), "_model", None)
    monkeypatch.setitem(sys.modules, "wordllama", None)
    importlib.import_module("personas.style")._example_vectors.cache_clear()
    llm = FakeLLM().enqueue(*LIKE_THE_SAMPLES)
    report = run_check(styled, llm, questions=QUESTIONS, cache=settings.cache)
    assert [r.score for r in report.results] and report.style_score is None
    assert systems(llm) == [build_system_prompt(styled)] * 3
    [note] = report.notes
    assert note.startswith("examples of Jenniel's writing could not be picked, and the style not scored: knowledge "
                           "needs the wordllama package")
    assert f"Note: {note}" in format_report(report)


# -- the callers give the check what the chat has ------------------------------------------------------
@pytest.fixture
def grounded_with_handbook(store, settings, tmp_path):
    handbook = tmp_path / "handbook.md"
    handbook.write_text(HANDBOOK)
    assert all(item.ok for item in Knowledge(settings).add("jenniel", [handbook]))
    return store.save(replace(store.get("jenniel"), knowledge=KnowledgeUse(grounded=True), style=STYLE))


def test_the_command_line_check_uses_the_documents_and_the_examples(grounded_with_handbook, capsys):
    import signal

    import app as entry
    import fake_llm

    fake = fake_llm.install().enqueue(LIKE_THE_SAMPLES[0])
    sigterm = signal.getsignal(signal.SIGTERM)  # app.main turns SIGTERM into an interrupt: not for pytest
    try:
        code = entry.main(["persona", "check", "jenniel", "--llm", "fake", "--question", "How many days of paid "
                           "holiday do I get, and how do I keep a sourdough starter alive?"])
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    out = capsys.readouterr().out
    assert code == 0
    [system] = systems(fake)
    assert "> Every employee has 28 days of paid holiday a year" in system and f"> {BAKING}" in system
    assert "Style: " in out and "/100 close to the creator's writing" in out


def test_the_studio_check_uses_the_documents_and_the_examples(grounded_with_handbook, settings):
    import fake_llm

    from personas.form import FORM_KEYS, form_from_persona
    from studio import personas_tab
    from studio.common import StudioContext

    fake = fake_llm.install().enqueue(LIKE_THE_SAMPLES[0])
    values = form_from_persona(grounded_with_handbook) | {
        "sample_questions": "How many days of paid holiday do I get, and how do I keep a sourdough starter alive?"}
    verdict, rows = personas_tab.check(StudioContext(settings), "jenniel", "fake", "", "",
                                       *[values[key] for key in FORM_KEYS], progress=lambda *args, **kwargs: None)
    [system] = systems(fake)
    assert "> Every employee has 28 days of paid holiday a year" in system and f"> {BAKING}" in system
    assert "- Style: " in verdict and "reported, not part of the score" in verdict and len(rows) == 1
