"""Sign in with Hugging Face (a Space with ``hf_oauth: true``): the signed-in user's name comes from
Gradio's signed session cookie, and everything they make is theirs. Hugging Face itself cannot be
reached here, so the test signs a session cookie the way Starlette's ``SessionMiddleware`` does,
with the secret Gradio derives from ``OAUTH_CLIENT_SECRET`` — what a real sign-in leaves behind."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest

from conftest import SAMPLE_PORTRAIT, free_port
from http_client import error_of, fn_index, join, upload
from pipeline.db import JobStore

SECRET = "space-oauth-secret"


@pytest.fixture
def oauth_studio(settings, monkeypatch):
    import gradio.oauth as oauth

    from studio.app import build_app, launch_options
    from studio.guard import OAUTH, Access

    for name, value in {"OAUTH_CLIENT_ID": "client-id", "OAUTH_CLIENT_SECRET": SECRET,
                        "OAUTH_SCOPES": "openid profile", "OPENID_PROVIDER_URL": "http://127.0.0.1:9"}.items():
        monkeypatch.setattr(oauth, name, value)  # what a Space with hf_oauth: true puts in the environment
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", "someone/avatar-studio")
    app = build_app(settings, Access(OAUTH))
    app.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                       **launch_options(settings))
    yield app
    app.close()


def _signed_in(user: str):
    import httpx
    from itsdangerous import TimestampSigner

    session = {"oauth_info": {"access_token": "t", "expires_at": int(time.time()) + 3600,
                              "userinfo": {"preferred_username": user, "name": user.title()}}}
    key = hashlib.sha256((SECRET + "-v4").encode()).hexdigest()
    cookie = TimestampSigner(key).sign(base64.b64encode(json.dumps(session).encode())).decode()
    return httpx.Client(timeout=60, cookies={"session": cookie})


def _render_data(portrait):
    return [portrait, "Signed in.", None, "", "auto", 0.3, 0.3, 0.4, 0.5, 0.3, "embedded", False, None, None, None,
            None, False, "as-is", "blurred", ""]  # the raw protocol sends every input (see test_guard._render_data)


def test_hugging_face_users_own_what_they_make(oauth_studio, settings):
    import httpx

    url = oauth_studio.local_url.rstrip("/")
    page = httpx.get(url, timeout=30)
    assert page.status_code == 200  # the page loads for anyone, with the sign-in button
    assert any(getattr(block, "elem_id", None) == "studio-login" for block in oauth_studio.blocks.values())

    visitor = httpx.Client(timeout=60)
    refused = join(visitor, url, fn_index(oauth_studio, api_name="list_jobs"), ["", "", "", "", 1, ""])
    assert error_of(refused) == "Sign in with Hugging Face (the button at the top) to use this studio."
    assert visitor.post(f"{url}/gradio_api/upload", files={"files": ("a.png", b"x")}).status_code == 401

    alice = _signed_in("alice-hf")
    done = join(alice, url, fn_index(oauth_studio, api_name="render"), _render_data(upload(alice, url, SAMPLE_PORTRAIT)))
    assert error_of(done) is None
    [job] = JobStore(settings.db_path).list()
    assert job.owner == "alice-hf" and job.status == "done"

    bob = _signed_in("bob-hf")
    listed = join(bob, url, fn_index(oauth_studio, api_name="list_jobs"), ["", "", "", "", 1, ""])
    assert listed["output"]["data"][0]["data"] == []
    assert f"no job with id '{job.id}'" in error_of(join(bob, url, fn_index(oauth_studio, api_name="get_job"), [job.id]))
    mine = join(alice, url, fn_index(oauth_studio, api_name="get_job"), [job.id])
    assert mine["output"]["data"][0]["job_id"] == job.id
