"""Conversations, their turns, and the LLM answer cache, in the studio's SQLite database.

The tables come from the same ``Migrations`` as the jobs (``migrations.m002_chat``), so one
database holds everything a person did. A conversation belongs to one persona and one mode; its
turns are numbered (``seq``) in the order they were said. An assistant turn records the backend
and model that wrote it, its latency, tokens where the backend reported them, whether it came
from the cache, how many old turns were left out to fit the model's context, and the render job
or audio file made from it, and the passages of the persona's documents its answer was given
(``sources``: ``{source, locator, text}`` in the order the model saw them, JSON in the row). A turn
that failed keeps its error, so nothing the user typed is lost.

Review (``migrations.m010_review``): a conversation holds its replies for the creator's review when
its ``hold_replies`` says so (None: as its persona says). A held reply is an assistant turn with
``review`` "pending" and the delivery it asked for (``requested_output``); ``db.review`` lists and
settles them. An approved reply the creator edited keeps the model's words in ``original``.

The cache maps a hash of the exact request (backend, model, messages, sampling settings) to the
answer: asking the same question of the same persona with the same settings and history costs
nothing the second time. The passages a persona's documents gave are in the system prompt, so they
are part of the request: a document that changes what is found changes the key.

Like ``JobStore``, every call opens its own connection (Gradio runs handlers in threads), and a
store made over an owner's ``JobStore`` (``jobs.for_owner(name)``) sees only that owner's
conversations and their turns: another user's conversation id is "no conversation", whatever
is asked of it — read, continued, listed, or counted for the per-minute chat limit
(``messages_since``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import BadInput
from .jobs import JobStore, new_job_id, now, stamp


@dataclass
class Conversation:
    id: str
    created_at: str
    persona: str
    mode: str | None = None
    title: str | None = None
    llm: str | None = None
    model: str | None = None
    updated_at: str | None = None
    owner: str | None = None  # the user who started it, in a studio with users
    hold_replies: bool | None = None  # hold replies for review: None follows the persona

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Conversation":
        hold = row.get("hold_replies")
        return cls(**{**row, "hold_replies": None if hold is None else bool(hold)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Turn:
    id: str
    conversation_id: str
    seq: int
    role: str  # "user" or "assistant"
    content: str
    created_at: str
    llm: str | None = None
    model: str | None = None
    latency_s: float | None = None
    first_token_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cached: bool = False
    trimmed_turns: int | None = None
    job_id: str | None = None
    audio_path: str | None = None
    error: str | None = None
    sources: list[dict[str, str]] = field(default_factory=list)  # {source, locator, text}, as given to the model
    review: str | None = None  # None: delivered as written; "pending", "approved" or "rejected" when held
    review_reason: str | None = None  # why it was rejected
    reviewed_at: str | None = None
    original: str | None = None  # the model's words, when the creator edited the reply before approving it
    requested_output: dict[str, Any] | None = None  # a held reply's {output, controller}: what approving delivers

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Turn":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in row.items() if k in known and v is not None}
        values["cached"] = bool(values.get("cached"))
        values["sources"] = json.loads(values.get("sources") or "[]")
        if "requested_output" in values:
            values["requested_output"] = json.loads(values["requested_output"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_row(self) -> dict[str, Any]:
        return {**self.to_dict(), **_row_values(cached=self.cached, sources=self.sources,
                                                requested_output=self.requested_output)}


def _row_values(**values: Any) -> dict[str, Any]:
    """Turn values as their columns hold them: ``cached`` 0 or 1, ``sources`` and ``requested_output``
    JSON (NULL when none)."""
    if "cached" in values:
        values["cached"] = int(bool(values["cached"]))
    for name in ("sources", "requested_output"):
        if name in values:
            values[name] = json.dumps(values[name], ensure_ascii=False) if values[name] else None
    return values


def cache_key(**request: Any) -> str:
    """A stable hash of everything that decides an LLM's answer."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ConversationStore:
    def __init__(self, jobs: JobStore) -> None:
        self.jobs = jobs  # opening a JobStore applies every migration, the chat tables included

    def connect(self):
        return self.jobs.connect()

    def _owned(self) -> tuple[str, list[Any]]:
        return self.jobs.owned("conversations.owner")

    def _missing(self, conversation_id: str) -> BadInput:
        return BadInput(f"no conversation with id {conversation_id!r} — `python app.py conversations` lists them")

    # -- conversations ---------------------------------------------------------------------
    def create(self, *, persona: str, mode: str | None, title: str | None, llm: str | None,
               model: str | None, hold_replies: bool | None = None) -> Conversation:
        if self.jobs.owner == "":
            raise BadInput("sign in first: every conversation belongs to the user who starts it")
        conversation = Conversation(id="c" + new_job_id(), created_at=now(), persona=persona, mode=mode,
                                    title=title, llm=llm, model=model, owner=self.jobs.owner,
                                    hold_replies=hold_replies)
        conversation.updated_at = conversation.created_at
        with self.connect() as db:
            db["conversations"].insert(conversation.to_dict())
        return conversation

    def get(self, conversation_id: str) -> Conversation:
        owned, params = self._owned()
        with self.connect() as db:
            rows = list(db["conversations"].rows_where(f"id = ? and {owned}", [conversation_id, *params]))
        if not rows:
            raise self._missing(conversation_id)
        return Conversation.from_row(rows[0])

    def list(self, *, persona: str | None = None, limit: int = 50) -> list[Conversation]:
        owned, params = self._owned()
        where, params = (f"persona = ? and {owned}", [persona, *params]) if persona else (owned, params)
        with self.connect() as db:
            rows = db["conversations"].rows_where(where, params, order_by="updated_at desc, rowid desc", limit=limit)
            return [Conversation.from_row(row) for row in rows]

    def set_hold(self, conversation_id: str, hold: bool | None) -> Conversation:
        """Hold the conversation's next replies for review (True), deliver them (False), or follow
        its persona (None). Replies already held stay held until they are reviewed."""
        self.get(conversation_id)  # someone else's is not there
        with self.connect() as db:
            db["conversations"].update(conversation_id, {"hold_replies": None if hold is None else int(bool(hold))})
        return self.get(conversation_id)

    def touch(self, conversation_id: str, **values: Any) -> None:
        self.get(conversation_id)  # someone else's is not there
        with self.connect() as db:
            db["conversations"].update(conversation_id, {"updated_at": now(), **values})

    # -- turns -----------------------------------------------------------------------------
    def add_turn(self, conversation_id: str, role: str, content: str, **values: Any) -> Turn:
        owned, params = self._owned()
        with self.connect() as db, db.atomic():
            if not db.execute(f"select 1 from conversations where id = ? and {owned}",
                              [conversation_id, *params]).fetchone():
                raise self._missing(conversation_id)
            seq = db.execute("select coalesce(max(seq), 0) + 1 from turns where conversation_id = ?",
                             [conversation_id]).fetchone()[0]
            turn = Turn(id=f"t{seq}-{secrets.token_hex(3)}", conversation_id=conversation_id, seq=seq, role=role,
                        content=content, created_at=now(), **values)
            db["turns"].insert(turn.to_row())
        self.touch(conversation_id)
        return turn

    def update_turn(self, turn_id: str, **values: Any) -> None:
        self.turn(turn_id)  # someone else's is not there
        with self.connect() as db:
            db["turns"].update(turn_id, _row_values(**values))

    def turns(self, conversation_id: str) -> list[Turn]:
        return self._turns_where("turns.conversation_id = ?", [conversation_id])

    def turn(self, turn_id: str) -> Turn:
        found = self._turns_where("turns.id = ?", [turn_id])
        if not found:
            raise BadInput(f"no chat turn with id {turn_id!r}")
        return found[0]

    def persona_turns(self, persona: str, since: str | None = None) -> list[Turn]:
        """Every turn of the owner's conversations with ``persona`` (created at ``since`` or later),
        oldest first: what the persona's analytics are counted from."""
        condition, params = "conversations.persona = ?", [persona]
        if since:
            condition, params = condition + " and turns.created_at >= ?", [*params, since]
        return sorted(self._turns_where(condition, params), key=lambda turn: (turn.created_at, turn.seq))

    def _turns_where(self, condition: str, params: list[Any]) -> list[Turn]:
        owned, owner_params = self._owned()
        with self.connect() as db:
            cursor = db.execute(
                "select turns.* from turns join conversations on conversations.id = turns.conversation_id "
                f"where {condition} and {owned} order by turns.seq", [*params, *owner_params])
            columns = [d[0] for d in cursor.description]
            return [Turn.from_row(dict(zip(columns, row))) for row in cursor]

    def messages_since(self, since: dt.datetime) -> tuple[int, str | None]:
        """How many messages the owner sent (user turns, in any of their conversations) at ``since`` or
        later, and when the oldest of them was (None when there are none): the per-minute chat limit."""
        owned, params = self._owned()
        with self.connect() as db:
            count, oldest = db.execute(
                "select count(*), min(turns.created_at) from turns join conversations "
                f"on conversations.id = turns.conversation_id where {owned} and turns.role = 'user' "
                "and turns.created_at >= ?", [*params, stamp(since)]).fetchone()
        return count, oldest

    # -- cache -----------------------------------------------------------------------------
    def cached_answer(self, key: str) -> dict[str, Any] | None:
        with self.connect() as db:
            rows = list(db["llm_cache"].rows_where("key = ?", [key]))
            if rows:
                db.execute("update llm_cache set hits = hits + 1 where key = ?", [key])
                db.conn.commit()
        return rows[0] if rows else None

    def remember_answer(self, key: str, *, llm: str, model: str, text: str, tokens_in: int | None,
                        tokens_out: int | None) -> None:
        with self.connect() as db:
            db["llm_cache"].upsert({"key": key, "created_at": now(), "llm": llm, "model": model, "text": text,
                                    "tokens_in": tokens_in, "tokens_out": tokens_out}, pk="key")

    def forget_answer(self, text: str) -> int:
        """Drop every cached answer that reads ``text`` (surrounding white space aside): a reply the
        creator rejected or had to correct is asked of the model again, never served from the cache.
        The cache holds no owner column; another owner's identical answer is only asked again too."""
        with self.connect() as db, db.atomic():
            cursor = db.execute("delete from llm_cache where trim(text, ?) = ?", [_BLANKS, text.strip()])
        return cursor.rowcount


_BLANKS = " \t\r\n"
