"""Learning a style through the studio's API (``gradio_client``, and plain HTTP for what a
hand-written client could post): real files uploaded — posts as text, a CSV export, a damaged PDF —
measured by the studio in this process; every mistake one clear message; a server path, or a file
another user uploaded, refused by the guard before anything is read."""

from __future__ import annotations

import httpx
import pytest
from test_style import POSTS

from conftest import USERS
from http_client import error_of, fn_index, join, login, refusal, upload

KITCHEN = ["Sourdough tip: feed the starter the night before and bake when it doubles. 🍞",
           "Slow-roasted tomatoes with garlic and thyme make the best pasta sauce of the summer."]


@pytest.fixture
def writing(tmp_path):
    posts = tmp_path / "posts.txt"
    posts.write_text("\n\n".join(POSTS))
    export = tmp_path / "export.csv"
    export.write_text("id,caption,likes\n" + "".join(f'{n},"{text}",{n}\n' for n, text in enumerate(KITCHEN)))
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"Just some words, no PDF.\n" * 20)
    few = tmp_path / "few.md"
    few.write_text("One post.\n\nAnother post.")
    return {path.name: path for path in (posts, export, broken, few)}


def _files(writing, *names):
    from gradio_client import handle_file

    return [handle_file(str(writing[name])) for name in names]


def test_the_api_lists_learn_style_and_keeps_the_sections_helpers_private(studio_client):
    endpoints = studio_client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in endpoints["/learn_style"]["parameters"]] == ["files"]
    assert not {"learn_from_files", "clear_style"} & {name.strip("/") for name in endpoints}


def test_learn_style_answers_the_profile_and_the_proposed_section(studio_client, writing):
    answer = studio_client.predict(_files(writing, "posts.txt", "export.csv"), api_name="/learn_style")
    profile, style = answer["profile"], answer["style"]
    assert profile["samples"] == len(POSTS) + len(KITCHEN) and profile["phrases"][:2] == ["profit logic",
                                                                                          "willingness to pay"]
    assert set(style) == {"description", "phrases", "examples"}
    assert style["description"].startswith("Sentences of about ") and style["phrases"] == profile["phrases"]
    assert style["examples"] == profile["pool"] and set(style["examples"]) == set(POSTS + KITCHEN)


def test_each_mistake_is_one_clear_error(studio_client, writing):
    cases = [
        (lambda: studio_client.predict(_files(writing, "posts.txt", "broken.pdf"), api_name="/learn_style"),
         "“broken.pdf” could not be read as a PDF ("),
        (lambda: studio_client.predict(_files(writing, "few.md"), api_name="/learn_style"),
         "give at least 3 samples of your writing (posts, captions, a transcript); got 2"),
        (lambda: studio_client.predict([], api_name="/learn_style"), "give one or more files of the creator's writing"),
    ]
    for attempt, expected in cases:
        message = refusal(attempt)
        assert expected in message and str(writing["posts.txt"].parent) not in message


@pytest.mark.parametrize("file", [{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
                                  {"path": "/etc/passwd"}], ids=["with Gradio's marker", "bare"])
def test_a_server_path_as_a_file_is_refused_by_the_guard(studio_app, file):
    url = studio_app.local_url.rstrip("/")
    with httpx.Client(timeout=120) as client:
        answer = join(client, url, fn_index(studio_app, api_name="learn_style"), [[file]])
    error = error_of(answer)
    assert error is not None, answer
    assert error.startswith("“passwd” is not a file you uploaded. Upload the file first"), error


def test_another_users_upload_is_refused(users_studio, writing):
    url = users_studio.local_url.rstrip("/")
    alice, bob = login(url, "alice", USERS["alice"]), login(url, "bob", USERS["bob"])
    try:
        posts = upload(alice, url, writing["posts.txt"])
        index = fn_index(users_studio, api_name="learn_style")
        assert error_of(join(alice, url, index, [[posts]])) is None  # alice's own upload
        error = error_of(join(bob, url, index, [[posts]]))
    finally:
        alice.close()
        bob.close()
    assert error is not None and error.startswith("“posts.txt” is not a file you uploaded"), error
