"""Personas' knowledge in the studio's database: sources, chunks, their words and their vectors.

Tables (``migrations.m008_knowledge``): ``knowledge_sources`` (one row per document a persona was
given: owner, persona, name, kind, size, pages, chunk count), ``knowledge_chunks`` (each passage
with where it is in its document), ``knowledge_fts`` (FTS5 over each chunk's heading and text,
for BM25; its rowid is the chunk's id) and ``knowledge_vectors`` — a ``vec0`` table of
sqlite-vec, one unit vector per chunk, compared by cosine distance. ``vec0`` is a loadable
extension and not every Python's ``sqlite3`` can load one (the one this project is tested on
cannot), so this module talks to the same file through ``apsw``, which bundles its own SQLite
with extension loading on every platform; the vector table is made on its first connection.

Every query is scoped to one owner and one persona (``scope`` = owner + U+001F + persona; owner
"" when the studio has no users), so one user's documents never answer another's questions.
Replacing a source is one transaction: its old chunks, words and vectors go and the new ones
come in together, or nothing changes.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import BackendUnavailable
from .connection import BUSY_TIMEOUT_MS, open_database

DIMENSIONS = 256  # the embedding model's (knowledge/embed.py)
_VECTOR_TABLE = (f"create virtual table if not exists knowledge_vectors using vec0(chunk_id integer primary key, "
                 f"scope text partition key, embedding float[{DIMENSIONS}] distance_metric=cosine)")


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
        self.db_path = Path(db_path)
        self.owner = owner or ""
        open_database(self.db_path)  # the migrations, m008 included

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        try:
            import apsw
            import sqlite_vec
        except ImportError as error:
            raise BackendUnavailable(f"knowledge needs the apsw and sqlite-vec packages ({error}) — "
                                     "pip install -r requirements.txt") from None
        connection = apsw.Connection(str(self.db_path))
        try:
            connection.set_busy_timeout(BUSY_TIMEOUT_MS)
            connection.enable_load_extension(True)
            connection.load_extension(sqlite_vec.loadable_path())
            connection.enable_load_extension(False)
            connection.execute(_VECTOR_TABLE)
            yield connection
        finally:
            connection.close()

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
