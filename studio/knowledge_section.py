"""The Personas tab's Knowledge section, and the ``knowledge_*`` endpoints scripts call.

The section sits in the editor, under the persona being edited: a multi-file upload with "Add to
knowledge" (a progress bar, then one line per file: what it became, or why it was refused), the
persona's sources as a table, a source picker with "Remove", and a search box showing the five
passages that best answer a question. It acts on the editor's ``loaded`` state — the saved
persona the form edits — never on the form's fields: a new persona that is not saved has no id
to keep knowledge under, and the section says to save it first. Whenever ``loaded`` changes
(a persona is opened, a new one saved, one deleted) the section shows that persona's sources,
and opening the tab shows them again as they are now (a script may have added some).

Knowledge lives in the studio's database per owner and persona id (``pipeline.knowledge``), not
in the persona's folder, so the shipped examples may have knowledge too: it is the user's, under
the example's id, and it stays when they save their own copy of the example (same id) or delete
that copy (the example comes back under that id).

Four named endpoints give scripts the same, on hidden components of their own (plain values, as
``/chat`` does): ``knowledge_add`` (persona, files) → one dict per file; ``knowledge_list``
(persona) → the source dicts; ``knowledge_remove`` (persona, source) → the sources left;
``knowledge_search`` (persona, query, k) → ``{"source", "locator", "text", "score"}`` per hit.
Files arrive only as this client's uploads: the guard (``StudioBlocks.process_api``) refuses any
other path before a handler runs. Adding is work like a render — reading, cutting and embedding
every file — so both "Add" events join the ``knowledge`` quota (``studio.limits``: a user's
waiting work) and share one concurrency group; listing, removing and searching are quick reads
and pass freely.

Every handler is a module-level function taking the ``StudioContext`` first; the handlers that
fill the section answer with a dict by component name (``common.bind``); what they show is shaped
in ``knowledge_view``.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from pipeline.errors import BadInput
from pipeline.knowledge import Knowledge

from . import knowledge_view as view
from .common import StudioContext, bind, progress_callback, shown_errors
from .limits import quota

FILE_TYPES = [".pdf", ".docx", ".md", ".markdown", ".txt", ".html", ".htm"]
UI_HITS = 5
# In pixels, as the persona check's table: on a narrow window the table scrolls instead of
# breaking its headers letter by letter.
SOURCE_COLUMN_WIDTHS = ["220px", "120px", "70px", "90px", "150px"]
DEFAULT_K = 5
PRIVATE = {"api_visibility": "private"}
ADDING = {"concurrency_id": "knowledge-add"}

ADD_API = ("Give a persona documents to draw on. Inputs: persona id; files (uploads: PDF, Word .docx, Markdown, text, "
           "HTML). Out: one dict per file, in order — name, ok, error (why it was refused) and, when added, source "
           "(kind, pages, chunks = passages, bytes, chars, added_at, sha256). A file already known by that name is "
           "replaced.")
LIST_API = "A persona's sources: one dict each (name, kind, pages, chunks = passages, bytes, chars, added_at, sha256)."
REMOVE_API = "Forget one source of a persona (its file name, as knowledge_list gives it). Out: the sources left."
SEARCH_API = ("The k passages (1–50) of a persona's sources that best answer a question, best first: source, locator "
              "(page or heading), text, score.")


def build(ctx: StudioContext, tab: gr.Tab, *, loaded: gr.State) -> None:
    """The section, laid out where it is called (inside the editor), and its events."""
    with gr.Accordion("Knowledge", open=True, elem_id="persona-knowledge"):
        gr.Markdown(view.ABOUT, elem_id="knowledge-about")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=280):
                files = gr.File(file_count="multiple", file_types=FILE_TYPES, type="filepath",
                                label="Documents to add", elem_id="knowledge-files")
                add_button = gr.Button("Add to knowledge", variant="secondary", elem_id="knowledge-add")
                status = gr.Markdown(view.SAVE_FIRST, elem_id="knowledge-status")
            with gr.Column(scale=3, min_width=320):
                sources = gr.Dataframe(headers=view.SOURCE_HEADERS, value=view.sources_table([]), interactive=False,
                                       wrap=True, max_height=260, column_widths=SOURCE_COLUMN_WIDTHS, label="Sources",
                                       elem_id="knowledge-sources")
                with gr.Row(equal_height=True):
                    source = gr.Dropdown([], value=None, label="Source", min_width=200, elem_id="knowledge-source")
                    remove_button = gr.Button("Remove", variant="stop", scale=0, min_width=100,
                                              elem_id="knowledge-remove")
        with gr.Row(equal_height=True):
            query = gr.Textbox(label="Search this persona's knowledge", placeholder="Ask what a document says…",
                               max_lines=1, scale=5, elem_id="knowledge-query")
            search_button = gr.Button("Search", scale=0, min_width=100, elem_id="knowledge-search")
        results = gr.Markdown(elem_id="knowledge-results")

    # The endpoints' own inputs and outputs: plain values, never shown (see the module docstring).
    with gr.Column(visible=False):
        api_persona = gr.Textbox(label="persona")
        api_files = gr.File(file_count="multiple", type="filepath", label="files")
        api_source = gr.Textbox(label="source")
        api_query = gr.Textbox(label="query")
        api_k = gr.Number(value=DEFAULT_K, precision=0, label="k")
        api_answer = gr.JSON(label="answer")
        api_add, api_list, api_remove, api_search = (gr.Button(name, elem_id=f"{name.replace('_', '-')}-api")
                                                     for name in ("knowledge_add", "knowledge_list",
                                                                  "knowledge_remove", "knowledge_search"))

    ui = {"files": files, "status": status, "sources": sources, "source": source, "results": results}
    shown = [status, sources, source, results]
    show = bind(show_knowledge, ctx, ui)
    loaded.change(show, loaded, shown, show_progress="hidden", **PRIVATE)
    # Opening the tab: the sources as they are now (a script may have added some), and nothing
    # else — the last "Add" line and the search results stay.
    tab.select(bind(refresh_sources, ctx, ui), loaded, [sources, source], show_progress="hidden", **PRIVATE)

    # Files first among the inputs: a quota refusal shows under the upload.
    add_button.click(bind(add_to_knowledge, ctx, ui), [files, loaded], [files, status, sources, source],
                     show_progress_on=[sources], validator=quota(ctx, "knowledge"), **ADDING, **PRIVATE)
    remove_button.click(bind(remove_source, ctx, ui), [loaded, source], [status, sources, source],
                        show_progress_on=[sources], **PRIVATE)
    gr.on([search_button.click, query.submit], bind(search_knowledge, ctx), [loaded, query], results,
          show_progress_on=[results], **PRIVATE)

    api_add.click(bind(knowledge_add, ctx), [api_persona, api_files], api_answer, api_name="knowledge_add",
                  api_description=ADD_API, validator=quota(ctx, "knowledge"), **ADDING)
    api_list.click(bind(knowledge_list, ctx), api_persona, api_answer, api_name="knowledge_list",
                   api_description=LIST_API)
    api_remove.click(bind(knowledge_remove, ctx), [api_persona, api_source], api_answer, api_name="knowledge_remove",
                     api_description=REMOVE_API)
    # preprocess=False: k arrives as sent, so a k that is not a whole number is the pipeline's own error.
    api_search.click(bind(knowledge_search, ctx), [api_persona, api_query, api_k], api_answer,
                     api_name="knowledge_search", api_description=SEARCH_API, preprocess=False)


def knowledge_of(ctx: StudioContext) -> Knowledge:
    """The knowledge of whoever sent the event being handled."""
    return Knowledge(ctx.settings, ctx.owner)


# -- the section ----------------------------------------------------------------------------------
@shown_errors
def show_knowledge(ctx: StudioContext, persona_id: str | None) -> dict[str, Any]:
    """The section for the saved persona ``persona_id`` (None: a new one, not saved yet)."""
    if not persona_id:
        return {"status": view.SAVE_FIRST, "sources": view.sources_table([]),
                "source": gr.update(choices=[], value=None), "results": ""}
    found = knowledge_of(ctx).sources(persona_id)
    return {"status": "" if found else view.NOTHING_YET, **_sources_shown(found), "results": ""}


@shown_errors
def refresh_sources(ctx: StudioContext, persona_id: str | None) -> dict[str, Any]:
    """The sources table and picker of the saved persona ``persona_id`` as they are now."""
    return _sources_shown(knowledge_of(ctx).sources(persona_id) if persona_id else [])


@shown_errors
def add_to_knowledge(ctx: StudioContext, files: list[str] | None, persona_id: str | None,
                     progress=gr.Progress()) -> dict[str, Any]:
    """Read, cut and store each file; one line per file says what it became or why it was refused."""
    persona = _saved(persona_id)
    if not files:
        raise BadInput("Choose one or more documents to add first.")
    knowledge = knowledge_of(ctx)
    results = knowledge.add(persona, list(files), progress=progress_callback(progress))
    return {"files": None, "status": view.added_markdown(results), **_sources_shown(knowledge.sources(persona))}


@shown_errors
def remove_source(ctx: StudioContext, persona_id: str | None, name: str | None) -> dict[str, Any]:
    persona = _saved(persona_id)
    if not name:
        raise BadInput("Pick the source to remove first.")
    knowledge = knowledge_of(ctx)
    knowledge.remove(persona, name)
    return {"status": f"Removed `{name}`.", **_sources_shown(knowledge.sources(persona))}


@shown_errors
def search_knowledge(ctx: StudioContext, persona_id: str | None, query: str | None) -> str:
    """The five passages that best answer ``query``, as Markdown."""
    persona = _saved(persona_id)
    knowledge = knowledge_of(ctx)
    hits = knowledge.search(persona, query or "", UI_HITS)
    return view.hits_markdown(query or "", hits, has_sources=bool(hits) or knowledge.has_any(persona))


def _saved(persona_id: str | None) -> str:
    if not persona_id:
        raise BadInput(view.SAVE_FIRST)
    return persona_id


def _sources_shown(found) -> dict[str, Any]:
    names = view.source_names(found)
    return {"sources": view.sources_table(found), "source": gr.update(choices=names, value=names[0] if names else None)}


# -- the endpoints --------------------------------------------------------------------------------
@shown_errors
def knowledge_add(ctx: StudioContext, persona: str, files: list[str] | None,
                  progress=gr.Progress()) -> list[dict[str, Any]]:
    if not files:
        raise BadInput("give one or more files to add (uploads: handle_file(path) with gradio_client)")
    results = knowledge_of(ctx).add(persona or "", list(files), progress=progress_callback(progress))
    return view.added_answer(results)


@shown_errors
def knowledge_list(ctx: StudioContext, persona: str) -> list[dict[str, Any]]:
    return view.sources_answer(knowledge_of(ctx).sources(persona or ""))


@shown_errors
def knowledge_remove(ctx: StudioContext, persona: str, source: str) -> list[dict[str, Any]]:
    knowledge = knowledge_of(ctx)
    knowledge.remove(persona or "", source or "")
    return view.sources_answer(knowledge.sources(persona))


@shown_errors
def knowledge_search(ctx: StudioContext, persona: Any, query: Any, k: Any = DEFAULT_K) -> list[dict[str, Any]]:
    """Values as sent (``preprocess=False``): the pipeline judges the persona and k in its own words."""
    if query is not None and not isinstance(query, str):
        raise BadInput(f"the query must be text, got {query!r}")
    hits = knowledge_of(ctx).search(persona if persona is not None else "", query or "", _whole(k))
    return view.hits_answer(hits)


def _whole(k: Any) -> Any:
    """``k`` as a whole number where it is one (JSON may send 5.0); anything else as it came."""
    if k in (None, ""):
        return DEFAULT_K
    if isinstance(k, float) and k.is_integer():
        return int(k)
    return k
