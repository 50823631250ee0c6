"""The History tab: every render kept, findable, comparable, and one click from the Render lab.

Layout, top to bottom: filters (persona, backend, status, "text contains", batch) over a paged jobs table,
newest first; the selected job's details (what was said, emotion and its evidence, why these
controls, errors) beside its video (and, under "Details", a bar plot of its stage timings), with the
controls set / proposed / used as a small table; the actions on that job (open in the Render lab, render again on
another backend as a new job, resume on its own or another renderer, delete after a confirmation);
then, folded away, all its fields as JSON, a side-by-side comparison of two jobs, and the statistics
plots; last, a persona's interaction analytics (``analytics_section``: its own handlers and endpoint).

"Render again" and "Resume on" differ on purpose. Render again makes a *new* job from the old one's
inputs (the old one is kept, done or not). Resume finishes the *same* failed or interrupted job from
the stage where it stopped; "Resume on" another renderer (``Runner.resume(..., backend=)``) keeps the
speech, analysis, emotion and controls already made and renders them again there — a SadTalker job
that ran out of GPU memory, or a HeyGen job whose key was missing, ends on the embedded renderer
without being spoken twice. That renderer is checked before anything changes, so a refusal (its key
is missing too, it has no GPU) is an error message and the job stays as it was. Resume is offered
only for failed and interrupted jobs; its choice goes back to "its own" renderer whenever another
job is shown, so a resume never moves a job by accident.

Everything is a call into the data layer's job history (``pipeline.db``), ``pipeline.history`` or
the runner, laid out by ``history_view``. The handlers are module-level functions of the shared
``StudioContext`` and the event's inputs, so they can be imported and called as they are; ``build``
only lays out the components and wires each event to its handler (``common.bind``;
``functools.partial`` where the Render lab is bound too). Three events are the programmatic API:

* ``list_jobs(persona, backend, status, text, page, batch)`` → (table ``{"headers", "data"}``, the
  page actually shown, "page 2 of 7 · 131 jobs"); empty filters mean any, a page past the end shows
  the last one; ``batch`` (a batch id, last because it came later) keeps to one batch's rows.
* ``get_job(job_id)`` → ``pipeline.history.job_details`` as a dict; an unknown id is a readable error.
* ``resume_job(job_id, backend)`` → (job id, its details once finished): see ``RESUME_API``.

Everything else is private. Picking a row shows that job and makes it "B" of the comparison (the
previous pick becomes "A"), so picking two rows sets up a comparison. The table refreshes when the
tab is selected, so jobs rendered in the Lab or Chat are there without a reload.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import gradio as gr
import pandas as pd

from pipeline import db, history
from pipeline.db import JobStore
from pipeline.db.batches import BatchStore
from pipeline.errors import BadInput, StudioError
from pipeline.render import renderers
from pipeline.stages import STAGES

from . import analytics_section, history_view
from .common import LabTab, StudioContext, bind, progress_callback, shown_errors
from .limits import quota
from .video_view import caption_downloads, job_player

ANY = ""
STATS_PERIODS = {"last 7 days": 7, "last 30 days": 30, "last 365 days": 365, "all time": None}
BATCH_CHOICES = 30  # the newest batches the filter offers (another one's id can be typed)
OWN_RENDERER = ""  # "Resume on": the renderer the job already has

RESUME_API = """Finish a failed or interrupted job from the stage where it stopped, in place (same job id).

Parameters: job_id; backend ("" for the job's own renderer, or a renderer name such as "embedded":
the job then keeps its speech, analysis, emotion and controls and is rendered again there).
A renderer that cannot run (a missing key, no GPU) is refused before anything changes: the job
stays as it was. A job that is done, queued or still running is refused too.

Returns (job_id, details): the same dict as get_job, for the finished job."""


def build(ctx: StudioContext, tab: gr.Tab, *, lab: LabTab | None, tabs: gr.Tabs) -> None:
    # -- filters and table --------------------------------------------------------------------
    with gr.Row(equal_height=True):
        persona = gr.Dropdown(_persona_choices(ctx), value=ANY, label="Persona", allow_custom_value=True,
                              elem_id="history-persona", min_width=140)
        backend = gr.Dropdown(_backend_choices(ctx), value=ANY, label="Backend", allow_custom_value=True,
                              elem_id="history-backend", min_width=140)
        status = gr.Dropdown([("any", ANY), *[(s, s) for s in db.STATUSES]], value=ANY, label="Status",
                             elem_id="history-status", min_width=140)
        text = gr.Textbox(label="Text contains", placeholder="script, error or job id — Enter to search",
                          elem_id="history-text", scale=2, min_width=200)
        batch = gr.Dropdown(_batch_choices(ctx), value=ANY, label="Batch", allow_custom_value=True,
                            elem_id="history-batch", min_width=160)
    table = gr.Dataframe(headers=history_view.TABLE_HEADERS, value=[], interactive=False, wrap=True, max_height=430,
                         label="Jobs — newest first; pick a row to see it", elem_id="history-table",
                         # fixed widths: on a phone the table scrolls sideways instead of squeezing each column
                         column_widths=["190px", "130px", "90px", "90px", "90px", "330px", "80px", "200px"])
    with gr.Row(elem_id="history-pager", equal_height=True):
        previous = gr.Button("◀ Newer", size="sm", elem_id="history-prev", min_width=90, scale=0)
        page = gr.Number(value=1, precision=0, minimum=1, label="Page", show_label=False, container=False,
                         elem_id="history-page", min_width=70, scale=0)
        following = gr.Button("Older ▶", size="sm", elem_id="history-next", min_width=90, scale=0)
        refresh = gr.Button("Refresh", size="sm", elem_id="history-refresh", min_width=90, scale=0)
        page_info = gr.Markdown("", elem_id="history-page-info")

    # -- one job ------------------------------------------------------------------------------
    with gr.Row(equal_height=True):
        job_id = gr.Textbox(label="Job", placeholder="pick a row, or paste a job id and press Enter",
                            elem_id="history-job-id", scale=3)
        show = gr.Button("Show", elem_id="history-show", scale=0, min_width=90)
    with gr.Row():
        with gr.Column(scale=3, min_width=300):
            details = gr.Markdown(history_view.NO_JOB_SHOWN, elem_id="history-details")
            controls = gr.Dataframe(headers=history_view.CONTROLS_HEADERS, value=[], interactive=False, visible=False,
                                    label="Controls: set by you, proposed by the controller, used",
                                    elem_id="history-controls")
        with gr.Column(scale=2, min_width=300):
            video = gr.Video(label="Video", interactive=False, elem_id="history-video", height=300)
            captions = gr.File(label="Captions (WebVTT, SRT)", file_count="multiple", interactive=False,
                               elem_id="history-captions")
            with gr.Accordion("Details: what each stage took", open=False, elem_id="history-timings-panel"):
                timings = gr.BarPlot(None, x="stage", y="seconds",
                                     sort=list(STAGES), label="Stage timings (s)", elem_id="history-timings")
    with gr.Row(equal_height=True):
        open_lab = gr.Button("Open in Render lab", elem_id="history-open-lab", min_width=160)
        rerender_backend = gr.Dropdown(ctx.backend_choices("renderer"), value=ctx.settings.renderer,
                                       label="Render again on", elem_id="history-rerender-backend", min_width=160)
        rerender = gr.Button("Render again", variant="primary", elem_id="history-rerender", min_width=140)
        resume_backend = gr.Dropdown(_resume_choices(ctx, None), value=OWN_RENDERER, label="Resume on",
                                     allow_custom_value=True, interactive=False, elem_id="history-resume-backend",
                                     min_width=200)
        resume = gr.Button("Resume", interactive=False, elem_id="history-resume", min_width=100)
        delete = gr.Button("Delete…", variant="stop", elem_id="history-delete", min_width=100)
    with gr.Row(visible=False, equal_height=True, elem_id="history-delete-ask") as delete_ask:
        delete_question = gr.Markdown("", elem_id="history-delete-question")
        confirm = gr.Button("Yes, delete it", variant="stop", elem_id="history-delete-confirm", scale=0, min_width=140)
        cancel = gr.Button("Cancel", elem_id="history-delete-cancel", scale=0, min_width=100)
    with gr.Accordion("Details: all fields (JSON)", open=False):
        details_json = gr.JSON(value=None, label="get_job", elem_id="history-json")

    # -- compare ------------------------------------------------------------------------------
    with gr.Accordion("Compare two jobs", open=False, elem_id="history-compare-panel"):
        gr.Markdown("Pick two rows in the table (the last two picks are A and B) or type two job ids.")
        with gr.Row(equal_height=True):
            compare_a = gr.Textbox(label="A", elem_id="history-compare-a", min_width=200)
            compare_b = gr.Textbox(label="B", elem_id="history-compare-b", min_width=200)
            only_differences = gr.Checkbox(value=True, label="only differences", elem_id="history-compare-only",
                                           min_width=140)
            compare = gr.Button("Compare", elem_id="history-compare", scale=0, min_width=110)
        with gr.Row():
            video_a = gr.Video(label="A", interactive=False, elem_id="history-compare-video-a", height=260)
            video_b = gr.Video(label="B", interactive=False, elem_id="history-compare-video-b", height=260)
        comparison = gr.Dataframe(headers=history_view.COMPARE_HEADERS, value=[], interactive=False, wrap=True,
                                  label="Settings, controls and timings", elem_id="history-compare-table")

    # -- statistics ---------------------------------------------------------------------------
    with gr.Accordion("Statistics", open=False, elem_id="history-stats-panel") as stats_panel:
        with gr.Row():
            period = gr.Radio(list(STATS_PERIODS), value="last 30 days", label="Jobs created in the",
                              elem_id="history-stats-period")
            stats_refresh = gr.Button("Refresh stats", size="sm", scale=0, min_width=120,
                                      elem_id="history-stats-refresh")
        stats_summary = gr.Markdown("", elem_id="history-stats-summary")
        with gr.Row():
            success_plot = gr.BarPlot(None, x="backend", y="success %",
                                      y_lim=[0, 100], label="Success rate per backend (done ÷ finished)",
                                      elem_id="history-stats-success", min_width=280)
            # points, not lines: a day without jobs is not interpolated, and one day still shows
            rtf_plot = gr.ScatterPlot(None, x="day", y="real-time factor", color="backend", y_axis_format=".2f",
                                      label="Real-time factor per backend and day (s of work per s of video)",
                                      elem_id="history-stats-rtf", min_width=280)

    # -- wiring -------------------------------------------------------------------------------
    filters = [persona, backend, status, text]
    listing = [*filters, page, batch]  # the batch filter came later: the API's last parameter
    table_out = [table, page, page_info]
    details_out = [details, controls, video, timings, resume_backend, resume]
    private = {"api_visibility": "private"}
    listed, shown = bind(list_jobs, ctx), bind(show_details, ctx)

    # preprocess=False: the filters and page arrive as sent and JobQuery judges them, in its own words
    gr.on([refresh.click, page.submit], listed, listing, table_out, api_name="list_jobs",
          api_description="One page of jobs, newest first: filters (empty = any) and page in; the table, the page "
                          "shown and 'page N of M · T jobs' out.", preprocess=False)
    gr.on([persona.input, backend.input, status.input, text.submit, batch.input], bind(first_page, ctx),
          [*filters, batch], table_out, **private)
    previous.click(lambda *values: step_page(ctx, *values, -1), listing, table_out, **private)
    following.click(lambda *values: step_page(ctx, *values, +1), listing, table_out, **private)
    tab.select(bind(on_tab_selected, ctx), [*listing, details_json],
               [*table_out, persona, backend, rerender_backend, resume_backend, batch], **private)

    gr.on([show.click, job_id.submit], bind(get_job, ctx), job_id, details_json, api_name="get_job",
          api_description="One job's details as a dict: inputs, controls, controller, emotion and evidence, error, "
                          "timings, notes, video.").then(shown, details_json, details_out, **private)
    table.select(bind(pick_row, ctx), compare_b, [job_id, compare_a, compare_b, details_json], **private).then(
        shown, details_json, details_out, **private)

    lab_outputs = [*(lab.fields if lab is not None else []), tabs]
    opener = partial(open_in_lab, ctx, lab)
    opener.__name__ = open_in_lab.__name__  # an event is named after its function; callers post to it by name
    open_lab.click(opener, job_id, lab_outputs, **private)
    rerender.click(bind(render_again, ctx), [job_id, rerender_backend], [job_id, details_json],
                   show_progress_on=[details, video], validator=quota(ctx, "render"), **private).then(
        shown, details_json, details_out, **private).then(
        listed, listing, table_out, **private)
    # Resume is API too; whatever it ends in (done, failed again, refused), the panel shows the job as it is now.
    resume.click(bind(resume_job, ctx), [job_id, resume_backend], [job_id, details_json],
                 show_progress_on=[details, video], api_name="resume_job", api_description=RESUME_API,
                 validator=quota(ctx, "render")).then(
        bind(reload_job, ctx), job_id, details_json, **private).then(
        shown, details_json, details_out, **private).then(
        listed, listing, table_out, **private)

    delete.click(bind(ask_delete, ctx), job_id, [delete_ask, delete_question], **private)
    cancel.click(lambda: gr.update(visible=False), None, delete_ask, **private)
    confirm.click(bind(delete_confirmed, ctx), job_id, [delete_ask, job_id, details_json], **private).success(
        shown, details_json, details_out, **private).then(
        listed, listing, table_out, **private)

    compare.click(bind(compare_jobs, ctx), [compare_a, compare_b, only_differences], [video_a, video_b, comparison],
                  **private)
    details_json.change(bind(caption_downloads, ctx), details_json, captions, queue=False, show_progress="hidden",
                        **private)
    gr.on([stats_panel.expand, stats_refresh.click, period.input], bind(load_stats, ctx), period,
          [stats_summary, success_plot, rtf_plot], **private)

    analytics_section.build(ctx, tab)  # the last section of the tab

# -- handlers -------------------------------------------------------------------------------------
# The API's parameter names (list_jobs' persona_ … page_, get_job's job_id_) are what gradio_client
# callers pass by keyword: they keep the trailing underscores they were published with.

def _store(ctx: StudioContext) -> JobStore:
    """The jobs of whoever sent the event being handled."""
    return ctx.jobs.for_owner(ctx.owner)


def page_of(ctx: StudioContext, persona_: str | None, backend_: str | None, status_: str | None,
            text_: str | None, page_: float | None, batch_: str | None = None) -> tuple[pd.DataFrame, int, str]:
    found = db.list_jobs(_store(ctx), db.JobQuery(persona=persona_, backend=backend_, status=status_, text=text_,
                                                  page=1 if page_ in (None, "") else page_, batch=batch_))
    filtered = any((value or "").strip() for value in (persona_, backend_, status_, text_, batch_))
    return history_view.jobs_table(found), found.page, history_view.page_info(found, filtered=filtered)


@shown_errors
def list_jobs(ctx: StudioContext, persona_, backend_, status_, text_, page_, batch_=ANY):
    return page_of(ctx, persona_, backend_, status_, text_, page_, batch_)


@shown_errors
def first_page(ctx: StudioContext, persona_, backend_, status_, text_, batch_=ANY):
    return page_of(ctx, persona_, backend_, status_, text_, 1, batch_)


@shown_errors
def step_page(ctx: StudioContext, persona_, backend_, status_, text_, page_, batch_, step: int):
    return page_of(ctx, persona_, backend_, status_, text_, max(1, int(page_ or 1) + step), batch_)


@shown_errors
def on_tab_selected(ctx: StudioContext, persona_, backend_, status_, text_, page_, batch_,
                    shown: dict[str, Any] | None):
    return (*page_of(ctx, persona_, backend_, status_, text_, page_, batch_),
            gr.update(choices=_persona_choices(ctx)), gr.update(choices=_backend_choices(ctx)),
            gr.update(choices=ctx.backend_choices("renderer")),
            gr.update(choices=_resume_choices(ctx, shown)),  # keys set or GPUs found meanwhile
            gr.update(choices=_batch_choices(ctx)))


@shown_errors
def get_job(ctx: StudioContext, job_id_: str) -> dict[str, Any]:
    return history.job_details(ctx.settings, _store(ctx).get(_job_id(job_id_)))


def show_details(ctx: StudioContext, found: dict[str, Any] | None):
    # Resume is offered for a job the pipeline would resume only, starting from its own renderer
    resumable = bool(found) and history.resume_refusal(found["job_id"], found["status"]) is None
    resume_state = (gr.update(choices=_resume_choices(ctx, found), value=OWN_RENDERER, interactive=resumable),
                    gr.update(interactive=resumable))
    if not found:
        return history_view.NO_JOB_SHOWN, gr.update(value=[], visible=False), None, None, *resume_state
    return (history_view.details_markdown(found),
            gr.update(value=history_view.controls_table(found), visible=True),
            job_player(ctx.settings, _store(ctx).get(found["job_id"])) if found["video"] else None,
            history_view.stage_timings(found), *resume_state)


@shown_errors
def pick_row(ctx: StudioContext, event: gr.SelectData, previous_pick: str):
    picked = str((event.row_value or [""])[0])
    if not picked:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    found = history.job_details(ctx.settings, _store(ctx).get(picked))
    earlier = previous_pick if previous_pick and previous_pick != picked else gr.skip()
    return picked, earlier, picked, found


@shown_errors
def open_in_lab(ctx: StudioContext, lab: LabTab | None, job_id_: str):
    job = _store(ctx).get(_job_id(job_id_))
    switch = gr.Tabs(selected="lab")
    if lab is None:  # the Render lab did not offer its fields: at least take the user there
        return switch
    return [*lab.values_for_job(job), switch]


@shown_errors
def render_again(ctx: StudioContext, job_id_: str, backend_: str, progress=gr.Progress()):
    job = history.rerender(ctx.runner, _job_id(job_id_), backend_, progress=progress_callback(progress))
    gr.Info(f"Rendered again on {job.backend} as job {job.id}; the original is kept.")
    return job.id, history.job_details(ctx.settings, job)


@shown_errors
def resume_job(ctx: StudioContext, job_id: str, backend: str | None = OWN_RENDERER, progress=gr.Progress()):
    store = _store(ctx)
    store.mark_orphans_interrupted()  # a job whose process died is resumable, one still running is not
    job = store.get(_job_id(job_id))
    refusal = history.resume_refusal(job.id, job.status)
    if refusal:
        raise BadInput(refusal)
    resumed = ctx.runner.resume(job.id, progress=progress_callback(progress), backend=backend or None)
    moved = f" on {resumed.backend} (it was a {job.backend} job)" if resumed.backend != job.backend else ""
    gr.Info(f"Job {resumed.id} is finished{moved}.")
    return resumed.id, history.job_details(ctx.settings, resumed)


def reload_job(ctx: StudioContext, job_id_: str | None):
    """The job as it is now, after an action that may have failed half-way (quietly: the action
    already said what went wrong)."""
    try:
        return history.job_details(ctx.settings, _store(ctx).get(_job_id(job_id_)))
    except StudioError:
        return gr.skip()


@shown_errors
def ask_delete(ctx: StudioContext, job_id_: str):
    job = _store(ctx).get(_job_id(job_id_))
    return gr.update(visible=True), history_view.delete_question(job)


@shown_errors
def delete_confirmed(ctx: StudioContext, job_id_: str):
    gone = _job_id(job_id_)
    history.delete_job(ctx.settings, _store(ctx), gone)
    gr.Info(f"Deleted job {gone} and its folder.")
    return gr.update(visible=False), "", None


@shown_errors
def compare_jobs(ctx: StudioContext, a: str, b: str, only: bool):
    if not (a or "").strip() or not (b or "").strip():
        raise BadInput("give two jobs to compare: pick two rows in the table, or type both ids")
    store = _store(ctx)
    first, second = store.get(a.strip()), store.get(b.strip())
    fields = history.compare_jobs(ctx.settings, first, second)
    return (job_player(ctx.settings, first), job_player(ctx.settings, second),
            history_view.comparison_table(fields, only_differences=only))


@shown_errors
def load_stats(ctx: StudioContext, period_: str):
    days = STATS_PERIODS.get(period_)
    since = None if days is None else (pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=days)).date().isoformat()
    stats = db.job_stats(_store(ctx), since=since)
    factors = history_view.realtime_factors(stats)
    return (history_view.stats_summary(stats), history_view.success_rates(stats),
            gr.ScatterPlot(value=factors[0], color_map=factors[1]) if factors else None)


def _job_id(value: str | None) -> str:
    job_id = (value or "").strip()
    if not job_id:
        raise BadInput("pick a job in the table first (or paste its id)")
    return job_id


def _resume_choices(ctx: StudioContext, shown: dict[str, Any] | None) -> list[tuple[str, str]]:
    """"Resume on": the job's own renderer first (named when a job is shown), then every renderer,
    one that cannot run saying why."""
    own = f"its own: {shown['backend']}" if shown and shown.get("backend") else "its own renderer"
    return [(own, OWN_RENDERER), *ctx.backend_choices("renderer")]


def _persona_choices(ctx: StudioContext) -> list[tuple[str, str]]:
    """Every persona that loads plus any a job names that no longer exists (deleted personas' jobs stay)."""
    known = dict((value, label) for label, value in ctx.persona_choices())
    for persona in _store(ctx).distinct("persona"):
        known.setdefault(persona, persona)
    return [("any", ANY), *((label, value) for value, label in known.items())]


def _batch_choices(ctx: StudioContext) -> list[tuple[str, str]]:
    """This user's batches, newest first: "lessons.csv · 12/20 done · 2026-12-07 14:02"."""
    batches = BatchStore(ctx.settings.db_path).for_owner(ctx.owner)
    return [("any", ANY), *((history_view.batch_label(batch, batches.counts(batch.id)), batch.id)
                            for batch in batches.list(limit=BATCH_CHOICES))]


def _backend_choices(ctx: StudioContext) -> list[tuple[str, str]]:
    names = dict.fromkeys([*renderers.names(), *_store(ctx).distinct("backend")])
    return [("any", ANY), *((name, name) for name in names)]
