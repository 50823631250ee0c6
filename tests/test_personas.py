"""Personas: the typed model, its YAML files and store, the prompt builder and the persona check."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from fake_llm import FakeLLM
from PIL import Image

from personas import (
    EXAMPLES_DIR,
    Persona,
    PersonaStore,
    build_system_prompt,
    check_slug,
    format_report,
    run_check,
    slugify,
    yamlfile,
)
from personas.check import PASS_SCORE, score_reply, unanswered
from pipeline.controls import Controls
from pipeline.errors import BadInput, RemoteError
from pipeline.settings import LLM_BACKENDS

# A valid persona file in the shape a person would write it; tests change one thing at a time.
BASE = {
    "id": "zoe",
    "name": "Zoë Ångström",
    "identity": "You are a ceramicist who teaches beginners.\nYou love glazes.",
    "expertise": ["wheel throwing", "glazes"],
    "tone": "Patient and warm.",
    "signature_vocabulary": ["centre the clay", "bone dry"],
    "greeting": "Bonjour — welcome to the studio!",
    "always": [{"rule": "Mention safety when kilns come up.", "require": ["safe(ty)?"]}, "Encourage practice."],
    "never": [{"rule": "Never promise guaranteed returns.", "forbid": ["guarantee(d)? returns?"]}],
    "modes": {"class": {"description": "A short class.", "instructions": "Teach one step at a time."}},
    "sample_questions": ["How do I centre clay?"],
    "portrait": None,
    "voice": None,
    "llm": {"backend": "local"},
    "default_controls": {"mouth_openness": 0.7, "emotion": "happy"},
}


@pytest.fixture
def store(settings) -> PersonaStore:
    return PersonaStore(settings)


def write_user_file(store: PersonaStore, slug: str, content: str | bytes) -> Path:
    folder = store.user_dir / slug
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "persona.yaml"
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def tree(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


# -- the shipped examples ---------------------------------------------------------------------
def test_examples_load_and_save_back_byte_for_byte(store):
    for slug in ("jenniel", "adam"):
        path = EXAMPLES_DIR / slug / "persona.yaml"
        persona = store.get(slug)
        assert persona.origin == "example" and persona.is_example
        assert yamlfile.dump(persona) == path.read_text(encoding="utf-8")
        assert yamlfile.parse(yamlfile.dump(persona), source="again") == persona
        saved = store.save(persona)  # through the store: a user copy, byte-identical to the example
        assert (store.user_dir / slug / "persona.yaml").read_bytes() == path.read_bytes()
        assert store.get(slug) == persona and saved.origin == "edited-example"


def test_examples_have_what_the_product_promises(store):
    assert [(p.id, p.origin) for p in store.list()] == [("adam", "example"), ("jenniel", "example")]
    jenniel, adam = store.get("jenniel"), store.get("adam")
    assert "Should we chase market share?" in jenniel.sample_questions
    assert 6 <= len(jenniel.sample_questions) <= 8 and len(adam.sample_questions) >= 5
    assert {"profit logic", "differentiated capabilities"} <= set(jenniel.signature_vocabulary)
    assert [m.name for m in jenniel.modes] == ["lecture", "office-hours"]
    assert [m.name for m in adam.modes] == ["training", "role-play"]
    assert adam.mode("role-play").in_persona is False
    for persona in (jenniel, adam):
        assert persona.voice is None and persona.llm.backend == "local"
        assert any(rule.require for rule in persona.always) and any(rule.forbid for rule in persona.never)
    assert jenniel.controls().head_tilt == 0.35 and jenniel.controls().blink_rate == 0.5


def test_example_yaml_is_written_for_people(store):
    text = (EXAMPLES_DIR / "jenniel" / "persona.yaml").read_text(encoding="utf-8")
    keys = [line.split(":")[0] for line in text.splitlines() if line and line[0].isalpha()]
    assert keys == ["id", "name", "identity", "expertise", "tone", "signature_vocabulary", "greeting", "always",
                    "never", "modes", "sample_questions", "portrait", "voice", "llm", "default_controls"]
    assert "identity: |\n  You are a professor" in text  # long text as a literal block
    assert "expertise:\n  - marketing strategy\n" in text  # block style, lists indented
    assert "{" not in text.split("modes:")[1]  # no flow style anywhere after the rules


def test_example_portraits_pass_the_face_check(store):
    from pipeline.face.portrait import MIN_FACE_PX, load_portrait

    for persona in store.list():
        path = store.portrait_path(persona)
        assert path is not None and path.parent == (EXAMPLES_DIR / persona.id).resolve()
        portrait = load_portrait(path)
        assert portrait.face.width >= MIN_FACE_PX, persona.id
    assert (EXAMPLES_DIR / "CREDITS.md").is_file()


# -- user personas --------------------------------------------------------------------------------
def test_user_persona_round_trip_keeps_everything(store, portrait):
    persona = Persona.from_dict(BASE, source="test")
    saved = store.save(persona, portrait=portrait)
    assert saved.origin == "user" and saved.portrait == "portrait.png"
    path = store.user_dir / "zoe" / "persona.yaml"
    text = path.read_text(encoding="utf-8")
    assert "name: Zoë Ångström" in text and "identity: |\n  You are a ceramicist" in text  # unicode kept
    loaded = store.get("zoe")
    assert loaded == saved and loaded.origin == "user"
    assert loaded.default_controls == {"mouth_openness": 0.7, "emotion": "happy"}
    assert loaded.mode("class").instructions == "Teach one step at a time."
    store.save(loaded)
    assert path.read_text(encoding="utf-8") == text  # saving again changes nothing
    assert store.portrait_path(loaded) == (store.user_dir / "zoe" / "portrait.png").resolve()
    assert not [p for p in (store.user_dir / "zoe").iterdir() if p.name.startswith(".")]  # no temp files left
    assert [p.id for p in store.list()] == ["adam", "jenniel", "zoe"]


def test_render_defaults_split_the_emotion_from_the_controls(store, portrait):
    saved = store.save(Persona.from_dict({**BASE, "voice": "en_US-joe-medium"}, source="test"), portrait=portrait)
    defaults = store.render_defaults(saved)
    assert defaults.portrait == store.portrait_path(saved) and defaults.portrait.is_file()
    assert defaults.voice == "en_US-joe-medium"
    assert defaults.controls == {"mouth_openness": 0.7} and defaults.emotion == "happy"
    bare = store.render_defaults(Persona.from_dict({**BASE, "id": "bare", "default_controls": {}}, source="test"))
    assert bare.portrait is None and bare.controls == {} and bare.emotion is None


def test_awkward_text_survives_the_round_trip(store):
    awkward = ["yes", "null", "1.0", "- dash", "# hash", "key: value", '"quoted"', "it's", "---", "emoji 🎉 ✓",
               "tab\there", "[x]", "{y}", "&anchor", "*alias", "!tag", "%pct", "@at", "|pipe", ">gt"]
    persona = Persona(
        id="odd", name='Odd: "name" #1', identity="Line one: colon\n\n  indented # not a comment\n- list-like",
        tone="tab\tand\nnew line", expertise=awkward, greeting="x" * 300, sample_questions=["multi\nline?"],
        never=[{"rule": "null", "forbid": ["^- ", ": ", "[\"']"]}],
        modes={"m": {"instructions": "  starts indented\nthen not", "description": "no"}})
    store.save(persona)
    assert store.get("odd") == persona
    assert store.get("odd").never[0].forbid == ("^- ", ": ", "[\"']")  # a regex keeps its spaces
    assert "greeting: |\n  xxx" in (store.user_dir / "odd" / "persona.yaml").read_text(encoding="utf-8")
    # other line breaks become "\n" once, when the persona is built, so the file reloads equal
    assert Persona(id="lb", name="n", identity="a\r\nb\u2028c\rd").identity == "a\nb\nc\nd"


def test_a_new_portrait_replaces_the_old_one(store, portrait, tmp_path):
    jpeg = tmp_path / "me.jpeg"
    Image.open(portrait).convert("RGB").save(jpeg)
    store.save(Persona.from_dict(BASE, source="test"), portrait=portrait)
    saved = store.save(store.get("zoe"), portrait=jpeg)
    assert saved.portrait == "portrait.jpg"
    assert sorted(p.name for p in (store.user_dir / "zoe").iterdir()) == ["persona.yaml", "portrait.jpg"]


@pytest.mark.parametrize("content, message", [
    (b"hello, not an image", "is not an image Avatar Studio can read"),
    ("gif", "is a GIF image; use JPEG, PNG or WebP"),
])
def test_a_portrait_must_be_an_image(store, tmp_path, content, message):
    source = tmp_path / "upload.png"
    if content == "gif":
        Image.new("RGB", (80, 80)).save(source, format="GIF")
    else:
        source.write_bytes(content)
    with pytest.raises(BadInput, match=message):
        store.save(Persona.from_dict(BASE, source="test"), portrait=source)
    assert not (store.user_dir / "zoe" / "persona.yaml").exists()


def test_editing_an_example_saves_an_overriding_copy_and_delete_restores_it(store):
    example_files = {p: p.read_bytes() for p in EXAMPLES_DIR.rglob("*") if p.is_file()}
    edited = replace(store.get("jenniel"), name="Jenniel (edited)", tone="Blunt.")
    saved = store.save(edited)
    assert saved.origin == "edited-example"
    assert store.get("jenniel").name == "Jenniel (edited)"
    listed = [p for p in store.list() if p.id == "jenniel"]
    assert len(listed) == 1 and listed[0].tone == "Blunt." and listed[0].origin == "edited-example"
    # the copy stands on its own: the example's portrait came with it
    assert store.portrait_path(saved) == (store.user_dir / "jenniel" / "portrait.jpg").resolve()
    assert {p: p.read_bytes() for p in EXAMPLES_DIR.rglob("*") if p.is_file()} == example_files

    store.delete("jenniel")
    assert store.get("jenniel").origin == "example" and store.get("jenniel").name == "Jenniel"
    with pytest.raises(BadInput, match="'jenniel' is a shipped example and cannot be deleted"):
        store.delete("jenniel")
    with pytest.raises(BadInput, match="no persona 'nobody' to delete; known: adam, jenniel"):
        store.delete("nobody")
    with pytest.raises(BadInput, match="no persona 'nobody'; known: adam, jenniel"):
        store.get("nobody")


def test_deleting_a_user_persona(store):
    store.save(Persona.from_dict(BASE, source="test"))
    store.delete("zoe")
    assert not (store.user_dir / "zoe").exists()
    assert [p.id for p in store.list()] == ["adam", "jenniel"]


def test_slugify_and_free_ids(store):
    assert slugify("Jenniel Dupré") == "jenniel-dupre"
    assert slugify("  ?? ") == "persona"
    long = slugify("word " * 40)
    assert check_slug(long) == long and len(long) <= 40
    assert store.free_id("Jenniel") == "jenniel-2"
    assert store.free_id("Brand New") == "brand-new"


# -- validation -----------------------------------------------------------------------------------
def with_change(**changes) -> dict:
    data = {**BASE, **changes}
    return {key: value for key, value in data.items() if value != "<drop>"}


@pytest.mark.parametrize("data, message", [
    (with_change(colour="blue"), "unknown key 'colour'; known keys: id, name"),
    (with_change(default_controls={"mouth_openness": 1.5}),
     "default_controls: mouth_openness must be a number from 0 to 1, got 1.5"),
    (with_change(default_controls={"blink_rate": "fast"}), "default_controls: blink_rate must be a number from 0 to 1"),
    (with_change(default_controls={"smile": 0.5}), "default_controls: unknown control 'smile'"),
    (with_change(default_controls={"emotion": "smug"}), "emotion must be one of happy, sad"),
    (with_change(never=[{"rule": "No.", "forbid": ["(unclosed"]}]),
     r"never\[0\]: forbid\[0\]: '\(unclosed' is not a valid regular expression"),
    (with_change(always=[{"rule": "Be safe.", "forbid": ["x"]}]),
     r"always\[0\]: always-rules take 'require' patterns, not 'forbid' \(put the rule under never\)"),
    (with_change(always=[{"rule": "Be safe.", "requires": ["x"]}]), r"always\[0\]: unknown key 'requires'"),
    (with_change(always=[{"rule": "Be safe.", "require": [" "]}]),
     r"always\[0\]: require\[0\] is empty \(an empty pattern would match every reply\)"),
    (with_change(name="<drop>"), "'name' is missing"),
    (with_change(name=42), "name must be text, got a number \\(42\\)"),
    (with_change(expertise="pottery"), "expertise must be a list, got text"),
    (with_change(signature_vocabulary=["bone dry", "Bone dry"]),
     r"signature_vocabulary\[1\] 'Bone dry' is listed twice"),
    (with_change(llm={"backend": "gpt5"}), f"llm: backend must be one of {', '.join(LLM_BACKENDS)} \\(or null"),
    (with_change(llm="local"), "llm must be a mapping"),
    (with_change(llm={"backend": "local", "temperature": 2}),
     "llm: unknown key 'temperature'; llm has: backend, model"),
    (with_change(knowledge={"grounded": "yes"}), "knowledge: grounded must be true or false, got text"),
    (with_change(knowledge={"grounded": True, "passages": 9}),
     "knowledge: unknown key 'passages'; knowledge has: grounded"),
    (with_change(knowledge=True), r"knowledge must be a mapping \(grounded: true\), got true/false \(True\)"),
    (with_change(style={"description": "Short.", "tone": "x"}),
     "style: unknown key 'tone'; style has: description, phrases, examples"),
    (with_change(style="write like me"),
     r"style must be a mapping \(description: …, phrases: \[…\], examples: \[…\]\), got text"),
    (with_change(style={"phrases": "profit logic"}), "style: phrases must be a list, got text"),
    (with_change(style={"phrases": ["profit logic", 7]}), r"style: phrases\[1\] must be text, got a number \(7\)"),
    (with_change(style={"examples": ["A post."] * 25}), "style: examples has 25 entries; at most 24 are allowed"),
    (with_change(style={"examples": ["x" * 601]}), r"style: examples\[0\] is 601 characters long; at most 600"),
    (with_change(style={"examples": ["One post.", "one post."]}),
     r"style: examples\[1\] 'one post.' is listed twice"),
    (with_change(style={"examples": ["First paragraph.\n\nSecond one."]}),
     r"style: examples\[0\] holds a blank line; an example is one paragraph"),
    (with_change(style={"description": ["fast"]}), "style: description must be text, got a list"),
    (with_change(identity="x" * 2500), "identity is 2500 characters long; at most 2000 are allowed"),
    (with_change(name="Zoë\nÅngström"), "name must be one line"),
    (with_change(tone="ok\x00"), "tone contains a control character"),
    (with_change(modes={"class": {"instructions": "x", "colour": 1}}), "modes.class: unknown key 'colour'"),
    (with_change(modes={"Class Mode": {"instructions": "x"}}), "mode name 'Class Mode' is not valid"),
    (with_change(portrait="../../etc/passwd"), "portrait must be an image file name in the persona's folder"),
    (with_change(voice="../voices/x"), "voice must be a voice name"),
])
def test_a_wrong_field_is_a_specific_error_naming_the_file(store, data, message):
    path = write_user_file(store, "zoe", yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(BadInput, match=message) as caught:
        store.get("zoe")
    assert str(caught.value).startswith(f"{path.resolve()}: ")


@pytest.mark.parametrize("content, message", [
    ("- just\n- a list\n", "must be a mapping of fields .* got a list"),
    ("name: [unclosed\n", "is not valid YAML: line 2"),
    ("", "is empty; a persona needs at least an id, a name and an identity"),
    ("id: zoe\nname: A\nname: B\nidentity: x\n", "the key 'name' appears twice"),
    ("id: adam\nname: A\nidentity: x\n", "id 'adam' does not match its folder 'zoe'"),
    (b"name: \xff\xfe\n", "is not UTF-8 text"),
    ("# padding\n" * 10_000 + "name: x\n", "is 98 kB; a persona file may be at most 64 kB"),
])
def test_a_broken_file_is_reported_and_skipped_in_the_list(store, content, message):
    path = write_user_file(store, "zoe", content)
    with pytest.raises(BadInput, match=message) as caught:
        store.get("zoe")
    assert str(path.resolve()) in str(caught.value)
    assert [p.id for p in store.list()] == ["adam", "jenniel"]  # one bad file does not hide the others
    problems = store.problems()
    assert len(problems) == 1 and str(path.resolve()) in problems[0]


def test_optional_fields_may_be_left_out(store):
    minimal = "name: Min\nidentity: You are brief.\n"
    write_user_file(store, "min", minimal)
    persona = store.get("min")
    assert persona.id == "min"  # from the folder
    assert persona.llm.backend is None and persona.llm.model is None  # the studio's default backend
    assert persona.modes == () and persona.default_controls == {} and persona.controls() == Controls()
    text = yamlfile.dump(persona)
    assert "llm:\n  backend: null\n" in text and "modes: {}\n" in text  # every key shown, for the next edit
    assert yamlfile.parse(text, source="again") == persona


def test_grounding_is_written_only_when_set_and_comes_back(store):
    persona = Persona.from_dict(with_change(knowledge={"grounded": True}), source="test")
    assert persona.knowledge.grounded
    text = yamlfile.dump(persona)
    assert "llm:\n  backend: local\nknowledge:\n  grounded: true\ndefault_controls:" in text
    assert yamlfile.parse(text, source="again") == persona
    plain = Persona.from_dict(with_change(knowledge={"grounded": False}), source="test")
    assert not plain.knowledge.grounded and "knowledge" not in yamlfile.dump(plain)  # the default stays unwritten
    assert plain == Persona.from_dict(BASE, source="test")


STYLE = {"description": "Short sentences, emoji now and then (🚀).",
         "phrases": ["profit logic", "willingness to pay"],
         "examples": ["Morning crew! 🚀 Today we talk profit logic.",
                      "Pricing is a conversation\nabout willingness to pay."]}


def test_a_style_is_written_only_when_set_and_comes_back(store):
    persona = Persona.from_dict(with_change(style=STYLE), source="test")
    assert persona.style.phrases == ("profit logic", "willingness to pay") and len(persona.style.examples) == 2
    text = yamlfile.dump(persona)
    assert "llm:\n  backend: local\nstyle:\n  description: Short sentences" in text
    assert ("  examples:\n    - Morning crew! 🚀 Today we talk profit logic.\n    - |\n"
            "      Pricing is a conversation\n") in text
    assert yamlfile.parse(text, source="again") == persona
    saved = store.save(replace(persona, id="zoe"))
    assert store.get("zoe").style == persona.style == saved.style
    only = Persona.from_dict(with_change(style={"phrases": ["bone dry"]}), source="test")
    assert "style:\n  phrases:\n    - bone dry\ndefault_controls:" in yamlfile.dump(only)  # only what is set
    plain = Persona.from_dict(with_change(style={"description": "", "phrases": [], "examples": None}), source="test")
    assert "style" not in yamlfile.dump(plain) and plain == Persona.from_dict(BASE, source="test")


def test_a_mode_out_of_persona_has_no_style():
    persona = Persona.from_dict(with_change(style=STYLE, modes={
        "class": {"instructions": "Teach."}, "customer": {"instructions": "Play a buyer.", "in_persona": False}}),
        source="test")
    assert persona.style_for(None) == persona.style_for("class") == persona.style
    assert persona.style_for("customer").is_default


def test_an_id_missing_from_the_file_comes_from_its_folder(store):
    write_user_file(store, "zoe", yaml.safe_dump(with_change(id="<drop>"), allow_unicode=True))
    assert store.get("zoe").id == "zoe"


@pytest.mark.parametrize("slug", ["../x", "", "x" * 10_000, "a\x00b", "/etc/passwd", "Jenniel", "has space", ".",
                                  "abc\n", "-x", "x-", "a/b", 7])
def test_hostile_ids_are_refused_without_touching_the_disk(store, tmp_path, slug):
    before = tree(tmp_path)
    for attempt in (lambda: store.get(slug), lambda: store.delete(slug), lambda: store.exists(slug),
                    lambda: store.save(replace(Persona.from_dict(BASE, source="t"), id=slug)),
                    lambda: Persona.from_dict(with_change(id=slug), source="file.yaml")):
        with pytest.raises(BadInput, match="is not valid: use 1–40 lowercase letters") as caught:
            attempt()
        assert len(str(caught.value)) < 300  # a 10 kB id is not echoed back
    assert tree(tmp_path) == before


def test_links_out_of_the_data_dir_are_refused(store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "persona.yaml").write_text(yaml.safe_dump(with_change(id="evil")), encoding="utf-8")
    store.user_dir.mkdir(parents=True)
    os.symlink(outside, store.user_dir / "evil")
    with pytest.raises(BadInput, match="points outside"):
        store.get("evil")
    with pytest.raises(BadInput, match="points outside"):
        store.delete("evil")
    with pytest.raises(BadInput, match="points outside"):
        store.save(Persona.from_dict(with_change(id="evil"), source="t"))
    assert (outside / "persona.yaml").is_file() and tree(outside) == {"persona.yaml"}
    assert any("points outside" in problem for problem in store.problems())


# -- the system prompt ----------------------------------------------------------------------------
def test_the_prompt_says_who_how_and_the_rules(store):
    jenniel = store.get("jenniel")
    prompt = build_system_prompt(jenniel)
    assert prompt.startswith("You are Jenniel. You are a professor of marketing strategy")
    assert "twenty years and advised" in prompt  # line-wrapped text is joined with spaces
    for term in jenniel.signature_vocabulary:
        assert f'"{term}"' in prompt
    assert "use them naturally" in prompt
    for rule in jenniel.always + jenniel.never:
        assert f"- {rule.text}" in prompt
    assert "Mode:" not in prompt
    lecture = build_system_prompt(jenniel, "lecture")
    assert "Mode: lecture. Give a mini-lecture: state the idea in one sentence" in lecture
    # Compact enough for the 135M local model: 150–350 tokens. SmolLM2's tokenizer gives 1.3–1.45
    # tokens a word on these prompts (measured: 189–334 tokens), so 100–240 words.
    for persona in store.list():
        for mode in (None, *(m.name for m in persona.modes)):
            assert 100 <= len(build_system_prompt(persona, mode).split()) <= 240, (persona.id, mode)


def test_adam_role_play_plays_the_customer_and_never_coaches(store):
    adam = store.get("adam")
    prompt = build_system_prompt(adam, "role-play")
    assert "You play a CUSTOMER in the F&I office" in prompt
    assert "Stay in character as the customer at all times" in prompt and "Never coach" in prompt
    assert "- Never coach the F&I manager or slip out of the customer's role." in prompt
    # the trainer's own voice stays out, or it would pull the model back into coaching
    assert "payment packing" not in prompt and "product penetration" not in prompt
    training = build_system_prompt(adam, "training")
    assert "payment packing" in training and "Coach them" in training


def test_an_unknown_mode_lists_the_persona_modes(store):
    with pytest.raises(BadInput, match="persona 'adam' has no mode 'lecture'; its modes: training, role-play"):
        build_system_prompt(store.get("adam"), "lecture")
    with pytest.raises(BadInput, match="has no mode"):
        run_check(store.get("adam"), FakeLLM(), mode="lecture")


# -- the persona check ----------------------------------------------------------------------------
QUESTIONS = ["Should we chase market share?", "How do we price?", "What next?"]
GOOD = "Share only matters through profit logic: what is your willingness to pay?"
BLAND = "It depends on many things. Think about it carefully."
FORBIDDEN = "You should chase market share now and fix profit later."


def test_the_check_scores_each_reply(store):
    jenniel = store.get("jenniel")
    llm = FakeLLM().enqueue(GOOD, BLAND, FORBIDDEN)
    report = run_check(jenniel, llm, questions=QUESTIONS)

    assert [call["messages"] for call in llm.history] == [
        [{"role": "system", "content": build_system_prompt(jenniel)}, {"role": "user", "content": q}]
        for q in QUESTIONS]
    assert all(call["max_tokens"] == 200 for call in llm.history)
    good, bland, bad = report.results
    assert good.terms_used == ["profit logic", "willingness to pay"] and good.score == 100
    assert good.always_missed == [] and len(good.always_met) == 2 and good.never_broken == []
    assert bland.terms_used == [] and len(bland.always_missed) == 2 and bland.score == 30  # only "no rule broken"
    assert bad.never_broken[0].rule == "Never recommend chasing market share for its own sake."
    assert bad.never_broken[0].matched == "You should chase market share"
    assert bad.score == 15  # no terms, 1 of 2 always-rules (it says "profit"), a never-rule broken
    assert all(r.latency_s is not None and r.error is None for r in report.results)

    assert report.score == round((100 + 30 + 15) / 3) == 48
    assert not report.passed and report.never_broken == 1 and report.always_missed == 3
    assert report.vocabulary_rate == pytest.approx(1 / 3, abs=1e-3)
    assert report.terms_used == ["profit logic", "willingness to pay"]
    assert report.unchecked_rules == [f"Always: {jenniel.always[2].text}", f"Never: {jenniel.never[2].text}"]
    assert json.loads(json.dumps(report.to_dict()))["results"][2]["never_broken"][0]["matched"] == \
        "You should chase market share"
    text = format_report(report)
    assert "Score 48/100: FAIL" in text and "Broken in #3: Never recommend chasing market share" in text
    assert "Should we chase market share?" in text


def test_a_reply_that_reads_the_system_prompt_back_scores_nothing(store):
    jenniel = store.get("jenniel")
    prompt = build_system_prompt(jenniel)
    echo_whole, echo_part = prompt, "Sure! " + " ".join(prompt.split()[:60])
    report = run_check(jenniel, FakeLLM().enqueue(echo_whole, echo_part, GOOD), questions=QUESTIONS)
    whole, part, good = report.results
    assert whole.echoed and part.echoed and whole.score == part.score == 0, "the prompt holds every phrase"
    assert not good.echoed and good.score == 100, "signature phrases alone are not an echo"
    assert report.echoed_replies == 2 and report.score == 33 and not report.passed
    assert "ECHO" in format_report(report) and "Echoed: 2 replies" in format_report(report)
    assert score_reply(prompt, jenniel).score == 0


def test_a_negated_warning_is_not_a_broken_rule(store):
    reply = "Don't chase market share for its own sake; market share is not the goal. What is your profit logic?"
    report = run_check(store.get("jenniel"), FakeLLM().enqueue(reply), questions=["Share?"])
    assert report.never_broken == 0 and report.results[0].score == 100 and report.passed


def test_the_default_questions_pass_with_persona_like_answers(store):
    jenniel = store.get("jenniel")
    replies = [f"Start from the profit logic of it, not the share. Question {i}: what is the trade-off?"
               for i in range(len(jenniel.sample_questions))]
    progress: list[tuple[float, str]] = []
    report = run_check(jenniel, FakeLLM().enqueue(*replies), mode="office-hours",
                       progress=lambda fraction, message: progress.append((fraction, message)))
    assert [r.question for r in report.results] == list(jenniel.sample_questions)
    assert report.score == 100 and report.passed and report.mode == "office-hours"
    assert report.score >= PASS_SCORE and report.vocabulary_rate == 1.0
    assert progress[0] == (0.0, f"question 1 of {len(replies)}") and progress[-1] == (1.0, "done")


def test_an_llm_error_is_recorded_on_its_question_and_the_check_goes_on(store):
    llm = FakeLLM().enqueue(GOOD, RemoteError("mistral answered 500: upstream overloaded"), GOOD, "   ")
    report = run_check(store.get("jenniel"), llm, questions=[*QUESTIONS, "Anything else?"])
    assert len(llm.history) == 4
    failed = report.results[1]
    assert failed.error == "mistral answered 500: upstream overloaded" and failed.score is None
    assert report.results[2].score == 100
    assert report.results[3].empty and report.results[3].score == 0
    assert report.errors == 1 and report.empty_replies == 1
    assert report.score == round((100 + 100 + 0) / 3)  # the failed question is left out of the score
    assert not report.passed  # an incomplete check does not pass
    assert unanswered(report) is None  # some answers: a check with a failing score, not a failed check
    text = format_report(report)
    assert "Error in #2: mistral answered 500: upstream overloaded" in text
    assert "Errors: 1 of 4 questions got no answer (see below)" in text


def test_a_check_where_no_question_got_an_answer_says_so(store):
    llm = FakeLLM().enqueue(*[RemoteError("mistral answered 503: down for maintenance")] * 2)
    report = run_check(store.get("jenniel"), llm, questions=["One?", "Two?"])
    assert report.errors == 2 and report.score == 0 and not report.passed
    assert unanswered(report) == ("no question got an answer from fake (scripted): all 2 failed, the first with: "
                                  "mistral answered 503: down for maintenance")
    assert "Errors: 2 of 2 questions got no answer (see below)" in format_report(report)


@pytest.mark.parametrize("max_tokens, error", [
    (0, "the reply length must be at least 1 token, got 0"),
    (10**9, "a reply of up to 1,000,000,000 tokens is longer than a chat reply may be"),
])
def test_the_check_takes_the_chat_reply_length_rule(store, max_tokens, error):
    llm = FakeLLM()
    with pytest.raises(BadInput, match=error):
        run_check(store.get("jenniel"), llm, questions=["One?"], max_tokens=max_tokens)
    assert llm.history == []


def test_role_play_is_checked_against_the_mode_rules(store):
    adam = store.get("adam")
    in_character = "My payment is already too high. Why would I want a warranty?"
    coaching = "Here’s a tip: great job on the menu presentation so far."  # typographic apostrophe
    assistant = "Sure! How can I help you today?"  # the small model's usual slip back into its own role
    report = run_check(adam, FakeLLM().enqueue(in_character, coaching, assistant), mode="role-play",
                       questions=["Hi!", "Let me show you the menu.", "Any questions?"])
    assert report.vocabulary == [] and report.vocabulary_rate is None
    assert report.results[0].score == 100
    assert report.results[1].never_broken[0].matched == "Here's a tip" and report.results[1].score == 70
    assert report.results[2].never_broken[0].matched == "How can I help you"
    assert report.unchecked_rules == ["Always: Stay in character as the customer."]


def test_adam_compliance_rules_catch_packing_but_not_warnings_against_it(store):
    adam = store.get("adam")
    packing = "Quote them a higher payment first so there is room, then use your word track."
    compliant = ("Never hide products in the payment, and don't tell the customer GAP is required. Products are "
                 "optional, so give full disclosure with this word track.")
    report = run_check(adam, FakeLLM().enqueue(packing, compliant), questions=["Q1", "Q2"], mode="training")
    assert report.results[0].never_broken[0].rule.startswith("Never advise payment packing")
    assert report.results[0].always_missed == [adam.always[0].text]
    assert report.results[1].never_broken == [] and report.results[1].score == 100
    assert report.results[1].terms_used == ["word track", "full disclosure"]


def test_a_persona_without_questions_needs_them_given(store):
    persona = Persona.from_dict(with_change(sample_questions=[]), source="t")
    with pytest.raises(BadInput, match="has no sample questions"):
        run_check(persona, FakeLLM())
    assert run_check(persona, FakeLLM().enqueue("Stay safe and centre the clay."), questions=["Kilns?"]).score == 100
