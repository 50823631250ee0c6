"""A persona's knowledge through the studio's API (``gradio_client``, and plain HTTP for what a
hand-written client could post): real files uploaded — a Markdown handbook, a PDF made with fpdf2,
a damaged PDF — read, stored and found again by the studio in this process; every mistake one
clear message; each user's knowledge theirs alone; a server path as a file refused by the guard
with nothing stored; adding documents counted as waiting work against a user's limit."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import fake_llm
from conftest import USERS, serve_with_users, slow_chat_waiting
from documents import text_pdf
from http_client import error_of, fn_index, join, login, refusal, upload
from pipeline.knowledge import Knowledge

HANDBOOK = """# Staff handbook

## Holidays

Every employee has 28 days of paid holiday a year, including public holidays. Holiday requests go
to your line manager at least two weeks ahead.

## Expenses

Travel expenses are refunded within 30 days when the receipt is uploaded to the finance portal.
"""
APPLES = "The orchard grows apples of many kinds: Cox, Bramley and Egremont Russet ripen in September. "
PEARS = "Pears are picked while still hard and left to soften in a cool room for a week or two. "


@pytest.fixture
def documents(tmp_path) -> dict[str, Path]:
    handbook = tmp_path / "handbook.md"
    handbook.write_text(HANDBOOK)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"Just some words, no PDF.\n" * 20)
    return {"handbook.md": handbook, "orchard.pdf": text_pdf(tmp_path / "orchard.pdf", [APPLES * 3, PEARS * 3]),
            "broken.pdf": broken}


def _files(documents, *names):
    from gradio_client import handle_file

    return [handle_file(str(documents[name])) for name in names]


def _client(app, user):
    from gradio_client import Client

    return Client(app.local_url, auth=(user, USERS[user]), verbose=False)


def test_add_list_search_and_remove_through_the_api(studio_client, settings, documents):
    added = studio_client.predict("jenniel", _files(documents, "handbook.md", "orchard.pdf", "broken.pdf"),
                                  api_name="/knowledge_add")
    assert [(item["name"], item["ok"]) for item in added] == [("handbook.md", True), ("orchard.pdf", True),
                                                               ("broken.pdf", False)]
    handbook, orchard, broken = added
    assert handbook["source"]["kind"] == "Markdown" and handbook["source"]["chunks"] >= 2
    assert (orchard["source"]["kind"], orchard["source"]["pages"]) == ("PDF", 2) and orchard["source"]["chunks"] >= 2
    assert broken["error"].startswith("“broken.pdf” could not be read as a PDF (") and "\n" not in broken["error"]
    assert str(documents["broken.pdf"].parent) not in broken["error"] and "gradio" not in broken["error"]
    assert "source" not in broken

    listed = studio_client.predict("jenniel", api_name="/knowledge_list")
    assert [(item["name"], item["kind"], item["chunks"]) for item in listed] == [
        ("handbook.md", "Markdown", handbook["source"]["chunks"]), ("orchard.pdf", "PDF", orchard["source"]["chunks"])]
    assert [source.to_dict() for source in Knowledge(settings).sources("jenniel")] == listed

    hits = studio_client.predict("jenniel", "How long do pears soften in a cool room?", 3, api_name="/knowledge_search")
    assert 1 <= len(hits) <= 3 and all(set(hit) == {"source", "locator", "text", "score"} for hit in hits)
    assert (hits[0]["source"], hits[0]["locator"]) == ("orchard.pdf", "page 2") and "soften" in hits[0]["text"]
    [hit] = studio_client.predict("jenniel", "how many days of paid holiday", 1, api_name="/knowledge_search")
    assert (hit["source"], hit["locator"]) == ("handbook.md", "Staff handbook › Holidays")
    assert "28 days" in hit["text"]

    left = studio_client.predict("jenniel", "handbook.md", api_name="/knowledge_remove")
    assert [item["name"] for item in left] == ["orchard.pdf"]
    hits = studio_client.predict("jenniel", "how many days of paid holiday", 5, api_name="/knowledge_search")
    assert {hit["source"] for hit in hits} <= {"orchard.pdf"}
    assert [source.name for source in Knowledge(settings).sources("jenniel")] == ["orchard.pdf"]


def test_each_mistake_is_one_clear_error(studio_client, settings, documents):
    studio_client.predict("jenniel", _files(documents, "handbook.md"), api_name="/knowledge_add")
    cases = [
        (lambda: studio_client.predict("nobody", api_name="/knowledge_list"), "no persona 'nobody'"),
        (lambda: studio_client.predict("nobody", _files(documents, "handbook.md"), api_name="/knowledge_add"),
         "no persona 'nobody'"),
        (lambda: studio_client.predict("nobody", "holiday", 5, api_name="/knowledge_search"), "no persona 'nobody'"),
        (lambda: studio_client.predict("nobody", "handbook.md", api_name="/knowledge_remove"), "no persona 'nobody'"),
        (lambda: studio_client.predict("../jenniel", api_name="/knowledge_list"),
         "persona id '../jenniel' is not valid"),
        (lambda: studio_client.predict("jenniel", "../handbook.md", api_name="/knowledge_remove"),
         "'../handbook.md' is not a source name: give the file's own name, without a folder"),
        (lambda: studio_client.predict("jenniel", "..", api_name="/knowledge_remove"), "'..' is not a source name"),
        (lambda: studio_client.predict("jenniel", "notes.md", api_name="/knowledge_remove"),
         "jenniel has no source 'notes.md'; its sources: handbook.md"),
        (lambda: studio_client.predict("jenniel", [], api_name="/knowledge_add"), "give one or more files to add"),
        (lambda: studio_client.predict("jenniel", "  ", 5, api_name="/knowledge_search"),
         "type a question to search for"),
        (lambda: studio_client.predict("jenniel", "holiday", 0, api_name="/knowledge_search"),
         "k must be a whole number from 1 to 50, got 0"),
        (lambda: studio_client.predict("jenniel", "holiday", "many", api_name="/knowledge_search"),
         "k must be a whole number from 1 to 50, got 'many'"),
        (lambda: studio_client.predict("jenniel", "holiday", 2.5, api_name="/knowledge_search"),
         "k must be a whole number from 1 to 50, got 2.5"),
    ]
    for attempt, expected in cases:
        assert expected in refusal(attempt)
    assert [source.name for source in Knowledge(settings).sources("jenniel")] == ["handbook.md"]
    assert studio_client.predict("jenniel", "holiday", 2.0, api_name="/knowledge_search")  # JSON's 2.0 is 2


@pytest.mark.parametrize("file", [{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
                                  {"path": "/etc/passwd"}], ids=["with Gradio's marker", "bare"])
def test_a_server_path_as_a_file_is_refused_by_the_guard(studio_app, settings, file):
    url = studio_app.local_url.rstrip("/")
    with httpx.Client(timeout=120) as client:
        answer = join(client, url, fn_index(studio_app, api_name="knowledge_add"), ["jenniel", [file]])
    error = error_of(answer)
    assert error is not None, answer
    assert error.startswith("“passwd” is not a file you uploaded. Upload the file first"), error
    assert Knowledge(settings).sources("jenniel") == []


def test_each_users_knowledge_is_theirs_alone(users_studio, settings, documents):
    alice, bob = _client(users_studio, "alice"), _client(users_studio, "bob")
    [added] = alice.predict("jenniel", _files(documents, "handbook.md"), api_name="/knowledge_add")
    assert added["ok"]
    assert [item["name"] for item in alice.predict("jenniel", api_name="/knowledge_list")] == ["handbook.md"]
    assert alice.predict("jenniel", "paid holiday", 5, api_name="/knowledge_search")

    # The same example persona, another user: nothing there, nothing found, nothing to remove.
    assert bob.predict("jenniel", api_name="/knowledge_list") == []
    assert bob.predict("jenniel", "paid holiday", 5, api_name="/knowledge_search") == []
    assert "jenniel has no source 'handbook.md'; its sources: none" in refusal(
        lambda: bob.predict("jenniel", "handbook.md", api_name="/knowledge_remove"))
    assert [source.name for source in Knowledge(settings, "alice").sources("jenniel")] == ["handbook.md"]
    assert Knowledge(settings, "bob").sources("jenniel") == []

    # alice's own persona is not even there for bob.
    from dataclasses import replace

    from personas.store import PersonaStore

    own = PersonaStore(settings, owner="alice").get("jenniel")
    PersonaStore(settings, owner="alice").save(replace(own, id="alices-coach", name="Alice's coach", portrait=None))
    alice.predict("alices-coach", _files(documents, "orchard.pdf"), api_name="/knowledge_add")
    for attempt in (lambda: bob.predict("alices-coach", api_name="/knowledge_list"),
                    lambda: bob.predict("alices-coach", "pears", 5, api_name="/knowledge_search"),
                    lambda: bob.predict("alices-coach", "orchard.pdf", api_name="/knowledge_remove")):
        assert "no persona 'alices-coach'" in refusal(attempt)
    assert [source.name for source in Knowledge(settings, "alice").sources("alices-coach")] == ["orchard.pdf"]


def test_another_users_upload_is_not_theirs_to_add(users_studio, settings, documents):
    url = users_studio.local_url.rstrip("/")
    alice, bob = login(url, "alice", USERS["alice"]), login(url, "bob", USERS["bob"])
    hers = upload(alice, url, documents["handbook.md"])
    index = fn_index(users_studio, api_name="knowledge_add")
    assert "“handbook.md” is not a file you uploaded" in error_of(join(bob, url, index, ["jenniel", [hers]]))
    assert Knowledge(settings, "bob").sources("jenniel") == []
    assert error_of(join(alice, url, index, ["jenniel", [hers]])) is None  # hers to add
    assert [source.name for source in Knowledge(settings, "alice").sources("jenniel")] == ["handbook.md"]


def test_adding_documents_counts_as_waiting_work(settings, monkeypatch, documents):
    from gradio_client.exceptions import ValidationError

    monkeypatch.setenv("AVATAR_STUDIO_QUEUED_PER_USER", "1")
    from pipeline.settings import resolve

    fake_llm.install_slow("one two three four five six seven eight", delay_s=0.4)
    app = serve_with_users(resolve(dotenv=False))
    try:
        alice = _client(app, "alice")
        running = slow_chat_waiting(app, alice, "alice")
        with pytest.raises(ValidationError, match=r"Your document upload did not start: you already have one piece of "
                                                  r"work \(renders, chat turns, persona checks, document uploads, "
                                                  r"style learning or approvals\) waiting or running"):
            alice.predict("jenniel", _files(documents, "handbook.md"), api_name="/knowledge_add")
        assert Knowledge(settings, "alice").sources("jenniel") == []
        running.result()
        assert alice.predict("jenniel", _files(documents, "handbook.md"), api_name="/knowledge_add")[0]["ok"]
    finally:
        app.close()
