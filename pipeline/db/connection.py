"""The studio's SQLite database file: opening it the first time, and a connection per call.

``open_database`` is what every store does when it is made: it creates the data folder if need be,
switches the database to WAL (so a running render writes while the studio reads) and applies the
pending migrations. Several processes (the studio, CLI renders) and several threads may open a new
database at once, so one at a time does that, under an advisory lock on ``studio.db.lock`` (and a
thread lock, for platforms without ``fcntl``); the others then find nothing to do. A folder or file
that cannot be used becomes one ``DataFolderUnusable`` saying what to do (``unusable_store``).

``connect`` is the only way to a connection. Connections are cheap and never shared between
threads (Gradio runs handlers in threads), so each call opens its own and closes it; a busy
timeout lets a reader wait out a writer instead of failing.

Its ``atomic()`` blocks start with ``BEGIN IMMEDIATE``, taking the write lock before the first
read. A plain ``BEGIN`` reads first and asks for the write lock at the first write; under WAL, if
another connection wrote in between, SQLite cannot upgrade the now stale snapshot and fails at
once with "database is locked" — the busy timeout does not apply. A chat turn adding its reply
(read the next number, then insert) while a live reply records its job hit exactly that.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlite_utils

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; opening a brand-new database twice at once may race
    fcntl = None

from ..errors import DataFolderUnusable
from .migrations import migrations

BUSY_TIMEOUT_MS = 10_000
_opening = threading.Lock()  # threads of this process take turns even where fcntl is missing


def open_database(db_path: Path) -> list[str]:
    """Make ``db_path`` a ready database: in WAL mode, every migration applied. Returns the names of
    the migrations this call applied — none when the database was already up to date or another
    opener got there first."""
    db_path = Path(db_path)
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        with _opening, open(db_path.with_name(db_path.name + ".lock"), "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            with connect(db_path) as db:
                if db.journal_mode != "wal":
                    db.enable_wal()
                pending = [migration.name for migration in migrations.pending(db)]
                migrations.apply(db)
        return pending
    except (OSError, sqlite3.DatabaseError) as error:  # every command opens the store: one message for all
        raise unusable_store(db_path, error) from None


class _Database(sqlite_utils.Database):
    """sqlite-utils' database whose outermost ``atomic()`` takes the write lock first (see above)."""

    @contextmanager
    def atomic(self) -> Iterator[sqlite_utils.Database]:
        if self.conn.in_transaction:  # nested: sqlite-utils' savepoint
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.execute("COMMIT")


@contextmanager
def connect(db_path: Path) -> Iterator[sqlite_utils.Database]:
    """A connection of its own to the database at ``db_path``, closed when the block ends."""
    db = _Database(db_path)
    db.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    try:
        yield db
    finally:
        db.close()


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
