"""What a persona knows: documents given to it, found again by what a question means and says.

``Knowledge(settings, owner)`` is one owner's view (None: the studio without users):

- ``add(persona, files)`` reads each file (``convert``: PDF, Word, Markdown, text, HTML), cuts it
  into overlapping passages that keep their page or heading (``chunk``), embeds them (``embed``)
  and stores the lot in one transaction (``pipeline/db/knowledge.py``). A file already known by
  that name is replaced; a file that cannot be read leaves nothing behind, and the others still go
  in. Each file's outcome comes back, in order.
- ``search(persona, query, k)`` ranks the persona's passages twice — BM25 over the question's
  content words (SQLite FTS5) and cosine similarity of their vectors (sqlite-vec) — and fuses the
  two rankings by reciprocal rank (``RRF_K``): a passage both find near the top wins over one only
  a single ranking likes. Only passages above the relevance floor are kept (``relevance``: a
  content word matched, or a vector at least ``VECTOR_FLOOR`` close), so "hi!" finds nothing.
  ``mode="bm25"`` or ``"vector"`` gives one ranking alone, unfloored (the benchmark compares).
- ``sources(persona)`` lists what it was given; ``remove(persona, name)`` forgets one.

A source's name is the file's own name; it may not hold a path (``/``, ``\\``, ``..``), so a name
can never point anywhere but at a row. A passage is named by its source and where it is in it
(``source_label``: "handbook.md — Staff handbook › Holidays"), in the prompt and wherever it is cited.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..db.knowledge import KnowledgeStore, Source, forget_old_source, old_sources
from ..errors import BadInput, StudioError
from ..settings import Settings
from .chunk import chunk_document
from .convert import DEFAULT_MAX_BYTES, convert
from .embed import embed
from .relevance import VECTOR_FLOOR, content_words

RRF_K = 60  # reciprocal-rank fusion's constant: 1 / (RRF_K + rank) per ranking
CANDIDATES = 50  # passages each ranking contributes to the fusion
MAX_QUERY_WORDS = 32
MAX_NAME = 200
MODES = ("hybrid", "bm25", "vector")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Hit:
    """A passage found for a question: which source, where in it, its text and its score."""

    source: str
    locator: str
    text: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "locator": self.locator, "text": self.text, "score": round(self.score, 6)}


@dataclass(frozen=True)
class Added:
    """What became of one file of an ``add``: its source record, or why it was refused."""

    name: str
    source: Source | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "error": self.error,
                **({"source": self.source.to_dict()} if self.source else {})}


def source_label(source: str, locator: str | None = None) -> str:
    """A passage's name: its source and, when it has one, its page or heading path, on one line."""
    label = f"{source} — {locator}" if locator else source
    return " ".join(label.split())


def check_source_name(name: str) -> str:
    """``name`` if it can name a source: a file name, not a path."""
    cleaned = str(name or "").strip()
    if not cleaned or cleaned in (".", "..") or "/" in cleaned or "\\" in cleaned or _CONTROL.search(cleaned):
        raise BadInput(f"{name!r} is not a source name: give the file's own name, without a folder")
    if len(cleaned) > MAX_NAME:
        raise BadInput(f"a source name is at most {MAX_NAME} characters; this one has {len(cleaned)}")
    return cleaned


def match_expression(query: str) -> str | None:
    """An FTS5 expression finding any of the query's content words (``relevance.content_words``;
    each quoted: no FTS5 syntax gets through)."""
    words = content_words(query)[:MAX_QUERY_WORDS]
    return " OR ".join(f'"{word}"' for word in words) or None


class Knowledge:
    def __init__(self, settings: Settings, owner: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.settings = settings
        self.owner = owner
        self.max_bytes = max_bytes
        self.store = KnowledgeStore(settings.db_path, owner)
        move_old_knowledge(settings)

    def _persona(self, persona: str) -> str:
        from personas.store import PersonaStore

        return PersonaStore(self.settings, owner=self.owner).get(persona).id  # BadInput: no such persona

    # -- adding -----------------------------------------------------------------------------
    def add(self, persona: str, files: Sequence[str | Path | tuple[str | Path, str]],
            progress: Progress | None = None) -> list[Added]:
        """Each file (a path, or (path, the name the user knows it by)) read and stored; one
        ``Added`` per file, in order. Only an unknown persona stops the whole batch."""
        persona = self._persona(persona)
        report = progress or (lambda fraction, message: None)
        results = []
        for index, item in enumerate(files):
            path, name = (item if isinstance(item, tuple) else (item, Path(item).name))
            report(index / max(1, len(files)), f"Reading {name}…")
            try:
                results.append(Added(name, source=self.add_file(persona, Path(path), name)))
            except StudioError as error:
                results.append(Added(name, error=str(error)))
        report(1.0, "Done.")
        return results

    def add_file(self, persona: str, path: Path, name: str | None = None) -> Source:
        """One file stored as the source ``name`` (default: the file's name); ``BadInput`` says why not."""
        name = check_source_name(name or Path(path).name)
        document = convert(Path(path), display_name=name, max_bytes=self.max_bytes)
        chunks = chunk_document(document)
        if not chunks:
            raise BadInput(f"“{name}” has no text to learn from")
        vectors = embed(self.settings.cache, [_indexed(chunk.locator, chunk.text) for chunk in chunks])
        data = Path(path).read_bytes()
        return self.store.replace_source(
            persona, name=name, kind=document.kind, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
            pages=document.pages, chars=document.chars, chunks=[(chunk.locator, chunk.text) for chunk in chunks],
            vectors=vectors)

    # -- looking ----------------------------------------------------------------------------
    def sources(self, persona: str) -> list[Source]:
        return self.store.sources(self._persona(persona))

    def remove(self, persona: str, name: str) -> None:
        persona, name = self._persona(persona), check_source_name(name)
        if not self.store.remove(persona, name):
            known = ", ".join(source.name for source in self.store.sources(persona)) or "none"
            raise BadInput(f"{persona} has no source {name!r}; its sources: {known}")

    def has_any(self, persona: str) -> bool:
        return self.store.chunk_count(persona) > 0

    def search(self, persona: str, query: str, k: int = 5, *, mode: str = "hybrid") -> list[Hit]:
        """The ``k`` passages of ``persona``'s sources that best answer ``query``, best first."""
        if mode not in MODES:
            raise BadInput(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 50:
            raise BadInput(f"k must be a whole number from 1 to 50, got {k!r}")
        if not str(query or "").strip():
            raise BadInput("type a question to search for")
        persona = self._persona(persona)
        by_words, by_vector = [], []
        if mode in ("hybrid", "bm25") and (expression := match_expression(query)):
            by_words = self.store.by_words(persona, expression, CANDIDATES)
        if mode in ("hybrid", "vector"):
            [vector] = embed(self.settings.cache, [query])
            if vector.any():
                by_vector = self.store.by_vector(persona, vector, CANDIDATES)
        if mode == "hybrid":
            relevant = {chunk_id for chunk_id, _ in by_words} | {
                chunk_id for chunk_id, similarity in by_vector if similarity >= VECTOR_FLOOR}
            fused = fuse([[chunk_id for chunk_id, _ in ranking] for ranking in (by_words, by_vector)])
            ranked = sorted((item for item in fused if item[0] in relevant), key=lambda item: (-item[1], item[0]))
        else:
            ranked = by_words or by_vector
        best = ranked[:k]
        found = self.store.chunks([chunk_id for chunk_id, _ in best])
        return [Hit(found[chunk_id].source, found[chunk_id].locator, found[chunk_id].text, score)
                for chunk_id, score in best if chunk_id in found]


def fuse(rankings: Sequence[Sequence[Any]]) -> list[tuple[Any, float]]:
    """Reciprocal-rank fusion: each ranking gives an item 1 / (``RRF_K`` + its rank there); items
    by their total, best first (ties in the order first seen)."""
    scores: dict[Any, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def _indexed(locator: str, text: str) -> str:
    """What a passage is embedded as: its heading (or page) and its text."""
    return f"{locator}\n{text}" if locator else text


__all__ = ["Added", "Hit", "Knowledge", "MODES", "check_source_name", "fuse", "match_expression",
           "move_old_knowledge", "source_label"]


_moved: set[str] = set()
_moving = threading.Lock()


def move_old_knowledge(settings: Settings) -> int:
    """Documents a studio kept in ``studio.db`` before knowledge had a file of its own, moved into
    ``knowledge.db`` once per process: each re-embedded from its stored passages and stored there
    (one transaction), then deleted from ``studio.db``. Returns how many moved."""
    key = str(Path(settings.db_path).resolve())
    if key in _moved:
        return 0
    with _moving:
        if key in _moved:
            return 0
        moved = 0
        for old in old_sources(settings.db_path):
            if old.chunks:
                vectors = embed(settings.cache, [_indexed(locator, text) for locator, text in old.chunks])
                KnowledgeStore(settings.db_path, old.owner).replace_source(
                    old.persona, name=old.name, kind=old.kind, sha256=old.sha256, size=old.bytes, pages=old.pages,
                    chars=old.chars, chunks=old.chunks, vectors=vectors)
            forget_old_source(settings.db_path, old.id)
            moved += 1
        _moved.add(key)
        return moved
