"""A persona's analytics through the studio's API (``gradio_client``): ``/persona_analytics`` answers
with the very JSON ``app.py analytics --json`` prints, a typo is one clear error, and with users
each user's numbers are theirs alone — bob cannot see alice's, by her persona's id or by a shared
example's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

import fake_llm
from conftest import ROOT, USERS, serve_with_users
from http_client import refusal
from personas import PersonaStore


@pytest.fixture
def fake():
    return fake_llm.install()


def chat(client, message, *, persona="adam"):
    return client.predict(persona, message, "", "", "fake", "text", 100, api_name="/chat")


def _client(app, user):
    from gradio_client import Client

    return Client(app.local_url, auth=(user, USERS[user]), verbose=False)


def test_the_endpoint_answers_what_the_cli_prints(studio_client, fake, studio_home):
    endpoints = studio_client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in endpoints["/persona_analytics"]["parameters"]] == ["persona", "days"]
    assert not {"on_tab_selected", "show_analytics"} & {name.strip("/") for name in endpoints}

    fake.enqueue("One.", "Two.")
    chat(studio_client, "How many holiday days do I get?")
    chat(studio_client, "How are travel expenses refunded?")
    answer = studio_client.predict("adam", 7, api_name="/persona_analytics")
    assert (answer["persona"], answer["days"], answer["questions"], answer["conversations"]) == ("adam", 7, 2, 2)
    assert len(answer["questions_per_day"]) == 7 and sum(answer["questions_per_day"].values()) == 2

    printed = subprocess.run([sys.executable, "app.py", "analytics", "--persona", "adam", "--days", "7", "--json"],
                             cwd=ROOT, env={**os.environ, "AVATAR_STUDIO_HOME": str(studio_home)},
                             capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == answer

    for attempt, expected in [(lambda: studio_client.predict("adma", 30, api_name="/persona_analytics"),
                               "no persona 'adma'; known: adam"),
                              (lambda: studio_client.predict("adam", 0, api_name="/persona_analytics"),
                               "days must be a whole number from 1 to 3650")]:
        message = refusal(attempt)
        assert expected in message and "\n" not in message.strip(), message


def test_each_users_numbers_are_theirs_alone(settings, fake):
    alices = PersonaStore(settings, owner="alice")
    alices.save(replace(alices.get("adam"), id="alices-coach", name="Alice's coach", portrait=None))
    app = serve_with_users(settings)
    try:
        alice, bob = _client(app, "alice"), _client(app, "bob")
        fake.enqueue("Hers.", "Hers too.", "His.")
        chat(alice, "How many holiday days do I get?")
        chat(alice, "Can I carry holiday days over?", persona="alices-coach")
        chat(bob, "What is the meal allowance?")

        hers = alice.predict("adam", 30, api_name="/persona_analytics")
        assert hers["questions"] == 1 and hers["topics"][0]["label"] == "How many holiday days do I get?"
        assert alice.predict("alices-coach", 30, api_name="/persona_analytics")["questions"] == 1

        his = bob.predict("adam", 30, api_name="/persona_analytics")
        assert his["questions"] == 1 and his["topics"][0]["label"] == "What is the meal allowance?"
        assert "holiday" not in json.dumps(his)
        assert "no persona 'alices-coach'" in refusal(
            lambda: bob.predict("alices-coach", 30, api_name="/persona_analytics"))
    finally:
        app.close()
