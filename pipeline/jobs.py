"""Job history in SQLite.

One row per job holds what a person would want to see later: inputs (text, audio and image paths
with their hashes), the controls proposed and the ones used, the emotion and its evidence, status,
error, per-stage timings and the output. The schema is built by named ``Migrations`` applied at
open; a shipped migration is never edited — add a new one saying why.

Connections are cheap and not shared between threads (Gradio runs handlers in threads), so
``JobStore`` opens a fresh ``sqlite_utils.Database`` per call. WAL mode lets a running render write
while the studio reads.

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
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; opening a brand-new database twice at once may race
    fcntl = None
from sqlite_utils.migrations import Migrations

from .errors import BadInput, DataFolderUnusable, JobNotFound
from .leftovers import process_alive

STATUSES = ("queued", "running", "done", "failed", "interrupted")
JSON_COLUMNS = ("controls_user", "controls_proposed", "controls_final", "emotion_evidence",
                "timings", "notes", "options", "controller_detail", "remote", "controls_ignored")

migrations = Migrations("avatar_studio")


@migrations()
def m001_jobs(db: sqlite_utils.Database) -> None:
    db["jobs"].create(
        {
            "id": str, "created_at": str, "started_at": str, "finished_at": str,
            "kind": str, "persona": str, "backend": str,
            "text": str, "audio_path": str, "audio_sha256": str,
            "image_path": str, "image_sha256": str,
            "options": str,  # JSON: voice, max_side, fps, seed
            "controls_user": str, "controls_proposed": str, "controls_final": str,  # JSON
            "controller": str,
            "emotion": str, "emotion_confidence": float, "emotion_evidence": str,
            "status": str, "stage": str, "error": str, "error_stage": str,
            "timings": str,  # JSON {stage: seconds} for finished stages, in order
            "notes": str,  # JSON list of things the user should know ("found 2 faces; …")
            "video_path": str, "duration_s": float, "pid": int,
        },
        pk="id",
        not_null={"id", "created_at", "kind", "status"},
        defaults={"status": "queued", "kind": "render"},
    )
    db["jobs"].create_index(["created_at"])
    db["jobs"].create_index(["status"])
    db["jobs"].create_index(["persona"])
    db["jobs"].create_index(["backend"])


@migrations()
def m002_chat(db: sqlite_utils.Database) -> None:
    # Conversations with a persona, their turns, and the cache of LLM answers (see conversations.py).
    db["conversations"].create(
        {"id": str, "created_at": str, "updated_at": str, "persona": str, "mode": str, "title": str,
         "llm": str, "model": str},
        pk="id", not_null={"id", "created_at", "persona"},
    )
    db["conversations"].create_index(["updated_at"])
    db["conversations"].create_index(["persona"])
    db["turns"].create(
        {"id": str, "conversation_id": str, "seq": int, "role": str, "content": str, "created_at": str,
         "llm": str, "model": str, "latency_s": float, "first_token_s": float,
         "tokens_in": int, "tokens_out": int, "cached": int, "trimmed_turns": int,
         "job_id": str, "audio_path": str, "error": str},
        pk="id", not_null={"id", "conversation_id", "seq", "role", "created_at"},
        foreign_keys=[("conversation_id", "conversations", "id")],
    )
    db["turns"].create_index(["conversation_id", "seq"], unique=True)
    db["turns"].create_index(["job_id"])
    db["llm_cache"].create(
        {"key": str, "created_at": str, "llm": str, "model": str, "text": str,
         "tokens_in": int, "tokens_out": int, "hits": int},
        pk="key", defaults={"hits": 0},
    )


@migrations()
def m003_controller_detail(db: sqlite_utils.Database) -> None:
    # The LLM controller records its raw answer and which path it took (llm, clamped, fallback).
    db["jobs"].add_column("controller_detail", str)


@migrations()
def m004_hosted_render(db: sqlite_utils.Database) -> None:
    # Hosted renderers (HeyGen, D-ID) record the vendor's id the moment the vendor returns it, so that a
    # resumed job polls that video instead of paying for a second one; ``remote`` keeps the vendor, its
    # status and the result URL as metadata, ``controls_ignored`` the controls that backend cannot honour.
    db["jobs"].add_column("remote_id", str)
    db["jobs"].add_column("remote", str)
    db["jobs"].add_column("controls_ignored", str)
    db["jobs"].create_index(["remote_id"])


@migrations()
def m005_history(db: sqlite_utils.Database) -> None:
    # The History tab pages through up to 100 000 jobs newest first, filtered by status, persona or
    # backend. An index per filter that ends in created_at lets SQLite read a filtered page straight
    # off the index (no sort of every matching row); they supersede m001's single-column ones.
    for column in ("status", "persona", "backend"):
        db.execute(f"drop index if exists idx_jobs_{column}")
        db["jobs"].create_index([column, "created_at"])
    # The real-time factor needs a job's seconds of work: the sum of its stage timings. Summing the
    # JSON of every job at each look at the stats costs ~0.3 s at 100 000 jobs; a generated column
    # kept in an index holds the sum, so the stats read that index, not the rows (~60 ms). The stages are
    # those of stages.STAGES when this was written (tests check they still match): a new stage needs
    # a migration that redefines work_s.
    work = " + ".join(f"coalesce(json_extract(timings, '$.{stage}'), 0)" for stage in _WORK_STAGES)
    db.execute(f"alter table jobs add column work_s float generated always as ({work}) virtual")
    db["jobs"].create_index(["status", "backend", "created_at", "duration_s", "work_s"], index_name="idx_jobs_stats")
    # "Text contains": an FTS5 trigram index over the script, the error and the id, so a substring of
    # 3+ characters is an index lookup instead of a scan of every script. External content (the
    # text lives once, in jobs), kept in step by triggers; updates that leave these columns alone
    # (status, timings — most of a job's writes) do not touch it.
    for statement in _FTS_SCHEMA:  # one by one: executescript would commit the migration's transaction
        db.execute(statement)


@migrations()
def m006_enhance_stage(db: sqlite_utils.Database) -> None:
    # The optional face-enhancer stage (between render and encode) counts as work too: work_s is
    # redefined over the new stage list (the stats index has to go while its column changes).
    db.execute("drop index if exists idx_jobs_stats")
    db.execute("alter table jobs drop column work_s")
    work = " + ".join(f"coalesce(json_extract(timings, '$.{stage}'), 0)" for stage in _WORK_STAGES_6)
    db.execute(f"alter table jobs add column work_s float generated always as ({work}) virtual")
    db["jobs"].create_index(["status", "backend", "created_at", "duration_s", "work_s"], index_name="idx_jobs_stats")


@migrations()
def m007_owners(db: sqlite_utils.Database) -> None:
    # Studios with users: every job and conversation belongs to the user who made it (NULL: made
    # without users — the CLI, a local studio). A user's History pages through their own jobs
    # newest first, and the chat list their own conversations, each read off an index.
    db["jobs"].add_column("owner", str)
    db["jobs"].create_index(["owner", "created_at"])
    db["conversations"].add_column("owner", str)
    db["conversations"].create_index(["owner", "updated_at"])


_WORK_STAGES = ("inputs", "speech", "analysis", "emotion", "control", "render", "encode")
_WORK_STAGES_6 = ("inputs", "speech", "analysis", "emotion", "control", "render", "enhance", "encode")
_FTS_SCHEMA = (
    """create virtual table jobs_fts using fts5(
           id, text, error, content='jobs', content_rowid='rowid', tokenize='trigram')""",
    "insert into jobs_fts(jobs_fts) values ('rebuild')",
    """create trigger jobs_fts_insert after insert on jobs begin
           insert into jobs_fts(rowid, id, text, error) values (new.rowid, new.id, new.text, new.error);
       end""",
    """create trigger jobs_fts_delete after delete on jobs begin
           insert into jobs_fts(jobs_fts, rowid, id, text, error)
               values ('delete', old.rowid, old.id, old.text, old.error);
       end""",
    """create trigger jobs_fts_update after update of id, text, error on jobs begin
           insert into jobs_fts(jobs_fts, rowid, id, text, error)
               values ('delete', old.rowid, old.id, old.text, old.error);
           insert into jobs_fts(rowid, id, text, error) values (new.rowid, new.id, new.text, new.error);
       end""",
)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


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


class JobStore:
    owner: str | None = None  # None: every job; a user name: only that user's (``for_owner``)

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        try:
            self._open()
        except (OSError, sqlite3.DatabaseError) as error:  # every command opens the store: one message for all
            raise unusable_store(self.db_path, error) from None

    def _open(self) -> None:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        # Several processes (the studio, CLI renders) may open a new database at once: one at a
        # time switches it to WAL and applies migrations, the others then find nothing to do.
        with open(self.db_path.with_name(self.db_path.name + ".lock"), "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            with self.connect() as db:
                if db.journal_mode != "wal":
                    db.enable_wal()
                migrations.apply(db)

    def for_owner(self, owner: str | None) -> "JobStore":
        """This store seen by ``owner``: only their rows (None: every row, this store as it is)."""
        if owner is None:
            return self
        scoped = copy.copy(self)
        scoped.owner = owner
        return scoped

    def owned(self, column: str = "owner") -> tuple[str, list[Any]]:
        """The SQL condition (and its parameters) that keeps a query to this store's owner."""
        return ("1", []) if self.owner is None else (f"{column} = ?", [self.owner])

    @contextmanager
    def connect(self) -> Iterator[sqlite_utils.Database]:
        db = sqlite_utils.Database(self.db_path)
        db.conn.execute("PRAGMA busy_timeout = 10000")
        try:
            yield db
        finally:
            db.close()

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


def unusable_store(db_path: Path, error: OSError | sqlite3.DatabaseError) -> DataFolderUnusable:
    """What to tell the person whose data folder or ``studio.db`` cannot be opened, and what to do."""
    detail = (error.strerror if isinstance(error, OSError) else str(error)) or type(error).__name__
    if isinstance(error, OSError):
        return DataFolderUnusable(f"the data folder {db_path.parent} cannot be written ({detail}) — set "
                                  "AVATAR_STUDIO_HOME to a folder this user can write")
    if isinstance(error, sqlite3.OperationalError):  # locked, read-only, a folder in its place: not damage
        return DataFolderUnusable(f"{db_path.name} at {db_path} cannot be opened ({detail}) — check that it is "
                                  "a file this user can write and that no other program holds it")
    return DataFolderUnusable(f"{db_path.name} at {db_path} is not a SQLite database ({detail}) — move it aside "
                              "and run again; a new one will be created")
