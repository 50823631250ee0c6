"""What the Personas tab's Knowledge section shows: a persona's sources as a table, what became of
each file of an "Add", and the passages a search found — and the plain shapes its API endpoints
answer with. Plain functions of what ``pipeline.knowledge`` returns; no Gradio, no decisions.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import pandas as pd

from pipeline.db.knowledge import Source
from pipeline.knowledge import Added, Hit

SOURCE_HEADERS = ["name", "kind", "pages", "passages", "added (UTC)"]
SAVE_FIRST = "Save this persona first: knowledge belongs to a saved persona (its id), not to a form."
ABOUT = ("Documents this persona can draw on — PDF, Word (.docx), Markdown, text or HTML. They are kept in the "
         "studio's database for you and this persona's id, so an example persona can have them too, and they "
         "stay when you save your own copy of it.")
NOTHING_YET = "No knowledge yet: add documents for this persona to draw on."


# -- the sources ----------------------------------------------------------------------------------
def sources_table(sources: Iterable[Source]) -> pd.DataFrame:
    """One row per source, in ``SOURCE_HEADERS`` order (the headers stay when there is none)."""
    rows = [[source.name, source.kind, source.pages if source.pages else "—", source.chunks,
             _minute(source.added_at)] for source in sources]
    return pd.DataFrame(rows, columns=SOURCE_HEADERS)


def source_names(sources: Iterable[Source]) -> list[str]:
    return [source.name for source in sources]


def _minute(stamp: str) -> str:
    """``2026-12-06 12:05`` from an ISO time stamp in UTC."""
    return (stamp or "")[:16].replace("T", " ") or "—"


# -- adding ---------------------------------------------------------------------------------------
def added_markdown(results: Sequence[Added]) -> str:
    """One line per file: what it became (kind, pages, passages) or the one-line reason it was refused."""
    went_in = sum(1 for result in results if result.ok)
    lines = [f"**Added {went_in} of {len(results)} file{'s' * (len(results) != 1)}.**"]
    for result in results:
        if result.ok:
            lines.append(f"- ✓ `{result.name}` — {described(result.source)}")
        else:
            lines.append(f"- ✗ `{result.name}` — refused: {result.error}")
    return "\n".join(lines)


def described(source: Source) -> str:
    """"PDF, 2 pages, 3 passages"."""
    parts = [source.kind]
    if source.pages:
        parts.append(f"{source.pages} page{'s' * (source.pages != 1)}")
    parts.append(f"{source.chunks} passage{'s' * (source.chunks != 1)}")
    return ", ".join(parts)


# -- searching ------------------------------------------------------------------------------------
def hits_markdown(query: str, hits: Sequence[Hit], *, has_sources: bool) -> str:
    """The passages found, best first: where each is (source — locator), its score, and its text."""
    if not hits:
        return f"Nothing in this persona's knowledge matches “{query.strip()}”." if has_sources else NOTHING_YET
    blocks = []
    for number, hit in enumerate(hits, start=1):
        where = f"{hit.source} — {hit.locator}" if hit.locator else hit.source
        quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in hit.text.strip().splitlines())
        blocks.append(f"**{number}. {where}** · score {hit.score:.4f}\n\n{quoted}")
    return "\n\n".join(blocks)


# -- the API's answers ----------------------------------------------------------------------------
def sources_answer(sources: Iterable[Source]) -> list[dict[str, Any]]:
    return [source.to_dict() for source in sources]


def added_answer(results: Iterable[Added]) -> list[dict[str, Any]]:
    return [result.to_dict() for result in results]


def hits_answer(hits: Iterable[Hit]) -> list[dict[str, Any]]:
    return [hit.to_dict() for hit in hits]
