"""Batches: one row per batch file given to ``app.py batch`` (or the studio's Batch section).

A batch keeps its rows as they were read (``rows``: one dict per row, or ``{"error": …}`` for a
row that could not be read), where its videos are copied (``out_dir``) and how it last ran
(``executor``, ``concurrency``, the driver's ``pid``). Each row becomes a normal job whose
``batch_id`` and ``batch_row`` point back here, so a batch's progress is read off its jobs: a row
is finished once its job is ``done`` or ``failed``, and resuming a batch runs the others.

Status: ``running`` while a driver works on it, ``stopped`` when stopped (or found with its driver
gone), ``finished`` once every row is finished. Like jobs, a store made with ``for_owner(name)``
sees only that owner's batches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadInput, JobNotFound
from ..leftovers import process_alive
from .connection import connect
from .jobs import OwnedStore, now

FINISHED = ("done", "failed")  # a row whose job is in one of these is not run again


@dataclass
class Batch:
    id: str
    created_at: str
    name: str
    status: str
    rows: list = field(default_factory=list)
    owner: str | None = None
    source_sha256: str | None = None
    out_dir: str | None = None
    executor: str | None = None
    concurrency: int | None = None
    pid: int | None = None
    updated_at: str | None = None
    finished_at: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Batch":
        values = {k: v for k, v in dict(row).items() if k in cls.__dataclass_fields__ and v is not None}
        values["rows"] = json.loads(values.get("rows") or "[]")
        return cls(**values)


@dataclass
class RowState:
    """One row of a batch as its job tells it (no job yet: ``job_id`` None, status ``waiting``)."""

    row: int
    job_id: str | None
    status: str
    error: str | None = None
    video: str | None = None
    stage: str | None = None


class BatchStore(OwnedStore):
    def create(self, batch_id: str, *, name: str, rows: list[dict], source_sha256: str, out_dir: str | None,
               executor: str, concurrency: int) -> Batch:
        """A new batch, ``stopped`` (nothing runs it yet)."""
        row = {"id": batch_id, "created_at": now(), "updated_at": now(), "name": name, "rows": json.dumps(rows),
               "source_sha256": source_sha256, "out_dir": out_dir, "executor": executor,
               "concurrency": concurrency, "status": "stopped"}
        if self.owner is not None:
            if not self.owner:
                raise BadInput("sign in first: every batch belongs to the user who starts it")
            row["owner"] = self.owner
        with connect(self.db_path) as db:
            db["batches"].insert(row)
        return self.get(batch_id)

    def get(self, batch_id: str) -> Batch:
        owned, params = self.owned()
        with connect(self.db_path) as db:
            rows = list(db["batches"].rows_where(f"id = ? and {owned}", [batch_id, *params]))
        if not rows:
            raise JobNotFound(f"no batch with id {batch_id!r} — `python app.py batch --list` lists them")
        return self._settled(Batch.from_row(rows[0]))

    def update(self, batch_id: str, **values: Any) -> None:
        owned, params = self.owned()
        values = {**values, "updated_at": now()}
        assignments = ", ".join(f"[{column}] = ?" for column in values)
        with connect(self.db_path) as db, db.atomic():
            cursor = db.execute(f"update batches set {assignments} where id = ? and {owned}",
                                [*values.values(), batch_id, *params])
            if cursor.rowcount == 0:
                raise JobNotFound(f"no batch with id {batch_id!r} — `python app.py batch --list` lists them")

    def list(self, *, limit: int = 50) -> list[Batch]:
        owned, params = self.owned()
        with connect(self.db_path) as db:
            rows = db["batches"].rows_where(owned, params, order_by="created_at desc, rowid desc", limit=limit)
            return [self._settled(Batch.from_row(row)) for row in rows]

    def latest_with_source(self, source_sha256: str) -> Batch | None:
        """The newest batch made from a file with this content (finished or not)."""
        owned, params = self.owned()
        with connect(self.db_path) as db:
            rows = list(db["batches"].rows_where(f"source_sha256 = ? and {owned}",
                                                 [source_sha256, *params], order_by="created_at desc", limit=1))
        return self._settled(Batch.from_row(rows[0])) if rows else None

    def _settled(self, batch: Batch) -> Batch:
        """A batch left ``running`` by a driver that is gone reads as ``stopped``."""
        if batch.status == "running" and not process_alive(batch.pid):
            batch.status = "stopped"
        return batch

    def rows(self, batch_id: str) -> list[RowState]:
        """Every row of the batch, in order, with its job's status (the newest job, should a row have
        had more than one)."""
        batch = self.get(batch_id)
        with connect(self.db_path) as db:
            jobs = db.execute("select batch_row, id, status, error, video_path, stage from jobs where batch_id = ? "
                              "order by created_at, rowid", [batch_id]).fetchall()
        by_row = {number: RowState(number, job_id, status, error, video, stage)
                  for number, job_id, status, error, video, stage in jobs}
        return [by_row.get(number, RowState(number, None, "waiting")) for number in range(1, len(batch.rows) + 1)]

    def counts(self, batch_id: str) -> dict[str, int]:
        """How many rows are in each state (``waiting`` for rows without a job yet)."""
        counts: dict[str, int] = {}
        for state in self.rows(batch_id):
            counts[state.status] = counts.get(state.status, 0) + 1
        return counts
