"""The review queue (``migrations.m010_review``): replies held for the creator, one owner's at a time.

A held reply is an assistant turn whose ``review`` is "pending", "approved" or "rejected" (turns
that were never held have none). ``ReviewStore`` reads them with what a reviewer needs beside the
reply — the question it answers (the user turn before it), its persona, sources, the delivery it
asked for, and once approved its audio or render job — and settles a pending one. Settling is one
conditional update (``… where review = 'pending'``), so two approvals of the same reply, from two
tabs or a tab and the CLI, deliver it once: the second is told it is already approved.

It works over an owner's ``JobStore`` like ``ConversationStore``: the owner condition is in every
query, so another user's reply is "no chat turn", whatever is asked of it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import BadInput
from .jobs import JobStore, now

REVIEW_STATUSES = ("pending", "approved", "rejected")
ALL = "all"


@dataclass(frozen=True)
class HeldReply:
    turn_id: str
    conversation_id: str
    persona: str
    question: str | None
    reply: str  # as it stands: the creator's edit once approved with one
    review: str  # "pending", "approved" or "rejected"
    created_at: str
    sources: list[dict[str, str]] = field(default_factory=list)
    original: str | None = None  # the model's words, when the creator edited them
    review_reason: str | None = None
    reviewed_at: str | None = None
    requested_output: dict[str, Any] = field(default_factory=dict)  # {output, controller}
    llm: str | None = None
    model: str | None = None
    audio_path: str | None = None  # once approved: the spoken reply
    job_id: str | None = None  # once approved: the render job
    video_path: str | None = None  # that job's video, once it is done
    job_status: str | None = None
    error: str | None = None  # delivering it failed

    @property
    def output(self) -> str:
        return self.requested_output.get("output") or "text"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "output": self.output}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> HeldReply:
        values = {name: row.get(name) for name in cls.__dataclass_fields__}
        values.update(turn_id=row["id"], reply=row["content"], sources=json.loads(row.get("sources") or "[]"),
                      requested_output=json.loads(row.get("requested_output") or "{}"))
        return cls(**values)


class ReviewStore:
    def __init__(self, jobs: JobStore) -> None:
        self.jobs = jobs

    def list(self, *, persona: str | None = None, status: str | None = "pending", limit: int = 200) -> list[HeldReply]:
        """Held replies, newest first: of one ``persona`` or all; ``status`` one of
        ``REVIEW_STATUSES`` or "all" (None: "pending")."""
        status = status or "pending"
        if status not in (*REVIEW_STATUSES, ALL):
            raise BadInput(f"status must be one of {', '.join((*REVIEW_STATUSES, ALL))}, got {status!r}")
        conditions, params = ["turns.review is not null"], []
        if status != ALL:
            conditions, params = ["turns.review = ?"], [status]
        if persona:
            conditions.append("conversations.persona = ?")
            params.append(persona)
        return self._where(" and ".join(conditions), params, limit)

    def get(self, turn_id: str) -> HeldReply:
        """The held reply ``turn_id``: "no chat turn" when it is not the owner's, or not there."""
        found = self._rows("turns.id = ?", [str(turn_id)], 1)
        if not found:
            raise BadInput(f"no chat turn with id {turn_id!r}")
        row = found[0]
        if row["role"] != "assistant":
            raise BadInput(f"turn {row['id']} is a question, not a reply: review the reply that answered it")
        if row["review"] is None:
            raise BadInput(f"reply {row['id']} was not held for review: it was delivered as written")
        return HeldReply.from_row(row)

    def get_pending(self, turn_id: str) -> HeldReply:
        """The held reply ``turn_id`` while it is pending; refused, saying what it is, once settled."""
        held = self.get(turn_id)
        if held.review != "pending":
            raise self._settled(held)
        return held

    def settle(self, turn_id: str, review: str, *, reason: str | None = None, text: str | None = None) -> HeldReply:
        """Move the pending reply ``turn_id`` to ``review`` ("approved" or "rejected"), with the
        rejection's ``reason`` or the creator's edited ``text`` (the model's words kept in
        ``original``). A reply that is no longer pending is refused, saying what it is."""
        if review not in ("approved", "rejected"):
            raise ValueError(f"a held reply is approved or rejected, not {review!r}")
        held = self.get_pending(turn_id)
        edited = text is not None and text != held.reply
        with self.jobs.connect() as db, db.atomic():
            cursor = db.execute(
                "update turns set review = ?, review_reason = ?, reviewed_at = ?, content = ?, original = ? "
                "where id = ? and review = 'pending'",
                [review, reason, now(), text if edited else held.reply, held.reply if edited else None, held.turn_id])
        if cursor.rowcount != 1:  # settled meanwhile, by another tab or the CLI
            raise self._settled(self.get(turn_id))
        return self.get(turn_id)

    def _settled(self, held: HeldReply) -> BadInput:
        why = f" ({held.review_reason})" if held.review == "rejected" and held.review_reason else ""
        return BadInput(f"reply {held.turn_id} is already {held.review}{why}: only a pending reply can be "
                        "approved or rejected")

    def _where(self, condition: str, params: list[Any], limit: int) -> list[HeldReply]:
        return [HeldReply.from_row(row) for row in self._rows(condition, params, limit)]

    def _rows(self, condition: str, params: list[Any], limit: int) -> list[dict[str, Any]]:
        owned, owner_params = self.jobs.owned("conversations.owner")
        with self.jobs.connect() as db:
            cursor = db.execute(
                "select turns.*, conversations.persona as persona, jobs.video_path as video_path, "
                "jobs.status as job_status, "
                "(select asked.content from turns asked where asked.conversation_id = turns.conversation_id "
                " and asked.role = 'user' and asked.seq < turns.seq order by asked.seq desc limit 1) as question "
                "from turns join conversations on conversations.id = turns.conversation_id "
                "left join jobs on jobs.id = turns.job_id "
                f"where {condition} and {owned} order by turns.created_at desc, turns.rowid desc limit ?",
                [*params, *owner_params, int(limit)])
            columns = [d[0] for d in cursor.description]
            return [dict(zip(columns, row)) for row in cursor]
