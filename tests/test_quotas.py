"""The per-user limits, counted from the job history at a fixed moment: renders per hour (when the
next one is possible), video seconds per UTC day, chat messages per minute, the wait limit, and
the settings that change them."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.db import ConversationStore, JobStore
from pipeline.errors import BadInput
from pipeline.quotas import Limits, QuotaExceeded, check_chat, check_render, check_waiting

NOW = dt.datetime(2026, 12, 6, 14, 30, tzinfo=dt.timezone.utc)


def _at(minutes_ago: float) -> str:
    return (NOW - dt.timedelta(minutes=minutes_ago)).isoformat(timespec="milliseconds")


@pytest.fixture
def stores(tmp_path):
    base = JobStore(tmp_path / "studio.db")
    return base.for_owner("ana"), base.for_owner("ben")


def test_renders_per_hour_say_when_the_next_one_is_possible(stores):
    ana, ben = stores
    for minutes_ago in (70, 50, 20):  # the first is outside the hour
        ana.create(created_at=_at(minutes_ago))
    limits = Limits(renders_per_hour=2, video_seconds_per_day=0)
    with pytest.raises(QuotaExceeded) as refused:
        check_render(ana, limits, now=NOW)
    assert str(refused.value) == ("You have started 2 renders in the last hour, the most this studio allows per "
                                  "user; try again in 10 min (at 14:40 UTC).")
    assert refused.value.retry_after_s == 600
    check_render(ben, limits, now=NOW)  # ben's count is his own
    check_render(ana, Limits(renders_per_hour=3, video_seconds_per_day=0), now=NOW)
    check_render(ana, Limits(renders_per_hour=0, video_seconds_per_day=0), now=NOW)  # 0: no limit


def test_video_seconds_per_day_start_again_at_midnight_utc(stores):
    ana, _ = stores
    ana.create(created_at=_at(60 * 15), duration_s=900.0)  # yesterday: not counted
    ana.create(created_at=_at(30), duration_s=500.0)
    ana.create(created_at=_at(10), duration_s=100.5)
    check_render(ana, Limits(renders_per_hour=0, video_seconds_per_day=601), now=NOW)
    with pytest.raises(QuotaExceeded, match=r"^You have made 11 min of video today, the most this studio allows per "
                                            r"user a day; try again in 9 h 30 min \(at 00:00 UTC\)\.$"):
        check_render(ana, Limits(renders_per_hour=0, video_seconds_per_day=600), now=NOW)


def test_chat_messages_per_minute_count_the_users_own(stores):
    ana, ben = stores
    mine, theirs = ConversationStore(ana), ConversationStore(ben)
    talk = mine.create(persona="jenniel", mode=None, title="t", llm="fake", model="m")
    other = theirs.create(persona="jenniel", mode=None, title="t", llm="fake", model="m")
    for seconds_ago in (50, 20):
        turn = mine.add_turn(talk.id, "user", "hi")
        mine.update_turn(turn.id, created_at=(NOW - dt.timedelta(seconds=seconds_ago)).isoformat())
        mine.add_turn(talk.id, "assistant", "hello")  # replies do not count
    theirs.add_turn(other.id, "user", "hi")
    with pytest.raises(QuotaExceeded, match=r"^You have sent 2 messages in the last minute, the most this studio "
                                            r"allows per user; try again in 10 s\.$"):
        check_chat(ana, Limits(chat_turns_per_minute=2), now=NOW)
    check_chat(ben, Limits(chat_turns_per_minute=2), now=NOW)


def test_the_wait_limit_names_what_it_stopped():
    check_waiting(1, Limits(queued_per_user=2))
    with pytest.raises(QuotaExceeded) as refused:
        check_waiting(1, Limits(queued_per_user=1))
    assert str(refused.value) == ("Your render did not start: you already have one piece of work (renders, chat turns, "
                                  "persona checks, document uploads, style learning or approvals) waiting or running, "
                                  "the most this studio allows per user; try again when it has finished.")
    with pytest.raises(QuotaExceeded, match=r"^Your document upload did not start: you already have 2 pieces of work "
                                            r"\(.*\) waiting or running, the most this studio allows per user; try "
                                            r"again when one has finished\.$"):
        check_waiting(2, Limits(queued_per_user=2), asked="knowledge")


def test_every_kind_of_waiting_work_can_be_refused_in_its_own_words():
    from studio.limits import KINDS

    said = set()
    for asked in KINDS:
        with pytest.raises(QuotaExceeded) as refused:
            check_waiting(1, Limits(queued_per_user=1), asked=asked)
        said.add(str(refused.value).split(":")[0])
    assert len(said) == len(KINDS)  # each says what it stopped, none another's words


def test_limits_come_from_the_environment():
    assert Limits.from_env({}) == Limits()
    assert Limits.from_env({"AVATAR_STUDIO_RENDERS_PER_HOUR": "5", "AVATAR_STUDIO_QUEUE_SIZE": "0"}) == \
        Limits(renders_per_hour=5, queue_size=0)
    with pytest.raises(BadInput, match="AVATAR_STUDIO_CHAT_TURNS_PER_MINUTE must be a whole number"):
        Limits.from_env({"AVATAR_STUDIO_CHAT_TURNS_PER_MINUTE": "lots"})
    with pytest.raises(BadInput, match="AVATAR_STUDIO_QUEUED_PER_USER must be between 0 and 1000000, got -1"):
        Limits.from_env({"AVATAR_STUDIO_QUEUED_PER_USER": "-1"})
