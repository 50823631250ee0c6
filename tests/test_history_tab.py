"""The History tab's handlers called as plain functions of the studio's context, as ``build()`` wires
them: a page of the table, the details panel and when it offers Resume, a refused resume, and the
signature Gradio reads from a bound handler (the API's parameter names, ``gr.SelectData``)."""

from __future__ import annotations

import inspect

import gradio as gr
import pytest
from gradio.utils import get_type_hints

from pipeline.db import JobStore
from studio import history_tab, history_view
from studio.common import StudioContext, bind


def test_a_page_of_jobs_is_the_table_the_page_and_what_it_holds(settings):
    store = JobStore(settings.db_path)
    for minute in range(3):
        store.create(created_at=f"2026-11-01T09:0{minute}:00.000+00:00", status="done", backend="embedded",
                     text=f"Take {minute}", duration_s=2.5)
    table, page, info = history_tab.list_jobs(StudioContext(settings), "", "", "", "", 1)
    assert list(table.columns) == history_view.TABLE_HEADERS
    assert table["script"].tolist() == ["Take 2", "Take 1", "Take 0"]
    assert table["created (UTC)"].tolist()[0] == "2026-11-01 09:02"
    assert (page, info) == (1, "page 1 of 1 · 3 jobs")
    _, _, info = history_tab.list_jobs(StudioContext(settings), "", "", "failed", "", 1)
    assert info == "no jobs match these filters"


def test_resume_is_offered_for_a_failed_job_and_refused_for_a_done_one(settings):
    ctx = StudioContext(settings)
    store = JobStore(settings.db_path)
    failed = store.create(status="failed", backend="embedded", error="no face found", error_stage="inputs")
    done = store.create(status="done", backend="embedded")

    shown = history_tab.show_details(ctx, history_tab.get_job(ctx, failed.id))
    text, controls, video, timings, resume_on, resume = shown
    assert "**Error during inputs:** no face found" in text and video is None and timings is None
    assert resume["interactive"] is True and resume_on["value"] == history_tab.OWN_RENDERER
    *_, resume = history_tab.show_details(ctx, history_tab.get_job(ctx, done.id))
    assert resume["interactive"] is False
    with pytest.raises(gr.Error, match=f"job {done.id} is already done — only a failed or interrupted job"):
        history_tab.resume_job(ctx, done.id, "")
    with pytest.raises(gr.Error, match="pick a job in the table first"):
        history_tab.get_job(ctx, "  ")


def test_a_bound_handler_shows_gradio_the_events_own_signature(settings):
    ctx = StudioContext(settings)
    assert list(inspect.signature(bind(history_tab.list_jobs, ctx)).parameters) == [
        "persona_", "backend_", "status_", "text_", "page_", "batch_"]  # gradio_client's keyword names
    assert list(inspect.signature(bind(history_tab.resume_job, ctx)).parameters) == ["job_id", "backend", "progress"]
    pick = bind(history_tab.pick_row, ctx)
    assert get_type_hints(pick)["event"] is gr.SelectData, "Gradio passes the picked row by this annotation"
