"""A persona's knowledge: real files in, real FTS5 and sqlite-vec in the studio's own database,
the bundled WordLlama model, the command line end to end, and retrieval quality measured on
documents this project did not write (the Python standard library's own documentation).
"""

from __future__ import annotations

import importlib
import json
import os
import pydoc
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.db.knowledge import KNOWLEDGE_FILE, knowledge_path, old_sources
from pipeline.errors import BadInput
from pipeline.knowledge import Knowledge, match_expression, move_old_knowledge

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = json.loads((ROOT / "tests" / "data" / "stdlib_questions.json").read_text())

HANDBOOK = """# Staff handbook

## Holidays

Every employee has 28 days of paid holiday a year, including public holidays. Holiday requests go
to your line manager at least two weeks ahead.

## Expenses

Travel expenses are refunded within 30 days when the receipt is uploaded to the finance portal.
Meals are refunded up to 25 euros a day.

## Security

Lock your screen whenever you leave your desk. Report a lost badge to reception the same day.
"""


@pytest.fixture
def knowledge(settings) -> Knowledge:
    return Knowledge(settings)


@pytest.fixture
def handbook(tmp_path) -> Path:
    path = tmp_path / "handbook.md"
    path.write_text(HANDBOOK)
    return path


def test_a_question_finds_the_passage_with_its_heading(knowledge, handbook):
    [added] = knowledge.add("jenniel", [handbook])
    assert added.ok and added.source.kind == "Markdown" and added.source.chunks >= 3
    hits = knowledge.search("jenniel", "how many days of holiday do I get?", k=3)
    assert hits[0].source == "handbook.md" and "28 days" in hits[0].text
    assert hits[0].locator == "Staff handbook › Holidays"
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    words = knowledge.search("jenniel", "receipt finance portal", k=1, mode="bm25")
    meaning = knowledge.search("jenniel", "what should I do if my ID card goes missing", k=1, mode="vector")
    assert "receipt" in words[0].text and "badge" in meaning[0].text


def test_adding_a_changed_file_replaces_its_passages_and_removing_forgets_them(knowledge, handbook):
    knowledge.add("jenniel", [handbook])
    handbook.write_text(HANDBOOK.replace("28 days", "31 days"))
    knowledge.add("jenniel", [handbook])
    [source] = knowledge.sources("jenniel")
    hits = knowledge.search("jenniel", "paid holiday days", k=10)
    assert any("31 days" in hit.text for hit in hits) and not any("28 days" in hit.text for hit in hits)
    assert knowledge.store.chunk_count("jenniel") == source.chunks
    knowledge.remove("jenniel", "handbook.md")
    assert knowledge.sources("jenniel") == [] and knowledge.store.chunk_count("jenniel") == 0
    assert knowledge.search("jenniel", "holiday", k=5) == []
    with pytest.raises(BadInput, match="has no source 'handbook.md'"):
        knowledge.remove("jenniel", "handbook.md")


def test_knowledge_belongs_to_one_persona_and_one_owner(settings, handbook):
    Knowledge(settings).add("jenniel", [handbook])
    assert Knowledge(settings).search("adam", "holiday", k=5) == []
    alice = Knowledge(settings, owner="alice")
    with pytest.raises(BadInput, match="no persona"):
        alice.search("nobody-here", "holiday")
    assert alice.search("jenniel", "holiday", k=5) == [], "another owner's documents never answer"
    assert alice.sources("jenniel") == []


def test_a_bad_file_in_a_batch_is_refused_alone_and_leaves_nothing(knowledge, handbook, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    odd = tmp_path / "notes.xyz"
    odd.write_text("hello")
    added = knowledge.add("jenniel", [empty, handbook, odd])
    assert [item.ok for item in added] == [False, True, False]
    assert "empty.txt" in added[0].error and "\n" not in added[0].error
    assert ".xyz" in added[2].error
    assert [source.name for source in knowledge.sources("jenniel")] == ["handbook.md"]


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b.md", "..", "", "x\x00y.md"])
def test_a_source_name_is_never_a_path(knowledge, handbook, name):
    if name:  # no name given: the file's own
        with pytest.raises(BadInput, match="not a source name"):
            knowledge.add_file("jenniel", handbook, name)
    with pytest.raises(BadInput, match="not a source name"):
        knowledge.remove("jenniel", name)


def test_query_words_cannot_smuggle_fts5_syntax():
    assert match_expression('holiday" OR scope:* NEAR(a b) -x') == '"holiday" OR "scope" OR "near" OR "b" OR "x"'
    assert match_expression("  ?! ") is None


def test_bad_searches_are_one_clear_message(knowledge):
    for arguments, message in [({"query": " "}, "type a question"), ({"query": "x", "k": 0}, "k must be"),
                               ({"query": "x", "mode": "magic"}, "mode must be one of")]:
        with pytest.raises(BadInput, match=message):
            knowledge.search("jenniel", **arguments)


def test_the_cli_adds_lists_searches_and_removes(handbook, tmp_path, studio_home):
    env = {**os.environ, "AVATAR_STUDIO_HOME": str(studio_home)}

    def run(*args):
        return subprocess.run([sys.executable, "app.py", "knowledge", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)

    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a pdf")
    added = run("add", "--persona", "jenniel", str(handbook), str(broken), "--json")
    assert added.returncode == 2, "one file was refused"
    assert [item["ok"] for item in json.loads(added.stdout)] == [True, False]
    [line] = added.stderr.strip().splitlines()
    assert line.startswith("error: “broken.pdf”")
    listed = json.loads(run("list", "--persona", "jenniel", "--json").stdout)
    assert [(source["name"], source["kind"]) for source in listed] == [("handbook.md", "Markdown")]
    found = run("search", "--persona", "jenniel", "lost badge", "--k", "2", "--json")
    hits = json.loads(found.stdout)
    assert len(hits) == 1, "the one passage about a badge; the others are below the relevance floor"
    assert set(hits[0]) == {"source", "locator", "text", "score"}
    assert "badge" in hits[0]["text"] and hits[0]["locator"] == "Staff handbook › Security"
    assert run("remove", "--persona", "jenniel", "../handbook.md").returncode == 2
    assert run("remove", "--persona", "jenniel", "handbook.md").returncode == 0
    assert json.loads(run("list", "--persona", "jenniel", "--json").stdout) == []
    missing = run("search", "--persona", "nobody", "x")
    assert missing.returncode == 2 and missing.stderr.startswith("error: no persona")


def stdlib_documents(folder: Path) -> list[Path]:
    """pydoc's plain-text documentation of each module in the question set, one file per module."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for module in QUESTIONS["modules"]:
        path = folder / f"{module}.txt"
        path.write_text(pydoc.render_doc(importlib.import_module(module), renderer=pydoc.plaintext))
        paths.append(path)
    return paths


def recall_at(knowledge: Knowledge, persona: str, mode: str, k: int = 5) -> float:
    found = 0
    for item in QUESTIONS["questions"]:
        sources = {hit.source for hit in knowledge.search(persona, item["q"], k, mode=mode)}
        found += f"{item['module']}.txt" in sources
    return found / len(QUESTIONS["questions"])


def test_retrieval_finds_the_right_document_for_most_questions(knowledge, tmp_path):
    added = knowledge.add("adam", stdlib_documents(tmp_path / "stdlib"))
    assert all(item.ok for item in added)
    recall = {mode: recall_at(knowledge, "adam", mode) for mode in ("hybrid", "bm25", "vector")}
    print(f"recall@5 on {len(QUESTIONS['questions'])} questions: {recall}")
    assert recall["hybrid"] >= 0.95, recall  # with the relevance floor (pipeline.knowledge.relevance)
    for small_talk in ("hi", "hi!", "hello", "thanks!", "thank you", "how are you?", "ok", "okay", "what's up?",
                       "who are you?", "good morning", "yes", "no", "bye"):
        assert knowledge.search("adam", small_talk, 5) == [], small_talk


def test_a_database_made_again_at_the_same_path_gets_its_vector_table_again(settings, handbook):
    Knowledge(settings).add("jenniel", [handbook])
    for name in (settings.db_path.name, KNOWLEDGE_FILE):  # the databases deleted while the process lives on
        for leftover in settings.db_path.parent.glob(name + "*"):
            leftover.unlink()
    [added] = Knowledge(settings).add("jenniel", [handbook])
    assert added.ok and Knowledge(settings).search("jenniel", "lost badge", k=1)[0].source == "handbook.md"


def test_knowledge_keeps_to_its_own_file_and_the_studio_database_stays_whole(settings, handbook):
    """apsw's SQLite never opens studio.db: two copies of SQLite on one file do not see each other's
    locks, and a chat turn reading knowledge while another thread wrote jobs corrupted the studio's
    database ("file is not a database"). Here one thread reads and writes knowledge while another
    writes jobs; afterwards studio.db passes SQLite's integrity check and holds every job."""
    import threading

    from pipeline.db import JobStore, connect

    Knowledge(settings).add("jenniel", [handbook])
    assert knowledge_path(settings.db_path).is_file() and old_sources(settings.db_path) == []
    jobs, errors = JobStore(settings.db_path), []

    def read_knowledge():
        try:
            for _ in range(40):
                knowledge = Knowledge(settings)
                assert knowledge.search("jenniel", "lost badge", k=1)[0].source == "handbook.md"
                knowledge.add("jenniel", [handbook])
        except BaseException as error:  # noqa: BLE001 — reported below
            errors.append(error)

    def write_jobs():
        try:
            for _ in range(80):
                jobs.create(kind="render", status="queued")
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=read_knowledge), threading.Thread(target=write_jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with connect(settings.db_path) as db:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert len(jobs.list(limit=500)) == 80


def test_documents_kept_in_the_studio_database_move_to_the_knowledge_file(settings):
    """A studio from before knowledge had its own file keeps its documents: moved on first use."""
    from pipeline.db import JobStore, connect

    JobStore(settings.db_path)  # the studio database with its migrations (m008's knowledge tables)
    with connect(settings.db_path) as db, db.atomic():
        db.execute("insert into knowledge_sources (id, owner, persona, name, kind, sha256, bytes, pages, chars, "
                   "chunks, added_at) values (7, 'alice', 'jenniel', 'handbook.md', 'Markdown', 'abc', 300, null, "
                   "120, 2, '2026-12-01T00:00:00+00:00')")
        for chunk_id, locator, text in [(1, "Holidays", "Everyone gets 28 days of paid holiday a year."),
                                        (2, "Badges", "Report a lost badge to reception the same day.")]:
            db.execute("insert into knowledge_chunks (id, source_id, scope, ordinal, locator, text) "
                       "values (?, 7, ?, ?, ?, ?)", [chunk_id, "alice\x1fjenniel", chunk_id - 1, locator, text])
            db.execute("insert into knowledge_fts (rowid, body, scope) values (?, ?, ?)",
                       [chunk_id, f"{locator}\n{text}", "alice\x1fjenniel"])
    assert [old.name for old in old_sources(settings.db_path)] == ["handbook.md"]
    assert move_old_knowledge(settings) == 1
    assert old_sources(settings.db_path) == [] and move_old_knowledge(settings) == 0
    [hit] = Knowledge(settings, "alice").search("jenniel", "How many holiday days do I get?", k=1)
    assert hit.source == "handbook.md" and hit.locator == "Holidays" and "28 days" in hit.text
    assert Knowledge(settings, "alice").sources("jenniel")[0].chunks == 2
    assert Knowledge(settings, "bob").sources("jenniel") == []  # still alice's alone
    with connect(settings.db_path) as db:
        assert db.execute("select count(*) from knowledge_fts").fetchone()[0] == 0
