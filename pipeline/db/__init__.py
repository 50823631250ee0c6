"""The data layer: the studio's one SQLite database and everything that reads or writes it.

No other module holds SQL. The rest of the studio asks these stores and functions for data
(``Job``, ``Conversation``, ``Turn``, pages of job summaries, statistics) and never sees a
connection; ``tests/test_db.py`` checks that no SQL creeps in elsewhere.

* ``connection`` — opening the file the first time (data folder, WAL, a lock so one opener at a
  time applies the migrations, ``DataFolderUnusable`` when it cannot be used) and a connection per
  call, never shared between threads.
* ``migrations`` — every schema change in the order it shipped; append-only.
* ``jobs`` — ``Job`` and ``JobStore``: create, get, update, list, delete a job; the values a filter
  can take; jobs whose process died become interrupted.
* ``conversations`` — ``Conversation``, ``Turn``, ``ConversationStore`` and the LLM answer cache;
  how many messages an owner sent lately.
* ``review`` — ``HeldReply`` and ``ReviewStore``: replies held for the creator's review, listed
  with their questions and settled (approved or rejected) once.
* ``history`` — the job history as the History tab and the statistics ask for it: ``JobQuery`` →
  ``list_jobs`` → a ``JobPage`` of ``JobSummary`` rows, ``job_stats``; what an owner rendered lately.

Ownership is enforced here and nowhere else: a store made with ``for_owner(name)`` adds
``owner = ?`` to every query it makes (``JobStore.owned``), conversations and their turns
included, so a handler cannot forget it.
"""

import sys

# sqlite_utils imports pandas when it can, only to store pandas timestamps as text, which the
# studio never hands it; pandas (which Gradio installs) costs a third of a second of every CLI
# command's start. It is hidden while sqlite_utils is first imported, and importable again after.
if "sqlite_utils" not in sys.modules and "pandas" not in sys.modules:
    sys.modules["pandas"] = None  # type: ignore[assignment]  — makes `import pandas` raise ImportError
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["pandas"]

from .connection import connect, open_database, unusable_store  # noqa: E402
from .conversations import Conversation, ConversationStore, Turn, cache_key  # noqa: E402
from .history import (
    BackendSuccess, DailyRTF, JobPage, JobQuery, JobStats, JobSummary, job_stats, jobs_started_since, list_jobs,
    stats_queries, video_seconds_since,
)
from .jobs import STATUSES, Job, JobStore, new_job_id, now, stamp
from .migrations import migrations
from .review import REVIEW_STATUSES, HeldReply, ReviewStore

__all__ = [
    "REVIEW_STATUSES", "STATUSES", "BackendSuccess", "Conversation", "ConversationStore", "DailyRTF", "HeldReply",
    "Job", "JobPage", "JobQuery", "JobStats", "JobStore", "JobSummary", "ReviewStore", "Turn", "cache_key", "connect",
    "job_stats", "jobs_started_since", "list_jobs", "migrations", "new_job_id", "now", "open_database", "stamp", "stats_queries", "unusable_store",
    "video_seconds_since",
]
