"""The Render lab's Batch section in a real browser: a CSV uploaded with its picture renders every
row (one row naming a picture that was not uploaded fails with its reason), the rows and the videos
show up, and the History's Batch filter then lists exactly that batch's jobs."""

from __future__ import annotations

import shutil

from playwright.sync_api import expect

from conftest import SAMPLE_PORTRAIT
from pipeline.db import JobStore

from .conftest import open_tab, screenshot


def test_a_batch_from_upload_to_history(page, live_studio, tmp_path):
    _, settings = live_studio
    shutil.copyfile(SAMPLE_PORTRAIT, tmp_path / "teacher.png")
    batch = tmp_path / "course.csv"
    batch.write_text("portrait,text,output,mouth_openness\n"
                     "teacher.png,Welcome to the course.,welcome,0.6\n"
                     "teacher.png,Lesson one is about fractions.,lesson-1,\n"
                     "student.png,This picture was never uploaded.,lesson-2,\n", encoding="utf-8")
    page.locator("#batch-panel").get_by_text("Batch: one video per row").click()
    page.locator("#batch-files input[type=file]").set_input_files([str(batch), str(tmp_path / "teacher.png")])
    for name in ("course.csv", "teacher.png"):
        expect(page.locator("#batch-files").get_by_role("cell", name=name, exact=True)).to_be_visible()
    page.locator("#batch-start").click()
    summary, rows = page.locator("#batch-summary"), page.locator("#batch-rows")
    expect(summary).to_contain_text("finished", timeout=120_000)
    expect(summary).to_contain_text("2 of 3 done, 1 failed")
    expect(rows).to_contain_text("student.png is not among the files uploaded with the batch")
    for name in ("welcome", "lesson-1"):  # downloads named by the rows' output column
        expect(page.locator("#batch-videos").get_by_role("cell", name=name, exact=False).first).to_be_visible()
    screenshot(page, "lab-batch")

    jobs = [job for job in JobStore(settings.db_path).list(limit=200) if job.batch_id]
    batch_id = jobs[0].batch_id
    open_tab(page, "History")
    page.locator("#history-batch input").click()
    page.get_by_role("option", name="course.csv", exact=False).first.click()
    table = page.locator("#history-table")
    expect(page.locator("#history-page-info")).to_contain_text("3 jobs")
    for job in (job for job in jobs if job.batch_id == batch_id):
        expect(table).to_contain_text(job.id)
    screenshot(page, "history-batch-filter")
