"""Per-user limits of a studio with users: how much one user may ask of a shared machine.

A studio with users (``--auth``, or Sign in with Hugging Face on a Space) checks these before an
event that renders or chats enters Gradio's queue; over a limit, the user gets one message saying
which limit and when to try again, and nothing is queued. A studio without users (the local
single creator) has none of them.

==========================================  =======  =============================================
environment variable                        default  what it limits
==========================================  =======  =============================================
``AVATAR_STUDIO_RENDERS_PER_HOUR``          30       renders a user starts in any 60 minutes (chat
                                                     video replies count)
``AVATAR_STUDIO_CHAT_TURNS_PER_MINUTE``     12       messages a user sends in any 60 seconds
``AVATAR_STUDIO_VIDEO_SECONDS_PER_DAY``     1800     seconds of video a user makes per UTC day
``AVATAR_STUDIO_QUEUED_PER_USER``           2        a user's renders, chat turns, persona checks,
                                                     document uploads, style learning and approvals
                                                     waiting or running at once
``AVATAR_STUDIO_QUEUE_SIZE``                64       events waiting in the whole studio's queue
==========================================  =======  =============================================

``0`` turns a limit off. The defaults suit a public Space on one GPU: a user can keep it busy
for a while, not all day. The checks are owner-scoped counts that the data layer makes of the job
history and the chat turns (``pipeline.db.history``, ``ConversationStore.messages_since``; indexes
``(owner, created_at)`` from ``m007_owners``): counting costs a few milliseconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Mapping

from .db import ConversationStore, JobStore, jobs_started_since, video_seconds_since
from .errors import BadInput

HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)
ENVIRONMENT = {
    "renders_per_hour": "AVATAR_STUDIO_RENDERS_PER_HOUR",
    "chat_turns_per_minute": "AVATAR_STUDIO_CHAT_TURNS_PER_MINUTE",
    "video_seconds_per_day": "AVATAR_STUDIO_VIDEO_SECONDS_PER_DAY",
    "queued_per_user": "AVATAR_STUDIO_QUEUED_PER_USER",
    "queue_size": "AVATAR_STUDIO_QUEUE_SIZE",
}
LARGEST = 1_000_000
STOPPED = {"render": "Your render did not start", "chat": "Your message was not sent",
           "check": "Your persona check did not start", "knowledge": "Your document upload did not start",
           "style": "Your style was not learned", "review": "Your approval did not start"}
WAITING_WORK = "renders, chat turns, persona checks, document uploads, style learning or approvals"


class QuotaExceeded(BadInput):
    """A user reached one of their limits; ``retry_after_s``: seconds until they may try again."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Limits:
    renders_per_hour: int = 30
    chat_turns_per_minute: int = 12
    video_seconds_per_day: int = 1800
    queued_per_user: int = 2
    queue_size: int = 64

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Limits":
        values = {}
        for field in fields(cls):
            variable = ENVIRONMENT[field.name]
            raw = (env.get(variable) or "").strip()
            if not raw:
                continue
            try:
                value = int(raw)
            except ValueError:
                raise BadInput(f"{variable} must be a whole number (0 turns the limit off), got {raw!r}") from None
            if not 0 <= value <= LARGEST:
                raise BadInput(f"{variable} must be between 0 and {LARGEST}, got {value}")
            values[field.name] = value
        return cls(**values)


def check_render(store: JobStore, limits: Limits, *, now: dt.datetime | None = None) -> None:
    """``QuotaExceeded`` when ``store``'s owner may not start another render now."""
    now = now or _now()
    if limits.renders_per_hour:
        count, oldest = jobs_started_since(store, now - HOUR)
        if count >= limits.renders_per_hour:
            wait = _parse(oldest) + HOUR - now
            raise QuotaExceeded(f"You have started {_count(count, 'render')} in the last hour, the most this studio "
                                f"allows per user; try again in {_span(wait)} (at {_clock(now + wait)}).",
                                _seconds(wait))
    if limits.video_seconds_per_day:
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        made = video_seconds_since(store, midnight)
        if made >= limits.video_seconds_per_day:
            wait = midnight + dt.timedelta(days=1) - now
            raise QuotaExceeded(f"You have made {_span(dt.timedelta(seconds=made))} of video today, the most this "
                                f"studio allows per user a day; try again in {_span(wait)} (at 00:00 UTC).",
                                _seconds(wait))


def check_batch(store: JobStore, limits: Limits, rows: int, *, now: dt.datetime | None = None) -> None:
    """``BadInput`` when a batch has more rows to render than ``store``'s owner may start this hour
    (each row is a render; refused before any of them starts)."""
    if not limits.renders_per_hour:
        return
    started, _ = jobs_started_since(store, (now or _now()) - HOUR)
    left = max(0, limits.renders_per_hour - started)
    if rows > left:
        raise BadInput(f"this batch has {rows} rows to render, and you may start {left} more renders this hour "
                       f"(this studio allows {limits.renders_per_hour} per user an hour): split the file, or run it "
                       "later")


def check_chat(store: JobStore, limits: Limits, *, now: dt.datetime | None = None) -> None:
    """``QuotaExceeded`` when ``store``'s owner may not send another chat message now."""
    if not limits.chat_turns_per_minute:
        return
    now = now or _now()
    count, oldest = ConversationStore(store).messages_since(now - MINUTE)
    if count >= limits.chat_turns_per_minute:
        wait = _parse(oldest) + MINUTE - now
        raise QuotaExceeded(f"You have sent {_count(count, 'message')} in the last minute, the most this studio "
                            f"allows per user; try again in {_span(wait)}.", _seconds(wait))


def check_waiting(waiting: int, limits: Limits, *, asked: str = "render") -> None:
    """``QuotaExceeded`` when a user already has ``waiting`` pieces of work (``WAITING_WORK``)
    queued or running; the message says what it stopped: ``asked``, one of
    ``STOPPED``'s kinds."""
    if limits.queued_per_user and waiting >= limits.queued_per_user:
        what = (f"one piece of work ({WAITING_WORK})" if waiting == 1 else
                f"{waiting} pieces of work ({WAITING_WORK})")
        raise QuotaExceeded(f"{STOPPED[asked]}: you already have {what} waiting or running, the most this studio "
                            f"allows per user; try again when {'it' if waiting == 1 else 'one'} has finished.")


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}" + ("" if number == 1 else "s")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _parse(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp)


def _seconds(span: dt.timedelta) -> float:
    return max(1.0, round(span.total_seconds()))


def _clock(moment: dt.datetime) -> str:
    return moment.strftime("%H:%M UTC")


def _span(span: dt.timedelta) -> str:
    """``42 s``, ``12 min``, ``5 h 12 min`` — rounded up, never "0 s"."""
    seconds = max(1, int(-(-span.total_seconds() // 1)))
    if seconds < 60:
        return f"{seconds} s"
    minutes = -(-seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
