"""A studio with users: two of them, alice and bob, through ``gradio_client`` (``auth=``) and plain
HTTP. Everything alice makes is hers alone: bob cannot list, fetch, resume, re-render or delete her
jobs (the private delete event posted by ``fn_index`` included), continue her conversation, use her
persona or her uploads, or download her video — and each refusal reads exactly like a missing item.
The shared example personas stay shared. Plus: signing in, slowing down password guessing, and the
per-user quotas, each over its limit with nothing queued."""

from __future__ import annotations

import time

import httpx
import pytest

import fake_llm
from conftest import SAMPLE_PORTRAIT, USERS, serve_with_users, slow_chat_waiting
from http_client import error_of, fn_index, join, login, upload
from pipeline.db import JobStore

MISSING_JOB = "no job with id '{}' — `python app.py jobs` lists them"


def _client(app, user):
    from gradio_client import Client

    return Client(app.local_url, auth=(user, USERS[user]), verbose=False)


def _render(client, script="Only for alice."):
    from gradio_client import handle_file

    return client.predict(portrait=handle_file(str(SAMPLE_PORTRAIT)), script=script, api_name="/render")


def _render_data(portrait, script="Hello there."):
    return [portrait, script, None, "", "auto", 0.3, 0.3, 0.4, 0.5, 0.3, "embedded", False, None, None, None,
            None, False, "as-is", "blurred", ""]  # the raw protocol sends every input (see test_guard._render_data)


def test_each_users_jobs_are_theirs_alone(users_studio, settings):
    alice, bob = _client(users_studio, "alice"), _client(users_studio, "bob")
    _, details = _render(alice)
    job_id = details["job_id"]
    assert JobStore(settings.db_path).get(job_id).owner == "alice"

    table, _, info = alice.predict("", "", "", "", 1, api_name="/list_jobs")
    assert [row[0] for row in table["data"]] == [job_id] and info == "page 1 of 1 · 1 job"
    table, _, info = bob.predict("", "", "", "", 1, api_name="/list_jobs")
    assert table["data"] == [] and info == "no jobs yet — render one in the Render lab"
    assert alice.predict(job_id, api_name="/get_job")["job_id"] == job_id
    for attempt in (lambda: bob.predict(job_id, api_name="/get_job"),
                    lambda: bob.predict(job_id, "", api_name="/resume_job")):
        with pytest.raises(Exception) as refused:
            attempt()
        assert MISSING_JOB.format(job_id) in str(refused.value)
    with pytest.raises(Exception) as unknown:  # what a missing job says, word for word
        bob.predict("20260101-000000-abcdef", api_name="/get_job")
    assert MISSING_JOB.format("20260101-000000-abcdef") in str(unknown.value)


def test_private_events_posted_by_fn_index_refuse_another_users_job(users_studio, settings):
    url = users_studio.local_url.rstrip("/")
    _, details = _render(_client(users_studio, "alice"))
    job_id = details["job_id"]
    bob = login(url, "bob", USERS["bob"])
    for name, data in (("delete_confirmed", [job_id]), ("render_again", [job_id, "embedded"]),
                       ("open_in_lab", [job_id]), ("ask_delete_1", [job_id])):
        index = fn_index(users_studio, api_name=name)
        assert MISSING_JOB.format(job_id) in error_of(join(bob, url, index, data)), name
    store = JobStore(settings.db_path)
    assert store.get(job_id).status == "done" and len(store.list()) == 1  # not deleted, nothing re-rendered
    assert settings.job_dir(job_id).is_dir()


def test_another_users_video_and_uploads_are_not_theirs(users_studio, settings, tmp_path):
    from PIL import Image

    url = users_studio.local_url.rstrip("/")
    alice, bob = login(url, "alice", USERS["alice"]), login(url, "bob", USERS["bob"])
    own = tmp_path / "alice-portrait.png"  # her own photo (the sample itself is public: the page shows it)
    with Image.open(SAMPLE_PORTRAIT) as image:
        image.convert("RGB").save(own)
    portrait = upload(alice, url, own)
    done = join(alice, url, fn_index(users_studio, api_name="render"), _render_data(portrait))
    assert error_of(done) is None
    video = done["output"]["data"][0]
    video = video.get("video") or video
    assert alice.get(f"{url}/gradio_api/file={video['path']}").status_code == 200
    refused = bob.get(f"{url}/gradio_api/file={video['path']}")
    missing = bob.get(f"{url}/gradio_api/file={video['path']}.gone")
    assert refused.status_code == missing.status_code == 403
    assert refused.json()["detail"] == f"File not allowed: {video['path']}."
    # alice's upload is not bob's to send
    answer = join(bob, url, fn_index(users_studio, api_name="render"), _render_data(portrait))
    assert "is not a file you uploaded" in error_of(answer)
    assert len(JobStore(settings.db_path).list()) == 1


def test_conversations_and_personas_are_their_owners(users_studio, settings):
    from personas.model import Persona
    from personas.store import PersonaStore

    fake = fake_llm.install()
    fake.enqueue("Hello alice.")
    alice, bob = _client(users_studio, "alice"), _client(users_studio, "bob")
    reply, conversation, *_ = alice.predict("jenniel", "Remember: my code word is plum.", "", "", "fake", "text", 50,
                                            api_name="/chat")
    assert reply == "Hello alice."
    with pytest.raises(Exception, match=f"no conversation with id '{conversation}'"):
        bob.predict("jenniel", "What was the code word?", conversation, "", "fake", "text", 50, api_name="/chat")
    assert len(fake.history) == 1  # bob's question never reached the model, nor did her history
    with pytest.raises(Exception, match="no conversation with id 'c-not-there'"):
        bob.predict("jenniel", "Hi", "c-not-there", "", "fake", "text", 50, api_name="/chat")

    own = PersonaStore(settings, owner="alice").get("jenniel")
    from dataclasses import replace

    PersonaStore(settings, owner="alice").save(replace(own, id="alices-coach", name="Alice's coach", portrait=None))
    fake.enqueue("Coach here.")
    assert alice.predict("alices-coach", "Hi", "", "", "fake", "text", 50, api_name="/chat")[0] == "Coach here."
    with pytest.raises(Exception, match="no persona 'alices-coach'"):
        bob.predict("alices-coach", "Hi", "", "", "fake", "text", 50, api_name="/chat")
    assert "alices-coach" not in PersonaStore(settings, owner="bob").ids()
    assert {"jenniel", "adam"} <= set(PersonaStore(settings, owner="bob").ids())  # the examples are shared
    assert isinstance(own, Persona) and not (settings.personas_dir / "alices-coach").exists()


def test_signing_in_is_required_and_wrong_passwords_slow_down(users_studio):
    url = users_studio.local_url.rstrip("/")
    anonymous = httpx.Client(timeout=30)
    joined = anonymous.post(f"{url}/gradio_api/queue/join",
                            json={"data": [""], "fn_index": fn_index(users_studio, api_name="get_job"),
                                  "session_hash": "x1", "event_data": None, "trigger_id": None})
    assert joined.status_code == 401
    assert anonymous.post(f"{url}/gradio_api/upload", files={"files": ("a.png", b"x")}).status_code == 401

    answers = [anonymous.post(f"{url}/login", data={"username": "alice", "password": f"guess-{n}"}).status_code
               for n in range(5)]
    assert answers == [400] * 5
    blocked = anonymous.post(f"{url}/login", data={"username": "alice", "password": USERS["alice"]})
    assert blocked.status_code == 429 and blocked.json()["detail"].startswith("Too many wrong passwords: try again in")
    assert int(blocked.headers["retry-after"]) >= 1
    time.sleep(2.2)  # the first wait is 2 s
    assert anonymous.post(f"{url}/login", data={"username": "alice", "password": USERS["alice"]}).status_code == 200
    assert anonymous.post(f"{url}/login", data={"username": "bob", "password": USERS["bob"]}).status_code == 200


def test_a_user_over_the_render_quota_is_told_when_and_nothing_is_queued(settings, monkeypatch):
    from gradio_client.exceptions import ValidationError

    monkeypatch.setenv("AVATAR_STUDIO_RENDERS_PER_HOUR", "1")
    from pipeline.settings import resolve

    app = serve_with_users(resolve(dotenv=False))
    try:
        alice, bob = _client(app, "alice"), _client(app, "bob")
        _render(alice, "The first one is free.")
        with pytest.raises(ValidationError) as refused:
            _render(alice, "One too many.")
        message = str(refused.value)
        assert "You have started 1 render in the last hour, the most this studio allows per user; try again in" \
            in message and "UTC)" in message
        assert [job.text for job in JobStore(settings.db_path).list()] == ["The first one is free."]
        _render(bob, "Bob has his own quota.")
        assert len(JobStore(settings.db_path).list()) == 2
    finally:
        app.close()


def test_chat_quota_and_the_wait_limit(settings, monkeypatch):
    from gradio_client.exceptions import ValidationError

    monkeypatch.setenv("AVATAR_STUDIO_CHAT_TURNS_PER_MINUTE", "2")
    monkeypatch.setenv("AVATAR_STUDIO_QUEUED_PER_USER", "1")
    from pipeline.settings import resolve

    slow = fake_llm.install_slow("one two three four five six seven eight", "fine", delay_s=0.4)
    app = serve_with_users(resolve(dotenv=False))
    try:
        alice = _client(app, "alice")
        running = slow_chat_waiting(app, alice, "alice")
        with pytest.raises(ValidationError, match=r"Your message was not sent: you already have one piece of work "
                                                  r"\(renders, chat turns, persona checks, document uploads, "
                                                  r"style learning or approvals\) waiting or running"):
            alice.predict("jenniel", "And quickly?", "", "", "slow", "text", 50, api_name="/chat")
        assert running.result()[0].startswith("one two")
        alice.predict("jenniel", "Second.", "", "", "slow", "text", 50, api_name="/chat")
        with pytest.raises(ValidationError, match=r"You have sent 2 messages in the last minute, the most this "
                                                  r"studio allows per user; try again in \d+ s"):
            alice.predict("jenniel", "Third.", "", "", "slow", "text", 50, api_name="/chat")
        assert len(slow.history) == 2  # the refused ones never reached the model
    finally:
        app.close()
