import os
import subprocess
import sys

import pytest
from test_db import SHIPPED

from pipeline.errors import DataFolderUnusable, JobNotFound
from pipeline.db import JobStore, migrations


def test_migrations_are_idempotent_and_named(tmp_path):
    path = tmp_path / "studio.db"
    JobStore(path)
    store = JobStore(path)  # second open applies nothing new
    with store.connect() as db:
        applied = [m.name for m in migrations.applied(db)]
        assert applied == SHIPPED
        assert {"id", "status", "timings", "controls_final", "emotion_evidence", "image_sha256",
                "controller_detail", "remote_id", "remote", "controls_ignored", "owner",
                "captions", "video_size"} <= set(db["jobs"].columns_dict)
        assert "owner" in db["conversations"].columns_dict
        assert {"conversations", "turns", "llm_cache"} <= set(db.table_names())


def test_a_database_from_the_first_release_is_upgraded_in_place(tmp_path):
    """A studio.db made before the chat tables existed keeps its jobs and gains the new tables."""
    import sqlite_utils
    from sqlite_utils.migrations import Migrations

    from pipeline.db.migrations import m001_jobs

    path = tmp_path / "studio.db"
    db = sqlite_utils.Database(path)
    first_release = Migrations("avatar_studio")
    first_release()(m001_jobs)
    first_release.apply(db)
    db["jobs"].insert({"id": "20260101-000000-aaaaaa", "created_at": "2026-01-01T00:00:00", "status": "done",
                       "kind": "render", "controls_final": '{"mouth_openness": 0.7}'})
    db.close()
    store = JobStore(path)
    job = store.get("20260101-000000-aaaaaa")
    assert job.controls_final == {"mouth_openness": 0.7} and job.controller_detail is None
    store.update(job.id, controller="llm", controller_detail={"path": "llm", "raw": "{}"})
    assert store.get(job.id).controller_detail == {"path": "llm", "raw": "{}"}


def test_round_trip_json_columns(tmp_path):
    store = JobStore(tmp_path / "studio.db")
    job = store.create(backend="embedded", text="hi", controls_user={"mouth_openness": 0.8}, options={"seed": 3})
    store.update(job.id, timings={"speech": 0.5}, notes=["found 2 faces"], status="running")
    again = store.get(job.id)
    assert again.controls_user == {"mouth_openness": 0.8} and again.options == {"seed": 3}
    assert again.timings == {"speech": 0.5} and again.notes == ["found 2 faces"] and again.status == "running"


def test_unknown_job_is_a_clear_error(tmp_path):
    with pytest.raises(JobNotFound, match="no job with id 'nope'"):
        JobStore(tmp_path / "studio.db").get("nope")


def test_jobs_of_dead_processes_become_interrupted(tmp_path):
    store = JobStore(tmp_path / "studio.db")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = store.create(status="running", pid=int(dead.stdout))
    mine = store.create(status="running")  # pid of this (live) process
    store.update(mine.id, pid=__import__("os").getpid())
    finished = store.create(status="done", pid=int(dead.stdout))
    assert store.mark_orphans_interrupted() == [orphan.id]
    assert store.get(orphan.id).status == "interrupted"
    assert "resume" in store.get(orphan.id).error
    assert store.get(mine.id).status == "running" and store.get(finished.id).status == "done"


def test_list_is_newest_first_and_filters(tmp_path):
    store = JobStore(tmp_path / "studio.db")
    ids = [store.create(status="done" if i % 2 else "failed").id for i in range(5)]
    assert [job.id for job in store.list()] == ids[::-1]
    assert {job.status for job in store.list(status="failed")} == {"failed"}
    assert len(store.list(limit=2, offset=1)) == 2


def test_a_damaged_studio_db_is_one_clear_error_and_moving_it_aside_is_the_fix(tmp_path):
    path = tmp_path / "studio.db"
    path.write_bytes(bytes(range(256)) * 40)  # garbage where the database should be
    with pytest.raises(DataFolderUnusable) as error:
        JobStore(path)
    assert str(error.value) == (f"studio.db at {path} is not a SQLite database (file is not a database) — move it "
                                "aside and run again; a new one will be created")
    path.rename(tmp_path / "studio.db.damaged")
    assert JobStore(path).list() == []


def test_a_data_folder_that_cannot_be_made_is_one_clear_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder's parent should be")
    with pytest.raises(DataFolderUnusable) as error:
        JobStore(blocker / "home" / "studio.db")
    assert str(error.value) == (f"the data folder {blocker / 'home'} cannot be written (Not a directory) — set "
                                "AVATAR_STUDIO_HOME to a folder this user can write")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_data_folder_is_one_clear_error(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o555)
    try:
        with pytest.raises(DataFolderUnusable, match=r"cannot be written \(Permission denied\)"):
            JobStore(home / "studio.db")
    finally:
        home.chmod(0o755)
