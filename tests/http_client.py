"""A hostile client: the studio's events posted as plain HTTP, the way a script with no
``gradio_client`` (or one crafting payloads by hand) would — bare ``{"path": …}`` file objects,
private events by ``fn_index``, hand-made cookies. Used by the guard and the users tests."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx


def fn_index(app, *, api_name: str | None = None, fn_name: str | None = None) -> int:
    """The index of the event whose ``api_name`` (or handler's name) is given."""
    for index, fn in app.fns.items():
        if (api_name and fn.api_name == api_name) or (fn_name and getattr(fn.fn, "__name__", "") == fn_name):
            return index
    raise KeyError(api_name or fn_name)


def join(client: httpx.Client, url: str, index: int, data: list[Any], *, timeout: float = 120) -> dict:
    """Post event ``index`` with ``data`` to ``/gradio_api/queue/join`` and wait for its end: the
    ``process_completed`` message (``success``, ``output``), or ``{"status": code, "detail": …}``
    when the queue refused it outright."""
    session = secrets.token_hex(8)
    joined = client.post(f"{url}/gradio_api/queue/join",
                         json={"data": data, "fn_index": index, "session_hash": session, "event_data": None,
                               "trigger_id": None}, timeout=30)
    if joined.status_code != 200:
        return {"status": joined.status_code, "detail": joined.json().get("detail")}
    with client.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session},
                       timeout=timeout) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed":
                return message
    raise AssertionError("the event never completed")


def error_of(message: dict) -> str | None:
    """The error a completed event reports (None when it succeeded)."""
    if "status" in message:
        return str(message["detail"])
    if message.get("success"):
        return None
    return str((message.get("output") or {}).get("error"))


def login(url: str, user: str, password: str) -> httpx.Client:
    """A client signed in to a studio with users (``POST /login``), cookies kept."""
    client = httpx.Client(timeout=60)
    answer = client.post(f"{url}/login", data={"username": user, "password": password})
    assert answer.status_code == 200, answer.text
    return client


def upload(client: httpx.Client, url: str, path) -> dict:
    """Upload a file as the browser does; returns the file object to send as an input."""
    with open(path, "rb") as handle:
        answer = client.post(f"{url}/gradio_api/upload", files={"files": (path.name, handle)})
    answer.raise_for_status()
    [stored] = answer.json()
    return {"path": stored, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


def refusal(attempt) -> str:
    """The one message an API call (a ``gradio_client`` call in ``attempt``) that should fail came
    back with; never a traceback or an "unexpected error"."""
    import pytest

    with pytest.raises(Exception) as refused:
        attempt()
    message = str(refused.value)
    assert "Traceback" not in message and "unexpected error" not in message.lower(), message
    return message
