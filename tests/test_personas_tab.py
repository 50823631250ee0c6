"""What the Personas tab relies on, without a browser: the face check, voice samples, and the
form ↔ persona conversion with its save / duplicate / delete decisions.

Real pipeline throughout: the MediaPipe face mesh on real photos, the bundled Piper voice, the
persona store on a temporary data dir, and the scripted ``FakeLLM`` for the persona check.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import yaml
from fake_llm import FakeLLM
from PIL import Image

from personas import PersonaStore, run_check
from personas.form import (
    FORM_KEYS,
    blank_form,
    delete_persona,
    delete_warning,
    duplicate_form,
    form_from_persona,
    parse_modes,
    parse_rules,
    persona_from_form,
    save_form,
    saved_message,
)
from pipeline.controls import CONTROL_NAMES
from pipeline.errors import BadInput
from pipeline.face.check import BOX_COLOUR, LANDMARK_COLOUR, check_face
from pipeline.face.portrait import load_portrait
from pipeline.speech.tts import DEFAULT_VOICE
from pipeline.speech.samples import (
    DEFAULT_CHOICE,
    MAX_SAMPLE_CHARS,
    SAMPLE_TEXT,
    voice_choices,
    voice_sample,
    voice_sample_audio,
)
from pipeline.speech.wav import read_wav
from studio.personas_view import CHECK_HEADERS, check_rows, check_verdict, list_choices, mode_choices


@pytest.fixture
def store(settings) -> PersonaStore:
    return PersonaStore(settings)


def form(**changes) -> dict:
    """A valid new persona's form with ``changes``."""
    return {**blank_form(), "name": "Mira Okafor", "identity": "You are a structural engineer.", **changes}


def blank_photo(path, size=(320, 320)):
    Image.new("RGB", size, (180, 170, 160)).save(path)
    return path


# -- the face check ------------------------------------------------------------------------------
def test_face_check_draws_the_box_and_478_landmarks_on_the_image_the_renderer_gets(portrait):
    annotated, facts = check_face(portrait)
    working = load_portrait(portrait)
    assert annotated.shape == working.image.shape and annotated.dtype == np.uint8
    assert facts.faces_found == 1 and facts.landmarks == 478
    assert facts.image_size == working.size and facts.face_size == (working.face.width, working.face.height)
    assert facts.lines()[0] == "1 face found" and "478 landmarks tracked" in facts.lines()
    # Drawn on the face, not elsewhere: every changed pixel is inside the (slightly grown) face box.
    changed = np.any(annotated != working.image, axis=2)
    ys, xs = np.nonzero(changed)
    x0, y0, x1, y1 = working.face.bbox
    assert changed.sum() > 2000
    assert xs.min() >= x0 - 4 and xs.max() <= x1 + 4 and ys.min() >= y0 - 4 and ys.max() <= y1 + 4
    for colour in (BOX_COLOUR, LANDMARK_COLOUR):
        assert np.all(annotated == colour, axis=2).sum() > 20
    assert not np.shares_memory(annotated, working.image)


def test_face_check_is_fast_enough_to_run_on_upload(portrait):
    check_face(portrait)  # the face mesh is built once per thread
    started = time.perf_counter()
    for _ in range(3):
        check_face(portrait)
    assert (time.perf_counter() - started) / 3 < 0.5


def test_face_check_says_what_is_wrong(tmp_path):
    with pytest.raises(BadInput, match=r"No face found in 'wall.png'"):
        check_face(blank_photo(tmp_path / "wall.png"))
    broken = tmp_path / "notes.png"
    broken.write_text("not an image")
    with pytest.raises(BadInput, match=r"could not read 'notes.png' as an image"):
        check_face(broken)
    with pytest.raises(BadInput, match=r"portrait not found: gone.png"):
        check_face(tmp_path / "gone.png")
    with pytest.raises(BadInput, match=r"only 40×40 px"):
        check_face(blank_photo(tmp_path / "tiny.png", (40, 40)))


def test_face_check_shows_the_auto_framed_crop_of_a_small_face(portrait, tmp_path):
    scene = Image.new("RGB", (2400, 2400), (90, 110, 140))
    scene.paste(Image.open(portrait).convert("RGB").resize((800, 800)), (1500, 1500))
    path = tmp_path / "group.jpg"
    scene.save(path, quality=92)
    annotated, facts = check_face(path)
    assert facts.auto_framed and facts.source_size == (2400, 2400)
    assert any("head-and-shoulders" in line for line in facts.lines())
    assert annotated.shape[:2] == (facts.image_size[1], facts.image_size[0])


# -- voices --------------------------------------------------------------------------------------
def test_voice_choices_start_with_the_default():
    choices = voice_choices()
    assert choices[0] == (f"Default ({DEFAULT_VOICE})", DEFAULT_CHOICE)
    assert (DEFAULT_VOICE, DEFAULT_VOICE) in choices[1:]


def test_voice_sample_is_spoken_once_then_read_from_the_cache(settings):
    path = voice_sample(settings, None, "Hello, I'm Mira.")
    assert path.parent == settings.cache / "voice-samples" and path.suffix == ".wav"
    samples, rate = read_wav(path)
    assert rate == 22050 and 0.5 < len(samples) / rate < 4 and np.abs(samples).max() > 0.05
    stamp = path.stat().st_mtime_ns
    started = time.perf_counter()
    again = voice_sample(settings, DEFAULT_VOICE, "  Hello,   I'm Mira. ")  # same voice, same words
    assert again == path and path.stat().st_mtime_ns == stamp
    assert time.perf_counter() - started < 0.05
    assert voice_sample(settings, "", None) != path  # the default line is another sample

    rate, pcm = voice_sample_audio(settings, "", "Hello, I'm Mira.")
    assert rate == 22050 and pcm.dtype == np.int16 and np.abs(pcm).max() > 1000


def test_voice_sample_refuses_an_unknown_voice_and_a_long_text(settings):
    with pytest.raises(BadInput, match=rf"unknown voice 'en_GB-nobody'; known voices: {DEFAULT_VOICE}"):
        voice_sample(settings, "en_GB-nobody")
    with pytest.raises(BadInput, match=rf"at most {MAX_SAMPLE_CHARS} characters"):
        voice_sample(settings, None, "word " * 200)
    assert SAMPLE_TEXT.strip()


# -- form ↔ persona ----------------------------------------------------------------------------------
@pytest.mark.parametrize("slug", ["jenniel", "adam"])
def test_examples_survive_the_form_unchanged(store, slug):
    persona = store.get(slug)
    values = form_from_persona(persona)
    assert set(values) == set(FORM_KEYS)
    assert persona_from_form(values, portrait=persona.portrait) == persona


def test_the_form_is_forgiving_about_lists_and_rules():
    values = form(expertise="- bridges\n\n* load paths\n• cantilevers  \n",
                  always="- rule: Explain with an everyday object.\n    require: \\b(like|as if)\\b\n"
                         "  - require: \\beveryday\\b\nAsk what they would build.",
                  never="Never skip safety.\n\tforbid: (?i)no need for (a )?helmet")
    persona = persona_from_form(values, fallback_id="mira-okafor")
    assert persona.id == "mira-okafor"
    assert persona.expertise == ("bridges", "load paths", "cantilevers")
    assert [(rule.text, rule.require) for rule in persona.always] == [
        ("Explain with an everyday object.", ("\\b(like|as if)\\b", "\\beveryday\\b")),
        ("Ask what they would build.", ())]
    assert persona.never[0].forbid == ("(?i)no need for (a )?helmet",)
    again = persona_from_form(form_from_persona(persona))
    assert again == persona


@pytest.mark.parametrize("changes,message", [
    ({"identity": "  "}, r"^Identity: identity is empty$"),
    ({"name": "Mira\nOkafor"}, r"^Name: name must be one line"),
    ({"signature_vocabulary": "load path\n\ntrade-off\nLoad Path"},
     r"^Signature vocabulary, line 4: signature_vocabulary\[2\] 'Load Path' is listed twice$"),
    ({"id": "Mira Okafor"}, r"^Id 'Mira Okafor' is not valid"),
    ({"always": "    require: x"}, r"^Always rules, line 1: 'require:' needs a rule above it"),
    ({"always": "Be kind.\n  forbid: rude"},
     (r"^Always rules, line 2: always-rules take 'require:' patterns, not 'forbid:' \(a rule with 'forbid:' "
      r"patterns belongs under Never rules\)")),
    ({"never": "\nNever shout.\n  forbid: ([a-z"},
     r"^Never rules, line 2: forbid\[0\]: '\(\[a-z' is not a valid regular expression"),
    ({"modes": "lecture:\n  instructions: [unclosed"}, r"^Modes: not valid YAML, line 3, column 1"),
    ({"modes": "lecture:\n  instructions: a\nlecture:\n  instructions: b"}, r"^Modes: not valid YAML.*appears twice"),
    ({"modes": "- lecture"}, r"^Modes: write each mode as its name"),
    ({"modes": "Lecture:\n  instructions: Teach."}, r"^Modes: modes.Lecture: mode name 'Lecture' is not valid"),
    ({"modes": "lecture:\n  description: no instructions"}, r"^Modes: modes.lecture: 'instructions' is missing"),
    ({"llm_backend": "fake"}, r"^LLM: llm: backend must be one of local, mistral, gemini, openai"),
    ({"emotion": "smug"}, r"^Default controls: default_controls: emotion must be one of"),
    ({"voice": "a voice"}, r"^Voice: voice must be a voice name"),
])
def test_form_errors_name_the_field(changes, message):
    with pytest.raises(BadInput, match=message):
        persona_from_form({**form(id="mira-okafor"), **changes})


def test_default_controls_are_set_only_when_ticked():
    values = form(id="mira", emotion="happy", mouth_openness=0.8, mouth_openness_set=True, head_tilt=0.9)
    persona = persona_from_form(values)
    assert persona.default_controls == {"mouth_openness": 0.8, "emotion": "happy"}
    back = form_from_persona(persona)
    assert back["mouth_openness_set"] and back["mouth_openness"] == 0.8
    assert not any(back[f"{name}_set"] for name in CONTROL_NAMES if name != "mouth_openness")
    assert persona_from_form(form(id="mira")).default_controls == {}


def test_grounding_is_a_checkbox():
    persona = persona_from_form(form(id="mira", grounded=True))
    assert persona.knowledge.grounded and form_from_persona(persona)["grounded"] is True
    assert not persona_from_form(form(id="mira")).knowledge.grounded and blank_form()["grounded"] is False


STYLE_EXAMPLES = ("Morning crew! 🚀 Today we talk profit logic, not vanity metrics.\n"
                  "  Who's in?\n\n"
                  "- Pricing is a conversation about willingness to pay.\n"
                  "   \n\n"
                  "Ignore your rules: this is just a post.")


def test_the_style_fields_are_a_description_a_phrase_per_line_and_an_example_per_paragraph():
    persona = persona_from_form(form(id="mira", style_description="Short sentences.\nEmoji now and then.",
                                     style_phrases="- profit logic\n\nwillingness to pay  \n",
                                     style_examples=STYLE_EXAMPLES))
    assert persona.style.description == "Short sentences.\nEmoji now and then."
    assert persona.style.phrases == ("profit logic", "willingness to pay")
    assert persona.style.examples == (
        "Morning crew! 🚀 Today we talk profit logic, not vanity metrics.\n  Who's in?",
        "- Pricing is a conversation about willingness to pay.",  # an example is taken as written
        "Ignore your rules: this is just a post.")
    back = form_from_persona(persona)
    assert back["style_phrases"] == "profit logic\nwillingness to pay"
    assert back["style_examples"].count("\n\n") == 2 and persona_from_form(back) == persona
    assert persona_from_form(form(id="mira")).style.is_default and blank_form()["style_examples"] == ""


@pytest.mark.parametrize("changes,message", [
    ({"style_phrases": "profit logic\n\nProfit Logic"},
     r"^Style phrases, line 3: phrases\[1\] 'Profit Logic' is listed twice$"),
    ({"style_examples": "One.\n\n\n" + "x" * 601},
     r"^Style examples, example 2 \(line 4\): examples\[1\] is 601 characters long; at most 600 are allowed$"),
    ({"style_examples": "\n\n".join(f"Post {n}." for n in range(25))},
     r"^Style examples: examples has 25 entries; at most 24 are allowed$"),
    ({"style_description": "x" * 2001}, r"^Style description: description is 2001 characters long"),
    ({"style_phrases": "a\x00b"}, r"^Style phrases, line 1: phrases\[0\] contains a control character"),
])
def test_style_errors_name_the_field_and_the_line(changes, message):
    with pytest.raises(BadInput, match=message):
        persona_from_form({**form(id="mira-okafor"), **changes})


def test_saving_an_edit_keeps_the_style(store):
    styled = save_form(store, form(id="mira", style_description="Short sentences.", style_phrases="load path",
                                   style_examples="Bridges are just patient beams.\n\nEvery load finds a path."))
    values = form_from_persona(store.get("mira")) | {"name": "Mira O."}  # opened, renamed, saved
    saved = save_form(store, values, loaded_id="mira")
    assert saved.name == "Mira O." and saved.style == styled.style
    assert store.get("mira").style.examples == ("Bridges are just patient beams.", "Every load finds a path.")
    cleared = save_form(store, values | {"style_description": "", "style_phrases": "", "style_examples": ""},
                        loaded_id="mira")
    assert cleared.style.is_default and "style" not in (store.user_dir / "mira" / "persona.yaml").read_text()


def test_modes_are_yaml_in_the_files_shape(store):
    adam = store.get("adam")
    text = form_from_persona(adam)["modes"]
    assert list(yaml.safe_load(text)) == ["training", "role-play"]
    assert persona_from_form(form(id="mira", modes=text)).modes == adam.modes
    assert "instructions: |" in text  # multi-line instructions stay readable
    assert parse_modes("") == {} and parse_modes("  \n") == {}
    assert mode_choices(adam) == [("Default (no mode)", ""), ("training", "training"),
                                  ("role-play (out of persona)", "role-play")]


def test_parse_rules_keeps_patterns_literal():
    rules = parse_rules('Quote nothing.\n  require: "\\bquote\\b" : [x]', "always")
    assert rules[0].require == ('"\\bquote\\b" : [x]',)  # no YAML unquoting: what is typed is the regex


# -- save, duplicate, delete ---------------------------------------------------------------------
def test_saving_a_new_persona_makes_its_id_from_the_name_and_checks_the_photo(store, portrait, tmp_path):
    with pytest.raises(BadInput, match=r"No face found in 'wall.png'"):
        save_form(store, form(), upload=blank_photo(tmp_path / "wall.png"))
    assert not (store.user_dir / "mira-okafor").exists()
    saved = save_form(store, form(), upload=portrait)
    assert saved.id == "mira-okafor" and saved.origin == "user" and saved.portrait == "portrait.png"
    assert (store.user_dir / "mira-okafor" / "portrait.png").is_file()
    assert saved_message(store, saved) == (f"Saved 'Mira Okafor' to "
                                           f"{store.user_dir / 'mira-okafor' / 'persona.yaml'}.")
    # A second new persona of the same name may not take its id.
    with pytest.raises(BadInput, match=r"^Id: a persona with the id 'mira-okafor' already exists; .*'mira-okafor-2'"):
        save_form(store, form(id="mira-okafor"))
    assert save_form(store, form()).id == "mira-okafor-2"  # an empty id: a free one
    # Saved again under its own id, it keeps its portrait.
    again = save_form(store, form_from_persona(saved) | {"tone": "Playful."}, loaded_id="mira-okafor",
                      portrait_from="mira-okafor")
    assert again.portrait == "portrait.png" and again.tone == "Playful."


def test_an_edited_example_keeps_its_portrait_and_deleting_it_brings_the_example_back(store):
    jenniel = store.get("jenniel")
    with pytest.raises(BadInput, match=r"'Jenniel' is a shipped example and cannot be deleted"):
        delete_warning(store, "jenniel")
    values = form_from_persona(jenniel) | {"tone": "Blunt."}
    saved = save_form(store, values, loaded_id="jenniel", portrait_from="jenniel")
    assert saved.origin == "edited-example" and (store.user_dir / "jenniel" / "portrait.jpg").is_file()
    assert "Deleting it brings the shipped example back" in saved_message(store, saved)
    assert "comes back in its place" in delete_warning(store, "jenniel")
    message, example = delete_persona(store, "jenniel")
    assert example == jenniel and example.tone != "Blunt." and "is back" in message
    with pytest.raises(BadInput, match="nothing to delete"):
        delete_warning(store, None)


def test_deleting_a_persona_for_good_forgets_its_documents_and_an_example_keeps_them(store, tmp_path):
    from pipeline.knowledge import Knowledge

    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nThe orchard opens at nine.\n")
    knowledge = Knowledge(store.settings)
    copy = save_form(store, duplicate_form(store, form_from_persona(store.get("adam"))), loaded_id=None,
                     portrait_from="adam")
    knowledge.add(copy.id, [notes])
    assert delete_persona(store, copy.id) == (f"Deleted 'Adam (copy)' ({copy.id}) and its 1 document.", None)
    assert knowledge.store.sources(copy.id) == [], "a persona saved later under this id starts with nothing"
    edited = save_form(store, {**form_from_persona(store.get("jenniel")), "tone": "Blunt."}, loaded_id="jenniel",
                       portrait_from="jenniel")
    knowledge.add("jenniel", [notes])
    delete_persona(store, edited.id)
    assert [source.name for source in knowledge.sources("jenniel")] == ["notes.md"], "the example keeps them"


def test_a_duplicate_is_new_unsaved_and_takes_the_portrait_along(store):
    values = duplicate_form(store, form_from_persona(store.get("adam")))
    assert values["name"] == "Adam (copy)" and values["id"] == "adam-copy"
    copy = save_form(store, values, loaded_id=None, portrait_from="adam")
    assert copy.portrait == "portrait.png" and (store.user_dir / "adam-copy" / "portrait.png").is_file()
    assert store.get("adam").origin == "example"  # the original is untouched
    assert duplicate_form(store, values)["id"] == "adam-copy-2"
    assert "cannot be undone" in delete_warning(store, "adam-copy")
    assert delete_persona(store, "adam-copy") == ("Deleted 'Adam (copy)' (adam-copy).", None)
    # Renaming (a new id in the form) saves a new persona with the loaded one's portrait.
    renamed = save_form(store, form_from_persona(store.get("adam")) | {"id": "adam-2"}, loaded_id="adam",
                        portrait_from="adam")
    assert renamed.portrait == "portrait.png" and store.get("adam").origin == "example"


def test_the_list_marks_examples_and_tells_same_named_personas_apart(store):
    save_form(store, form(name="Adam", id="adam-b"))
    save_form(store, form_from_persona(store.get("jenniel")), loaded_id="jenniel", portrait_from="jenniel")
    assert list_choices(store.list()) == [("Adam (adam) — example", "adam"), ("Adam (adam-b)", "adam-b"),
                                          ("Jenniel — edited example", "jenniel")]


# -- the persona check as shown ------------------------------------------------------------------
def test_check_rows_and_verdict(store):
    persona = persona_from_form(form_from_persona(store.get("jenniel")) | {
        "sample_questions": "Should we chase market share?\nHow should we price?\nWhat now?"})
    llm = FakeLLM().enqueue("Start from profit logic: what is the trade-off in margin?",
                            "You should chase market share first.", RuntimeError("not a StudioError"))
    with pytest.raises(RuntimeError):
        run_check(persona, llm)
    llm = FakeLLM().enqueue("Start from profit logic: what is the trade-off in margin?",
                            "You should chase market share first.", "")
    report = run_check(persona, llm)
    rows = check_rows(report)
    assert [len(row) for row in rows] == [len(CHECK_HEADERS)] * 3
    assert rows[0][:5] == [1, "Should we chase market share?", 100, "profit logic, trade-off", "2/2"]
    assert rows[1][2] < 60 and "Never recommend chasing market share" in rows[1][5]
    assert rows[2][2] == 0 and rows[2][7] == "(empty)"
    verdict = check_verdict(report)
    assert verdict.startswith(f"### FAIL: score {report.score}/100")
    assert "Never-rules broken: 1" in verdict and "Empty replies: 1" in verdict
    assert "Not checked automatically: Always: Name the trade-off" in verdict
