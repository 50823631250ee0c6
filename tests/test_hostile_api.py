"""Hostile and careless inputs through the studio's API (issue 12), posted as plain HTTP the way a
hand-written client would: one row per kind of mistake, each a clear error message (never
Gradio's generic one), and for a render whether a failed job with that message was recorded or
nothing at all. The command line's rows are in ``tests/test_hostile.py``; the file-guard attacks in
depth in ``tests/test_guard.py``; other users' items in ``tests/test_users.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import httpx
import numpy as np
import pytest
from audio_fixtures import write_wav

import fake_llm
from conftest import SAMPLE_PORTRAIT
from http_client import error_of, fn_index, join, upload
from pipeline.db import JobStore

FAILED, NO_JOB = "failed", "no job"
SAMPLE_SPEECH = SAMPLE_PORTRAIT.parent / "sample_speech.mp3"


@dataclass(frozen=True)
class Row:
    id: str
    api: str  # the event's api_name
    data: Callable  # (files) -> the event's data; ``files`` uploads or names files for it
    message: str | None  # the error's start (None: no error; then ``output`` is checked)
    job: str = NO_JOB
    output: object = None


def render(portrait="portrait", script="Hello there.", audio=None, persona="", emotion="auto",
           controls=(0.3, 0.3, 0.4, 0.5, 0.3), backend="embedded", renderer_options=None):
    def data(files):
        # then the three deprecated SadTalker parameters, the options, burn_captions, output_format, background
        return [files(portrait) if isinstance(portrait, str) else portrait, script,
                files(audio) if isinstance(audio, str) else audio, persona, emotion, *controls, backend, False,
                None, None, None, renderer_options, False, "as-is", "blurred", ""]
    return data


def chat(message="Hello", persona="jenniel", max_tokens=50, conversation="", hold=""):
    return lambda files: [persona, message, conversation, "", "fake", "text", max_tokens, hold]


ROWS = [
    Row("portrait as a server path", "render", render(portrait={"path": "/etc/hostname"}),
        "“hostname” is not a file you uploaded"),
    Row("portrait as a server path with Gradio's marker", "render",
        render(portrait={"path": str(SAMPLE_PORTRAIT.parent.parent / "README.md"), "meta": {"_type": "gradio.FileData"}}),
        "“README.md” is not a file you uploaded"),
    Row("portrait as a link", "render", render(portrait={"url": "http://127.0.0.1:9/face.png", "path": None}),
        "A file must be sent by uploading it"),
    Row("recording as a server path", "render", render(audio={"path": "/etc/passwd"}),
        "“passwd” is not a file you uploaded"),
    Row("transcribe a server path", "transcribe", lambda files: [{"path": "/etc/passwd"}],
        "“passwd” is not a file you uploaded"),
    Row("a batch whose file is a server path", "batch",
        lambda files: [[{"path": str(SAMPLE_PORTRAIT.parent.parent / "personas" / "examples" / "adam" / "persona.yaml"),
                         "meta": {"_type": "gradio.FileData"}}]],
        "“persona.yaml” is not a file you uploaded"),
    Row("portrait that is a text file", "render", render(portrait="notes.png"),
        "could not read 'notes.png' as an image", FAILED),
    Row("portrait that is empty", "render", render(portrait="empty.png"), "could not read 'empty.png' as an image",
        FAILED),
    Row("control that is a word", "render", render(controls=("lots", 0.3, 0.4, 0.5, 0.3)),
        "blink_rate must be a number between 0 and 1, got 'lots'", FAILED),
    Row("control that is NaN", "render", render(controls=(0.3, "nan", 0.4, 0.5, 0.3)),
        "head_tilt must be a number between 0 and 1, got 'nan'", FAILED),
    Row("control that is a list", "render", render(controls=(0.3, 0.3, [1], 0.5, 0.3)),
        "expression_intensity must be a number between 0 and 1, got [1]", FAILED),
    Row("script with NUL", "render", render(script="Hi\x00there"),
        "The script contains a control character (NUL, U+0000) at character 3", FAILED),
    Row("empty script", "render", render(script="   "), "The script is empty", FAILED),
    Row("unknown emotion", "render", render(emotion="smug"), "unknown emotion 'smug'", FAILED),
    Row("unknown backend", "render", render(backend="sadtaker"), "renderer 'sadtaker' not found", FAILED),
    Row("unknown persona", "render", render(persona="nobody"), "no persona 'nobody'"),
    Row("no portrait", "render", render(portrait=None), "choose a portrait"),
    Row("renderer options that are a list", "render", render(renderer_options=[1, 2]),
        "renderer_options must be a JSON object (a dict), got [1, 2]"),
    Row("renderer options that are not JSON", "render", render(renderer_options="size=512"),
        "renderer_options must be a JSON object, got 'size=512'"),
    Row("renderer option out of range", "render", render(backend="sadtalker", renderer_options={"pose_style": 99}),
        "SadTalker pose style must be a whole number from 0 to 45, got 99", FAILED),
    Row("chat: reply length of a billion tokens", "chat", chat(max_tokens=1_000_000_000),
        "a reply of up to 1,000,000,000 tokens is longer than a chat reply may be"),
    Row("chat: reply length that is a word", "chat", chat(max_tokens="long"),
        "the reply length must be a whole number of tokens, got 'long'"),
    Row("chat: message that is not text", "chat", lambda files: ["jenniel", {"a": 1}, "", "", "fake", "text", 50, ""],
        "expected text, got {'a': 1}"),
    Row("chat: hold that is a word", "chat", chat(hold="perhaps"), "hold must be true"),
    Row("chat: empty message", "chat", chat(message="  "), "type a message for the persona to answer"),
    Row("chat: unknown persona", "chat", chat(persona="nobody"), "no persona 'nobody'"),
    Row("chat: unknown conversation", "chat", chat(conversation="c-nope"), "no conversation with id 'c-nope'"),
    Row("transcribe a text file", "transcribe", lambda files: [files("notes.wav")], "could not read the audio file"),
    Row("transcribe silence", "transcribe", lambda files: [files("silent.wav")], None, output=""),
    Row("get_job of an unknown id", "get_job", lambda files: ["20990101-000000-abcdef"],
        "no job with id '20990101-000000-abcdef'"),
    Row("list_jobs with a word for a page", "list_jobs", lambda files: ["", "", "", "", "two", ""],
        "page must be a whole number, got 'two'"),
    Row("list_jobs with an unknown status", "list_jobs", lambda files: ["", "", "weird", "", 1, ""],
        "status must be one of queued, running, done, failed, interrupted, got 'weird'"),
    Row("list_jobs with a page of minus one", "list_jobs", lambda files: ["", "", "", "", -1, ""],
        "page must be at least 1, got -1"),
    Row("persona_analytics with a word for days", "persona_analytics", lambda files: ["adam", "thirty"],
        "days must be a whole number from 1 to 3650, got 'thirty'"),
    Row("persona_analytics with a fraction of a day", "persona_analytics", lambda files: ["adam", 7.5],
        "days must be a whole number from 1 to 3650, got 7.5"),
    Row("persona_analytics of a typo", "persona_analytics", lambda files: ["adma", 30], "no persona 'adma'"),
    Row("persona_analytics of a path", "persona_analytics", lambda files: ["../etc", 30],
        "persona id '../etc' is not valid"),
    Row("suggest_controls with nothing to say", "suggest_controls", lambda files: ["  ", None, "", "auto", "rules"],
        "The script is empty"),
]

MAKE = {
    "portrait": None,  # the sample, uploaded
    "notes.png": lambda path: path.write_text("meeting notes, renamed to look like a picture"),
    "empty.png": lambda path: path.write_bytes(b""),
    "notes.wav": lambda path: path.write_text("not a recording"),
    "silent.wav": lambda path: write_wav(path, np.zeros(32000), 16000),
}


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_a_hostile_api_input_is_one_clear_error(studio_app, settings, tmp_path, row):
    fake_llm.install()
    url = studio_app.local_url.rstrip("/")
    with httpx.Client(timeout=120) as client:
        def files(name):
            if name is None:
                return None
            if MAKE[name] is None:
                return upload(client, url, SAMPLE_PORTRAIT)
            path = tmp_path / name
            MAKE[name](path)
            return upload(client, url, path)

        answer = join(client, url, fn_index(studio_app, api_name=row.api), row.data(files))
    error = error_of(answer)
    if row.message is None:
        assert error is None and answer["output"]["data"][0] == row.output
        return
    assert error is not None and error.startswith(row.message), error
    assert "Traceback" not in error and "unexpected error" not in error
    jobs = JobStore(settings.db_path).list()
    if row.job == FAILED:
        assert [(job.status, job.error) for job in jobs] == [("failed", error)]
    else:
        assert jobs == []
