"""The History tab's pipeline side (pipeline/history.py, the data layer's pipeline/db/history.py and
migration m005): finding jobs in a big history, one job's details, comparing, deleting, rendering
again on another backend, resuming, and the statistics. Real renders where a job's results matter;
rows written straight to the store where only the history's own logic is under test (filters,
paging, plans, stats)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from conftest import SAMPLE_PORTRAIT
from pipeline import history
from pipeline.db import JobQuery, JobStore, job_stats, list_jobs, migrations, stats_queries
from pipeline.errors import BadInput, JobNotFound
from pipeline.history import job_details
from pipeline.media import probe
from pipeline.runner import RenderRequest, Runner
from pipeline.stages import STAGES
from studio import history_view

SCRIPT = "What a wonderful result, the whole team is proud of it!"


def _store(settings) -> JobStore:
    return JobStore(settings.db_path)


def _job(store: JobStore, minute: int, **values):
    """A job row created at a known time, so newest-first order is exact."""
    created = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=minute)
    values.setdefault("status", "done")
    return store.create(created_at=created.isoformat(timespec="milliseconds"), **values)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Two real renders of the same script with different user controls, shared by read-only tests."""
    from pipeline.settings import resolve

    runner = Runner(resolve({"AVATAR_STUDIO_HOME": str(tmp_path_factory.mktemp("home"))}, dotenv=False))
    first = runner.render(RenderRequest(image=SAMPLE_PORTRAIT, text=SCRIPT, persona="jenniel",
                                        controls={"mouth_openness": 0.9, "head_tilt": 0.0}, seed=3))
    second = runner.render(RenderRequest(image=SAMPLE_PORTRAIT, text=SCRIPT, emotion="sad",
                                         controls={"mouth_openness": 0.2}))
    assert first.status == second.status == "done"
    return runner, first, second


# -- schema and query plans ----------------------------------------------------------------------
def test_m005_adds_indexes_search_and_work_seconds(tmp_path):
    store = JobStore(tmp_path / "studio.db")
    with store.connect() as db:
        applied = [m.name for m in migrations.applied(db)]
        assert applied.index("m005_history") + 1 == applied.index("m006_enhance_stage")
        indexes = {index.name: index.columns for index in db["jobs"].indexes}
        assert indexes["idx_jobs_status_created_at"] == ["status", "created_at"]
        assert indexes["idx_jobs_persona_created_at"] == ["persona", "created_at"]
        assert indexes["idx_jobs_backend_created_at"] == ["backend", "created_at"]
        assert "idx_jobs_status" not in indexes, "superseded by the compound index"
        assert "jobs_fts" in db.table_names()


def test_jobs_from_before_m005_are_searchable_after_the_upgrade(tmp_path):
    import sqlite_utils

    path = tmp_path / "studio.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m005_history")
    db["jobs"].insert({"id": "20260101-000000-aaaaaa", "created_at": "2026-01-01T00:00:00", "status": "done",
                       "kind": "render", "backend": "embedded", "text": "An old take from January",
                       "timings": '{"speech": 1.0, "render": 2.0}', "duration_s": 6.0})
    db.close()
    store = JobStore(path)
    assert [j.job_id for j in list_jobs(store, JobQuery(text="old take")).jobs] == ["20260101-000000-aaaaaa"]
    assert job_stats(store).rtf[0].rtf == 0.5


def test_work_seconds_column_knows_every_stage(tmp_path):
    """work_s (in the stats index) sums the stage names the newest migration knew: a new stage needs a
    new migration (m006 added "enhance", m011 "captions")."""
    from pipeline.db.migrations import _WORK_STAGES_11 as _WORK_STAGES  # the newest definition of work_s

    assert tuple(_WORK_STAGES) == tuple(STAGES)
    store = JobStore(tmp_path / "studio.db")
    job = store.create(timings={stage: 0.5 + i for i, stage in enumerate(STAGES)}, duration_s=2.0)
    with store.connect() as db:
        stored = db.execute("select work_s from jobs where id = ?", [job.id]).fetchone()[0]
    assert stored == pytest.approx(history.work_seconds(store.get(job.id))) == pytest.approx(40.5)


@pytest.fixture
def big_store(settings):
    """A few thousand realistic jobs, written like bench/history.py writes 100 000."""
    sys.path.insert(0, str(SAMPLE_PORTRAIT.parent.parent))
    from bench.history import fill

    store = _store(settings)
    fill(store, 3000)
    return store


def _plan(store, sql, params=()):
    with store.connect() as db:
        return " ; ".join(row[-1] for row in db.execute("explain query plan " + sql, list(params)))


@pytest.mark.parametrize("query", [
    JobQuery(), JobQuery(status="failed"), JobQuery(persona="adam"), JobQuery(backend="heygen"),
    JobQuery(persona="adam", backend="heygen"), JobQuery(page=50),
], ids=["all", "status", "persona", "backend", "two-filters", "deep-page"])
def test_every_filtered_page_is_read_off_an_index_in_order(big_store, query):
    """The shape that keeps pages fast at 100 000 jobs: no full scan, no sort of all matches."""
    where, params = query.where()
    plan = _plan(big_store, f"select id from jobs where {where} order by created_at desc, rowid desc limit 20 "
                            "offset 0", params)
    assert "USING INDEX idx_jobs_" in plan and "TEMP B-TREE" not in plan, plan
    count_plan = _plan(big_store, f"select count(*) from jobs where {where}", params)
    assert "INDEX" in count_plan, count_plan


@pytest.mark.parametrize("query", [JobQuery(text="quarterly"), JobQuery(text="ion", status="failed")],
                         ids=["text", "text+status"])
def test_text_search_filters_an_index_scan_with_the_trigram_index(big_store, query):
    """Matches come from the FTS index and filter a scan that is already in order, so even a substring
    of most scripts never reads and sorts every matching row."""
    where, params = query.where()
    plan = _plan(big_store, f"select id from jobs where {where} order by created_at desc, rowid desc limit 20",
                 params)
    assert "jobs_fts VIRTUAL TABLE" in plan and "USING INDEX idx_jobs_" in plan and "TEMP B-TREE" not in plan, plan
    count_plan = _plan(big_store, f"select count(*) from jobs where {where}", params)
    assert "jobs_fts VIRTUAL TABLE" in count_plan and "INDEX" in count_plan, count_plan


def test_stats_read_the_stats_index_not_the_rows(big_store):
    queries = stats_queries()
    success = _plan(big_store, *queries["success"])
    assert "COVERING INDEX idx_jobs_stats" in success and "TEMP B-TREE" not in success, success
    rtf = _plan(big_store, *queries["rtf"])
    assert "INDEX idx_jobs_stats" in rtf, rtf  # work_s comes from the index, not from parsing JSON per row


def test_big_history_pages_add_up(big_store):
    everything = list_jobs(big_store, JobQuery(page_size=200))
    assert everything.total == 3000 and everything.pages == 15
    times = [job.created_at for job in everything.jobs]
    assert times == sorted(times, reverse=True)
    failed = list_jobs(big_store, JobQuery(status="failed", page_size=200))
    assert 0 < failed.total < 3000 and {job.status for job in failed.jobs} == {"failed"}
    quarterly = list_jobs(big_store, JobQuery(text="QUARTERLY", page_size=200))
    assert quarterly.total and all("quarterly" in big_store.get(job.job_id).text.lower() for job in quarterly.jobs)


# -- finding -------------------------------------------------------------------------------------
def test_filters_text_and_paging(settings):
    store = _store(settings)
    jobs = [_job(store, i, persona=("adam", "jenniel")[i % 2], backend=("embedded", "did", "heygen")[i % 3],
                 status=("done", "failed")[i % 4 == 0], text=f"Script number {i} about 100% growth_rate",
                 error="D-ID says no face" if i == 4 else None) for i in range(25)]
    newest_first = [job.id for job in reversed(jobs)]

    first = list_jobs(store, JobQuery(page_size=10))
    assert [j.job_id for j in first.jobs] == newest_first[:10] and (first.total, first.pages) == (25, 3)
    third = list_jobs(store, JobQuery(page=3, page_size=10))
    assert [j.job_id for j in third.jobs] == newest_first[20:]
    past_the_end = list_jobs(store, JobQuery(page=99, page_size=10))
    assert past_the_end.page == 3 and [j.job_id for j in past_the_end.jobs] == newest_first[20:]

    assert {j.persona for j in list_jobs(store, JobQuery(persona="adam")).jobs} == {"adam"}
    assert list_jobs(store, JobQuery(persona="adam")).total == 13
    assert list_jobs(store, JobQuery(backend="did", status="failed")).total == 2  # i = 4, 16
    assert list_jobs(store, JobQuery(persona="nobody")).total == 0
    assert [j.job_id for j in list_jobs(store, JobQuery(text="number 17 ")).jobs] == [jobs[17].id]
    assert list_jobs(store, JobQuery(text="SCRIPT NUMBER 1")).total == 11  # 1, 10–19: any case
    assert [j.job_id for j in list_jobs(store, JobQuery(text="no face")).jobs] == [jobs[4].id]  # the error
    assert [j.job_id for j in list_jobs(store, JobQuery(text=jobs[7].id[-6:])).jobs] == [jobs[7].id]  # the id
    assert [j.job_id for j in list_jobs(store, JobQuery(text="iD")).jobs] == [jobs[4].id]  # < 3 chars: scanned
    assert list_jobs(store, JobQuery(text="%")).total == 25 and list_jobs(store, JobQuery(text="h_r")).total == 25
    assert list_jobs(store, JobQuery(text='"growth')).total == 0  # quotes are text, not FTS syntax
    assert list_jobs(store, JobQuery(text="100% growth_rate")).total == 25


def test_search_index_follows_edits_and_deletes(settings):
    store = _store(settings)
    job = _job(store, 0, text="the first draft")
    store.update(job.id, text="the final words", status="running")
    store.update(job.id, status="done", timings={"inputs": 0.1})  # not a text column: index untouched
    assert list_jobs(store, JobQuery(text="first draft")).total == 0
    assert list_jobs(store, JobQuery(text="final words")).total == 1
    store.delete(job.id)
    assert list_jobs(store, JobQuery(text="final words")).total == 0


@pytest.mark.parametrize("values,message", [
    ({"status": "finished"}, "status must be one of queued, running, done"),
    ({"page": 0}, "page must be at least 1"),
    ({"page": "two"}, "page must be a whole number"),
    ({"page_size": 1000}, "page size must be between 1 and 200"),
])
def test_a_bad_query_is_a_clear_error(values, message):
    with pytest.raises(BadInput, match=message):
        JobQuery(**values)


def test_empty_filters_mean_any():
    assert JobQuery(persona="", backend="  ", status="", text=None, page=2.0).where() == ("1", [])


# -- showing and comparing -----------------------------------------------------------------------
def test_details_of_a_real_render(rendered):
    runner, job, _ = rendered
    details = job_details(runner.settings, job)
    json.dumps(details)  # plain data, ready for gradio_client
    assert details["inputs"]["text"] == SCRIPT and details["inputs"]["seed"] == 3
    assert details["inputs"]["portrait"] == SAMPLE_PORTRAIT.name and len(details["inputs"]["portrait_sha256"]) == 64
    mouth = details["controls"]["mouth_openness"]
    assert mouth["user"] == 0.9 and mouth["final"] == 0.9 and 0 <= mouth["proposed"] <= 1
    assert details["controls"]["blink_rate"]["user"] is None
    assert details["controls"]["blink_rate"]["final"] == details["controls"]["blink_rate"]["proposed"]
    assert details["controller"]["name"] == "rules" and details["controller"]["path_taken"] == "rules"
    assert details["emotion"]["emotion"] == "happy" and "wonderful" in json.dumps(details["emotion"]["evidence"])
    assert list(details["timings"]) == list(STAGES) and details["error"] is None
    assert details["work_s"] == pytest.approx(sum(job.timings.values()), abs=1e-3)
    assert details["rtf"] == pytest.approx(details["work_s"] / job.duration_s, abs=1e-3)
    assert probe(details["video"]).duration_s == pytest.approx(job.duration_s, abs=0.1)

    text = history_view.details_markdown(details)
    assert SCRIPT in text and "happy" in text and "wonderful" in text and "real-time factor" in text
    rows = {row[0]: row[1:] for row in history_view.controls_rows(details)}
    assert rows["mouth_openness"][0] == 0.9 and rows["blink_rate"][0] == ""


def test_details_of_a_failed_job_show_the_error_and_no_video(settings):
    store = _store(settings)
    job = _job(store, 0, status="failed", backend="did", error="D-ID says the account is out of credit (402)",
               error_stage="render", video_path="/etc/passwd", timings={"inputs": 0.2})
    details = job_details(settings, store.get(job.id))
    assert details["error"] == {"message": "D-ID says the account is out of credit (402)", "stage": "render"}
    assert details["video"] is None, "only a video inside the job's own folder is ever shown"
    assert details["rtf"] is None and details["emotion"] is None
    text = history_view.details_markdown(details)
    assert "**Error during render:** D-ID says the account is out of credit" in text


def test_compare_two_jobs(rendered):
    runner, first, second = rendered
    fields = history.compare_jobs(runner.settings, first, second)
    by_field = {(f.section, f.field): [f.a, f.b, f.differs] for f in fields}
    assert by_field[("controls used", "mouth_openness")] == [0.9, 0.2, True]
    assert by_field[("controls set by you", "head_tilt")] == [0.0, "", True]
    assert by_field[("emotion", "emotion")] == ["happy", "sad", True]
    assert by_field[("inputs", "text")] == [SCRIPT, SCRIPT, False]
    assert by_field[("inputs", "portrait_sha256")][2] is False, "same portrait, same hash"
    assert by_field[("inputs", "seed")] == [3, 0, True]
    assert ("timings (s)", "render") in by_field and ("timings (s)", "rtf") in by_field

    table = history_view.comparison_table(fields, only_differences=True)
    shown = {(row[0], row[1]): row[2:] for row in table.values.tolist()}
    assert shown[("controls used", "mouth_openness")] == ["0.9", "0.2", "≠"]
    assert shown[("job", "persona")] == ["jenniel", "", "≠"] and ("job", "backend") in shown, "the jobs' own fields stay"
    assert ("inputs", "text") not in shown, "the same script is left out"


# -- acting --------------------------------------------------------------------------------------
def test_delete_removes_row_and_folder_and_unlinks_chat_turns(settings):
    from pipeline.db import ConversationStore

    store = _store(settings)
    job = _job(store, 0, text="to be deleted")
    folder = settings.job_dir(job.id)
    (folder / "input").mkdir(parents=True)
    (folder / "output.mp4").write_bytes(b"video")
    conversations = ConversationStore(store)
    chat = conversations.create(persona="adam", mode=None, title="t", llm="fake", model="m")
    turn = conversations.add_turn(chat.id, "assistant", "Here it is on camera.", job_id=job.id)

    history.delete_job(settings, store, job.id)
    assert not folder.exists()
    with pytest.raises(JobNotFound):
        store.get(job.id)
    assert list_jobs(store, JobQuery(text="to be deleted")).total == 0
    kept = conversations.turn(turn.id)
    assert kept.content == "Here it is on camera." and kept.job_id is None
    with pytest.raises(JobNotFound, match="no job with id"):
        history.delete_job(settings, store, job.id)


def test_a_running_job_cannot_be_deleted_but_an_orphan_can(settings):
    store = _store(settings)
    running = _job(store, 0, status="running", pid=os.getpid())
    with pytest.raises(BadInput, match=f"job {running.id} is still running .*wait for it to finish"):
        history.delete_job(settings, store, running.id)
    assert store.get(running.id).status == "running"

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = _job(store, 1, status="running", pid=int(dead.stdout))
    history.delete_job(settings, store, orphan.id)  # its process is gone: interrupted, so deletable
    assert list_jobs(store, JobQuery()).total == 1


def test_rerender_request_carries_the_job_over(settings):
    keyed = settings.with_(keys={"DID_API_KEY": "test-key"})
    job = Runner(keyed).submit(RenderRequest(image=SAMPLE_PORTRAIT, text="Hello from D-ID.", backend="did",
                                             persona="adam", controls={"head_tilt": 0.2}, emotion="happy",
                                             voice="en_US-joe-medium", max_side=384, seed=5,
                                             renderer_options={"voice_id": "microsoft:en-US-JennyNeural"}))
    request = history.rerender_request(settings, job, "embedded")
    assert request.image == settings.job_dir(job.id) / "input" / "portrait.png" and request.audio is None
    assert (request.text, request.persona, request.backend) == ("Hello from D-ID.", "adam", "embedded")
    assert request.controls == {"head_tilt": 0.2} and request.emotion == "happy" and request.seed == 5
    assert (request.voice, request.max_side, request.controller) == ("en_US-joe-medium", 384, "rules")
    assert _vendor_options(request) == {}, "vendor voice ids mean nothing to another backend"
    voice = {"voice_id": "microsoft:en-US-JennyNeural"}
    assert _vendor_options(history.rerender_request(settings, job, "did")) == voice

    # a job from before options were one dict kept a vendor's ids under "hosted": they carry over too
    old = JobStore(settings.db_path).create(kind="render", backend="did", text="Hello from D-ID.", status="done",
                                            options={"hosted": voice, "max_side": 512, "seed": 0})
    (settings.job_dir(old.id) / "input").mkdir(parents=True)
    (settings.job_dir(old.id) / "input" / "portrait.png").write_bytes(SAMPLE_PORTRAIT.read_bytes())
    assert _vendor_options(history.rerender_request(settings, old, "did")) == voice
    assert _vendor_options(history.rerender_request(settings, old, "embedded")) == {}


def _vendor_options(request: RenderRequest) -> dict:
    """The renderer options a request carries, under either name (``hosted`` is the deprecated one)."""
    return {**request.hosted, **request.renderer_options}


def test_rerender_and_details_keep_the_enhancer_and_same_backend_renderer_options(settings):
    import shutil

    store = JobStore(settings.db_path)
    job = store.create(kind="render", backend="sadtalker", text="Sharper, please.", status="failed",
                       options={"renderer_options": {"size": 512, "pose_style": 9}, "enhancer": "gfpgan",
                                "max_side": 512, "seed": 0})
    (settings.job_dir(job.id) / "input").mkdir(parents=True)
    shutil.copyfile(SAMPLE_PORTRAIT, settings.job_dir(job.id) / "input" / "portrait.png")
    same = history.rerender_request(settings, job, "sadtalker")
    assert (same.renderer_options, same.enhancer) == ({"size": 512, "pose_style": 9}, "gfpgan")
    other = history.rerender_request(settings, job, "embedded")
    assert (other.renderer_options, other.enhancer) == ({}, "gfpgan"), "SadTalker's options mean nothing elsewhere"
    details = history.job_details(settings, store.get(job.id))
    assert details["inputs"]["renderer_options"] == {"size": 512, "pose_style": 9}
    assert "face enhancer gfpgan · pose style 9 · size 512" in history_view.details_markdown(details)


def test_rerender_on_another_backend_makes_a_new_job_and_keeps_the_old(settings):
    """A D-ID render that failed (out of credit) is rendered again, offline, on the embedded renderer."""
    keyed = settings.with_(keys={"DID_API_KEY": "test-key"})
    store = _store(settings)
    failed = Runner(keyed).submit(RenderRequest(image=SAMPLE_PORTRAIT, text="Second time lucky.", backend="did",
                                                controls={"mouth_openness": 0.8}, emotion="surprised"))
    store.update(failed.id, status="failed", error="D-ID says the account is out of credit", error_stage="render")
    seen = []
    again = history.rerender(Runner(settings), failed.id, "embedded", progress=lambda f, m: seen.append(m))
    assert again.id != failed.id and again.status == "done" and again.backend == "embedded"
    assert again.text == "Second time lucky." and again.controls_final["mouth_openness"] == 0.8
    assert again.emotion == "surprised" and probe(again.video_path).duration_s > 0.5
    assert "render" in seen
    assert store.get(failed.id).status == "failed", "the old job is kept as it was"
    assert settings.job_dir(failed.id).joinpath("input").is_dir()


def test_rerender_needs_inputs_of_its_own(settings):
    store = _store(settings)
    job = _job(store, 0, status="failed", text="hi", error="portrait not found", error_stage="inputs")
    with pytest.raises(BadInput, match="has no portrait of its own"):
        history.rerender(Runner(settings), job.id, "embedded")
    with pytest.raises(BadInput, match="choose the renderer"):
        history.rerender(Runner(settings), job.id, "")


@pytest.mark.parametrize("status,refusal", [
    ("failed", None), ("interrupted", None),
    ("done", "job j1 is already done — only a failed or interrupted job can be resumed; use “Render again” for "
             "another take"),
    ("running", "job j1 is still running — only a failed or interrupted job can be resumed; wait for it to finish"),
    ("queued", "job j1 is still queued — only a failed or interrupted job can be resumed; wait for it to finish"),
])
def test_only_failed_and_interrupted_jobs_are_resumed_from_the_history(status, refusal):
    assert history.resume_refusal("j1", status) == refusal


def test_resume_finishes_an_interrupted_job_from_the_history(rendered):
    """Resume is the runner's; what History adds is finding the job and showing it done again."""
    runner, first, _ = rendered
    again = history.rerender(runner, first.id, "embedded")  # a copy to break, the shared jobs stay intact
    folder = runner.settings.job_dir(again.id)
    (folder / "output.mp4").unlink()
    timings = {stage: s for stage, s in again.timings.items() if stage != "encode"}
    runner.store.update(again.id, status="interrupted", timings=timings, video_path=None, error="stopped")
    assert list_jobs(runner.store, JobQuery(status="interrupted")).total == 1
    resumed = runner.resume(again.id)
    details = job_details(runner.settings, resumed)
    assert details["status"] == "done" and details["video"] and probe(details["video"]).duration_s > 0.5
    assert details["timings"]["render"] == timings["render"], "finished stages are not run again"


# -- summing up ----------------------------------------------------------------------------------
def test_stats_success_rate_and_rtf_per_backend_and_day(settings):
    store = _store(settings)
    day1, day2 = 0, 24 * 60
    for minute, backend, status, work, duration in [
        (day1, "embedded", "done", 1.0, 4.0), (day1 + 1, "embedded", "done", 3.0, 4.0),
        (day1 + 2, "embedded", "failed", None, None), (day1 + 3, "did", "done", 20.0, 5.0),
        (day1 + 4, "did", "interrupted", None, None), (day2, "embedded", "done", 2.0, 10.0),
        (day2 + 1, "embedded", "running", None, None),
    ]:
        timings = {"speech": work / 2, "render": work / 2} if work else {"inputs": 0.1}
        _job(store, minute, backend=backend, status=status, timings=timings, duration_s=duration)
    stats = job_stats(store)
    success = {s.backend: s for s in stats.success}
    assert (success["embedded"].done, success["embedded"].failed, success["embedded"].success_rate) == (3, 1, 0.75)
    assert (success["did"].done, success["did"].interrupted, success["did"].success_rate) == (1, 1, 0.5)
    rtf = {(r.day, r.backend): (r.jobs, r.rtf) for r in stats.rtf}
    assert rtf == {("2026-11-01", "embedded"): (2, 0.5), ("2026-11-01", "did"): (1, 4.0),
                   ("2026-11-02", "embedded"): (1, 0.2)}
    later = job_stats(store, since="2026-11-02")
    assert [(s.backend, s.done) for s in later.success] == [("embedded", 1)]
    assert [r.day for r in later.rtf] == ["2026-11-02"]
    json.dumps(stats.to_dict())
