"""The Personas tab in a real browser: create, check the face, save, edit across a tab switch,
duplicate, delete with confirmation (an edited example comes back), and the persona check.

The studio runs in this process, so the persona check uses the scripted ``FakeLLM`` registered as
the "fake" backend before the studio starts (module-scoped, autouse: before ``live_studio``).
Assertions are on what a person sees (field values, the list, the face-check image, the check's
table) and on the files the store wrote.
"""

from __future__ import annotations

import re

import fake_llm
import pytest
import yaml
from PIL import Image
from playwright.sync_api import expect

from .conftest import ROOT, open_tab, screenshot

PORTRAIT = ROOT / "assets" / "astronaut.png"


@pytest.fixture(scope="module", autouse=True)
def fake():
    return fake_llm.install()


def field(page, name: str):
    """The text box (or text area) of ``#personas-<name>``."""
    return page.locator(f"#personas-{name}").get_by_role("textbox")


def pick(page, elem_id: str, option: str) -> None:
    """Choose ``option`` in the Gradio dropdown ``#elem_id``."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def list_entry(page, label: str):
    return page.locator("#personas-list").get_by_label(label, exact=True)


def upload_portrait(page, path) -> None:
    with page.expect_file_chooser() as chooser:
        page.locator("#personas-portrait-upload").click()
    chooser.value.set_files(str(path))


def blank_photo(path):
    Image.new("RGB", (320, 320), (180, 170, 160)).save(path)
    return path


def toast(page, text: str):
    return page.locator(".toast-body").filter(has_text=text)


def test_create_save_edit_across_tabs_duplicate_and_delete(page, live_studio, tmp_path):
    open_tab(page, "Personas")  # the studio opens on the Render lab
    _, settings = live_studio
    unsaved = page.locator("#personas-dirty")

    # Save with a name only: the model's message, naming the field.
    field(page, "name").fill("Mira Okafor")
    expect(unsaved).to_contain_text("Unsaved changes")
    page.locator("#personas-save").click()
    expect(toast(page, "Identity: identity is empty")).to_be_visible()

    field(page, "identity").fill("You are a structural engineer who explains bridges to children.")
    field(page, "tone").fill("Playful and precise.")
    field(page, "expertise").fill("bridges\n- load paths\n\ncantilevers")
    field(page, "signature-vocabulary").fill("load path\ntension and compression")
    field(page, "greeting").fill("Hi, I'm Mira. What shall we build today?")
    field(page, "always").fill("Explain with an everyday object.\n    require: \\b(like|as if)\\b")
    field(page, "sample-questions").fill("Why do bridges not fall down?\nWhat is a cantilever?")

    # A photo with no face is refused on the spot, in words; the sample portrait shows its mesh.
    upload_portrait(page, blank_photo(tmp_path / "wall.png"))
    expect(page.locator("#personas-face-facts")).to_contain_text("No face found in 'wall.png'")
    expect(page.locator("#personas-face-facts")).to_contain_text("The persona has no portrait yet.")
    upload_portrait(page, PORTRAIT)
    expect(page.locator("#personas-face-facts")).to_contain_text("478 landmarks")
    expect(page.locator("#personas-face-check img")).to_be_visible()
    screenshot(page, "personas-new-filled")

    page.locator("#personas-save").click()
    expect(page.locator("#personas-status")).to_contain_text("Saved 'Mira Okafor' to")
    expect(list_entry(page, "Mira Okafor")).to_be_checked()
    expect(unsaved).to_have_text("")
    folder = settings.personas_dir / "mira-okafor"
    saved = yaml.safe_load((folder / "persona.yaml").read_text())
    assert saved["expertise"] == ["bridges", "load paths", "cantilevers"]
    assert saved["always"] == [{"rule": "Explain with an everyday object.", "require": ["\\b(like|as if)\\b"]}]
    assert saved["portrait"] == "portrait.png" and (folder / "portrait.png").is_file()
    expect(field(page, "id")).to_have_value("mira-okafor")

    # An edit survives a trip to another tab, and is still marked unsaved.
    field(page, "tone").fill("Playful, precise, and fond of puns.")
    expect(unsaved).to_contain_text("Unsaved changes")
    open_tab(page, "Chat")
    expect(page.locator("#personas-tone")).to_be_hidden()
    open_tab(page, "Personas")
    expect(field(page, "tone")).to_have_value("Playful, precise, and fond of puns.")
    expect(unsaved).to_contain_text("Unsaved changes")

    # Picking another persona asks first; "Keep editing" keeps the edit.
    list_entry(page, "Adam — example").check()
    expect(page.locator("#personas-discard-text")).to_contain_text("Discard them and open Adam")
    page.locator("#personas-discard-cancel").click()
    expect(page.locator("#personas-discard-confirm:visible")).to_have_count(0)
    expect(field(page, "tone")).to_have_value("Playful, precise, and fond of puns.")
    expect(list_entry(page, "Mira Okafor")).to_be_checked()
    page.locator("#personas-save").click()
    expect(unsaved).to_have_text("")  # the save came back (the status already said "Saved")

    # Duplicate: a new, unsaved persona with the same portrait; saved, it has its own files.
    page.locator("#personas-duplicate").click()
    expect(field(page, "name")).to_have_value("Mira Okafor (copy)")
    expect(field(page, "id")).to_have_value("mira-okafor-copy")
    expect(unsaved).to_contain_text("Unsaved changes")
    page.locator("#personas-save").click()
    expect(list_entry(page, "Mira Okafor (copy)")).to_be_checked()
    copy_folder = settings.personas_dir / "mira-okafor-copy"
    assert (copy_folder / "portrait.png").is_file()
    assert "fond of puns" in (copy_folder / "persona.yaml").read_text()
    screenshot(page, "personas-duplicated")

    # Delete asks first; Cancel keeps it, Yes removes it from the list and the disk.
    page.locator("#personas-delete").click()
    expect(page.locator("#personas-delete-text")).to_contain_text("cannot be undone")
    screenshot(page, "personas-delete-confirm", full_page=False)
    page.locator("#personas-delete-cancel").click()
    expect(page.locator("#personas-delete-confirm:visible")).to_have_count(0)
    assert copy_folder.is_dir()
    page.locator("#personas-delete").click()
    page.locator("#personas-delete-yes").click()
    expect(page.locator("#personas-status")).to_contain_text("Deleted 'Mira Okafor (copy)'")
    expect(list_entry(page, "Mira Okafor (copy)")).to_have_count(0)
    expect(list_entry(page, "Mira Okafor")).to_be_visible()
    assert not copy_folder.exists()
    expect(field(page, "name")).to_have_value("")


def test_editing_an_example_saves_a_copy_and_deleting_it_brings_the_example_back(page, live_studio, tmp_path):
    open_tab(page, "Personas")  # the studio opens on the Render lab
    _, settings = live_studio
    list_entry(page, "Jenniel — example").check()
    expect(field(page, "name")).to_have_value("Jenniel")
    facts = page.locator("#personas-face-facts")
    expect(facts).to_contain_text("face 159×173 px")
    # A photo without a face is not taken: Jenniel's own portrait stays, and says so.
    upload_portrait(page, blank_photo(tmp_path / "wall.png"))
    expect(facts).to_contain_text("No face found in 'wall.png'")
    expect(facts).to_contain_text("keeps its current portrait (shown)")
    expect(page.locator("#personas-face-check img")).to_be_visible()
    expect(page.locator("#personas-dirty")).to_have_text("")
    original_tone = field(page, "tone").input_value()

    # "Hear it" speaks the greeting in the persona's voice.
    page.locator("#personas-hear").click()
    sample = page.locator("#personas-voice-sample")
    expect(sample.get_by_role("link", name="Download")).to_have_attribute("href", re.compile(r"\.wav$"),
                                                                          timeout=30_000)
    expect(sample.locator("time").first).to_have_text(re.compile(r"^0:0[2-9]$"))  # the greeting: ~8 s

    field(page, "tone").fill("Crisp, Socratic, and fond of case studies.")
    page.locator("#personas-save").click()
    expect(page.locator("#personas-status")).to_contain_text("Saved your copy of the example 'Jenniel'")
    expect(list_entry(page, "Jenniel — edited example")).to_be_checked()
    assert (settings.personas_dir / "jenniel" / "portrait.jpg").is_file()

    page.locator("#personas-delete").click()
    expect(page.locator("#personas-delete-text")).to_contain_text("The shipped example comes back")
    page.locator("#personas-delete-yes").click()
    expect(page.locator("#personas-status")).to_contain_text("the shipped example 'Jenniel' is back")
    expect(list_entry(page, "Jenniel — example")).to_be_checked()
    expect(field(page, "tone")).to_have_value(original_tone)

    # A shipped example itself cannot be deleted: the button says why instead of asking.
    page.locator("#personas-delete").click()
    expect(toast(page, "is a shipped example and cannot be deleted")).to_be_visible()
    expect(page.locator("#personas-delete-confirm:visible")).to_have_count(0)


def test_check_persona_with_the_fake_llm_shows_per_question_scores(page, fake):
    open_tab(page, "Personas")  # the studio opens on the Render lab
    list_entry(page, "Jenniel — example").check()
    expect(field(page, "name")).to_have_value("Jenniel")
    # Only two questions, so the check asks exactly what is enqueued (the form, unsaved, is checked).
    field(page, "sample-questions").fill("Should we chase market share?\nHow should we price a premium line?")
    fake.answers.clear()
    fake.enqueue("No. Start from profit logic: what is the trade-off in margin? What would you give up?",
                 "You should chase market share first and worry about profits later.")
    pick(page, "personas-check-llm", "fake")
    page.locator("#personas-check").click()

    verdict = page.locator("#personas-check-verdict")
    expect(verdict).to_contain_text("FAIL: score", timeout=60_000)
    expect(verdict).to_contain_text("with fake / scripted")
    expect(verdict).to_contain_text("Never-rules broken: 1")
    table = page.locator("#personas-check-table")
    expect(table).to_contain_text("Should we chase market share?")
    expect(table).to_contain_text("profit logic")  # the signature term the first reply used
    expect(table).to_contain_text("Never recommend chasing market share for its own sake.")
    cells = table.get_by_role("gridcell")  # Gradio's grid: 8 cells a row, row after row
    expect(cells).to_have_count(2 * 8)
    expect(cells.nth(2)).to_have_text("100")
    second_score = cells.nth(8 + 2).inner_text().strip()
    assert re.fullmatch(r"\d+", second_score) and int(second_score) < 60
    asked = [call["messages"][-1]["content"] for call in fake.history[-2:]]
    assert asked == ["Should we chase market share?", "How should we price a premium line?"]
    screenshot(page, "personas-check")

    # On a phone-sized window the results stay inside the page (the table scrolls on its own).
    page.set_viewport_size({"width": 390, "height": 844})
    expect(cells.nth(2)).to_have_text("100")
    screenshot(page, "personas-check-narrow")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"the Personas tab is {overflow}px wider than a 390px window"
