"""A persona as the studio's editor shows it: a flat set of plain values, and back.

The Personas tab edits one persona as ``FORM_KEYS`` → value (text boxes, dropdowns, a checkbox and
a slider per default control). ``form_from_persona`` and ``persona_from_form`` convert; the
``Persona`` model does all the validation, and every message it raises comes back prefixed with the
label of the form field it concerns (and the line, for fields edited one entry per line), e.g.
``Signature vocabulary, line 3: signature_vocabulary[2] 'trade-off' is listed twice``.

The text formats are chosen to be forgiving to type:

- Lists (expertise, signature vocabulary, sample questions): one entry per line. Blank lines and
  leading bullets ("- ", "* ", "• ") are ignored, so a list pasted from a document just works.
- Rules: one rule per line; a pattern the persona check can test goes on its own (indented) line
  under its rule, as ``require: REGEX`` (always-rules) or ``forbid: REGEX`` (never-rules). Patterns
  are taken literally — backslashes as typed, no quoting — which YAML would not do: in YAML ``"\\b"``
  in double quotes is a backspace, and a pattern starting with ``[`` or ``*`` or holding ``: `` is
  not a plain scalar. Surrounding spaces are trimmed (write ``\\s`` for a meaningful one).
- Modes: YAML in exactly the shape of ``persona.yaml``'s ``modes`` (name → description,
  instructions, always, never, in_persona). Modes are nested and their instructions span lines,
  which is what YAML is good at, and it is the same text a person sees in the file.
- Default controls: each of the five has a "set" checkbox beside its slider; unticked means "the
  controller decides" (the key is left out of the persona). Emotion ``""`` means the same.
- ``grounded`` (``knowledge.grounded``): a checkbox, ticked when the persona answers only from its
  documents.
- Style (``style``): ``style_description`` is plain text; ``style_phrases`` one phrase per line,
  like the other lists; ``style_examples`` one example per paragraph — examples are separated by a
  blank line, and the lines of one example may wrap. A sample is a paragraph (that is how learning
  cuts a text into samples, and an example may hold no blank line), so a pasted set of posts with
  a blank line between them is a set of examples as it stands. A mistake is named by the field and
  the line, or the example's number and line (``Style examples, example 3 (line 7): …``). The
  Style section of the studio fills these three from what it learned; Save keeps them.
- ``spoken_sentences`` (``speaking.max_sentences``): a slider, 1–12 sentences a spoken reply may
  have (3 by default).
- ``hold_replies`` (``review.hold_replies``): a checkbox, ticked when its replies wait for the
  creator's review before they are delivered.
- ``voice_speed`` and ``voice_pitch`` (``voice_tuning.speed`` and ``.pitch``): sliders, 1 and 0 by
  default, which leave ``voice_tuning`` out of the file.

Also here, because they are decisions and not layout: where the editor's portrait comes from on
save (``save_form``), what a duplicate is called (``duplicate_form``), and what may be deleted and
what the confirmation says (``delete_warning``, ``delete_persona``). How the list labels personas
and how a persona check's report is shown are the studio's (``studio/personas_view.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from pipeline.controls import CONTROL_NAMES, Controls
from pipeline.errors import BadInput
from pipeline.speech.tuning import VoiceTuning

from .model import Mode, Persona, Rule, Speaking, StyleUse, check_slug
from .store import PERSONA_FILE, PersonaStore
from .yamlfile import (
    StrictLoader,  # the persona files' own loader: a repeated key is an error, not lost
)

TEXT_KEYS = ("id", "name", "identity", "expertise", "tone", "signature_vocabulary", "greeting", "always", "never",
             "modes", "sample_questions")
CHOICE_KEYS = ("voice", "llm_backend", "llm_model", "emotion")
CONTROL_KEYS = tuple(key for name in CONTROL_NAMES for key in (f"{name}_set", name))
FLAG_KEYS = ("grounded", "hold_replies")
STYLE_KEYS = ("style_description", "style_phrases", "style_examples")
NUMBER_KEYS = ("spoken_sentences", "voice_speed", "voice_pitch")
FORM_KEYS = TEXT_KEYS + CHOICE_KEYS + CONTROL_KEYS + FLAG_KEYS + STYLE_KEYS + NUMBER_KEYS
NOT_SET = ""  # a dropdown's value for "not set" (voice, LLM backend, emotion)

LABELS = {
    "id": "Id", "name": "Name", "identity": "Identity", "expertise": "Expertise", "tone": "Tone",
    "signature_vocabulary": "Signature vocabulary", "greeting": "Greeting", "always": "Always rules",
    "never": "Never rules", "modes": "Modes", "sample_questions": "Sample questions", "voice": "Voice",
    "llm": "LLM", "default_controls": "Default controls", "portrait": "Portrait", "knowledge": "Knowledge",
    "speaking": "Spoken reply length",
    "voice_tuning": "Voice speed and pitch",
    "style": "Style",
    "review": "Review",
}
STYLE_LABELS = {"description": "Style description", "phrases": "Style phrases", "examples": "Style examples"}
LIST_KEYS = ("expertise", "signature_vocabulary", "sample_questions")
PATTERN_KEY = {"always": "require", "never": "forbid"}

_BULLET = re.compile(r"^(?:[-*•]\s+)")
# Lower case only: "Require: a source" is a rule in words, not a pattern.
_PATTERN_LINE = re.compile(r"^\s*(?:[-*•]\s+)?(require|forbid):(.*)$")
_FIELD = re.compile(r"^([a-z_]+)(?:\[(\d+)\])?")
_COPY_SUFFIX = re.compile(r"\s*\(copy\)$")
_PARAGRAPH = re.compile(r"\S(?:.|\n(?![ \t]*\n))*")  # text up to the next blank line


# -- persona → form ------------------------------------------------------------------------------
def blank_form() -> dict[str, Any]:
    """The form of a new persona: empty text, nothing set."""
    values: dict[str, Any] = {key: "" for key in TEXT_KEYS + CHOICE_KEYS + STYLE_KEYS}
    values["grounded"] = False
    values["hold_replies"] = False
    values["spoken_sentences"] = Speaking().max_sentences
    values["voice_speed"], values["voice_pitch"] = VoiceTuning().speed, VoiceTuning().pitch
    defaults = Controls()
    for name in CONTROL_NAMES:
        values[f"{name}_set"] = False
        values[name] = getattr(defaults, name)  # where the slider rests while unset
    return values


def form_from_persona(persona: Persona) -> dict[str, Any]:
    values = blank_form()
    values.update({
        "id": persona.id, "name": persona.name, "identity": persona.identity, "tone": persona.tone,
        "greeting": persona.greeting,
        **{key: "\n".join(getattr(persona, key)) for key in LIST_KEYS},
        "always": format_rules(persona.always, "always"), "never": format_rules(persona.never, "never"),
        "modes": format_modes(persona.modes),
        "voice": persona.voice or NOT_SET, "llm_backend": persona.llm.backend or NOT_SET,
        "llm_model": persona.llm.model or "", "emotion": persona.default_controls.get("emotion", NOT_SET),
        "grounded": persona.knowledge.grounded, "style_description": persona.style.description,
        "style_phrases": "\n".join(persona.style.phrases), "style_examples": "\n\n".join(persona.style.examples),
        "hold_replies": persona.review.hold_replies, "spoken_sentences": persona.speaking.max_sentences,
        "voice_speed": persona.voice_tuning.speed, "voice_pitch": persona.voice_tuning.pitch,
    })
    for name in CONTROL_NAMES:
        if name in persona.default_controls:
            values[f"{name}_set"], values[name] = True, float(persona.default_controls[name])
    return values


def format_rules(rules: Iterable[Rule], kind: str) -> str:
    """Rules in the editor's line format (see the module docstring)."""
    key = PATTERN_KEY[kind]
    lines = []
    for rule in rules:
        lines.append(rule.text)
        lines += [f"    {key}: {pattern}" for pattern in getattr(rule, key)]
    return "\n".join(lines)


class _ModesDumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)  # "always:\n  - item", as in persona.yaml


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value and dumper.analyze_scalar(value + "\n").allow_block:  # instructions: a readable | block
        return dumper.represent_scalar("tag:yaml.org,2002:str", value + "\n", style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_ModesDumper.add_representer(str, _represent_text)


def format_modes(modes: Iterable[Mode]) -> str:
    data = {mode.name: mode.to_data() for mode in modes}
    if not data:
        return ""
    return yaml.dump(data, Dumper=_ModesDumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     indent=2, width=1000).rstrip("\n")


# -- form → persona ------------------------------------------------------------------------------
def persona_from_form(values: Mapping[str, Any], *, portrait: str | None = None,
                      fallback_id: str | None = None) -> Persona:
    """The persona the form describes. ``fallback_id`` is used when the id box is empty (a new
    persona: the caller derives one from the name). Any problem → ``BadInput`` naming the field."""
    values = {**blank_form(), **{key: value for key, value in values.items() if value is not None}}
    slug = str(values["id"]).strip() or fallback_id
    if not slug:
        raise BadInput("Id: give the persona an id (lowercase letters, digits and hyphens), or a name to make one from")
    check_slug(slug, "Id")
    lines: dict[str, list[int]] = {}
    lists = {}
    for key in LIST_KEYS:
        lists[key], lines[key] = _entries(values[key])
    controls: dict[str, float | str] = {name: float(values[name]) for name in CONTROL_NAMES if values[f"{name}_set"]}
    if str(values["emotion"]).strip():
        controls["emotion"] = str(values["emotion"]).strip()
    backend = str(values["llm_backend"]).strip() or None
    model = str(values["llm_model"]).strip() or None
    style = parse_style(values["style_description"], values["style_phrases"], values["style_examples"])
    try:
        return Persona(
            id=slug, name=values["name"], identity=values["identity"], tone=values["tone"],
            greeting=values["greeting"], **lists,
            always=parse_rules(values["always"], "always"), never=parse_rules(values["never"], "never"),
            modes=parse_modes(values["modes"]), portrait=portrait, voice=str(values["voice"]).strip() or None,
            llm={"backend": backend, "model": model}, knowledge={"grounded": bool(values["grounded"])},
            style=style, review={"hold_replies": bool(values["hold_replies"])},
            speaking={"max_sentences": _whole(values["spoken_sentences"])}, default_controls=controls,
            voice_tuning={"speed": values["voice_speed"], "pitch": values["voice_pitch"]},
        )
    except BadInput as error:
        raise _naming_the_field(error, lines) from None


def _whole(value: Any) -> Any:
    """A slider's 3.0 as 3; anything else as it is, for the model to name what is wrong with it."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def parse_rules(text: str, kind: str) -> tuple[Rule, ...]:
    """Rules from the editor's line format; ``kind`` is "always" or "never"."""
    own = PATTERN_KEY[kind]
    label = LABELS[kind]
    rules: list[tuple[str, list[str], int]] = []  # (text, patterns, line)
    for number, line in enumerate(str(text or "").splitlines(), 1):
        if not line.strip():
            continue
        pattern = _PATTERN_LINE.match(line)
        if pattern:
            key, value = pattern.group(1), pattern.group(2).strip()
            if key != own:
                other = "never" if kind == "always" else "always"
                raise BadInput(f"{label}, line {number}: {kind}-rules take '{own}:' patterns, not '{key}:' "
                               f"(a rule with '{key}:' patterns belongs under {LABELS[other]})")
            if not rules:
                raise BadInput(f"{label}, line {number}: '{own}:' needs a rule above it — write the rule in "
                               "words on its own line first")
            rules[-1][1].append(value)
            continue
        rule_text = _BULLET.sub("", line.strip())
        if rule_text.startswith("rule:"):  # pasted from a persona file
            rule_text = rule_text[len("rule:"):].strip()
        rules.append((rule_text, [], number))
    parsed = []
    for rule_text, patterns, number in rules:
        try:
            parsed.append(Rule(rule_text, **{own: tuple(patterns)}))
        except BadInput as error:
            raise BadInput(f"{label}, line {number}: {error}") from None
    return tuple(parsed)


def parse_style(description: str, phrases: str, examples: str) -> StyleUse:
    """The style section from its three fields (see the module docstring); a mistake names the
    field and the line."""
    phrase_list, phrase_lines = _entries(phrases)
    example_list, example_lines = [], []
    text = str(examples or "").replace("\r\n", "\n")
    for found in _PARAGRAPH.finditer(text):
        example_list.append(found.group().rstrip())
        example_lines.append(text.count("\n", 0, found.start()) + 1)
    try:
        return StyleUse(description=str(description or ""), phrases=tuple(phrase_list),
                        examples=tuple(example_list))
    except BadInput as error:
        match = _FIELD.match(str(error))
        if match and match.group(1) == "examples" and match.group(2) is not None:
            index = int(match.group(2))
            raise BadInput(f"{STYLE_LABELS['examples']}, example {index + 1} (line {example_lines[index]}): "
                           f"{error}") from None
        raise _naming_the_field(error, {"phrases": phrase_lines}, STYLE_LABELS) from None


def parse_modes(text: str) -> dict[str, Any]:
    """The modes YAML as the mapping ``Persona`` takes (checked there)."""
    if not str(text or "").strip():
        return {}
    try:
        data = yaml.load(str(text), Loader=StrictLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = " ".join(str(getattr(error, "problem", None) or error).split())
        raise BadInput(f"Modes: not valid YAML, {where}{problem}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise BadInput("Modes: write each mode as its name followed by a colon, with its description and "
                       "instructions indented below it (as in persona.yaml)")
    return dict(data)


def _entries(text: str) -> tuple[list[str], list[int]]:
    """Non-blank lines without bullets, and the line number of each."""
    entries, numbers = [], []
    for number, line in enumerate(str(text or "").splitlines(), 1):
        entry = _BULLET.sub("", line.strip())
        if entry:
            entries.append(entry)
            numbers.append(number)
    return entries, numbers


def _naming_the_field(error: BadInput, lines: Mapping[str, list[int]],
                      labels: Mapping[str, str] = LABELS) -> BadInput:
    message = str(error)
    match = _FIELD.match(message)
    if match is None or match.group(1) not in labels:
        return BadInput(message)
    key, index = match.group(1), match.group(2)
    where = labels[key]
    if index is not None and key in lines and int(index) < len(lines[key]):
        where += f", line {lines[key][int(index)]}"
    return BadInput(f"{where}: {message}")


# -- saving, duplicating, deleting ---------------------------------------------------------------
def save_form(store: PersonaStore, values: Mapping[str, Any], *, loaded_id: str | None = None,
              portrait_from: str | None = None, upload: str | Path | None = None) -> Persona:
    """Save what the form shows and return the persona as stored.

    ``loaded_id``: the saved persona the form was opened from (None: a new one). A different id in
    the form saves a new persona, and may not take an id that exists. ``portrait_from``: the
    persona whose portrait the form shows (the one duplicated, say); ``upload``: a new photo, which
    must pass the face check. An empty id is made from the name."""
    # The face mesh is imported only when a photo is saved.
    from pipeline.face.check import check_face

    fallback = loaded_id or (store.free_id(str(values.get("name") or "")) if str(values.get("name") or "").strip()
                             else None)
    persona = persona_from_form(values, fallback_id=fallback)
    if persona.id != loaded_id and store.exists(persona.id):
        raise BadInput(f"Id: a persona with the id {persona.id!r} already exists; open it to edit it, or pick "
                       f"another id (e.g. {store.free_id(persona.name)!r})")
    if upload:
        check_face(upload)  # the render would refuse it later; better now, in the loader's words
        return store.save(persona, portrait=upload)
    source = _portrait_source(store, portrait_from)
    if source is None:
        return store.save(persona)
    if source.id == persona.id:  # same persona: the store keeps (or copies from the example) its file
        return store.save(replace(persona, portrait=source.portrait))
    path = store.portrait_path(source)
    return store.save(persona, portrait=path) if path else store.save(persona)


def _portrait_source(store: PersonaStore, slug: str | None) -> Persona | None:
    if not slug:
        return None
    try:
        persona = store.get(slug)
    except BadInput:  # deleted meanwhile: the new persona simply has no portrait yet
        return None
    return persona if persona.portrait else None


def saved_file(store: PersonaStore, persona: Persona) -> Path:
    """Where ``persona`` is saved (its ``persona.yaml`` in the data dir)."""
    return store.user_dir / persona.id / PERSONA_FILE


def saved_message(store: PersonaStore, persona: Persona) -> str:
    path = saved_file(store, persona)
    if persona.origin == "edited-example":
        return (f"Saved your copy of the example {persona.name!r} to {path}. Deleting it brings the shipped "
                "example back.")
    return f"Saved {persona.name!r} to {path}."


def duplicate_form(store: PersonaStore, values: Mapping[str, Any]) -> dict[str, Any]:
    """The form as shown, renamed "<name> (copy)" with a free id: a new, unsaved persona."""
    copy = {**blank_form(), **dict(values)}
    name = _COPY_SUFFIX.sub("", str(copy.get("name") or "").strip()) or "Persona"
    copy["name"] = f"{name} (copy)"  # a copy of a copy is "X (copy)" again; its id tells them apart
    copy["id"] = store.free_id(copy["name"])
    return copy


def delete_warning(store: PersonaStore, slug: str | None) -> str:
    """What the delete confirmation asks; ``BadInput`` when there is nothing that can be deleted."""
    if not slug:
        raise BadInput("This persona has not been saved, so there is nothing to delete; pick another "
                       "persona or start a new one to discard it.")
    persona = store.get(slug)
    if persona.origin == "example":
        raise BadInput(f"{persona.name!r} is a shipped example and cannot be deleted. Editing and saving it "
                       "makes your own copy, which can be deleted to bring the example back.")
    if persona.origin == "edited-example":
        return (f"Delete your edited copy of **{persona.name}** (`{persona.id}`)? The shipped example "
                f"comes back in its place.")
    return f"Delete **{persona.name}** (`{persona.id}`) and its portrait? This cannot be undone."


def delete_persona(store: PersonaStore, slug: str) -> tuple[str, Persona | None]:
    """Delete a persona made or edited in the studio; returns what to tell the user and the
    shipped example that is back in its place (None when none is)."""
    persona = store.get(slug)
    store.delete(slug)
    if persona.origin == "edited-example":  # the example is back, and keeps the documents it was given
        example = store.get(slug)
        return f"Deleted your copy of {persona.name!r}; the shipped example {example.name!r} is back.", example
    # Gone for good: its documents go too, or a persona saved later under this id would inherit them.
    from pipeline.db.knowledge import KnowledgeStore

    forgotten = KnowledgeStore(store.settings.db_path, store.owner).remove_all(slug)
    documents = f" and its {forgotten} document{'s' if forgotten != 1 else ''}" if forgotten else ""
    return f"Deleted {persona.name!r} ({persona.id}){documents}.", None
