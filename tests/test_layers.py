"""The layers stay apart: the core (``pipeline/``, ``personas/``) never imports an interface
(gradio, ``studio``, ``cli``), the CLI never imports gradio or the studio, and the tabs' handlers
are module-level functions taking the shared context — importable and callable without a browser."""

from __future__ import annotations

import ast
import importlib
import inspect
import typing

import gradio as gr
import pytest

from conftest import ROOT

INTERFACES = {"gradio", "studio", "cli"}


def imported_modules(path) -> set[str]:
    """The top-level names of the absolute imports anywhere in ``path`` (lazy ones included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package, forbidden", [
    ("pipeline", INTERFACES), ("personas", INTERFACES), ("cli", {"gradio", "studio"}),
])
def test_a_layer_never_imports_the_ones_above_it(package, forbidden):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    offenders = {str(path.relative_to(ROOT)): sorted(imported_modules(path) & forbidden) for path in files}
    assert {path: names for path, names in offenders.items() if names} == {}


def module_graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Module → the project modules it imports when it is itself imported (module-level imports;
    ``from package import submodule`` counts as the submodule only, as Python resolves it)."""
    paths = {}
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in paths.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        edges = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else node.module
                submodules = {f"{base}.{alias.name}" for alias in node.names} & set(paths)
                edges.update(submodules or {base})
        graph[name] = {edge for edge in edges if edge in paths and edge != name}
    return graph


def test_no_import_cycles():
    graph = module_graph(("pipeline", "personas", "cli", "studio"))
    cycles, state, stack = [], {}, []

    def visit(module: str) -> None:
        state[module] = "open"
        stack.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                cycles.append(" → ".join(stack[stack.index(imported):] + [imported]))
            elif imported not in state:
                visit(imported)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert len(graph) > 80 and cycles == []


HANDLERS = {
    "studio.chat_tab": {"new_conversation", "pick_persona", "refresh", "resume", "end_turn", "reply_player",
                        "take_message", "answer", "chat", "transcribe", "hold_replies"},
    "studio.personas_tab": {"go_to", "open_target", "keep_editing", "mark", "take_portrait", "hear",
                            "show_model_hint", "save", "duplicate", "ask_delete", "confirm_delete", "cancel_delete",
                            "check", "refresh"},
    "studio.knowledge_section": {"show_knowledge", "refresh_sources", "add_to_knowledge", "remove_source",
                                 "search_knowledge", "knowledge_add", "knowledge_list", "knowledge_remove",
                                 "knowledge_search"},
    "studio.style_section": {"learn_from_files", "clear_style", "learn_style"},
    "studio.batch_section": {"run_batch", "stop_batch"},
    "studio.reports_section": {"report_latest", "show_reports", "pick_report", "note_report", "dismiss_report",
                               "report_reply", "list_reports", "report_note", "report_dismiss"},
    "studio.review_section": {"show_review", "pick_reply", "approve_reply", "approve_edited", "reject_reply",
                              "review_list", "review_approve", "review_reject", "review_hold"},
    "studio.live_tab": {"refresh", "refresh_llms", "listening", "warm_up", "new_conversation", "speak_live", "hear",
                        "stop_live", "converse_api"},
    "studio.analytics_section": {"on_tab_selected", "show_analytics", "persona_analytics"},
    "studio.lab_tab": {"preview_quietly", "preview_portrait", "use_persona", "clear_results", "clear_video",
                       "describe_recording", "suggest", "apply_suggestion", "render", "render_from_lab",
                       "render_on_release", "backend_chosen", "refresh", "values_for_job", "option_panels", "option_field"},
    "studio.history_tab": {"list_jobs", "first_page", "step_page", "on_tab_selected", "get_job", "show_details",
                           "pick_row", "open_in_lab", "render_again", "resume_job", "reload_job", "ask_delete",
                           "delete_confirmed", "compare_jobs", "load_stats"},
}


@pytest.mark.parametrize("module_name", ["studio.chat_tab", "studio.live_tab", "studio.personas_tab",
                                         "studio.lab_tab", "studio.history_tab"])
def test_every_tab_module_imports_and_has_a_build(module_name):
    assert callable(importlib.import_module(module_name).build)


@pytest.mark.parametrize("module_name", sorted(HANDLERS))
def test_handlers_are_module_level_and_build_only_wires(module_name):
    module = importlib.import_module(module_name)
    for name in HANDLERS[module_name]:
        handler = getattr(module, name, None)
        assert callable(handler), f"{module_name}.{name} is not a module-level function"
        assert handler.__module__ == module_name and handler.__qualname__ == name
    tree = ast.parse(inspect.getsource(module))
    [build] = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "build"]
    nested = [node.name for node in ast.walk(build) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
              and node is not build]
    assert nested == [], f"{module_name}.build defines handlers inside it: {nested}"


def test_sending_a_chat_message_is_a_function_of_its_inputs():
    from studio import chat_tab

    box, button, question, messages = chat_tab.take_message("  Hello there  ", [])
    assert question == "Hello there" and box["interactive"] is False and button["interactive"] is False
    assert messages == [{"role": "user", "content": "Hello there"}, {"role": "assistant", "content": chat_tab.THINKING}]
    with pytest.raises(gr.Error, match="type a message"):
        chat_tab.take_message("   ", [])


def test_a_personas_handler_answers_by_name_for_whoever_sends_the_event(settings):
    from studio import personas_tab
    from studio.common import StudioContext

    shown = personas_tab.open_target(StudioContext(settings), "adam")
    assert set(shown) == set(personas_tab.EDITOR)
    assert shown["loaded"] == "adam" and shown["name"] == "Adam" and shown["heading"].startswith("### Adam")


def test_bind_fills_in_the_context_and_keeps_what_gradio_reads():
    from studio.common import bind

    def resume(ctx, pairs: list, event: gr.SelectData, progress=gr.Progress()) -> dict:
        return {"status": (ctx, pairs, event)}

    status = gr.Markdown(render=False)
    bound = bind(resume, "the context", {"status": status})
    assert bound.__name__ == "resume"
    assert list(inspect.signature(bound).parameters) == ["pairs", "event", "progress"]
    assert typing.get_type_hints(bound)["event"] is gr.SelectData  # how Gradio finds where the event data goes
    assert bound([1], "clicked") == {status: ("the context", [1], "clicked")}

    def stream(ctx, text: str):
        yield {"status": ctx + text}

    streamed = bind(stream, "a", {"status": status})
    assert inspect.isgeneratorfunction(streamed) and list(streamed("b")) == [{status: "ab"}]


def test_the_lab_renders_through_its_module_level_handler(settings):
    """``lab_tab.render`` called directly, as a script or test would: the /render handler's own work."""
    from conftest import SAMPLE_PORTRAIT
    from studio import lab_tab
    from studio.common import StudioContext

    video, details = lab_tab.render(StudioContext(settings), str(SAMPLE_PORTRAIT), "Just the handler.",
                                    progress=lambda *args, **kwargs: None)
    assert details["status"] == "done" and details["backend"] == "embedded"
    assert video == details["video"]
    with pytest.raises(gr.Error, match="renderer_options must be a JSON object"):
        lab_tab.render(StudioContext(settings), str(SAMPLE_PORTRAIT), "Hi.", renderer_options="[1, 2]",
                       progress=lambda *args, **kwargs: None)


@pytest.mark.parametrize("module", ["pipeline/runner.py", "pipeline/stages.py"])
def test_the_runner_and_stages_use_backends_through_their_contracts_only(module):
    """No probing: what a backend can do is its contract (``base.py``), not what attributes it has."""
    tree = ast.parse((ROOT / module).read_text())
    probes = [f"line {node.lineno}: {node.func.id}" for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "hasattr")]
    assert probes == [] and "inspect" not in imported_modules(ROOT / module)


def test_no_module_hides_a_registry():
    """A submodule named like its package's registry (``speech/voices.py`` beside ``speech.voices``)
    replaces the registry on the package the moment anything imports it."""
    from pipeline import registry

    for kind, (module, attribute) in registry.KINDS.items():
        package = ROOT / module.replace(".", "/")
        folder = package if package.is_dir() else package.parent
        assert not (folder / f"{attribute}.py").exists() and not (folder / attribute).is_dir(), kind
        assert isinstance(registry.of_kind(kind), registry.Registry), kind
