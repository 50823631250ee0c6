"""The History tab's API through gradio_client, as a script would use it: ``list_jobs`` with each
filter and paging, ``get_job`` on a real render, ``resume_job`` finishing a failed SadTalker job (the
stand-in checkout of ``tests/sadtalker_standin.py`` running out of GPU memory) on the embedded
renderer, and readable errors."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from conftest import SAMPLE_PORTRAIT
from pipeline.db import JobStore
from pipeline.media import probe
from pipeline.runner import RenderRequest, Runner


def _seed(settings, count: int = 45) -> list[str]:
    """``count`` jobs a minute apart, oldest first; returns their ids newest first."""
    store = JobStore(settings.db_path)
    start = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.timezone.utc)
    ids = []
    for i in range(count):
        job = store.create(created_at=(start + dt.timedelta(minutes=i)).isoformat(timespec="milliseconds"),
                           persona=("adam", "jenniel", None)[i % 3], backend=("embedded", "did")[i % 2],
                           status="failed" if i % 5 == 0 else "done", text=f"Take {i}: protect the family budget",
                           error="D-ID says the account is out of credit" if i % 5 == 0 else None,
                           duration_s=None if i % 5 == 0 else 2.5)
        ids.append(job.id)
    return ids[::-1]


def _list(client, persona="", backend="", status="", text="", page=1):
    table, shown_page, info = client.predict(persona, backend, status, text, page, api_name="/list_jobs")
    return table, shown_page, info


def test_list_jobs_pages_and_filters(studio_client, settings):
    newest_first = _seed(settings)
    table, page, info = _list(studio_client)
    assert table["headers"][:3] == ["job id", "created (UTC)", "status"]
    assert [row[0] for row in table["data"]] == newest_first[:20]
    assert (page, info) == (1, "page 1 of 3 · 45 jobs")

    table, page, info = _list(studio_client, page=3)
    assert [row[0] for row in table["data"]] == newest_first[40:] and info == "page 3 of 3 · 45 jobs"
    table, page, _ = _list(studio_client, page=9)  # past the end: the last page, and says so
    assert page == 3 and len(table["data"]) == 5

    table, _, info = _list(studio_client, persona="adam")
    assert info.endswith("15 jobs") and {row[3] for row in table["data"]} == {"adam"}
    table, _, info = _list(studio_client, backend="did")
    assert info.endswith("22 jobs") and {row[4] for row in table["data"]} == {"did"}
    table, _, info = _list(studio_client, status="failed")
    assert info.endswith("9 jobs") and {row[2] for row in table["data"]} == {"failed"}
    assert all("out of credit" in row[7] for row in table["data"])
    table, _, info = _list(studio_client, text="take 17:")
    assert [row[0] for row in table["data"]] == [newest_first[44 - 17]] and info == "page 1 of 1 · 1 job"
    table, _, info = _list(studio_client, persona="jenniel", backend="embedded", status="done", text="family")
    assert info.endswith("5 jobs")  # i ≡ 1 (mod 3), even, not a multiple of 5: 4, 16, 22, 28, 34
    assert {(row[3], row[4], row[2]) for row in table["data"]} == {("jenniel", "embedded", "done")}
    table, _, info = _list(studio_client, text="nothing like this")
    assert table["data"] == [] and info == "no jobs match these filters"


def test_a_bad_filter_is_a_readable_error(studio_client):
    """The filters reach JobQuery as sent (the event does not preprocess), which says what is wrong."""
    with pytest.raises(Exception, match="status must be one of queued, running, done, failed, interrupted, "
                                        "got 'finished'"):
        _list(studio_client, status="finished")
    with pytest.raises(Exception, match="page must be at least 1, got 0"):
        _list(studio_client, page=0)
    table, _, info = _list(studio_client, persona="someone-deleted")  # free text: old jobs may name gone personas
    assert table["data"] == [] and info == "no jobs match these filters"
    table, _, info = _list(studio_client)
    assert table["data"] == [] and info == "no jobs yet — render one in the Render lab"


def test_get_job_returns_a_real_render_and_unknown_ids_are_readable_errors(studio_client, settings):
    job = Runner(settings).render(RenderRequest(image=SAMPLE_PORTRAIT, text="Good news travels fast!",
                                                controls={"head_tilt": 0.0}))
    details = studio_client.predict(job.id, api_name="/get_job")
    assert details["job_id"] == job.id and details["status"] == "done"
    assert details["inputs"]["text"] == "Good news travels fast!"
    assert details["controls"]["head_tilt"] == {"user": 0.0, "proposed": job.controls_proposed["head_tilt"],
                                                "final": 0.0}
    assert details["emotion"]["emotion"] == job.emotion and details["emotion"]["evidence"]
    assert set(details["timings"]) >= {"speech", "render", "encode"} and details["rtf"] > 0
    assert probe(details["video"]).duration_s == pytest.approx(job.duration_s, abs=0.1)

    with pytest.raises(Exception, match="no job with id 'no-such-job'"):
        studio_client.predict("no-such-job", api_name="/get_job")
    with pytest.raises(Exception, match="pick a job in the table first"):
        studio_client.predict("  ", api_name="/get_job")


# -- resume, on the job's own renderer or another one -----------------------------------------------
@pytest.fixture
def standin_sadtalker(studio_home, monkeypatch, tmp_path_factory):
    """SADTALKER_DIR pointing at the stand-in checkout (``tests/sadtalker_standin.py``: SadTalker's call
    signatures over tiny random networks), allowed on the CPU, set up to run out of GPU memory.
    Ask for it before ``studio_client`` so the studio's settings see it."""
    from pipeline.render import sadtalker
    from sadtalker_standin import build_checkout, set_failure

    checkout = build_checkout(tmp_path_factory.mktemp("sadtalker") / "SadTalker")
    monkeypatch.setenv("SADTALKER_DIR", str(checkout))
    monkeypatch.setenv("SADTALKER_ALLOW_CPU", "1")
    sadtalker.unload_all()
    set_failure(checkout, "oom")
    yield checkout
    sadtalker.unload_all()


def _out_of_memory_job(settings):
    """A SadTalker job that failed in its render stage (the stand-in ran out of GPU memory): its
    speech, analysis, emotion and controls are made and kept in its folder."""
    from pipeline.errors import StudioError

    runner = Runner(settings)
    with pytest.raises(StudioError, match="SadTalker ran out of GPU memory"):
        runner.render(RenderRequest(image=SAMPLE_PORTRAIT, text="Plan B, same words.", backend="sadtalker",
                                    controls={"head_tilt": 0.4}))
    [job] = runner.store.list()
    assert (job.status, job.error_stage, job.backend) == ("failed", "render", "sadtalker")
    return job


def test_resume_finishes_a_failed_sadtalker_job_on_another_renderer(standin_sadtalker, studio_client, settings):
    from pipeline.render.sadtalker import SadTalkerSettings

    assert SadTalkerSettings.of(settings).checkout == standin_sadtalker
    failed = _out_of_memory_job(settings)
    store = JobStore(settings.db_path)
    job_dir = settings.job_dir(failed.id)
    spoken = (job_dir / "speech.wav").stat().st_mtime_ns

    # A renderer that cannot run is refused before anything changes
    with pytest.raises(Exception, match="HEYGEN_API_KEY"):
        studio_client.predict(failed.id, "heygen", api_name="/resume_job")
    unchanged = store.get(failed.id)
    assert (unchanged.status, unchanged.backend, unchanged.error) == ("failed", "sadtalker", failed.error)

    job_id, details = studio_client.predict(failed.id, "embedded", api_name="/resume_job")
    assert job_id == failed.id and (details["status"], details["backend"]) == ("done", "embedded")
    assert details["error"] is None and details["controls"]["head_tilt"]["final"] == 0.4
    assert details["timings"]["speech"] == failed.timings["speech"]  # not spoken again …
    assert (job_dir / "speech.wav").stat().st_mtime_ns == spoken  # … the very same file
    assert probe(details["video"]).duration_s == pytest.approx(details["duration_s"], abs=0.05)
    assert "renderer changed from sadtalker to embedded" in (job_dir / "job.log").read_text()

    with pytest.raises(Exception, match=f"job {failed.id} is already done — only a failed or interrupted job"):
        studio_client.predict(failed.id, "", api_name="/resume_job")


def test_resume_on_its_own_renderer_and_what_cannot_be_resumed(studio_client, settings):
    """"" is the job's own renderer: an interrupted embedded job is finished where it stopped."""
    runner = Runner(settings)
    job = runner.render(RenderRequest(image=SAMPLE_PORTRAIT, text="Stopped before the encoder."))
    (settings.job_dir(job.id) / "output.mp4").unlink()
    runner.store.update(job.id, status="interrupted", video_path=None, error="stopped during encode",
                        error_stage="encode", timings={k: v for k, v in job.timings.items() if k != "encode"})
    job_id, details = studio_client.predict(job.id, "", api_name="/resume_job")
    assert (job_id, details["status"], details["backend"]) == (job.id, "done", "embedded")
    assert details["timings"]["render"] == job.timings["render"] and probe(details["video"]).audio is not None

    running = runner.store.create(kind="render", backend="embedded", status="running", pid=os.getpid(), text="Hi.")
    with pytest.raises(Exception, match=f"job {running.id} is still running — only a failed or interrupted job"):
        studio_client.predict(running.id, "embedded", api_name="/resume_job")
    assert runner.store.get(running.id).backend == "embedded"
    with pytest.raises(Exception, match="no job with id 'nope'"):
        studio_client.predict("nope", "", api_name="/resume_job")
    failed = runner.store.create(kind="render", backend="embedded", status="failed", text="Hi.")
    with pytest.raises(Exception, match="renderer 'sadtaker' not found; known: embedded"):
        studio_client.predict(failed.id, "sadtaker", api_name="/resume_job")
