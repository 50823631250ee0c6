"""What the studio shows of held replies: the Personas tab's Review section (a persona's held
replies as a table, the picker's labels, the picked reply's question and sources, what approving
or rejecting did), and the plain shapes the ``review_*`` endpoints answer with (the Chat tab's
bubble for a held reply is ``chat_view``'s). Plain functions of ``pipeline.db.HeldReply``; no
Gradio, no decisions.
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from pipeline.db import HeldReply
from pipeline.db.review import ALL
from pipeline.knowledge import source_label

from .chat_view import plain, quoted
from .reports_view import short

HEADERS = ["turn", "status", "question", "reply", "sources", "deliver as", "asked (UTC)"]
PENDING = "pending"
STATUS_CHOICES = [("Pending", PENDING), ("Approved", "approved"), ("Rejected", "rejected"), ("All", ALL)]
DELIVERY = {"text": "text", "audio": "audio (spoken)", "video": "video (rendered)"}
SAVE_FIRST = "Open a saved persona to review the replies it held."
NONE_PENDING = ("No replies wait for review. Tick “Hold replies for my review” above (or hold one conversation in "
                "the Chat tab) and its replies wait here before they are spoken or rendered.")
NONE_WITH = "No {status} replies."
ABOUT = ("Replies held for your review: not spoken or rendered, and not part of the conversation, until you approve "
         "them. “Approve as written” delivers the reply as it was asked for (text, audio or video); edit it in the "
         "box and “Approve with my edit” delivers your words instead (the model's are kept); “Reject” needs a "
         "reason.")


def review_table(replies: Iterable[HeldReply]) -> pd.DataFrame:
    """One row per held reply, in ``HEADERS`` order (the headers stay when there is none)."""
    rows = [[held.turn_id, held.review, short(held.question) or "—", short(held.reply),
             str(len(held.sources)) if held.sources else "—", DELIVERY.get(held.output, held.output),
             held.created_at[:16].replace("T", " ")]
            for held in replies]
    return pd.DataFrame(rows, columns=HEADERS)


def reply_choices(replies: Iterable[HeldReply]) -> list[tuple[str, str]]:
    """(label, turn id) for the picker: "t2-ab12cd · pending · the question"."""
    return [(f"{held.turn_id} · {held.review} · {short(held.question, 50) or 'no question'}", held.turn_id)
            for held in replies]


def picked_markdown(held: HeldReply | None) -> str:
    """The picked reply's question, sources and what approving it delivers (and, once reviewed,
    what was decided)."""
    if held is None:
        return ""
    lines = [f"**Asked**\n\n{quoted(held.question or '(no question)')}",
             f"**Delivered as:** {DELIVERY.get(held.output, held.output)} · conversation `{held.conversation_id}`"]
    if held.sources:
        lines.append("**Sources given:** " + "; ".join(
            f"\\[{number}\\] {plain(source_label(source['source'], source.get('locator')))}"
            for number, source in enumerate(held.sources, start=1)))
    if held.original is not None:
        lines.append(f"**The model wrote**\n\n{quoted(held.original)}")
    if held.review == "rejected":
        lines.append(f"**Rejected:** {held.review_reason}")
    elif held.review == "approved":
        lines.append(f"**Approved** {(held.reviewed_at or '')[:16].replace('T', ' ')} UTC" + _delivered(held))
    return "\n\n".join(lines)


def nothing_shown(status: str | None) -> str:
    return NONE_PENDING if status in (None, "", PENDING) else NONE_WITH.format(status="held" if status == ALL
                                                                               else status)


def approved(held: HeldReply) -> str:
    edit = " with your edit" if held.original is not None else " as written"
    return f"Approved `{held.turn_id}`{edit}" + (_delivered(held) or ": delivered as text.")


def rejected(held: HeldReply) -> str:
    return f"Rejected `{held.turn_id}`: {held.review_reason}"


def review_answer(replies: Iterable[HeldReply]) -> list[dict[str, Any]]:
    return [held.to_dict() for held in replies]


def _delivered(held: HeldReply) -> str:
    if held.job_id:
        where = "the video is below and in History" if held.video_path else f"its job is {held.job_status}"
        return f": rendered as job `{held.job_id}` — {where}."
    if held.audio_path:
        return ": spoken — play it below."
    return ""
