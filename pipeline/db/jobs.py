"""Jobs: one row per render, and the store that reads and writes them.

One row per job holds what a person would want to see later: inputs (text, audio and image paths
with their hashes), the controls proposed and the ones used, the emotion and its evidence, status,
error, per-stage timings and the output. JSON columns are encoded and decoded here, so the rest of
the studio deals in ``Job`` objects. Making a ``JobStore`` opens the database
(``connection.open_database``: WAL, the migrations), and each of its calls opens a connection of
its own, so one store is safe to use from Gradio's handler threads.

Status moves queued → running → done | failed | interrupted. A job whose process died while
``running`` (its pid is gone) is marked ``interrupted`` by ``mark_orphans_interrupted``, called at
start-up by the CLI and the studio.

Owners. In a studio with users every job (and conversation) has an ``owner``, and
``store.for_owner(name)`` is a store that sees, changes and creates only that owner's rows: every
query it makes carries ``owner = ?``, so another user's job is simply not there — the same
``JobNotFound`` a mistyped id gets. A store with no owner (the CLI, a studio without users) sees
every row, as it always did.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from ..errors import BadInput, JobNotFound
from ..leftovers import process_alive
from .connection import connect, open_database

STATUSES = ("queued", "running", "done", "failed", "interrupted")
JSON_COLUMNS = ("controls_user", "controls_proposed", "controls_final", "emotion_evidence",
                "timings", "notes", "options", "controller_detail", "remote", "controls_ignored", "captions",
                "video_size")


def now() -> str:
    return stamp(dt.datetime.now(dt.timezone.utc))


def stamp(moment: dt.datetime) -> str:
    """A moment as the database stores it (UTC ISO 8601 to the millisecond): stamps compare as text."""
    return moment.isoformat(timespec="milliseconds")


def new_job_id() -> str:
    """Sortable by creation time, short enough to type: ``20261121-173455-3f9a1c``."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


@dataclass
class Job:
    id: str
    status: str
    created_at: str
    kind: str = "render"
    persona: str | None = None
    backend: str | None = None
    text: str | None = None
    audio_path: str | None = None
    audio_sha256: str | None = None
    image_path: str | None = None
    image_sha256: str | None = None
    options: dict = field(default_factory=dict)
    controls_user: dict = field(default_factory=dict)
    controls_proposed: dict | None = None
    controls_final: dict | None = None
    controller: str | None = None
    controller_detail: dict | None = None
    emotion: str | None = None
    emotion_confidence: float | None = None
    emotion_evidence: dict | None = None
    stage: str | None = None
    error: str | None = None
    error_stage: str | None = None
    timings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    video_path: str | None = None
    duration_s: float | None = None
    started_at: str | None = None
    finished_at: str | None = None
    pid: int | None = None
    remote_id: str | None = None  # hosted renders: the vendor's video id, recorded before the first poll
    remote: dict | None = None  # hosted renders: vendor, API version, status, uploaded assets, result URL
    controls_ignored: list | None = None  # controls the job's renderer cannot honour
    owner: str | None = None  # the user who made it, in a studio with users
    captions: dict | None = None  # the caption files (vtt, srt), how many cues, where the words came from
    video_size: list | None = None  # [width, height] of the finished video, read from it
    batch_id: str | None = None  # the batch whose row made it (``batches.py``)
    batch_row: int | None = None  # that row's number in its batch file, from 1

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Job":
        values = dict(row)
        for column in JSON_COLUMNS:
            if values.get(column) is not None:
                values[column] = json.loads(values[column])
        values = {k: v for k, v in values.items() if k in cls.__dataclass_fields__ and v is not None}
        return cls(**values)

    def summary(self) -> dict[str, Any]:
        return {
            "job_id": self.id, "status": self.status, "created_at": self.created_at,
            "backend": self.backend, "persona": self.persona,
            "text": (self.text or "")[:60] or None, "video": self.video_path,
            "duration_s": self.duration_s, "error": self.error,
        }


def _encode(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.dumps(v) if k in JSON_COLUMNS and v is not None else v) for k, v in values.items()}


class OwnedStore:
    """A store of rows that belong to users: seen whole, or by one owner (``for_owner``)."""

    owner: str | None = None  # None: every row; a user name: only that user's (``for_owner``)

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        open_database(self.db_path)

    def for_owner(self, owner: str | None):
        """This store seen by ``owner``: only their rows (None: every row, this store as it is)."""
        if owner is None:
            return self
        scoped = copy.copy(self)
        scoped.owner = owner
        return scoped

    def owned(self, column: str = "owner") -> tuple[str, list[Any]]:
        """The SQL condition (and its parameters) that keeps a query to this store's owner."""
        return ("1", []) if self.owner is None else (f"{column} = ?", [self.owner])


class JobStore(OwnedStore):

    def connect(self) -> AbstractContextManager[sqlite_utils.Database]:
        """A connection of its own to this store's database (``connection.connect``)."""
        return connect(self.db_path)

    def create(self, **values: Any) -> Job:
        job_id = values.pop("id", None) or new_job_id()
        row = {"id": job_id, "created_at": now(), "status": "queued", **values}
        if self.owner is not None:
            if not self.owner:
                raise BadInput("sign in first: every job belongs to the user who starts it")
            row["owner"] = self.owner
        with self.connect() as db:
            db["jobs"].insert(_encode(row))
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        owned, params = self.owned()
        with self.connect() as db:
            rows = list(db["jobs"].rows_where(f"id = ? and {owned}", [job_id, *params]))
        if not rows:
            raise JobNotFound(f"no job with id {job_id!r} — `python app.py jobs` lists them")
        return Job.from_row(rows[0])

    def update(self, job_id: str, **values: Any) -> None:
        if not values:
            return
        owned, params = self.owned()
        encoded = _encode(values)
        assignments = ", ".join(f"[{column}] = ?" for column in encoded)
        with self.connect() as db, db.atomic():
            cursor = db.execute(f"update jobs set {assignments} where id = ? and {owned}",
                                [*encoded.values(), job_id, *params])
            if cursor.rowcount == 0:
                raise JobNotFound(f"no job with id {job_id!r} — `python app.py jobs` lists them")

    def list(self, *, limit: int = 50, offset: int = 0, status: str | None = None) -> list[Job]:
        owned, params = self.owned()
        where, params = (f"status = ? and {owned}", [status, *params]) if status else (owned, params)
        with self.connect() as db:
            rows = db["jobs"].rows_where(where, params, order_by="created_at desc, rowid desc",
                                         limit=limit, offset=offset)
            return [Job.from_row(row) for row in rows]

    def delete(self, job_id: str) -> None:
        """Remove a job's row. Chat turns that made it keep their text and lose the link (``job_id``
        becomes NULL), so a conversation never points at a job that is gone. The folder is the
        caller's (``history.delete_job``)."""
        owned, params = self.owned()
        with self.connect() as db, db.atomic():
            if not db.execute(f"select 1 from jobs where id = ? and {owned}", [job_id, *params]).fetchone():
                raise JobNotFound(f"no job with id {job_id!r} — `python app.py jobs` lists them")
            db.execute("update turns set job_id = null where job_id = ?", [job_id])
            db.execute("delete from jobs where id = ?", [job_id])

    def distinct(self, column: str) -> list[str]:
        """The values a filterable column takes (persona, backend, status), sorted; read off its index."""
        if column not in ("persona", "backend", "status"):
            raise ValueError(f"not a filterable column: {column}")
        owned, params = self.owned()
        with self.connect() as db:
            rows = db.execute(f"select distinct {column} from jobs where {column} is not null and {owned} order by 1",
                              params)
            return [row[0] for row in rows]

    def mark_orphans_interrupted(self) -> list[str]:
        """Jobs left queued/running by a process that no longer exists become ``interrupted``."""
        with self.connect() as db:
            rows = list(db["jobs"].rows_where("status in ('queued', 'running')", select="id, pid"))
            orphans = [row["id"] for row in rows if not process_alive(row["pid"])]
            with db.atomic():
                for job_id in orphans:
                    db["jobs"].update(job_id, {
                        "status": "interrupted", "finished_at": now(),
                        "error": "the process rendering this job stopped before it finished; resume it to continue",
                    })
        return orphans

