"""Personas' knowledge: sources, chunks, their words and their vectors, in ``knowledge.db``.

Tables: ``knowledge_sources`` (one row per document a persona was given: owner, persona, name,
kind, size, pages, chunk count), ``knowledge_chunks`` (each passage with where it is in its
document), ``knowledge_fts`` (FTS5 over each chunk's heading and text, for BM25; its rowid is the
chunk's id) and ``knowledge_vectors`` — a ``vec0`` table of sqlite-vec, one unit vector per
chunk, compared by cosine distance. ``vec0`` is a loadable extension and not every Python's
``sqlite3`` can load one (the one this project is tested on cannot), so this module uses
``apsw``, which bundles its own SQLite with extension loading on every platform.

**Its own file**, ``knowledge.db`` beside ``studio.db`` (``knowledge_path``), touched by nothing
but this module. apsw's SQLite is a second copy of SQLite in the process, and two copies must
never open one file: SQLite keeps its locks between connections of one process in the library's
own memory, so connections of two copies do not see each other's — when apsw's last connection
to ``studio.db`` closed, it checkpointed and removed the write-ahead log under the studio's open
connections ("file is not a database", "database disk image is malformed": two live replies at
once did it; SQLite's "How To Corrupt An SQLite Database File", §2.2.1). The knowledge was first
kept in ``studio.db`` (``migrations.m008_knowledge``, whose tables stay there, unused); a studio
that has documents there moves them on first use (``pipeline.knowledge.move_old_knowledge``).
The schema is made the first time the file is opened (``user_version`` 1).

Every query is scoped to one owner and one persona (``scope`` = owner + U+001F + persona; owner
"" when the studio has no users), so one user's documents never answer another's questions.
Replacing a source is one transaction: its old chunks, words and vectors go and the new ones
come in together, or nothing changes.
"""

from __future__ import annotations

import datetime as dt
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import BackendUnavailable
from .connection import BUSY_TIMEOUT_MS

DIMENSIONS = 256  # the embedding model's (knowledge/embed.py)
KNOWLEDGE_FILE = "knowledge.db"
_SCHEMA = (
    "create table if not exists knowledge_sources (id integer primary key, owner text not null default '', "
    "persona text not null, name text not null, kind text, sha256 text, bytes integer, pages integer, "
    "chars integer, chunks integer, added_at text not null)",
    "create unique index if not exists knowledge_sources_owner_persona_name "
    "on knowledge_sources (owner, persona, name)",
    "create table if not exists knowledge_chunks (id integer primary key, source_id integer not null, "
    "scope text not null, ordinal integer, locator text, text text not null)",
    "create index if not exists knowledge_chunks_source_id on knowledge_chunks (source_id)",
    "create virtual table if not exists knowledge_fts using fts5(body, scope unindexed, "
    "tokenize='porter unicode61')",
    f"create virtual table if not exists knowledge_vectors using vec0(chunk_id integer primary key, "
    f"scope text partition key, embedding float[{DIMENSIONS}] distance_metric=cosine)",
)
_made: set[str] = set()  # knowledge files whose schema this process has seen made
_making = threading.Lock()


def knowledge_path(db_path: Path) -> Path:
    """The knowledge file of the studio database at ``db_path``: ``knowledge.db`` beside it."""
    return Path(db_path).with_name(KNOWLEDGE_FILE)


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    bytes: int
    pages: int | None
    chars: int
    chunks: int
    added_at: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StoredChunk:
    id: int
    source: str
    locator: str
    text: str


def scope_of(owner: str | None, persona: str) -> str:
    return f"{owner or ''}\x1f{persona}"


class KnowledgeStore:
    """One owner's knowledge (None or "": the studio without users), per persona."""

    def __init__(self, db_path: Path, owner: str | None = None) -> None:
        """``db_path``: the studio's database (``studio.db``); the knowledge is in the file beside it."""
        self.path = knowledge_path(db_path)
        self.owner = owner or ""

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        try:
            import apsw
            import sqlite_vec
        except ImportError as error:
            raise BackendUnavailable(f"knowledge needs the apsw and sqlite-vec packages ({error}) — "
                                     "pip install -r requirements.txt") from None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = apsw.Connection(str(self.path))
        try:
            connection.set_busy_timeout(BUSY_TIMEOUT_MS)
            connection.enable_load_extension(True)
            connection.load_extension(sqlite_vec.loadable_path())
            connection.enable_load_extension(False)
            self._make_schema(connection)
            yield connection
        finally:
            connection.close()

    def _make_schema(self, connection: Any) -> None:
        """The tables, once per file (a file deleted and made again is made again: ``user_version``)."""
        key = str(self.path.resolve())
        if key in _made and connection.execute("pragma user_version").fetchone()[0] == 1:
            return
        with _making:
            if connection.execute("pragma journal_mode").fetchone()[0] != "wal":
                connection.execute("pragma journal_mode=wal")
            with connection:
                for statement in _SCHEMA:
                    connection.execute(statement)
                connection.execute("pragma user_version = 1")
            _made.add(key)

    # -- writing ----------------------------------------------------------------------------
    def replace_source(self, persona: str, *, name: str, kind: str, sha256: str, size: int, pages: int | None,
                       chars: int, chunks: Sequence[tuple[str, str]], vectors: np.ndarray) -> Source:
        """Store ``name`` for ``persona`` with its chunks ((locator, text) in order) and their
        vectors, replacing what was stored under that name before — all or nothing."""
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        scope = scope_of(self.owner, persona)
        added = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        with self._connect() as db, db:  # the second "with": one transaction
            self._delete(db, persona, name)
            db.execute("insert into knowledge_sources (owner, persona, name, kind, sha256, bytes, pages, chars, "
                       "chunks, added_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (self.owner, persona, name, kind, sha256, int(size), pages, int(chars), len(chunks), added))
            source_id = db.last_insert_rowid()
            for ordinal, ((locator, text), vector) in enumerate(zip(chunks, vectors)):
                db.execute("insert into knowledge_chunks (source_id, scope, ordinal, locator, text) "
                           "values (?, ?, ?, ?, ?)", (source_id, scope, ordinal, locator, text))
                chunk_id = db.last_insert_rowid()
                db.execute("insert into knowledge_fts (rowid, body, scope) values (?, ?, ?)",
                           (chunk_id, f"{locator}\n{text}", scope))
                db.execute("insert into knowledge_vectors (chunk_id, scope, embedding) values (?, ?, ?)",
                           (chunk_id, scope, np.asarray(vector, np.float32).tobytes()))
        return Source(name, kind, int(size), pages, int(chars), len(chunks), added, sha256)

    def remove(self, persona: str, name: str) -> bool:
        """Forget the source ``name`` of ``persona``: True when there was one."""
        with self._connect() as db, db:
            return self._delete(db, persona, name)

    def remove_all(self, persona: str) -> int:
        """Forget every source of ``persona`` (a persona deleted for good); how many there were."""
        with self._connect() as db, db:
            names = [name for (name,) in db.execute(
                "select name from knowledge_sources where owner = ? and persona = ?", (self.owner, persona)).fetchall()]
            for name in names:
                self._delete(db, persona, name)
        return len(names)

    def _delete(self, db: Any, persona: str, name: str) -> bool:
        row = db.execute("select id from knowledge_sources where owner = ? and persona = ? and name = ?",
                         (self.owner, persona, name)).fetchone()
        if row is None:
            return False
        chunk_ids = [chunk_id for (chunk_id,) in db.execute(
            "select id from knowledge_chunks where source_id = ?", (row[0],)).fetchall()]
        for chunk_id in chunk_ids:
            db.execute("delete from knowledge_fts where rowid = ?", (chunk_id,))
            db.execute("delete from knowledge_vectors where chunk_id = ?", (chunk_id,))
        db.execute("delete from knowledge_chunks where source_id = ?", (row[0],))
        db.execute("delete from knowledge_sources where id = ?", (row[0],))
        return True

    # -- reading ----------------------------------------------------------------------------
    def sources(self, persona: str) -> list[Source]:
        with self._connect() as db:
            rows = db.execute("select name, kind, bytes, pages, chars, chunks, added_at, sha256 from "
                              "knowledge_sources where owner = ? and persona = ? order by name",
                              (self.owner, persona)).fetchall()
        return [Source(*row) for row in rows]

    def source(self, persona: str, name: str) -> Source | None:
        return next((source for source in self.sources(persona) if source.name == name), None)

    def chunk_count(self, persona: str) -> int:
        with self._connect() as db:
            (count,) = db.execute("select count(*) from knowledge_chunks where scope = ?",
                                  (scope_of(self.owner, persona),)).fetchone()
        return int(count)

    def by_words(self, persona: str, match: str, limit: int) -> list[tuple[int, float]]:
        """(chunk id, BM25 score: higher is better) for an FTS5 ``match`` expression, best first."""
        with self._connect() as db:
            rows = db.execute("select rowid, -bm25(knowledge_fts) from knowledge_fts where knowledge_fts match ? "
                              "and scope = ? order by bm25(knowledge_fts) limit ?",
                              (match, scope_of(self.owner, persona), int(limit))).fetchall()
        return [(int(chunk_id), float(score)) for chunk_id, score in rows]

    def by_vector(self, persona: str, vector: np.ndarray, limit: int) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the ``limit`` nearest chunks, best first."""
        with self._connect() as db:
            rows = db.execute("select chunk_id, distance from knowledge_vectors where embedding match ? and k = ? "
                              "and scope = ?", (np.asarray(vector, np.float32).tobytes(), int(limit),
                                                scope_of(self.owner, persona))).fetchall()
        return [(int(chunk_id), 1.0 - float(distance)) for chunk_id, distance in rows]

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        with self._connect() as db:
            rows = db.execute(f"select c.id, s.name, c.locator, c.text from knowledge_chunks c join knowledge_sources s "
                              f"on s.id = c.source_id where c.id in ({marks}) and s.owner = ?",
                              (*map(int, ids), self.owner)).fetchall()
        return {int(row[0]): StoredChunk(int(row[0]), row[1], row[2] or "", row[3]) for row in rows}


# -- knowledge kept in studio.db before it had a file of its own (see the module docstring) ---------
@dataclass(frozen=True)
class OldSource:
    id: int
    owner: str
    persona: str
    name: str
    kind: str
    sha256: str
    bytes: int
    pages: int | None
    chars: int
    chunks: list[tuple[str, str]]  # (locator, text), in order


def old_sources(db_path: Path) -> list[OldSource]:
    """The documents still in the studio database's own knowledge tables, with their chunks, read
    with the studio's own SQLite (never apsw: see the module docstring)."""
    from .connection import connect

    if not Path(db_path).is_file():
        return []
    with connect(db_path) as db:
        if not db["knowledge_sources"].exists():
            return []
        found = []
        for row in db.execute("select id, owner, persona, name, kind, sha256, bytes, pages, chars "
                              "from knowledge_sources order by id").fetchall():
            chunks = db.execute("select locator, text from knowledge_chunks where source_id = ? order by ordinal",
                                [row[0]]).fetchall()
            found.append(OldSource(*row[:8], chars=row[8] or 0, chunks=[(loc or "", text) for loc, text in chunks]))
        return found


def forget_old_source(db_path: Path, source_id: int) -> None:
    """Delete a moved document from the studio database's old tables (its words and chunks too;
    its vectors stay in the old ``vec0`` table, which only the extension could touch — unused)."""
    from .connection import connect

    with connect(db_path) as db, db.atomic():
        for (chunk_id,) in db.execute("select id from knowledge_chunks where source_id = ?", [source_id]).fetchall():
            db.execute("delete from knowledge_fts where rowid = ?", [chunk_id])
        db.execute("delete from knowledge_chunks where source_id = ?", [source_id])
        db.execute("delete from knowledge_sources where id = ?", [source_id])
