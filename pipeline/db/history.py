"""The job history as the History tab, its API and the statistics ask for it: pages of jobs, and sums.

Finding. ``JobQuery`` (persona, backend, status, text, page, page_size) is checked once, where it is
built; ``list_jobs`` answers it with one query for the page and one count, newest first, of the
store's owner's jobs when it has one. Migration ``m005_history`` keeps that in milliseconds at
100 000 jobs: each filter has an index ending in ``created_at``, so a page is read off an index
already in order instead of sorting every match. "Text contains" (script, error or job id) looks
the substring up in an FTS5 trigram index (3 characters or more; shorter text scans the rows, still
correct) and uses the matches to filter that ordered index scan, so the cost stays bounded however
many scripts contain it. Paging is LIMIT/OFFSET: deep pages walk the index (page 500 of 20 skips
10 000 entries, a few ms — see ``bench/history.py``), cheaper to keep than keyset cursors behind a
page number.

Summing up. ``job_stats``: success rate per backend (done out of finished: done, failed,
interrupted), and the real-time factor — seconds of work (the sum of a job's stage timings) per
second of video — per backend and UTC day, duration-weighted, from done jobs. Both queries read one
covering index, which holds each job's seconds of work in a generated column.

Usage. ``jobs_started_since`` and ``video_seconds_since`` count what one owner asked of the studio
lately, for the per-user limits (``pipeline.quotas``), off the ``(owner, created_at)`` index.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import BadInput
from .jobs import STATUSES, JobStore, stamp

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200
SNIPPET = 80  # characters of script and error shown in a table row
TRIGRAM = 3  # the FTS index can answer substrings at least this long
SUMMARY_COLUMNS = "id, created_at, status, persona, backend, text, duration_s, error, error_stage"


# -- finding ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobQuery:
    """Which jobs to list: every filter is optional (None or "" means any); pages count from 1."""

    persona: str | None = None
    backend: str | None = None
    status: str | None = None
    text: str | None = None  # contained in the script, the error or the job id (any case)
    batch: str | None = None  # one batch's jobs (its id)
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    def __post_init__(self) -> None:
        for name in ("persona", "backend", "status", "text", "batch"):
            value = getattr(self, name)
            object.__setattr__(self, name, (str(value).strip() or None) if value is not None else None)
        if self.status is not None and self.status not in STATUSES:
            raise BadInput(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        object.__setattr__(self, "page", _whole("page", self.page, 1, None))
        object.__setattr__(self, "page_size", _whole("page size", self.page_size, 1, MAX_PAGE_SIZE))

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition and its parameters (``1`` when nothing is filtered)."""
        conditions, params = [], []
        for column in ("persona", "backend", "status"):
            if getattr(self, column) is not None:
                conditions.append(f"{column} = ?")
                params.append(getattr(self, column))
        if self.batch is not None:
            conditions.append("batch_id = ?")
            params.append(self.batch)
        if self.text is not None:
            if len(self.text) >= TRIGRAM:
                # "+rowid": the matches filter a scan of the filter's (or created_at's) index instead of
                # driving the query — else a substring in most scripts (say "ion") reads and sorts every
                # matching row, ~0.6 s at 100 000 jobs, where this stays under ~50 ms for any text
                conditions.append("+rowid in (select rowid from jobs_fts where jobs_fts match ?)")
                params.append('"' + self.text.replace('"', '""') + '"')  # one phrase = one substring
            else:
                pattern = "%" + self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                conditions.append("(text like ? escape '\\' or error like ? escape '\\' or id like ? escape '\\')")
                params.extend([pattern] * 3)
        return (" and ".join(conditions) or "1"), params


def _whole(name: str, value: Any, low: int, high: int | None) -> int:
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        raise BadInput(f"{name} must be a whole number, got {value!r}") from None
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadInput(f"{name} must be {bound}, got {number}")
    return number


@dataclass
class JobSummary:
    """One row of the jobs table."""

    job_id: str
    created_at: str
    status: str
    persona: str | None
    backend: str | None
    text: str | None
    duration_s: float | None
    error: str | None
    error_stage: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "JobSummary":
        return cls(job_id=row["id"], created_at=row["created_at"], status=row["status"], persona=row["persona"],
                   backend=row["backend"], text=_snippet(row["text"]), duration_s=row["duration_s"],
                   error=_snippet(row["error"]), error_stage=row["error_stage"])


def _snippet(text: str | None) -> str | None:
    if not text:
        return None
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


@dataclass
class JobPage:
    jobs: list[JobSummary]
    total: int  # jobs matching the filters, all pages
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    def to_dict(self) -> dict[str, Any]:
        return {"jobs": [asdict(job) for job in self.jobs], "total": self.total, "page": self.page,
                "pages": self.pages, "page_size": self.page_size}


def list_jobs(store: JobStore, query: JobQuery) -> JobPage:
    """One page of ``store``'s jobs (its owner's, in a studio with users) matching ``query``, newest
    first. A page past the end gives the last page."""
    where, params = query.where()
    owned, owner_params = store.owned()
    if owner_params:
        where, params = f"{owned} and {where}", [*owner_params, *params]
    with store.connect() as db:
        total = db.execute(f"select count(*) from jobs where {where}", params).fetchone()[0]
        page = min(query.page, max(1, -(-total // query.page_size)))
        cursor = db.execute(
            f"select {SUMMARY_COLUMNS} from jobs where {where} order by created_at desc, rowid desc limit ? offset ?",
            [*params, query.page_size, (page - 1) * query.page_size])
        columns = [d[0] for d in cursor.description]
        jobs = [JobSummary.from_row(dict(zip(columns, row))) for row in cursor]
    return JobPage(jobs=jobs, total=total, page=page, page_size=query.page_size)



# -- summing up ---------------------------------------------------------------------------------
@dataclass
class BackendSuccess:
    backend: str
    done: int
    failed: int
    interrupted: int
    success_rate: float  # done / (done + failed + interrupted); 0 when none finished


@dataclass
class DailyRTF:
    day: str  # UTC, YYYY-MM-DD
    backend: str
    jobs: int
    rtf: float  # seconds of work per second of video


@dataclass
class JobStats:
    success: list[BackendSuccess] = field(default_factory=list)
    rtf: list[DailyRTF] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stats_queries(since: str | None = None, owner: str | None = None) -> dict[str, tuple[str, list[Any]]]:
    """The two SQL queries behind ``job_stats`` (tests check their plans): both read
    ``idx_jobs_stats`` — status, backend, created_at, duration and work seconds (m005_history).
    With ``owner`` (a studio with users) they count only that user's jobs."""
    where, params = ("created_at >= ?", [since]) if since else ("1", [])
    if owner is not None:
        where, params = f"owner = ? and {where}", [owner, *params]
    return {
        "success": ("select backend, status, count(*) from jobs "
                    f"where {where} and backend is not null group by status, backend", params),  # index order
        "rtf": ("select substr(created_at, 1, 10) as day, backend, count(*), sum(work_s), sum(duration_s) from jobs "
                f"where {where} and status = 'done' and backend is not null and duration_s > 0 "
                "group by day, backend order by day, backend", params),
    }


def job_stats(store: JobStore, *, since: str | None = None) -> JobStats:
    """Success rate per backend and real-time factor per backend and day (jobs created ≥ ``since``,
    an ISO date or timestamp; all jobs when None) — of ``store``'s owner's jobs when it has one."""
    queries = stats_queries(since, store.owner)
    stats = JobStats()
    with store.connect() as db:
        counts: dict[str, dict[str, int]] = {}
        for backend, status, count in db.execute(*queries["success"]):
            counts.setdefault(backend, {})[status] = count
        for backend, by_status in sorted(counts.items()):
            done, failed, interrupted = (by_status.get(s, 0) for s in ("done", "failed", "interrupted"))
            finished = done + failed + interrupted
            stats.success.append(BackendSuccess(backend, done, failed, interrupted,
                                                round(done / finished, 4) if finished else 0.0))
        stats.rtf = [DailyRTF(day, backend, jobs, round(work / duration, 4))
                     for day, backend, jobs, work, duration in db.execute(*queries["rtf"]) if work and duration]
    return stats


# -- usage --------------------------------------------------------------------------------------
def jobs_started_since(store: JobStore, since: dt.datetime) -> tuple[int, str | None]:
    """How many of the owner's jobs were created at ``since`` or later (chat video replies are jobs
    too), and when the oldest of them was (None when there are none)."""
    owned, params = store.owned()
    with store.connect() as db:
        count, oldest = db.execute(f"select count(*), min(created_at) from jobs where {owned} and created_at >= ?",
                                   [*params, stamp(since)]).fetchone()
    return count, oldest


def video_seconds_since(store: JobStore, since: dt.datetime) -> float:
    """Seconds of video in the owner's jobs created at ``since`` or later."""
    owned, params = store.owned()
    with store.connect() as db:
        return db.execute(f"select coalesce(sum(duration_s), 0) from jobs where {owned} and created_at >= ?",
                          [*params, stamp(since)]).fetchone()[0]
