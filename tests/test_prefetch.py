"""Answers begun before their turn (pipeline.prefetch, Chat.prefetch): a hands-free question's reply
started during the pause that may end it.

The model is the scripted fake that writes a word at a time (tests/fake_llm.py): what it was asked
and how many words it wrote are the evidence that the turn took the answer begun for it, and that a
withdrawn answer stopped writing. Nothing an answer begun ahead records is checked in the database."""

from __future__ import annotations

import time

import pytest

import fake_llm
from pipeline import prefetch
from pipeline.chat import Chat, ChatRequest
from pipeline.converse import live_request
from pipeline.db import JobStore

ANSWER = "Start with the cost of the inventory. Then look at the margin on each unit sold."


@pytest.fixture(autouse=True)
def nothing_left_waiting():
    yield
    for _ in range(200):  # a withdrawn answer leaves at its next word
        if not prefetch.waiting():
            break
        time.sleep(0.01)
    assert prefetch.waiting() == 0


def request(message: str = "How do I price a product?", **options) -> ChatRequest:
    return live_request(ChatRequest(persona="jenniel", message=message, llm="slow", **options))


def chat_of(settings, owner: str | None = None) -> Chat:
    return Chat(settings, jobs=JobStore(settings.db_path).for_owner(owner))


def test_the_turn_takes_the_answer_begun_for_it_and_records_it_as_its_own(settings):
    slow = fake_llm.install_slow(ANSWER, delay_s=0.03)
    chat = chat_of(settings)
    ahead = chat.prefetch(request())
    assert ahead is not None
    assert chat.store.list() == []  # nothing is recorded before the turn
    time.sleep(0.2)  # the model has written a few words by the time the turn comes
    words: list[str] = []
    reply = chat.ask(request(), on_token=words.append)
    assert len(slow.history) == 1  # asked once: the turn took the answer begun during the pause
    assert "".join(words) == reply.reply == ANSWER
    turns = chat.history(reply.conversation_id)
    assert [(turn.role, turn.content) for turn in turns] == [("user", "How do I price a product?"),
                                                             ("assistant", ANSWER)]
    assert not ahead.cancel()  # taken: cancelling it afterwards does nothing


def test_a_withdrawn_answer_stops_writing_and_records_nothing(settings):
    slow = fake_llm.install_slow(ANSWER, delay_s=0.05)
    chat = chat_of(settings)
    ahead = chat.prefetch(request("How do I price a"))  # a breath, not the question
    time.sleep(0.15)
    assert ahead.cancel()
    time.sleep(0.3)
    written = ahead._tokens[:]
    assert 0 < len(written) < len(ANSWER.split())  # it stopped at the word after the cancel
    assert chat.store.list() == []
    slow.enqueue(ANSWER)
    reply = chat.ask(request())  # the question, asked whole: the model is asked for it
    assert reply.reply == ANSWER and len(slow.history) == 2


def test_a_turn_that_asks_something_else_asks_the_model_itself(settings):
    slow = fake_llm.install_slow(ANSWER, ANSWER, delay_s=0.0)
    chat = chat_of(settings)
    ahead = chat.prefetch(request())
    reply = chat.ask(request("What about services?"))  # not the question the pause guessed
    assert len(slow.history) == 2 and reply.reply == ANSWER
    assert ahead.cancel()  # still unclaimed: the caller withdraws it once the turn is over


def test_an_answer_begun_for_one_user_is_never_another_user_s(settings):
    slow = fake_llm.install_slow(ANSWER, ANSWER, delay_s=0.0)
    ahead = chat_of(settings, "alice").prefetch(request())
    chat_of(settings, "bob").ask(request())
    assert len(slow.history) == 2  # bob's turn asked the model for itself
    assert ahead.cancel()


def test_an_answer_that_failed_before_a_word_is_asked_again_by_the_turn(settings):
    slow = fake_llm.install_slow(delay_s=0.0)
    slow.enqueue(RuntimeError("the model fell over"), ANSWER)
    chat = chat_of(settings)
    ahead = chat.prefetch(request())
    for _ in range(200):
        if ahead._done:
            break
        time.sleep(0.01)
    reply = chat.ask(request())
    assert reply.reply == ANSWER and len(slow.history) == 2


def test_an_answer_nobody_claims_is_withdrawn_in_time(settings, monkeypatch):
    fake_llm.install_slow(ANSWER, delay_s=0.05)
    monkeypatch.setattr(prefetch, "UNCLAIMED_S", 0.1)
    chat = chat_of(settings)
    ahead = chat.prefetch(request())
    time.sleep(0.2)
    assert prefetch.claim(ahead.key) is None and ahead.cancelled


def test_nothing_is_begun_for_a_reply_that_will_be_held_or_a_request_the_turn_refuses(settings):
    slow = fake_llm.install_slow(ANSWER, delay_s=0.0)
    chat = chat_of(settings)
    assert chat.prefetch(request(hold=True)) is None
    assert chat.prefetch(request("   ")) is None
    assert chat.prefetch(live_request(ChatRequest(persona="no-such", message="hi", llm="slow"))) is None
    assert slow.history == []
