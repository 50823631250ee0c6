"""The Render lab's Batch section through the studio's API (``batch``, ``stop_batch``) and the
History's batch filter: a batch file uploaded with its pictures renders every row as its owner's
jobs; a row naming any file but those uploaded with it (a server path, a name not uploaded) fails
with its reason and nothing of the server's disk is read; in a studio with users, a batch is its
owner's alone and may not have more rows than the renders its owner has left this hour."""

from __future__ import annotations

import shutil

import pytest
from gradio_client import Client, handle_file

from pipeline.db import JobStore
from tests.conftest import SAMPLE_PORTRAIT, USERS, serve_with_users


def batch_files(tmp_path, rows: list[str], header: str = "portrait,text,output") -> list:
    shutil.copyfile(SAMPLE_PORTRAIT, tmp_path / "teacher.png")
    path = tmp_path / "lessons.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return [handle_file(str(path)), handle_file(str(tmp_path / "teacher.png"))]


def test_a_batch_uploaded_with_its_pictures_renders_as_jobs_in_the_history(studio_client, settings, tmp_path):
    server_file = settings.home / "secret.png"
    server_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLE_PORTRAIT, server_file)
    files = batch_files(tmp_path, ["teacher.png,Lesson one.,one", "teacher.png,Lesson two.,two",
                                   f"{server_file},A server path.,three", "../teacher.png,Climbing out.,four",
                                   "nobody.png,Never uploaded.,five"])
    summary, table, videos = studio_client.predict(files=files, api_name="/batch")
    assert "finished" in summary and "2 of 5 done, 3 failed" in summary
    rows = {row[0]: row for row in table["data"]}
    assert [rows[n][2] for n in (1, 2, 3, 4, 5)] == ["done", "done", "failed", "failed", "failed"]
    assert "is not among the files uploaded with the batch (uploaded: teacher.png)" in rows[3][4]
    assert "../teacher.png is not among the files uploaded" in rows[4][4]
    assert "nobody.png is not among" in rows[5][4]
    assert len(videos) == 2 and all(video.endswith(".mp4") for video in videos)
    jobs = JobStore(settings.db_path).list()
    batch_id = jobs[0].batch_id
    assert len(jobs) == 5 and {job.batch_id for job in jobs} == {batch_id}
    assert all(job.image_sha256 is None for job in jobs if job.batch_row in (3, 4, 5))  # nothing was read
    # the History's batch filter: exactly this batch's rows; an unknown batch, none
    table, _, info = studio_client.predict("", "", "", "", 1, batch_id, api_name="/list_jobs")
    assert len(table["data"]) == 5 and "5 jobs" in info
    first = next(job for job in jobs if job.batch_row == 1)
    assert studio_client.predict(first.id, api_name="/get_job")["batch"] == {"id": batch_id, "row": 1}
    table, _, _ = studio_client.predict("", "", "", "", 1, "batch-nothing", api_name="/list_jobs")
    assert table["data"] == [] or table["data"] == [["" for _ in table["headers"]]]
    # the same file again: resumed, nothing rendered twice
    summary, table, _ = studio_client.predict(files=files, api_name="/batch")
    assert "2 of 5 done, 3 failed" in summary and len(JobStore(settings.db_path).list()) == 5


def test_a_file_that_is_not_a_batch_is_one_clear_error(studio_client, tmp_path):
    from gradio_client.exceptions import AppError

    shutil.copyfile(SAMPLE_PORTRAIT, tmp_path / "teacher.png")
    with pytest.raises(AppError, match="upload a batch file"):
        studio_client.predict(files=[handle_file(str(tmp_path / "teacher.png"))], api_name="/batch")
    (tmp_path / "bad.csv").write_text("portrait,words\nteacher.png,Hi\n", encoding="utf-8")
    with pytest.raises(AppError, match="unknown column 'words'"):
        studio_client.predict(files=[handle_file(str(tmp_path / "bad.csv"))], api_name="/batch")
    assert studio_client.predict(api_name="/stop_batch") == "No batch of yours is running."


def test_with_users_a_batch_is_its_owners_and_counts_against_their_hour(settings, tmp_path):
    from dataclasses import replace

    settings = replace(settings, limits=replace(settings.limits, renders_per_hour=3))
    app = serve_with_users(settings)
    try:
        alice = Client(app.local_url, auth=("alice", USERS["alice"]), verbose=False)
        bob = Client(app.local_url, auth=("bob", USERS["bob"]), verbose=False)
        summary, _, _ = alice.predict(files=batch_files(tmp_path, ["teacher.png,Only for alice.,a"]), api_name="/batch")
        assert "1 of 1 done" in summary
        [job] = JobStore(settings.db_path).list()
        assert job.owner == "alice"
        table, _, _ = bob.predict("", "", "", "", 1, job.batch_id, api_name="/list_jobs")
        assert all(not any(cell for cell in row) for row in table["data"])  # bob sees none of it
        from gradio_client.exceptions import AppError

        four = [f"teacher.png,Row {n}.,r{n}" for n in range(4)]
        with pytest.raises(AppError, match="this batch has 4 rows to render, and you may start 2 more renders"):
            alice.predict(files=batch_files(tmp_path, four), api_name="/batch")
    finally:
        app.close()
