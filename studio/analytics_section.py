"""The History tab's Analytics section: what people ask a persona and how it answers, drawn from
``pipeline.analytics.persona_analytics`` — the numbers ``app.py analytics`` prints.

Layout: a persona (the user's personas, examples included), a period (the last 7, 30 or 90 days)
and Refresh; the headline numbers (questions, conversations, grounding rate, report rate and
outcomes, p50/p95 of the reply time and of the first token); a bar plot of questions per day,
every day of the period drawn, a day without questions as 0; a bar plot of the reply-time
percentiles; the topics table (topic words, questions, share, an example question). A period
without questions is one sentence saying so, and the plots and table are hidden.

The section refreshes when the History tab is opened (the persona list too: a persona made since
is there), and on Refresh, a new persona or a new period. When no persona is picked yet, the one
talked to last is. Grouping the questions into topics is the slow part: its progress shows on
the numbers and the table while it runs, and the rest of the studio stays usable (the event runs
in Gradio's queue like any other).

One named endpoint gives scripts the same data: ``persona_analytics`` (persona, days) → the JSON
``app.py analytics --persona ID --days N --json`` prints. It is the caller's own: the persona must
be one they can open or one they talked to (``PersonaStore`` is per owner), and the conversations
counted are theirs, so another user's persona id is "no persona" and their numbers stay theirs.

The handlers are module-level functions taking the ``StudioContext`` first and answering with a
dict by component name (``common.bind``); what they show is shaped in ``analytics_view``.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from pipeline import analytics
from pipeline.db import ConversationStore
from pipeline.errors import BadInput

from . import analytics_view as view
from .common import StudioContext, bind, progress_callback, shown_errors

PRIVATE = {"api_visibility": "private"}
TOPIC_COLUMN_WIDTHS = ["30%", "12%", "10%", "48%"]
API = ("What people asked one of your personas and how it answered. Inputs: persona id; days (1 to 3650; 30 when "
       "empty). Out: the same JSON as `app.py analytics --persona ID --days N --json`: persona, days, questions, "
       "replies, conversations, questions_per_day (every UTC day, zeros included), topics (label, words, questions), "
       "grounded_replies, grounding_rate, reports, report_rate, report_outcomes, latency_s (p50, p95, "
       "first_token_p50, first_token_p95). Only your own conversations are counted.")


# -- layout and wiring ----------------------------------------------------------------------------
def build(ctx: StudioContext, tab: gr.Tab) -> None:
    """The section, laid out where it is called (the end of the History tab), and its endpoint."""
    with gr.Accordion("Persona analytics", open=True, elem_id="analytics-panel"):
        gr.Markdown(view.ABOUT, elem_id="analytics-about")
        with gr.Row():
            persona = gr.Dropdown(ctx.persona_choices(), value=None, label="Persona", scale=2, min_width=200,
                                  elem_id="analytics-persona")
            days = gr.Radio(view.DAY_CHOICES, value=view.DEFAULT_DAYS, label="Period: the last", scale=2,
                            min_width=240, elem_id="analytics-days")
            refresh = gr.Button("Refresh", size="sm", scale=0, min_width=110, elem_id="analytics-refresh")
        summary = gr.Markdown(view.PICK_FIRST, min_height=60, elem_id="analytics-summary")
        with gr.Column(visible=False, elem_id="analytics-details") as details:
            with gr.Row():
                per_day = gr.BarPlot(None, x=view.DAY, y=view.QUESTIONS, x_label_angle=-45,
                                     label="Questions per day (UTC)", scale=2, min_width=300,
                                     elem_id="analytics-per-day")
                latency = gr.BarPlot(None, x=view.MEASURE, y=view.SECONDS, color=view.OF, sort=view.LATENCY_ORDER,
                                     x_title=" ", x_label_angle=-30,
                                     label="Reply time, p50 and p95 (s)", scale=1, min_width=240,
                                     elem_id="analytics-latency")
            topics = gr.Dataframe(headers=view.TOPIC_HEADERS, value=None, interactive=False, wrap=True,
                                  column_widths=TOPIC_COLUMN_WIDTHS, label="Topics: the questions grouped by meaning",
                                  elem_id="analytics-topics")

    # The endpoint's own input and output: plain values, never shown.
    with gr.Column(visible=False):
        api_persona = gr.Textbox(label="persona")
        api_days = gr.Number(value=view.DEFAULT_DAYS, precision=0, label="days")
        api_answer = gr.JSON(label="analytics")
        api_button = gr.Button("persona_analytics", elem_id="persona-analytics-api")

    ui = {"persona": persona, "summary": summary, "per_day": per_day, "latency": latency, "topics": topics,
          "details": details}
    shown = [summary, per_day, latency, topics, details]
    progress_on = {"show_progress_on": [summary, topics]}
    gr.on([refresh.click, persona.input, days.input], bind(show_analytics, ctx, ui), [persona, days], shown,
          **progress_on, **PRIVATE)
    tab.select(bind(on_tab_selected, ctx, ui), [persona, days], [persona, *shown], **progress_on, **PRIVATE)
    # preprocess=False: the values arrive as sent, and a word or a fraction for days is refused in words
    api_button.click(bind(persona_analytics, ctx), [api_persona, api_days], api_answer, api_name="persona_analytics",
                     api_description=API, preprocess=False)


# -- handlers -------------------------------------------------------------------------------------
@shown_errors
def on_tab_selected(ctx: StudioContext, persona_id: str | None, days: int | None,
                    progress=gr.Progress()) -> dict[str, Any]:
    """The persona list as it is now, the persona kept (or the one talked to last), its numbers."""
    choices = ctx.persona_choices()
    known = [value for _, value in choices]
    picked = persona_id if persona_id in known else _last_talked_to(ctx, known)
    return {"persona": gr.update(choices=choices, value=picked), **show_analytics(ctx, picked, days, progress)}


@shown_errors
def show_analytics(ctx: StudioContext, persona_id: str | None, days: int | None,
                   progress=gr.Progress()) -> dict[str, Any]:
    """The section for ``persona_id`` over the last ``days`` days (None: nothing picked yet)."""
    if not persona_id:
        return _hidden(view.PICK_FIRST)
    found = analytics.persona_analytics(ctx.settings, persona_id, days=int(days or view.DEFAULT_DAYS),
                                        owner=ctx.owner, progress=progress_callback(progress))
    name = _name(ctx, persona_id)
    if view.is_empty(found):
        return _hidden(view.nothing_asked(found, name))
    return {"summary": view.headline(found, name), "per_day": view.questions_per_day(found),
            "latency": view.latency_summary(found), "topics": view.topics_table(found),
            "details": gr.update(visible=True)}


@shown_errors
def persona_analytics(ctx: StudioContext, persona: str, days: Any) -> dict[str, Any]:
    if not isinstance(persona, str) or not persona.strip():
        raise BadInput("give the id of one of your personas (the Personas tab shows each one's id)")
    return analytics.persona_analytics(ctx.settings, persona.strip(), days=_days(days), owner=ctx.owner).to_dict()


def _days(value: Any) -> Any:
    """``days`` as sent to the endpoint: empty is the default, a whole number (7, 7.0, "7") is
    itself, anything else is left for ``persona_analytics`` to refuse in its own words."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return view.DEFAULT_DAYS
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def _hidden(sentence: str) -> dict[str, Any]:
    return {"summary": sentence, "per_day": None, "latency": None, "topics": view.topics_table(None),
            "details": gr.update(visible=False)}


def _last_talked_to(ctx: StudioContext, known: list[str]) -> str | None:
    """The persona of the owner's latest conversation, when it is still one they can pick."""
    latest = ConversationStore(ctx.jobs.for_owner(ctx.owner)).list(limit=1)
    return latest[0].persona if latest and latest[0].persona in known else None


def _name(ctx: StudioContext, persona_id: str) -> str:
    store = ctx.personas
    return store.get(persona_id).name if store.exists(persona_id) else persona_id
