"""Replies held for review in the studio: the Personas tab's Review section and the ``review_*``
endpoints scripts call.

The Review section (``build``, in the persona editor under Reports) acts on the editor's
``loaded`` state, the saved persona the form edits, as the Knowledge and Reports sections do: the
persona's held replies as a table (question, reply, sources, how it is to be delivered, when), a
status filter (pending by default; approved, rejected, all), a picker that shows the picked reply's
question and sources and prefills an editable box with its text, then "Approve as written",
"Approve with my edit" (the box's text is delivered; the model's words are kept) and "Reject" with
a reason. Approving delivers the reply as its turn asked (``pipeline.review.approve``): a spoken
reply plays in the section, a rendered one shows its progress on the status line and then the
video (it is also in History, as its job). The section refreshes whenever ``loaded`` changes and
when the tab is opened (replies are held in the Chat tab meanwhile).

Four named endpoints give scripts the same, on hidden components of their own (plain values, as
``/chat`` does): ``review_list`` (persona, status; "" for every persona, "" for pending) → held
replies, newest first; ``review_approve`` (turn_id, text; "" approves it as written) → (the reply,
video, audio); ``review_reject`` (turn_id, reason) → the reply; ``review_hold`` (conversation_id,
hold: true, false, or "" to follow the persona) → the conversation. Approving is queued work like a
render (``limits.quota(ctx, "review")``). All of it is the owner's: ``pipeline.review`` reaches only
the owner's conversations, so another user's turn or conversation is "not there".

Every handler is a module-level function taking the ``StudioContext`` first; the handlers that
fill the section answer with a dict by component name (``common.bind``); what they show is shaped
in ``review_view``.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from pipeline import review as pipeline_review
from pipeline.db import HeldReply
from pipeline.errors import BadInput

from . import review_view as view
from .chat_view import audio_value
from .common import StudioContext, bind, progress_callback, shown_errors
from .limits import quota

PRIVATE = {"api_visibility": "private"}
APPROVING = {"concurrency_id": "review-approve"}  # speaking or rendering: one group, like the lab's renders
REVIEW_COLUMN_WIDTHS = ["110px", "90px", "220px", "280px", "70px", "120px", "130px"]

LIST_API = ("Replies held for review, newest first. Inputs: persona id ('' for every persona); status: 'pending' "
            "(also ''), 'approved', 'rejected' or 'all'. Out: one dict each (turn_id, conversation_id, persona, "
            "question, reply, review, created_at, sources, output, original, review_reason, reviewed_at, "
            "audio_path, job_id, video_path).")
APPROVE_API = ("Approve a held reply and deliver it as its turn asked (text; audio: spoken; video: rendered). Inputs: "
               "turn_id; text: your edit of the reply, or '' to approve it as written. Out: (the reply, now "
               "'approved'; the video or None; the audio or None).")
REJECT_API = ("Reject a held reply: it is never delivered. Inputs: turn_id; reason (required). Out: the reply, "
              "'rejected'.")
HOLD_API = ("Whether a conversation holds its next replies for review. Inputs: conversation_id; hold: true, false, "
            "or '' to follow its persona. Out: the conversation (hold_replies: true, false or null).")


# -- layout and wiring ----------------------------------------------------------------------------
def build(ctx: StudioContext, tab: gr.Tab, *, loaded: gr.State) -> None:
    """The Personas tab's Review section, laid out where it is called (inside the editor), and the
    ``review_*`` endpoints."""
    with gr.Accordion("Review", open=True, elem_id="persona-review"):
        gr.Markdown(view.ABOUT, elem_id="review-about")
        with gr.Row(equal_height=True):
            status_filter = gr.Dropdown(view.STATUS_CHOICES, value=view.PENDING, label="Show", scale=1,
                                        min_width=140, elem_id="review-filter")
            pick = gr.Dropdown([], value=None, label="Reply", scale=4, min_width=240, elem_id="review-pick")
        table = gr.Dataframe(headers=view.HEADERS, value=view.review_table([]), interactive=False, wrap=True,
                             max_height=300, column_widths=REVIEW_COLUMN_WIDTHS, label="Held replies",
                             elem_id="review-table")
        picked = gr.Markdown(elem_id="review-picked")
        text = gr.Textbox(label="The reply (edit it, then “Approve with my edit”)", lines=4, max_lines=16,
                          elem_id="review-text")
        with gr.Row():
            approve_button = gr.Button("Approve as written", variant="primary", scale=0, min_width=180,
                                       elem_id="review-approve")
            edit_button = gr.Button("Approve with my edit", variant="secondary", scale=0, min_width=200,
                                    elem_id="review-approve-edit")
        with gr.Row(equal_height=True):
            reason = gr.Textbox(label="Reason for rejecting", max_lines=3, scale=4, elem_id="review-reason")
            reject_button = gr.Button("Reject", variant="stop", scale=0, min_width=120, elem_id="review-reject")
        status = gr.Markdown(view.SAVE_FIRST, elem_id="review-status")
        with gr.Row():
            video = gr.Video(label="Delivered video", interactive=False, visible=False, height=300,
                             elem_id="review-video")
            audio = gr.Audio(label="Delivered audio", interactive=False, visible=False, elem_id="review-audio")

    # The endpoints' own inputs and outputs: plain values, never shown.
    with gr.Column(visible=False):
        api_persona = gr.Textbox(label="persona")
        api_status = gr.Textbox(label="status")
        api_turn = gr.Textbox(label="turn_id")
        api_text = gr.Textbox(label="text")
        api_reason = gr.Textbox(label="reason")
        api_conversation = gr.Textbox(label="conversation_id")
        api_hold = gr.Textbox(label="hold")
        api_answer = gr.JSON(label="answer")
        api_video = gr.Video(label="video")
        api_audio = gr.Audio(label="audio")
        api_list, api_approve, api_reject, api_hold_button = (
            gr.Button(name, elem_id=f"{name.replace('_', '-')}-api")
            for name in ("review_list", "review_approve", "review_reject", "review_hold"))

    ui = {"table": table, "pick": pick, "picked": picked, "text": text, "status": status, "reason": reason,
          "video": video, "audio": audio}
    shown = [table, pick, picked, text, status, video, audio]
    show = bind(show_review, ctx, ui)
    loaded.change(show, [loaded, status_filter], shown, show_progress="hidden", **PRIVATE)
    tab.select(show, [loaded, status_filter], shown, show_progress="hidden", **PRIVATE)
    status_filter.input(show, [loaded, status_filter], shown, show_progress="hidden", **PRIVATE)
    pick.input(bind(pick_reply, ctx, ui), pick, [picked, text], show_progress="hidden", **PRIVATE)
    # The picker first among the inputs: a quota refusal shows under it.
    approving = {"show_progress_on": [status], "validator": quota(ctx, "review", output_at=0), **APPROVING,
                 **PRIVATE}
    approve_button.click(bind(approve_reply, ctx, ui), [pick, loaded, status_filter], shown, **approving)
    edit_button.click(bind(approve_edited, ctx, ui), [pick, loaded, status_filter, text], shown, **approving)
    reject_button.click(bind(reject_reply, ctx, ui), [pick, loaded, status_filter, reason], [*shown, reason],
                        show_progress_on=[status], **PRIVATE)

    api_list.click(bind(review_list, ctx), [api_persona, api_status], api_answer, api_name="review_list",
                   api_description=LIST_API)
    api_approve.click(bind(review_approve, ctx), [api_turn, api_text], [api_answer, api_video, api_audio],
                      api_name="review_approve", api_description=APPROVE_API,
                      validator=quota(ctx, "review", output_at=0), **APPROVING)
    api_reject.click(bind(review_reject, ctx), [api_turn, api_reason], api_answer, api_name="review_reject",
                     api_description=REJECT_API)
    api_hold_button.click(bind(review_hold, ctx), [api_conversation, api_hold], api_answer, api_name="review_hold",
                          api_description=HOLD_API)


# -- the Personas tab's section -------------------------------------------------------------------
@shown_errors
def show_review(ctx: StudioContext, persona_id: str | None, status: str | None) -> dict[str, Any]:
    """The section for the saved persona ``persona_id`` (None: a new one, not saved yet)."""
    if not persona_id:
        return {**_replies_shown([]), "status": view.SAVE_FIRST, **_no_media()}
    found = _replies_of(ctx, persona_id, status)
    return {**_replies_shown(found), "status": "" if found else view.nothing_shown(status), **_no_media()}


@shown_errors
def pick_reply(ctx: StudioContext, turn_id: str | None) -> dict[str, Any]:
    """The picked reply's question and sources, and its text in the box, to edit before approving."""
    if not turn_id:
        return {"picked": "", "text": ""}
    held = pipeline_review.held_reply(ctx.settings, turn_id, owner=ctx.owner)
    return {"picked": view.picked_markdown(held), "text": held.reply}


@shown_errors
def approve_reply(ctx: StudioContext, turn_id: str | None, persona_id: str | None, status: str | None,
                  progress=gr.Progress()) -> dict[str, Any]:
    """Approve the picked reply as written, and deliver it."""
    return _approve(ctx, turn_id, persona_id, status, None, progress)


@shown_errors
def approve_edited(ctx: StudioContext, turn_id: str | None, persona_id: str | None, status: str | None,
                   text: str | None, progress=gr.Progress()) -> dict[str, Any]:
    """Approve the picked reply with the box's text in place of the model's, and deliver it."""
    if not (text or "").strip():
        raise BadInput("The reply box is empty: write the reply to deliver, or use “Approve as written”.")
    return _approve(ctx, turn_id, persona_id, status, text, progress)


@shown_errors
def reject_reply(ctx: StudioContext, turn_id: str | None, persona_id: str | None, status: str | None,
                 reason: str | None) -> dict[str, Any]:
    held = pipeline_review.reject(ctx.settings, _picked(turn_id), reason, owner=ctx.owner)
    return {**_replies_shown(_replies_of(ctx, persona_id, status), keep=held.turn_id), "status": view.rejected(held),
            "reason": "", **_no_media()}


def _approve(ctx: StudioContext, turn_id: str | None, persona_id: str | None, status: str | None,
             text: str | None, progress) -> dict[str, Any]:
    held = pipeline_review.approve(ctx.settings, _picked(turn_id), text=text, owner=ctx.owner,
                                   progress=progress_callback(progress))
    video, audio = _media(held)
    return {**_replies_shown(_replies_of(ctx, persona_id, status), keep=held.turn_id), "status": view.approved(held),
            "video": gr.update(value=video, visible=video is not None),
            "audio": gr.update(value=audio, visible=audio is not None)}


def _picked(turn_id: str | None) -> str:
    if not turn_id:
        raise BadInput("Pick a reply first.")
    return turn_id


def _replies_of(ctx: StudioContext, persona_id: str | None, status: str | None) -> list[HeldReply]:
    if not persona_id:
        return []
    return pipeline_review.pending(ctx.settings, persona=persona_id, status=status or view.PENDING, owner=ctx.owner)


def _replies_shown(found: list[HeldReply], *, keep: str | None = None) -> dict[str, Any]:
    """Table, picker (``keep`` still picked where it is listed, else the newest), its question and text."""
    held = next((item for item in found if item.turn_id == keep), found[0] if found else None)
    return {"table": view.review_table(found),
            "pick": gr.update(choices=view.reply_choices(found), value=held.turn_id if held else None),
            "picked": view.picked_markdown(held), "text": held.reply if held else ""}


def _no_media() -> dict[str, Any]:
    return {"video": gr.update(value=None, visible=False), "audio": gr.update(value=None, visible=False)}


def _media(held: HeldReply) -> tuple[str | None, Any]:
    """(video path, audio samples) of a delivered reply; its WAV lives outside the served folders."""
    return held.video_path, audio_value(held.audio_path) if held.audio_path else None


# -- the endpoints --------------------------------------------------------------------------------
@shown_errors
def review_list(ctx: StudioContext, persona: str, status: str) -> list[dict[str, Any]]:
    if persona:
        ctx.personas.get(persona)  # an unknown (or another user's) persona: the store's own words
    found = pipeline_review.pending(ctx.settings, persona=persona or None, status=status or view.PENDING,
                                    owner=ctx.owner)
    return view.review_answer(found)


@shown_errors
def review_approve(ctx: StudioContext, turn_id: str, text: str, progress=gr.Progress()) -> tuple:
    if not turn_id:
        raise BadInput("give the turn id of the held reply to approve (review_list lists them)")
    held = pipeline_review.approve(ctx.settings, turn_id, text=text or None, owner=ctx.owner,
                                   progress=progress_callback(progress))
    return (held.to_dict(), *_media(held))


@shown_errors
def review_reject(ctx: StudioContext, turn_id: str, reason: str) -> dict[str, Any]:
    if not turn_id:
        raise BadInput("give the turn id of the held reply to reject (review_list lists them)")
    return pipeline_review.reject(ctx.settings, turn_id, reason, owner=ctx.owner).to_dict()


@shown_errors
def review_hold(ctx: StudioContext, conversation_id: str, hold: str) -> dict[str, Any]:
    if not conversation_id:
        raise BadInput("give the id of the conversation whose replies to hold (or not)")
    return pipeline_review.set_hold(ctx.settings, conversation_id, pipeline_review.parse_hold(hold),
                                    owner=ctx.owner).to_dict()
