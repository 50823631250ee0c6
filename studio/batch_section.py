"""The Render lab's Batch section: many videos from one CSV or YAML file (``pipeline/batch.py``).

The creator uploads the batch file together with the pictures and recordings its rows name (a
row's ``portrait`` or ``audio`` is the *name* of one of those files; a ``persona`` is one of theirs
or an example). Nothing else can be named: a path in a cell never reaches the server's disk, only
the files this client uploaded with the batch (the guard has checked each one is theirs). Start
runs it on the studio's executor (local worker processes, or Ray when ``AVATAR_STUDIO_EXECUTOR=ray``),
showing a progress bar and a table of rows that fills in as they finish; Stop stops it, and the
same file uploaded again resumes it (finished rows are kept). Every row is a job in the History,
where the Batch filter shows one batch's jobs.

In a studio with users a batch is its owner's (their personas, their History), it counts as one
piece of waiting work, and it may not have more rows than the renders its owner has left this
hour. The events ``batch`` (files in; the summary, the rows table and the finished videos out,
streamed) and ``stop_batch`` are the programmatic API.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from pipeline.batch import COLUMNS, BatchRunner, default_concurrency, default_executor, read_batch_file
from pipeline.db.batches import FINISHED
from pipeline.errors import BadInput
from pipeline.files import file_sha256
from pipeline.quotas import check_batch

from . import batch_view as view
from .common import StudioContext, bind, progress_callback, shown_errors
from .limits import quota

BATCH_SUFFIXES = (".csv", ".yaml", ".yml")
MEDIA_TYPES = ("image", "audio")
STUDIO_MAX_ROWS = 500  # one upload's rows; the CLI takes up to pipeline.batch.MAX_ROWS
REFRESH_S = 1.0

_running: dict[tuple[str | None, str], threading.Event] = {}  # (owner, batch id) → its stop event
_running_lock = threading.Lock()

BATCH_API = """Render every row of a batch file, each a job in the History.

Parameters: files — the batch file (.csv, .yaml) and the pictures and recordings its rows name by
file name. Columns: """ + ", ".join(COLUMNS) + """. new — True: a new batch, every row rendered
again; False (default): the same files uploaded again resume their batch (finished rows are not run
again).

Streams (summary markdown, rows table {"headers", "data"}, finished videos) until the batch ends."""


def build(ctx: StudioContext) -> None:
    with gr.Accordion("Batch: one video per row of a CSV or YAML file", open=False, elem_id="batch-panel"):
        gr.Markdown(view.HELP)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=280):
                files = gr.File(file_count="multiple", type="filepath", label="Batch file, with its pictures and audio",
                                file_types=[*BATCH_SUFFIXES, *MEDIA_TYPES], elem_id="batch-files")
                new = gr.Checkbox(value=False, label="As a new batch (render every row again, even if this file ran "
                                                    "before)", elem_id="batch-new")
                with gr.Row():
                    start = gr.Button("Start batch", variant="primary", elem_id="batch-start")
                    stop = gr.Button("Stop", variant="stop", elem_id="batch-stop")
                summary = gr.Markdown(view.NOTHING_YET, elem_id="batch-summary")
            with gr.Column(scale=3, min_width=320):
                table = gr.Dataframe(headers=view.ROW_HEADERS, value=[], interactive=False, wrap=True, max_height=320,
                                     column_widths=["60px", "130px", "90px", "200px", "360px"], label="Rows",
                                     elem_id="batch-rows")
                videos = gr.File(label="Finished videos", file_count="multiple", interactive=False,
                                 elem_id="batch-videos")
    start.click(bind(run_batch, ctx), [files, new], [summary, table, videos], api_name="batch",
                api_description=BATCH_API, validator=quota(ctx, "render"), concurrency_limit=None)
    stop.click(bind(stop_batch, ctx), None, summary, api_name="stop_batch",
               api_description="Stop this user's running batches; finished rows are kept and the same file resumes "
                               "them.")


def _split(files: list[str] | None) -> tuple[Path, dict[str, Path]]:
    """The one batch file among the uploads (paths the guard checked are this client's), and the
    others by file name."""
    paths = [Path(file) for file in files or []]
    batch_files = [path for path in paths if path.suffix.lower() in BATCH_SUFFIXES]
    if not batch_files:
        raise BadInput("upload a batch file (.csv or .yaml) with the pictures and recordings its rows name")
    if len(batch_files) > 1:
        raise BadInput(f"upload one batch file at a time, not {len(batch_files)}")
    media: dict[str, Path] = {}
    for path in paths:
        if path is batch_files[0]:
            continue
        if path.name in media:
            raise BadInput(f"two uploaded files are called {path.name}: rename one, rows name files by name")
        media[path.name] = path
    return batch_files[0], media


def _fingerprint(batch_sha256: str, media: dict[str, Path]) -> str:
    digest = hashlib.sha256(batch_sha256.encode())
    for name in sorted(media):
        digest.update(f"\0{name}\0{file_sha256(media[name])}".encode())
    return digest.hexdigest()


def _resolver(media: dict[str, Path]):
    def resolve(value: str, folder: Path) -> Path:
        found = media.get(value) if "/" not in value and "\\" not in value else None  # a name, never a path
        if found is None:
            known = ", ".join(sorted(media)) or "none"
            raise BadInput(f"{value} is not among the files uploaded with the batch (uploaded: {known})")
        return found
    return resolve


@shown_errors
def run_batch(ctx: StudioContext, files: list[str] | None, new: bool = False, progress=gr.Progress()):
    """Start (or resume) the batch in ``files`` and stream its rows until it ends."""
    batch_path, media = _split(files)
    batch_file = read_batch_file(batch_path, resolve_path=_resolver(media))
    # the same batch is the same file with the same pictures and recordings
    batch_file = replace(batch_file, sha256=_fingerprint(batch_file.sha256, media))
    if len(batch_file.rows) > STUDIO_MAX_ROWS:
        raise BadInput(f"the batch file has {len(batch_file.rows)} rows; the studio takes {STUDIO_MAX_ROWS} at a time "
                       "(the command line takes more: python app.py batch FILE)")
    runner = BatchRunner(ctx.settings, owner=ctx.owner)
    executor = default_executor(ctx.settings)
    batch, resumed = runner.open(batch_file, out_dir=None, executor=executor, concurrency=default_concurrency(),
                                 new=bool(new))
    if not batch.out_dir:  # the videos under their rows' output names, for the download list
        runner.batches.update(batch.id, out_dir=str(ctx.settings.jobs_dir / "batches" / batch.id))
        batch = runner.batches.get(batch.id)
    counts = runner.batches.counts(batch.id)
    to_run = sum(n for status, n in counts.items() if status not in FINISHED)
    if ctx.access.has_users:
        check_batch(ctx.jobs.for_owner(ctx.owner), ctx.settings.limits, to_run)
    key = (ctx.owner, batch.id)
    with _running_lock:
        if key in _running:
            raise BadInput(f"this batch ({batch.name}) is already running")
        stop = _running[key] = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["report"] = runner.run(batch.id, progress=progress_callback(progress), stop=stop)
        except Exception as error:  # noqa: BLE001 — shown below, in the stream's own words
            outcome["error"] = error

    thread = threading.Thread(target=work, name=f"batch-{batch.id}", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            states = runner.batches.rows(batch.id)
            yield (view.summary(runner.batches.get(batch.id), states, resumed=resumed), view.rows_table(batch, states),
                   gr.skip())
            thread.join(REFRESH_S)
    finally:
        stop.set()  # the client went away: the batch stops, and its finished rows are kept
        thread.join()
        with _running_lock:
            _running.pop(key, None)
    if "error" in outcome:
        raise outcome["error"]  # a StudioError (Ray unreachable, say) is shown in its own words
    states = runner.batches.rows(batch.id)
    finished = runner.batches.get(batch.id)
    yield (view.summary(finished, states, resumed=resumed, report=outcome.get("report")),
           view.rows_table(batch, states), view.finished_videos(finished, states) or None)


@shown_errors
def stop_batch(ctx: StudioContext) -> str:
    """Stop the batches this user is running here."""
    with _running_lock:
        mine = [event for (owner, _), event in _running.items() if owner == ctx.owner]
    for event in mine:
        event.set()
    if not mine:
        return "No batch of yours is running."
    return f"Stopping {len(mine)} batch{'es' if len(mine) > 1 else ''}: rows being rendered are interrupted; " \
           "upload the same file again to resume."
