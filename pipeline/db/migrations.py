"""Every schema change of the studio's database, in the order it shipped.

``sqlite_utils``' ``Migrations`` records each applied function by name in ``_sqlite_migrations``
and applies the pending ones, in order, when the database is opened (``connection.open_database``).
The history is append-only: a migration that has shipped is never edited, renamed or reordered —
a database made by any release upgrades in place because of that — and a change to the schema is a
new function at the end, with a comment saying why. ``tests/test_db.py`` holds the shipped names.

The jobs table and its indexes come from m001, m003–m007 and m011 (captions); the chat tables (conversations, turns,
and the LLM answer cache) from m002, m007, m008 and m010 (replies held for review); personas'
knowledge from m008 and reports from m009, so one database holds everything a person did.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

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



@migrations()
def m008_knowledge(db: sqlite_utils.Database) -> None:
    # Personas that know things: the documents a persona was given (one row each, per owner and
    # persona; owner "" when made without users, so the name stays unique), their chunks, and the
    # chunks' words for BM25 (FTS5; rowid = chunk id; scope = owner + U+001F + persona). The chunks'
    # vectors live in a sqlite-vec table that only a connection with the extension loaded can make
    # (``knowledge.KnowledgeStore``). A chat turn keeps the sources its answer drew on.
    db["knowledge_sources"].create(
        {"id": int, "owner": str, "persona": str, "name": str, "kind": str, "sha256": str, "bytes": int,
         "pages": int, "chars": int, "chunks": int, "added_at": str},
        pk="id", not_null={"owner", "persona", "name", "added_at"}, defaults={"owner": ""},
    )
    db["knowledge_sources"].create_index(["owner", "persona", "name"], unique=True)
    db["knowledge_chunks"].create(
        {"id": int, "source_id": int, "scope": str, "ordinal": int, "locator": str, "text": str},
        pk="id", not_null={"source_id", "scope", "text"},
    )
    db["knowledge_chunks"].create_index(["source_id"])
    db.execute("create virtual table knowledge_fts using fts5(body, scope unindexed, tokenize='porter unicode61')")
    db["turns"].add_column("sources", str)  # JSON list of {source, locator, text}



@migrations()
def m009_reports(db: sqlite_utils.Database) -> None:
    # A reply reported as inaccurate: a copy of what was asked, answered and cited (the
    # conversation may be deleted later; the report stays readable), the reason, an optional
    # correction, and what became of it (open → noted, when the correction became a knowledge
    # note, or dismissed). Per owner ("" without users) and persona, newest first.
    db["reports"].create(
        {"id": str, "owner": str, "persona": str, "conversation_id": str, "turn_id": str, "question": str,
         "reply": str, "sources": str, "reason": str, "correction": str, "status": str, "note": str,
         "created_at": str, "updated_at": str},
        pk="id", not_null={"id", "owner", "persona", "turn_id", "reply", "status", "created_at"},
        defaults={"owner": "", "status": "open"},
    )
    db["reports"].create_index(["owner", "persona", "created_at"])


@migrations()
def m010_review(db: sqlite_utils.Database) -> None:
    # Replies held for the creator's review: an assistant turn of a conversation that holds its
    # replies is stored 'pending' (not spoken, not rendered) until it is 'approved' (then delivered
    # as its turn asked: ``requested_output``, JSON {output, controller}) or 'rejected' (with a
    # reason). An approved reply the creator edited keeps the model's words in ``original``.
    # A conversation's ``hold_replies`` is NULL to follow its persona, 1 to hold, 0 not to.
    # The queue is read per review status, newest first.
    for column in ("review", "review_reason", "reviewed_at", "original", "requested_output"):
        db["turns"].add_column(column, str)
    db["turns"].create_index(["review", "created_at"])
    db["conversations"].add_column("hold_replies", int)


@migrations()
def m011_captions(db: sqlite_utils.Database) -> None:
    # Every render gets captions (the captions stage, between enhance and encode): the job keeps
    # where its caption files are, how many cues, and where the words came from (``captions``,
    # JSON). The new stage's seconds are work too, so work_s is redefined over the new stage list
    # (the stats index has to go while its column changes, as in m006).
    db["jobs"].add_column("captions", str)
    db.execute("drop index if exists idx_jobs_stats")
    db.execute("alter table jobs drop column work_s")
    work = " + ".join(f"coalesce(json_extract(timings, '$.{stage}'), 0)" for stage in _WORK_STAGES_11)
    db.execute(f"alter table jobs add column work_s float generated always as ({work}) virtual")
    db["jobs"].create_index(["status", "backend", "created_at", "duration_s", "work_s"], index_name="idx_jobs_stats")


@migrations()
def m012_video_size(db: sqlite_utils.Database) -> None:
    # The size of the video a job made, [width, height] (JSON), read from the finished MP4: what a
    # job's "size" option asked for is the long side, and a framed format or a cropped group photo
    # makes another shape.
    db["jobs"].add_column("video_size", str)


@migrations()
def m013_batches(db: sqlite_utils.Database) -> None:
    # Batch renders: one row per batch file given (its rows as read, where the videos go, how it
    # runs), and every row's job points back at it (``batch_id``, ``batch_row`` counted from 1), so
    # the History can show one batch and a stopped batch knows which rows are finished.
    db["batches"].create(
        {"id": str, "created_at": str, "updated_at": str, "owner": str, "name": str, "source_sha256": str,
         "rows": str,  # JSON: the rows as read, one dict each (or the reason a row could not be read)
         "out_dir": str, "executor": str, "concurrency": int, "status": str, "pid": int, "finished_at": str},
        pk="id", not_null={"id", "created_at", "name", "status"},
    )
    db["batches"].create_index(["owner", "created_at"])
    db["batches"].create_index(["source_sha256"])
    db["jobs"].add_column("batch_id", str)
    db["jobs"].add_column("batch_row", int)
    db["jobs"].create_index(["batch_id", "batch_row"])


_WORK_STAGES = ("inputs", "speech", "analysis", "emotion", "control", "render", "encode")
_WORK_STAGES_6 = ("inputs", "speech", "analysis", "emotion", "control", "render", "enhance", "encode")
_WORK_STAGES_11 = ("inputs", "speech", "analysis", "emotion", "control", "render", "enhance", "captions", "encode")
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
