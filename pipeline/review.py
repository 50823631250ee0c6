"""The review queue: replies a persona (or a conversation) holds until its creator has read them.

A conversation that holds its replies (``chat.holds_replies``) stores each reply as a pending
assistant turn with the delivery it asked for, and neither speaks nor renders it. Here the
creator acts on them:

- ``pending`` lists the held replies — the question, the reply, its sources, conversation,
  persona and when — newest first, pending by default, or those approved, rejected, or all;
- ``approve`` delivers one as its turn asked: text needs nothing more, audio is spoken and video
  rendered exactly as the chat would have (``Chat.deliver``: a WAV beside the conversation, or a
  render job through the runner, linked to the turn). With ``text`` the creator's edit replaces
  the reply first; the model's words stay in ``original``. What can be checked before — the
  persona is still there, it has a portrait to animate — is checked before the reply leaves the
  queue, so a refused approval leaves it pending;
- ``reject`` closes one with a reason, which is required;
- ``set_hold`` changes whether a conversation holds its next replies (None: as its persona says).

Approving or rejecting a reply that is no longer pending is refused, saying what became of it.
A reply the creator rejected, or had to correct, is also dropped from the LLM answer cache, so
asking again asks the model again instead of repeating it. Everything is per owner: another
user's turn is "no chat turn" and another user's conversation "no conversation".
"""

from __future__ import annotations

from collections.abc import Callable

from .chat import Chat, ChatReply
from .db import Conversation, ConversationStore, JobStore
from .db.review import ALL, REVIEW_STATUSES, HeldReply, ReviewStore
from .errors import BadInput
from .reports import clean_text
from .settings import Settings

MAX_REASON = 2000
MAX_REPLY = 20_000  # an edited reply: the longest reply a chat asks for (4,096 tokens) with room to spare
STATUS_CHOICES = (*REVIEW_STATUSES, ALL)
Progress = Callable[[float, str], None]


def pending(settings: Settings, *, persona: str | None = None, status: str | None = "pending",
            owner: str | None = None, limit: int = 200) -> list[HeldReply]:
    """The owner's held replies (of ``persona``, or every persona's), newest first; ``status`` one of
    pending (the default), approved, rejected or all."""
    return ReviewStore(_jobs(settings, owner)).list(persona=persona or None, status=status or "pending", limit=limit)


def held_reply(settings: Settings, turn_id: str, *, owner: str | None = None) -> HeldReply:
    """The owner's held reply ``turn_id``, whatever became of it."""
    return ReviewStore(_jobs(settings, owner)).get(str(turn_id or ""))


def approve(settings: Settings, turn_id: str, *, text: str | None = None, owner: str | None = None,
            progress: Progress | None = None) -> HeldReply:
    """Approve the pending reply ``turn_id`` (``text``: the creator's edit of it) and deliver it as
    its turn asked; returns it approved, with its audio or render job and video."""
    progress = progress or (lambda fraction, message: None)
    jobs = _jobs(settings, owner)
    queue = ReviewStore(jobs)
    held = queue.get_pending(str(turn_id or ""))
    edited = clean_text(text, "edited reply", MAX_REPLY)
    chat = Chat(settings, jobs=jobs)
    persona = None
    if held.output in ("audio", "video"):
        persona = chat.personas.get(held.persona)  # deleted since? the store says so, and the reply stays pending
        if held.output == "video" and chat.personas.render_defaults(persona).portrait is None:
            raise BadInput(f"persona {persona.id} has no portrait to animate — add one in the Personas tab, "
                           "then approve the reply again")
    progress(0.0, "approving")
    approved = queue.settle(held.turn_id, "approved", text=edited)
    if approved.original is not None:
        chat.store.forget_answer(approved.original)
    if persona is not None:
        turn = chat.store.turn(approved.turn_id)
        chat.deliver(persona, turn, _reply_of(approved, turn), approved.output,
                     controller=approved.requested_output.get("controller"), progress=progress)
    progress(1.0, "done")
    return queue.get(approved.turn_id)


def reject(settings: Settings, turn_id: str, reason: str | None, *, owner: str | None = None) -> HeldReply:
    """Reject the pending reply ``turn_id`` for ``reason`` (required): it is never delivered, and
    later turns of its conversation do not see it."""
    queue = ReviewStore(_jobs(settings, owner))
    held = queue.get_pending(str(turn_id or ""))
    why = clean_text(reason, "reason", MAX_REASON)
    if not why:
        raise BadInput(f"say why reply {held.turn_id} is rejected: the reason is kept with it")
    rejected = queue.settle(held.turn_id, "rejected", reason=why)
    ConversationStore(queue.jobs).forget_answer(rejected.reply)
    return rejected


def set_hold(settings: Settings, conversation_id: str, hold: bool | None, *, owner: str | None = None) -> Conversation:
    """Whether the conversation holds its next replies: True, False, or None to follow its persona."""
    return ConversationStore(_jobs(settings, owner)).set_hold(str(conversation_id or ""), hold)


def requested_output(settings: Settings, turn_id: str, *, owner: str | None = None) -> str | None:
    """What approving ``turn_id`` would deliver ("text", "audio", "video"); None when it is not the
    owner's pending reply (the approval itself then says why)."""
    try:
        held = ReviewStore(_jobs(settings, owner)).get(str(turn_id or ""))
    except BadInput:
        return None
    return held.output if held.review == "pending" else None


def parse_hold(value: object) -> bool | None:
    """A hold setting as a script or a form sends it: true/false (or yes/no, hold/deliver, 1/0), and
    "" or None for "as the persona says"."""
    if value is None or isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("", "persona", "default"):
        return None
    if word in ("true", "yes", "1", "hold", "on"):
        return True
    if word in ("false", "no", "0", "deliver", "off"):
        return False
    raise BadInput(f"hold must be true (hold replies for review), false (deliver them) or '' (as the persona "
                   f"says), got {value!r}")


def _jobs(settings: Settings, owner: str | None) -> JobStore:
    return JobStore(settings.db_path).for_owner(owner)




def _reply_of(held: HeldReply, turn) -> ChatReply:
    """The approved reply in the shape ``Chat.deliver`` fills in."""
    return ChatReply(conversation_id=held.conversation_id, turn_id=held.turn_id, reply=held.reply,
                     persona=held.persona, mode=None, llm=turn.llm or "", model=turn.model or "", cached=turn.cached,
                     latency_s=turn.latency_s or 0.0, sources=held.sources, review="approved")
