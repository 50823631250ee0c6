"""How the Batch section shows a batch: its help, its summary line and its rows (no Gradio here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.batch import BatchReport
from pipeline.db.batches import Batch, RowState

ROW_HEADERS = ["row", "output", "status", "job", "message"]
NOTHING_YET = "No batch yet: upload a batch file with its pictures, then Start batch."
HELP = """One video per row. Upload a **CSV** (a header line, then one row per video) or **YAML** file together
with the pictures and recordings its rows name. Columns: `portrait` (a picture's file name) or `persona`
(its portrait and voice), `text` or `audio` (a recording's file name); optional `voice`, `emotion`, `backend`,
`face`, `size`, `seed`, `enhance`, `format`, `background`, `controller`, `output` (the video's name), and the
five controls (`blink_rate`, `head_tilt`, `expression_intensity`, `mouth_openness`, `eyebrow_raise`, 0–1).

```
portrait,text,output,mouth_openness
teacher.png,Welcome to lesson one.,lesson-01,0.6
teacher.png,Today we look at fractions.,lesson-02,
```
A bad row fails with its reason and the others render. Every row is a job in the History (filter: Batch).
Stop keeps the finished rows: upload the same file again to go on."""


def summary(batch: Batch, states: list[RowState], *, resumed: bool = False, report: BatchReport | None = None) -> str:
    counts: dict[str, int] = {}
    for state in states:
        counts[state.status] = counts.get(state.status, 0) + 1
    done, failed, total = counts.get("done", 0), counts.get("failed", 0), len(states)
    running = counts.get("running", 0)
    where = f"on {batch.executor} × {batch.concurrency}" if batch.executor else ""
    if report is not None:
        state = "stopped" if report.stopped else "finished"
        head = f"**{batch.name}**: {state} in {report.seconds:.0f} s {where}"
    else:
        head = f"**{batch.name}**: {'resumed, ' if resumed else ''}running {where}"
    parts = [f"{done} of {total} done"]
    if failed:
        parts.append(f"{failed} failed")
    if running:
        parts.append(f"{running} rendering")
    waiting = total - done - failed - running
    if waiting:
        parts.append(f"{waiting} to go")
    return f"{head} — {', '.join(parts)}. Batch `{batch.id}`"


def rows_table(batch: Batch, states: list[RowState]) -> dict[str, Any]:
    data = []
    for state in states:
        row = batch.rows[state.row - 1] if state.row <= len(batch.rows) else {}
        message = state.error or (state.stage or "" if state.status == "running" else "")
        data.append([state.row, row.get("output") or "", state.status, state.job_id or "", message])
    return {"headers": ROW_HEADERS, "data": data}


def finished_videos(batch: Batch, states: list[RowState]) -> list[str]:
    """The done rows' videos, by their output names where the batch keeps named copies."""
    videos = []
    for state in states:
        if state.status != "done" or not state.video:
            continue
        named = Path(batch.out_dir) / f"{batch.rows[state.row - 1].get('output')}.mp4" if batch.out_dir else None
        video = named if named is not None and named.is_file() else Path(state.video)
        if video.is_file():
            videos.append(str(video))
    return videos
