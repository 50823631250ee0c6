"""The Personas tab: list, create, duplicate, edit, delete and check personas.

Left, the persona list (examples marked) with New / Duplicate / Delete; right, the editor: who the
persona is, the portrait with its face check, the voice (its speed and pitch) with "Hear it", rules, modes
and sample questions, the LLM and default controls, and the persona check. Every conversion between the form
and a ``Persona`` — and every decision such as where a duplicated persona's portrait comes from —
is in ``personas.form``, and what the components show is shaped in ``personas_view``. Each
handler is a module-level function taking the ``StudioContext`` (whose ``personas`` are those of
whoever sent the event) and the event's inputs; the handlers that fill the editor answer with a
dict by component name (``common.bind`` maps it onto the components). ``build`` only arranges
components and wires events.

State the form carries (``gr.State``, per browser session):

- ``loaded``: the id of the saved persona the form edits (None: a new, unsaved one). Delete and
  "Save" under the same id act on it; a different id in the form saves a new persona.
- ``portrait_from``: the persona whose portrait the form shows (after "Duplicate", the original's).
- ``upload``: a new photo that passed the face check, saved with the persona on "Save".
- ``snapshot``: the form's values when it was last opened or saved. "Unsaved changes" is the form
  differing from it, checked whenever a field changes (a cheap comparison, outside the queue, last
  change wins).
- ``pending``: where to go (a persona id, or "" for a new one) once the user agrees to drop
  unsaved changes.

Unsaved changes survive switching tabs because nothing here is wired to reset the form on a tab
or page event: opening the tab (and loading the page) only refreshes the *choices* of the list and
of the backend and voice pickers, never a value. Picking another persona or "New" with unsaved
changes asks first; "Duplicate" keeps what is on screen. Deleting asks for confirmation and says
when deleting brings a shipped example back.

A portrait is checked the moment it is chosen (``check_face``: the annotated face or what is wrong,
written under the image — a photo that cannot be animated is not taken). "Check persona" scores
the form as it stands, saved or not, with the LLM picked beside the button.

The Style section among the editor's fields (how the persona writes: a description, phrases and
examples, learned from the creator's own writing) is its own module, ``style_section``, with its
own handlers and its ``learn_style`` endpoint: its three text boxes are form fields like the
others, handed back to this tab by its ``build``, so a learned proposal is an unsaved change until
"Save".

The Knowledge section under the editor (documents the saved persona draws on) is its own module,
``knowledge_section``, given the ``loaded`` state: it has its own handlers and its own endpoints.
So is the Reports section under it (replies reported in the Chat tab, turned into knowledge notes
or dismissed): ``reports_section``; and the Review section under that (replies held for the
creator's review, approved as written or edited, or rejected): ``review_section``.

None of this module's events is part of the programmatic API: all are ``api_visibility="private"``.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from personas.check import run_check
from personas.form import (
    FORM_KEYS,
    NOT_SET,
    blank_form,
    delete_persona,
    delete_warning,
    duplicate_form,
    form_from_persona,
    persona_from_form,
    save_form,
    saved_message,
)
from personas.model import DEFAULT_SPOKEN_SENTENCES, SPOKEN_SENTENCES_RANGE, Persona
from pipeline.chat import persona_llm
from pipeline.controls import CONTROL_NAMES
from pipeline.errors import BadInput, StudioError
from pipeline.face.check import check_face
from pipeline.knowledge import Knowledge
from pipeline.speech.samples import voice_choices, voice_sample_audio
from pipeline.speech.tuning import PITCH_RANGE, SPEED_RANGE, VoiceTuning

from . import knowledge_section, reports_section, review_section, style_section
from . import personas_view as view
from .common import StudioContext, bind, progress_callback, shown_errors
from .limits import quota

PRIVATE = {"api_visibility": "private"}
QUIET = {"show_progress": "hidden", "queue": False, **PRIVATE}
UNSAVED = "● **Unsaved changes**"
RULES_HELP = ("One rule per line. To let the persona check test a rule, add lines under it: "
              "`{key}: REGEX` (taken literally, no quotes).")
# In pixels, not percentages: on a narrow window the table scrolls inside itself instead of
# squeezing every header into a column of single letters.
CHECK_COLUMN_WIDTHS = ["40px", "220px", "64px", "150px", "90px", "170px", "64px", "340px"]
MODES_EXAMPLE = """lecture:
  description: A short mini-lecture for a class.
  instructions: |
    State the idea in one sentence, give one example,
    and end with a question for the class.
"""
# What opening, saving, duplicating or deleting a persona sets: the form, the state it carries
# (see the module docstring) and everything shown about it — by name, in this order.
EDITOR = (*FORM_KEYS, "loaded", "portrait_from", "upload", "snapshot", "heading", "dirty", "status", "face_image",
          "face_facts", "check_mode", "verdict", "check_table", "persona_list", "delete_box", "discard_box", "pending")


def build(ctx: StudioContext, tab: gr.Tab, **wiring: Any) -> None:
    store = ctx.personas
    blank = blank_form()

    loaded = gr.State(None)
    portrait_from = gr.State(None)
    upload = gr.State(None)
    snapshot = gr.State(blank)
    pending = gr.State(None)

    with gr.Row(equal_height=False):
        # -- the list ------------------------------------------------------------------------
        with gr.Column(scale=1, min_width=240):
            persona_list = gr.Radio(view.list_choices(store.list()), value=None, label="Personas",
                                    info="Pick one to edit it. Examples ship with the studio; saving one makes "
                                         "your own copy.", elem_id="personas-list")
            problems = gr.Markdown(view.problems(store.problems()), elem_id="personas-problems")
            with gr.Row():
                new_button = gr.Button("New", size="sm", min_width=60, elem_id="personas-new")
                duplicate_button = gr.Button("Duplicate", size="sm", min_width=60, elem_id="personas-duplicate")
                delete_button = gr.Button("Delete", size="sm", variant="stop", min_width=60,
                                          elem_id="personas-delete")
            with gr.Group(visible=False, elem_id="personas-delete-confirm") as delete_box:
                delete_text = gr.Markdown(padding=True, elem_id="personas-delete-text")
                with gr.Row():
                    delete_yes = gr.Button("Yes, delete", variant="stop", size="sm", elem_id="personas-delete-yes")
                    delete_no = gr.Button("Cancel", size="sm", elem_id="personas-delete-cancel")
            with gr.Group(visible=False, elem_id="personas-discard-confirm") as discard_box:
                discard_text = gr.Markdown(padding=True, elem_id="personas-discard-text")
                with gr.Row():
                    discard_yes = gr.Button("Discard changes", variant="stop", size="sm",
                                            elem_id="personas-discard-yes")
                    discard_no = gr.Button("Keep editing", size="sm", elem_id="personas-discard-cancel")

        # -- the editor ------------------------------------------------------------------------
        with gr.Column(scale=4, min_width=320):
            with gr.Row(equal_height=True):
                heading = gr.Markdown(view.heading(None), elem_id="personas-heading")
                dirty = gr.Markdown("", elem_id="personas-dirty")
                save_button = gr.Button("Save", variant="primary", scale=0, min_width=120, elem_id="personas-save")
            status = gr.Markdown(elem_id="personas-status")
            field: dict[str, gr.components.Component] = {}
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=300):
                    with gr.Row():
                        field["name"] = gr.Textbox(label="Name", placeholder="e.g. Jenniel", max_lines=1,
                                                   elem_id="personas-name")
                        field["id"] = gr.Textbox(label="Id", placeholder="made from the name", max_lines=1,
                                                 info="a new id saves a new persona", elem_id="personas-id")
                    field["identity"] = gr.Textbox(label="Identity", lines=3, max_lines=10,
                                                   placeholder="You are a … who …", elem_id="personas-identity")
                    field["tone"] = gr.Textbox(label="Tone", lines=2, max_lines=8,
                                               placeholder="How they talk", elem_id="personas-tone")
                    field["greeting"] = gr.Textbox(label="Greeting", lines=2, max_lines=6,
                                                   placeholder="The first thing they say", elem_id="personas-greeting")
                    with gr.Row():
                        field["expertise"] = gr.Textbox(label="Expertise", info="one per line", lines=4,
                                                        max_lines=12, elem_id="personas-expertise")
                        field["signature_vocabulary"] = gr.Textbox(
                            label="Signature vocabulary", info="one term per line", lines=4, max_lines=12,
                            elem_id="personas-signature-vocabulary")
                with gr.Column(scale=2, min_width=260):
                    face_image = gr.Image(label="Portrait — face check", type="numpy", format="jpeg",
                                          interactive=False, height=300, buttons=["fullscreen"],
                                          elem_id="personas-face-check")
                    face_facts = gr.Markdown(view.NO_PORTRAIT, elem_id="personas-face-facts")
                    portrait_button = gr.UploadButton("Upload a portrait", file_types=["image"], size="sm",
                                                      elem_id="personas-portrait-upload")
                    field["voice"] = gr.Dropdown(voice_choices(ctx.settings), value=NOT_SET, label="Voice",
                                                 allow_custom_value=True, elem_id="personas-voice")
                    hear_button = gr.Button("Hear it", size="sm", elem_id="personas-hear")
                    voice_audio = gr.Audio(label="Voice sample (the greeting)", type="numpy", interactive=False,
                                           autoplay=True, elem_id="personas-voice-sample")
                    with gr.Row():  # the voice's speed and pitch (voice_tuning); "Hear it" plays them
                        field["voice_speed"] = gr.Slider(*SPEED_RANGE, step=0.05, value=1.0, label="Voice speed",
                                                         info="× its own pace", min_width=120,
                                                         elem_id="personas-voice-speed")
                        field["voice_pitch"] = gr.Slider(*PITCH_RANGE, step=0.5, value=0.0, label="Voice pitch",
                                                         info="semitones", min_width=120,
                                                         elem_id="personas-voice-pitch")
                    field["spoken_sentences"] = gr.Slider(
                        *SPOKEN_SENTENCES_RANGE, step=1, value=DEFAULT_SPOKEN_SENTENCES,
                        label="Spoken reply length (sentences)",
                        info="a reply to be spoken or rendered asks for at most this many, and says no more",
                        elem_id="personas-spoken-sentences")
            with gr.Accordion("Rules", open=True), gr.Row():
                field["always"] = gr.Textbox(label="Always", info=RULES_HELP.format(key="require"), lines=5,
                                             max_lines=20, elem_id="personas-always")
                field["never"] = gr.Textbox(label="Never", info=RULES_HELP.format(key="forbid"), lines=5,
                                            max_lines=20, elem_id="personas-never")
            with gr.Accordion("Modes and sample questions", open=True), gr.Row():
                with gr.Column(min_width=300):
                    field["modes"] = gr.Code(language="yaml", lines=8, max_lines=30,
                                             label="Modes (YAML, as in persona.yaml; empty: none)",
                                             elem_id="personas-modes")
                    with gr.Accordion("How to write a mode", open=False):
                        gr.Markdown(f"```yaml\n{MODES_EXAMPLE}```\nRules inside a mode use the persona "
                                    "file's shape: `always:` / `never:` lists of text, or of `rule:` with "
                                    "`require:` / `forbid:` lists. `in_persona: false` marks a mode in "
                                    "which the model plays someone else.", elem_id="personas-modes-help")
                field["sample_questions"] = gr.Textbox(label="Sample questions",
                                                       info="one per line; the persona check asks them",
                                                       lines=8, max_lines=20, elem_id="personas-sample-questions")
            # -- Style (issue 14): its fields are the form's; laid out and handled in studio/style_section.py --
            field.update(style_section.build(ctx, tab))
            with gr.Accordion("LLM and default controls", open=True):
                with gr.Row():
                    field["llm_backend"] = gr.Dropdown(view.persona_llm_choices(ctx), value=NOT_SET, label="LLM backend",
                                                       allow_custom_value=True, elem_id="personas-llm-backend")
                    field["llm_model"] = gr.Textbox(label="Model", max_lines=1,
                                                    placeholder=view.model_hint(ctx, NOT_SET),
                                                    elem_id="personas-llm-model")
                    field["emotion"] = gr.Dropdown(view.emotion_choices(), value=NOT_SET, label="Emotion",
                                                   elem_id="personas-emotion")
                field["grounded"] = gr.Checkbox(label="Answer only from its documents",
                                                info="when they do not hold the answer, it says it does not know",
                                                elem_id="personas-grounded")
                field["hold_replies"] = gr.Checkbox(label="Hold replies for my review",
                                                    info="replies wait in the Review section below: not spoken or "
                                                         "rendered until you approve them",
                                                    elem_id="personas-hold-replies")
                gr.Markdown("Tick a control to set it for this persona; unticked, the controller decides.",
                            elem_id="personas-controls-help")
                with gr.Row():  # two columns of "☐ name ——slider——" rows: aligned at any width
                    for names in (CONTROL_NAMES[:3], CONTROL_NAMES[3:]):
                        with gr.Column(min_width=300):
                            for name in names:
                                with gr.Row(equal_height=True):
                                    field[f"{name}_set"] = gr.Checkbox(label=name.replace("_", " "), scale=2,
                                                                       min_width=150, elem_id=f"personas-{name}-set")
                                    field[name] = gr.Slider(0, 1, step=0.01, value=blank[name], show_label=False,
                                                            label=name.replace("_", " "), scale=3, min_width=150,
                                                            elem_id=f"personas-{name}")
            with gr.Accordion("Check persona", open=True, elem_id="personas-check-section"):
                gr.Markdown("Asks the sample questions as this persona — the form as it stands, saved or not, with "
                            "its documents and style examples as the chat would — and scores each reply on "
                            "signature terms and the rules with patterns; a persona with a style also gets a "
                            "style score.")
                with gr.Row():
                    check_llm = gr.Dropdown(view.check_llm_choices(ctx), value=NOT_SET, label="Check with",
                                            allow_custom_value=True, min_width=200, elem_id="personas-check-llm")
                    check_model = gr.Textbox(label="Model", max_lines=1, placeholder="the backend's configured model",
                                             min_width=200, elem_id="personas-check-model")
                    check_mode = gr.Dropdown(view.mode_choices(None), value="", label="Mode", min_width=200,
                                             elem_id="personas-check-mode")
                with gr.Row():
                    check_button = gr.Button("Check persona", variant="secondary", scale=0, min_width=200,
                                             elem_id="personas-check")
                check_verdict_md = gr.Markdown(elem_id="personas-check-verdict")
                check_table = gr.Dataframe(headers=view.CHECK_HEADERS, value=None, interactive=False, wrap=True,
                                           column_widths=CHECK_COLUMN_WIDTHS, elem_id="personas-check-table")

            # -- Knowledge (issue 14): laid out, wired and handled in studio/knowledge_section.py ------
            knowledge_section.build(ctx, tab, loaded=loaded)

            # -- Reports: laid out, wired and handled in studio/reports_section.py -------------------
            reports_section.build(ctx, tab, loaded=loaded)

            # -- Review: laid out, wired and handled in studio/review_section.py ---------------------
            review_section.build(ctx, tab, loaded=loaded)

    ui: dict[str, Any] = {
        **field, "loaded": loaded, "portrait_from": portrait_from, "upload": upload, "snapshot": snapshot,
        "pending": pending, "persona_list": persona_list, "problems": problems, "delete_box": delete_box,
        "delete_text": delete_text, "discard_box": discard_box, "discard_text": discard_text, "heading": heading,
        "dirty": dirty, "status": status, "face_image": face_image, "face_facts": face_facts,
        "check_mode": check_mode, "verdict": check_verdict_md, "check_table": check_table,
    }
    form = [field[key] for key in FORM_KEYS]
    editor = [ui[name] for name in EDITOR]
    # Events that fill the whole editor show their spinner (or their error badge) on the status
    # line only, not over every field.
    ON_STATUS = {"show_progress_on": [status], **PRIVATE}

    # -- opening a persona or a new one, asking first when there are unsaved changes -----------------
    guard_inputs = [loaded, snapshot, upload, *form]
    guard_outputs = [*editor, discard_text]
    leave_for = bind(go_to, ctx, ui)
    persona_list.input(leave_for, [persona_list, *guard_inputs], guard_outputs, **ON_STATUS)
    new_button.click(lambda *args: leave_for("", *args), guard_inputs, guard_outputs, **ON_STATUS)
    discard_yes.click(bind(shown_errors(open_target), ctx, ui), pending, editor, **ON_STATUS)
    discard_no.click(keep_editing, None, [discard_box, pending], **QUIET)

    # -- unsaved changes -------------------------------------------------------------------------
    # .change, not .input: it also follows values set by open/save/duplicate (against their new
    # snapshot), and a pasted or autofilled value counts as an edit as much as a typed one.
    gr.on([component.change for component in form], mark, [snapshot, upload, *form], dirty,
          trigger_mode="always_last", concurrency_limit=None, **QUIET)
    for name in CONTROL_NAMES:  # moving a slider sets that control: no need to tick the box first
        field[name].input(None, None, field[f"{name}_set"], js="() => true", **PRIVATE)

    # -- portrait, voice, LLM ------------------------------------------------------------------------
    portrait_button.upload(bind(take_portrait, ctx, ui), [portrait_button, portrait_from],
                           [face_image, face_facts, upload, dirty], show_progress_on=[face_image], **PRIVATE)
    hear_button.click(bind(hear, ctx), [field["voice"], field["greeting"], field["voice_speed"], field["voice_pitch"]],
                      voice_audio, show_progress_on=[voice_audio], **PRIVATE)
    field["llm_backend"].change(bind(show_model_hint, ctx), field["llm_backend"], field["llm_model"], **QUIET)

    # -- save, duplicate, delete (after confirmation) ------------------------------------------------
    save_button.click(bind(save, ctx, ui), [loaded, portrait_from, upload, *form], [*editor, problems], **ON_STATUS)
    duplicate_button.click(bind(duplicate, ctx, ui), [portrait_from, upload, *form], editor, **ON_STATUS)
    delete_button.click(bind(ask_delete, ctx, ui), loaded, [delete_box, delete_text, discard_box], **ON_STATUS)
    delete_yes.click(bind(confirm_delete, ctx, ui), loaded, [*editor, problems], **ON_STATUS)
    delete_no.click(cancel_delete, None, delete_box, **QUIET)

    # -- the persona check -----------------------------------------------------------------------
    check_button.click(bind(check, ctx), [loaded, check_llm, check_model, check_mode, *form],
                       [check_verdict_md, check_table], concurrency_id="personas-check",
                       validator=quota(ctx, "check"), **PRIVATE)

    # -- what may have changed elsewhere: choices only, never the form's values ----------------------
    refreshed = [persona_list, problems, field["llm_backend"], check_llm, field["voice"]]
    refresh_choices = bind(refresh, ctx)
    tab.select(refresh_choices, None, refreshed, **QUIET)
    gr.on(None, refresh_choices, [], refreshed, **QUIET)  # page load: the list as it is now, not as at start-up


# -- opening a persona or a new one ----------------------------------------------------------------
@shown_errors
def go_to(ctx: StudioContext, target: str | None, current_id: str | None, base: dict | None, new_photo: str | None,
          *form_values: Any) -> dict[str, Any]:
    """Open ``target`` (a persona id, or "" for a new one) — or, with unsaved changes, ask first."""
    values = values_of(form_values)
    if is_dirty(values, base, new_photo):
        where = f"open **{_name_in(ctx.personas, target)}**" if target else "start a new persona"
        return {"persona_list": gr.update(value=current_id), "pending": target,
                "discard_box": gr.update(visible=True),
                "discard_text": f"You have unsaved changes. Discard them and {where}?",
                "delete_box": gr.update(visible=False)}
    return open_target(ctx, target)


def open_target(ctx: StudioContext, target: str | None) -> dict[str, Any]:
    """The editor on the saved persona ``target``, or on a new, blank one."""
    store = ctx.personas
    if target:
        persona = store.get(target)
        return editor_view(store, form_from_persona(persona), persona=persona, source=persona)
    return editor_view(store, blank_form(), persona=None, source=None)


def keep_editing() -> tuple:
    """(discard_box, pending): the question put away, the form as it was."""
    return gr.update(visible=False), None


# -- unsaved changes -------------------------------------------------------------------------------
def mark(base: dict | None, new_photo: str | None, *form_values: Any) -> str:
    """The "unsaved changes" mark, whenever a field changes."""
    return UNSAVED if is_dirty(values_of(form_values), base, new_photo) else ""


def values_of(form_values: tuple) -> dict[str, Any]:
    return dict(zip(FORM_KEYS, form_values))


def is_dirty(values: dict, base: dict | None, new_photo: str | None) -> bool:
    """The form differs from when it was last opened or saved, or holds a new photo."""
    return bool(new_photo) or values != (base or blank_form())


# -- portrait, voice, LLM ----------------------------------------------------------------------------
def take_portrait(ctx: StudioContext, photo: str | None, source_id: str | None) -> dict[str, Any]:
    """A new photo: shown with its face and landmarks when it can be animated; otherwise not
    taken, and the portrait the persona keeps is shown again under the reason."""
    try:
        image, facts = check_face(photo)
    except StudioError as error:
        gr.Warning(str(error))
        store = ctx.personas
        kept, _ = view.face_of(store, _persona_or_none(store, source_id), None)
        return {"face_image": kept, "upload": None,
                "face_facts": view.refused_photo(error, keeps_portrait=kept is not None)}
    return {"face_image": image, "face_facts": view.facts_markdown(facts, new=True), "upload": photo,
            "dirty": UNSAVED}


@shown_errors
def hear(ctx: StudioContext, voice: str | None, greeting: str | None, speed: float | None = None,
         pitch: float | None = None):
    """The greeting in the voice picked, at the speed and pitch on the sliders."""
    tuning = VoiceTuning.from_data({"speed": 1.0 if speed is None else speed, "pitch": 0.0 if pitch is None else pitch},
                                   "Voice speed and pitch")
    return voice_sample_audio(ctx.settings, voice or None, greeting or None, tuning)


def show_model_hint(ctx: StudioContext, backend: str | None):
    """The model box's placeholder: the model the backend picked uses when none is given."""
    return gr.update(placeholder=view.model_hint(ctx, backend))


# -- save, duplicate, delete -----------------------------------------------------------------------
@shown_errors
def save(ctx: StudioContext, current_id: str | None, source_id: str | None, new_photo: str | None,
         *form_values: Any) -> dict[str, Any]:
    store = ctx.personas
    saved = save_form(store, values_of(form_values), loaded_id=current_id, portrait_from=source_id,
                      upload=new_photo)
    message = saved_message(store, saved)
    gr.Info(message)
    return {**editor_view(store, form_from_persona(saved), persona=saved, source=saved, message=f"✓ {message}"),
            "persona_list": gr.update(choices=view.list_choices(store.list()), value=saved.id),
            "problems": view.problems(store.problems())}


@shown_errors
def duplicate(ctx: StudioContext, source_id: str | None, new_photo: str | None, *form_values: Any) -> dict[str, Any]:
    """The form as shown, as a new unsaved persona (the portrait comes along)."""
    store = ctx.personas
    copy = duplicate_form(store, values_of(form_values))
    source = _persona_or_none(store, source_id)
    return editor_view(store, copy, persona=None, source=source, new_photo=new_photo, base=blank_form(),
                       message=f"Duplicated as **{copy['name']}** (`{copy['id']}`): not saved yet — edit it and "
                               "press Save.")


@shown_errors
def ask_delete(ctx: StudioContext, current_id: str | None) -> dict[str, Any]:
    return {"delete_box": gr.update(visible=True), "delete_text": delete_warning(ctx.personas, current_id),
            "discard_box": gr.update(visible=False)}


@shown_errors
def confirm_delete(ctx: StudioContext, current_id: str | None) -> dict[str, Any]:
    store = ctx.personas
    message, example = delete_persona(store, current_id)
    gr.Info(message)
    shown = open_target(ctx, example.id if example else None)
    return {**shown, "status": message, "problems": view.problems(store.problems()),
            "persona_list": gr.update(choices=view.list_choices(store.list()), value=example.id if example else None)}


def cancel_delete():
    """The delete box put away."""
    return gr.update(visible=False)


# -- the persona check -----------------------------------------------------------------------------
@shown_errors
def check(ctx: StudioContext, current_id: str | None, llm_name: str | None, model: str | None, mode: str | None,
          *form_values: Any, progress=gr.Progress()) -> tuple:
    """(verdict, table): the form as it stands, saved or not, asked its sample questions with what
    the chat would give it — the saved persona's documents (its owner's) and its style's examples."""
    persona = persona_from_form(values_of(form_values), fallback_id=current_id or "new-persona")
    llm = persona_llm(ctx.settings, persona, llm_name or None, (model or "").strip() or None)
    report = run_check(persona, llm, mode=mode or None, progress=progress_callback(progress),
                       knowledge=Knowledge(ctx.settings, ctx.owner), cache=ctx.settings.cache)
    return view.check_verdict(report), view.check_rows(report)


def refresh(ctx: StudioContext) -> tuple:
    """(list, problems, LLM backend, check LLM, voice): choices only, never the form's values."""
    store = ctx.personas
    return (gr.update(choices=view.list_choices(store.list())), view.problems(store.problems()),
            gr.update(choices=view.persona_llm_choices(ctx)), gr.update(choices=view.check_llm_choices(ctx)),
            gr.update(choices=voice_choices(ctx.settings)))


# -- the editor ------------------------------------------------------------------------------------
def editor_view(store, values: dict, *, persona: Persona | None, source: Persona | None,
                new_photo: str | None = None, base: dict | None = None, message: str = "") -> dict[str, Any]:
    """Everything the editor shows for ``values``, by ``EDITOR`` name; ``persona``: the saved one it
    edits, ``source``: the one whose portrait it shows."""
    base = values if base is None else base
    image, facts = view.face_of(store, source, new_photo)
    return {
        **{key: values[key] for key in FORM_KEYS},
        "loaded": persona.id if persona else None, "portrait_from": source.id if source else None,
        "upload": new_photo, "snapshot": base, "heading": view.heading(persona),
        "dirty": UNSAVED if is_dirty(values, base, new_photo) else "", "status": message,
        "face_image": image, "face_facts": facts,
        "check_mode": gr.update(choices=view.mode_choices(persona or _quietly(values)), value=""),
        "verdict": "", "check_table": None,
        "persona_list": gr.update(value=persona.id if persona else None),
        "delete_box": gr.update(visible=False), "discard_box": gr.update(visible=False), "pending": None,
    }


def _persona_or_none(store, slug: str | None) -> Persona | None:
    """The saved persona ``slug``, or None when there is none (any more)."""
    try:
        return store.get(slug) if slug else None
    except BadInput:
        return None


def _name_in(store, slug: str) -> str:
    persona = _persona_or_none(store, slug)
    return persona.name if persona else slug


def _quietly(values: dict) -> Persona | None:
    """The form as a persona when it is valid (for choices derived from it), else None."""
    try:
        return persona_from_form(values, fallback_id="new-persona")
    except StudioError:
        return None
