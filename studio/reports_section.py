"""Reports of wrong replies in the studio: the Chat tab's "Report this reply", the Personas tab's
Reports section, and the ``report_*`` endpoints scripts call.

"Report this reply" (``build_chat_report``, laid out under the chat) reports the latest reply of
the conversation on screen — the newest assistant turn ``Chat.history`` holds for the tab's
``conversation`` state — with a reason and, optionally, the right answer. The Reports section
(``build``, in the persona editor under Knowledge) acts on the editor's ``loaded`` state, the
saved persona the form edits, as the Knowledge section does: its reports as a table, a status
filter, a picker that prefills the correction box with the picked report's, "Make it a knowledge
note" (``pipeline.reports.note_from_report``: the correction becomes ``correction-<id>.md`` in the
persona's knowledge) and "Dismiss". It shows the persona's reports whenever ``loaded`` changes and
when the tab is opened (a reply may have been reported in the Chat tab since).

Four named endpoints give scripts the same, on hidden components of their own (plain values, as
``/chat`` does): ``report_reply`` (turn_id, reason, correction) → the report; ``list_reports``
(persona, status; "" for all) → the reports, newest first; ``report_note`` (report_id,
correction; "" keeps the report's) → the report, now "noted"; ``report_dismiss`` (report_id) →
the report, now "dismissed". All of it is the owner's: ``pipeline.reports`` keeps reports per
owner and reaches only the owner's conversations, so another user's turn or report is "not there".

Every handler is a module-level function taking the ``StudioContext`` first; the handlers that
fill the section answer with a dict by component name (``common.bind``); what they show is shaped
in ``reports_view``.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from pipeline import reports as pipeline_reports
from pipeline.db.reports import ReportStore
from pipeline.errors import BadInput

from . import reports_view as view
from .common import StudioContext, bind, shown_errors

PRIVATE = {"api_visibility": "private"}
REPORT_COLUMN_WIDTHS = ["150px", "80px", "200px", "220px", "160px", "200px", "130px"]

REPLY_API = ("Report a chat reply as inaccurate. Inputs: turn_id (the reply's turn, as the conversation's history "
             "gives it); reason; correction (the right answer, or ''). Out: the report (id, persona, "
             "conversation_id, turn_id, question, reply, reason, correction, status 'open', created_at, sources).")
LIST_API = ("Reports, newest first. Inputs: persona id ('' for every persona); status: 'open', 'noted', "
            "'dismissed' or '' for all. Out: one report dict each.")
NOTE_API = ("Turn a report's correction into a knowledge note of its persona (correction-<id>.md), so the next "
            "answer finds it. Inputs: report_id; correction ('' keeps the report's own). Out: the report, 'noted'.")
DISMISS_API = "Close a report without a note. Input: report_id. Out: the report, 'dismissed'."


# -- layout and wiring ----------------------------------------------------------------------------
def build_chat_report(ctx: StudioContext, *, conversation: gr.State) -> None:
    """The Chat tab's "Report this reply", laid out where it is called (under the chat)."""
    with gr.Accordion("Report this reply", open=False, elem_id="chat-report"):
        reason = gr.Textbox(label="What is wrong with the latest reply?", lines=2, max_lines=6,
                            elem_id="chat-report-reason")
        correction = gr.Textbox(label="The right answer (optional)", lines=2, max_lines=10,
                                elem_id="chat-report-correction")
        send = gr.Button("Report", variant="secondary", elem_id="chat-report-send")
        status = gr.Markdown(elem_id="chat-report-status")
    ui = {"reason": reason, "correction": correction, "status": status}
    send.click(bind(report_latest, ctx, ui), [conversation, reason, correction], [reason, correction, status],
               show_progress_on=[status], **PRIVATE)


def build(ctx: StudioContext, tab: gr.Tab, *, loaded: gr.State) -> None:
    """The Personas tab's Reports section, laid out where it is called (inside the editor), and the
    ``report_*`` endpoints."""
    with gr.Accordion("Reports", open=True, elem_id="persona-reports"):
        gr.Markdown(view.ABOUT, elem_id="reports-about")
        with gr.Row(equal_height=True):
            status_filter = gr.Dropdown(view.STATUS_CHOICES, value=view.ALL, label="Show", scale=1, min_width=140,
                                        elem_id="reports-filter")
            pick = gr.Dropdown([], value=None, label="Report", scale=4, min_width=240, elem_id="reports-pick")
        table = gr.Dataframe(headers=view.REPORT_HEADERS, value=view.reports_table([]), interactive=False, wrap=True,
                             max_height=300, column_widths=REPORT_COLUMN_WIDTHS, label="Reports",
                             elem_id="reports-table")
        correction = gr.Textbox(label="Correction (the right answer)", lines=3, max_lines=12,
                                elem_id="reports-correction")
        with gr.Row():
            note_button = gr.Button("Make it a knowledge note", variant="primary", scale=0, min_width=220,
                                    elem_id="reports-note")
            dismiss_button = gr.Button("Dismiss", variant="stop", scale=0, min_width=120, elem_id="reports-dismiss")
        status = gr.Markdown(view.SAVE_FIRST, elem_id="reports-status")

    # The endpoints' own inputs and outputs: plain values, never shown.
    with gr.Column(visible=False):
        api_turn = gr.Textbox(label="turn_id")
        api_reason = gr.Textbox(label="reason")
        api_correction = gr.Textbox(label="correction")
        api_persona = gr.Textbox(label="persona")
        api_status = gr.Textbox(label="status")
        api_report = gr.Textbox(label="report_id")
        api_answer = gr.JSON(label="answer")
        api_reply, api_list, api_note, api_dismiss = (gr.Button(name, elem_id=f"{name.replace('_', '-')}-api")
                                                      for name in ("report_reply", "list_reports", "report_note",
                                                                   "report_dismiss"))

    ui = {"table": table, "pick": pick, "correction": correction, "status": status}
    shown = [table, pick, correction, status]
    show = bind(show_reports, ctx, ui)
    loaded.change(show, [loaded, status_filter], shown, show_progress="hidden", **PRIVATE)
    tab.select(show, [loaded, status_filter], shown, show_progress="hidden", **PRIVATE)
    status_filter.input(show, [loaded, status_filter], shown, show_progress="hidden", **PRIVATE)
    pick.input(bind(pick_report, ctx), pick, correction, show_progress="hidden", **PRIVATE)
    note_button.click(bind(note_report, ctx, ui), [loaded, status_filter, pick, correction], shown,
                      show_progress_on=[status], **PRIVATE)
    dismiss_button.click(bind(dismiss_report, ctx, ui), [loaded, status_filter, pick], shown,
                         show_progress_on=[status], **PRIVATE)

    api_reply.click(bind(report_reply, ctx), [api_turn, api_reason, api_correction], api_answer,
                    api_name="report_reply", api_description=REPLY_API)
    api_list.click(bind(list_reports, ctx), [api_persona, api_status], api_answer, api_name="list_reports",
                   api_description=LIST_API)
    api_note.click(bind(report_note, ctx), [api_report, api_correction], api_answer, api_name="report_note",
                   api_description=NOTE_API)
    api_dismiss.click(bind(report_dismiss, ctx), api_report, api_answer, api_name="report_dismiss",
                      api_description=DISMISS_API)


# -- the Chat tab ---------------------------------------------------------------------------------
@shown_errors
def report_latest(ctx: StudioContext, conversation_id: str | None, reason: str | None,
                  correction: str | None) -> dict[str, Any]:
    """Report the newest reply of the conversation on screen; the boxes are emptied once it is."""
    if not conversation_id:
        raise BadInput(view.NO_CONVERSATION)
    replies = [turn for turn in ctx.chat.history(conversation_id) if turn.role == "assistant"]
    if not replies:
        raise BadInput(view.NO_REPLY)
    report = pipeline_reports.report_reply(ctx.settings, replies[-1].id, reason=reason or None,
                                           correction=correction or None, owner=ctx.owner)
    return {"reason": "", "correction": "", "status": view.reported(report)}


# -- the Personas tab's section -------------------------------------------------------------------
@shown_errors
def show_reports(ctx: StudioContext, persona_id: str | None, status: str | None) -> dict[str, Any]:
    """The section for the saved persona ``persona_id`` (None: a new one, not saved yet)."""
    if not persona_id:
        return {**_reports_shown([]), "status": view.SAVE_FIRST}
    found = _reports_of(ctx, persona_id, status)
    return {**_reports_shown(found), "status": "" if found else view.nothing_shown(status)}


@shown_errors
def pick_report(ctx: StudioContext, report_id: str | None) -> str:
    """The picked report's correction, to edit before it becomes a note."""
    if not report_id:
        return ""
    return ReportStore(ctx.settings.db_path, ctx.owner).get(report_id).correction or ""


@shown_errors
def note_report(ctx: StudioContext, persona_id: str | None, status: str | None, report_id: str | None,
                correction: str | None) -> dict[str, Any]:
    report = pipeline_reports.note_from_report(ctx.settings, _picked(report_id), correction=correction or None,
                                               owner=ctx.owner)
    return {**_reports_shown(_reports_of(ctx, persona_id, status), keep=report.id), "status": view.noted(report)}


@shown_errors
def dismiss_report(ctx: StudioContext, persona_id: str | None, status: str | None,
                   report_id: str | None) -> dict[str, Any]:
    report = pipeline_reports.dismiss(ctx.settings, _picked(report_id), owner=ctx.owner)
    return {**_reports_shown(_reports_of(ctx, persona_id, status), keep=report.id), "status": view.dismissed(report)}


def _picked(report_id: str | None) -> str:
    if not report_id:
        raise BadInput("Pick a report first.")
    return report_id


def _reports_of(ctx: StudioContext, persona_id: str | None, status: str | None) -> list:
    if not persona_id:
        return []
    return pipeline_reports.reports(ctx.settings, persona=persona_id,
                                    status=None if status in (None, "", view.ALL) else status, owner=ctx.owner)


def _reports_shown(found: list, *, keep: str | None = None) -> dict[str, Any]:
    """Table, picker (``keep`` still picked where it is listed, else the newest) and its correction."""
    picked = next((report for report in found if report.id == keep), found[0] if found else None)
    return {"table": view.reports_table(found),
            "pick": gr.update(choices=view.report_choices(found), value=picked.id if picked else None),
            "correction": (picked.correction or "") if picked else ""}


# -- the endpoints --------------------------------------------------------------------------------
@shown_errors
def report_reply(ctx: StudioContext, turn_id: str, reason: str, correction: str) -> dict[str, Any]:
    if not turn_id:
        raise BadInput("give the turn id of the reply to report (the conversation's history lists its turns)")
    return pipeline_reports.report_reply(ctx.settings, turn_id, reason=reason or None, correction=correction or None,
                                         owner=ctx.owner).to_dict()


@shown_errors
def list_reports(ctx: StudioContext, persona: str, status: str) -> list[dict[str, Any]]:
    if persona:
        ctx.personas.get(persona)  # an unknown (or another user's) persona: the store's own words
    found = pipeline_reports.reports(ctx.settings, persona=persona or None, status=status or None, owner=ctx.owner)
    return view.reports_answer(found)


@shown_errors
def report_note(ctx: StudioContext, report_id: str, correction: str) -> dict[str, Any]:
    return pipeline_reports.note_from_report(ctx.settings, report_id or "", correction=correction or None,
                                             owner=ctx.owner).to_dict()


@shown_errors
def report_dismiss(ctx: StudioContext, report_id: str) -> dict[str, Any]:
    return pipeline_reports.dismiss(ctx.settings, report_id or "", owner=ctx.owner).to_dict()
