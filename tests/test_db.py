"""The data layer's own promises: the migration history is append-only, a new database is migrated
once however many openers race for it (threads or processes), it runs in WAL mode, and no module
outside ``pipeline/db/`` holds SQL or talks to SQLite."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import threading
from pathlib import Path

from conftest import ROOT
from pipeline.db import JobStore, connect, migrations, open_database

# Every migration that has shipped, in order. A new one is appended here and at the end of
# pipeline/db/migrations.py; none of these is ever renamed, removed or reordered.
SHIPPED = ["m001_jobs", "m002_chat", "m003_controller_detail", "m004_hosted_render", "m005_history",
           "m006_enhance_stage", "m007_owners", "m008_knowledge",
           "m009_reports", "m010_review", "m011_captions", "m012_video_size", "m013_batches"]

# Where the studio's code lives; pipeline/db/ is the one place allowed to hold SQL.
CODE = ("pipeline", "studio", "personas", "cli", "app.py")
DATA_LAYER = ROOT / "pipeline" / "db"
SQL = re.compile(r"\bselect\b.*\bfrom\s+\w+|\binsert\s+(or\s+\w+\s+)?into\s+\w+|\bupdate\s+\w+\s+set\b"
                 r"|\bdelete\s+from\s+\w+|\bcreate\s+(virtual\s+)?(table|index|trigger)\b|\bpragma\s+\w+"
                 r"|\bexplain\s+query\s+plan\b", re.IGNORECASE | re.DOTALL)
SQLITE_MODULES = ("sqlite3", "sqlite_utils")
SQLITE_CALLS = ("execute", "executemany", "executescript", "rows_where")


def test_the_migration_history_is_the_shipped_one_in_order(tmp_path):
    assert [migration.name for migration in migrations._migrations] == SHIPPED, (
        "shipped migrations are never renamed, removed or reordered: append a new one instead")
    store = JobStore(tmp_path / "studio.db")
    with store.connect() as db:
        assert [applied.name for applied in migrations.applied(db)] == SHIPPED


def test_two_threads_opening_a_new_database_at_once_migrate_it_once(tmp_path):
    path = tmp_path / "home" / "studio.db"
    start = threading.Barrier(2)
    applied: list[list[str]] = []
    errors: list[BaseException] = []

    def open_it() -> None:
        start.wait()
        try:
            applied.append(open_database(path))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(applied, key=len) == [[], SHIPPED], "one opener migrates, the other finds nothing to do"
    with connect(path) as db:
        names = [row[0] for row in db.execute("select name from _sqlite_migrations order by id")]
    assert names == SHIPPED


def test_processes_opening_a_new_database_at_once_migrate_it_once(tmp_path):
    path = tmp_path / "studio.db"
    script = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from pipeline.db import open_database; "
              f"print(len(open_database({str(path)!r})))")
    openers = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(3)]
    results = [opener.communicate(timeout=60) for opener in openers]
    assert [opener.returncode for opener in openers] == [0, 0, 0], [err for _, err in results]
    assert sorted(int(out) for out, _ in results) == [0, 0, len(SHIPPED)]


def test_the_database_runs_in_wal_mode(tmp_path):
    JobStore(tmp_path / "studio.db")
    with connect(tmp_path / "studio.db") as db:
        assert db.journal_mode == "wal"  # a render writes while the studio reads
        assert db.execute("pragma busy_timeout").fetchone()[0] >= 1000  # a reader waits out a writer


def _code_files() -> list[Path]:
    files = []
    for name in CODE:
        place = ROOT / name
        files += [place] if place.is_file() else sorted(place.rglob("*.py")) if place.is_dir() else []
    return [path for path in files if DATA_LAYER not in path.parents]


def _strings(tree: ast.AST):
    """(line, text) of every string in the code that is not a docstring; an f-string's
    placeholders read as ``{}``, so ``f"select {columns} from jobs"`` is still a query."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    in_fstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            in_fstrings.update(id(value) for value in node.values)
            yield node.lineno, "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                and id(node) not in in_fstrings):
            yield node.lineno, node.value


def test_no_sql_outside_the_data_layer():
    files = _code_files()
    assert len(files) > 30, "the scan found the studio's code"
    found = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(ROOT)
        found += [f"{where}:{line}: {text[:70]!r}" for line, text in _strings(tree) if SQL.search(text)]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [f"{where}:{node.lineno}: imports {alias.name}" for alias in node.names
                          if alias.name.split(".")[0] in SQLITE_MODULES]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in SQLITE_MODULES:
                found.append(f"{where}:{node.lineno}: imports from {node.module}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQLITE_CALLS:
                found.append(f"{where}:{node.lineno}: calls .{node.func.attr}()")
    assert found == [], "SQL belongs in pipeline/db/ (ask the data layer for what you need):\n" + "\n".join(found)


def test_the_sql_check_finds_a_query():
    """The scan above would see the shapes of query this codebase writes."""
    tree = ast.parse('table = "jobs"\nsql = f"select {columns} from jobs where {owned}"\n'
                     'other = "delete from turns where id = ?"\nlabel = "Pick the persona from the list"\n')
    assert [line for line, text in _strings(tree) if SQL.search(text)] == [2, 3]


def test_read_then_write_blocks_wait_for_other_writers_instead_of_failing(tmp_path):
    """An ``atomic()`` block that reads before it writes (a chat turn numbering its reply) while
    other threads write (a live reply recording its job): with a plain BEGIN, SQLite fails such a
    block at once with "database is locked"; ``connect``'s blocks take the write lock first."""
    import threading

    from pipeline.db.connection import connect

    path = tmp_path / "studio.db"
    store = JobStore(path)
    errors: list[BaseException] = []

    def numbered_inserts(name: str) -> None:
        try:
            for k in range(60):
                with connect(path) as db, db.atomic():
                    count = db.execute("select count(*) from jobs").fetchone()[0]
                    db.execute("insert into jobs (id, created_at, status, text) values (?, ?, ?, ?)",
                               [f"{name}-{k}", "2026-12-06T00:00:00", "done", str(count)])
        except BaseException as error:  # noqa: BLE001 — reported by the assertion below
            errors.append(error)

    def plain_writes() -> None:
        try:
            for _ in range(60):
                store.create(kind="render", status="queued")
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=numbered_inserts, args=(name,)) for name in "ab"]
    threads.append(threading.Thread(target=plain_writes))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.list(limit=500)) == 180
