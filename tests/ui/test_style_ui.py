"""The Personas tab's Style section in a real browser: an example persona learns from a file of
posts, the proposal fills the three style fields and lights "unsaved changes" (nothing saved yet),
Save keeps it in the persona's file, the persona opened again shows it, and "Clear style" empties
the fields for the next Save. Assertions are on what a person sees and on the file the store wrote.
"""

from __future__ import annotations

import re

from documents import POSTS as ALL_POSTS
from playwright.sync_api import expect

from personas import PersonaStore

from .conftest import open_tab, screenshot

POSTS = ALL_POSTS[:5]


def list_entry(page, label: str):
    return page.locator("#personas-list").get_by_label(label, exact=True)


def box(page, name: str):
    return page.locator(f"#style-{name}").get_by_role("textbox")


def test_learn_a_style_save_it_and_find_it_again(page, live_studio, tmp_path):
    open_tab(page, "Personas")  # the studio opens on the Render lab
    _, settings = live_studio
    posts = tmp_path / "posts.txt"
    posts.write_text("\n\n".join(POSTS))
    summary, dirty = page.locator("#style-summary"), page.locator("#personas-dirty")

    list_entry(page, "Adam — example").check()
    expect(page.locator("#personas-name").get_by_role("textbox")).to_have_value("Adam")
    expect(box(page, "examples")).to_have_value("")
    expect(dirty).to_have_text("")

    page.locator("#style-files input[type=file]").set_input_files([str(posts)])
    expect(page.locator("#style-files").get_by_role("cell", name="posts.txt", exact=True)).to_be_visible()
    page.locator("#style-learn").click()
    expect(summary).to_contain_text("Learned from 5 samples", timeout=60_000)
    expect(summary).to_contain_text("“profit logic”")
    expect(summary).to_contain_text("nothing is saved until then")
    expect(box(page, "description")).to_have_value(
        "Sentences of about 4 words, emoji now and then (🚀 💸 🔥), frequent exclamation marks.")
    expect(box(page, "phrases")).to_have_value("profit logic\nwillingness to pay")
    for post in POSTS:
        expect(box(page, "examples")).to_have_value(re.compile(re.escape(post)))
    expect(dirty).to_contain_text("Unsaved changes")  # a proposal, not saved
    assert PersonaStore(settings).get("adam").style.is_default
    screenshot(page, "personas-style")

    box(page, "phrases").fill("profit logic\nwillingness to pay\nask first")  # the creator edits before saving
    page.locator("#personas-save").click()
    expect(page.locator("#personas-status")).to_contain_text("Saved your copy of the example 'Adam'")
    expect(dirty).to_have_text("")
    saved = PersonaStore(settings).get("adam")
    assert saved.style.phrases == ("profit logic", "willingness to pay", "ask first")
    assert set(saved.style.examples) == set(POSTS) and saved.style.description.startswith("Sentences of about 4")

    # Another persona has no style; Adam's is there when he is opened again.
    list_entry(page, "Jenniel — example").check()
    expect(box(page, "phrases")).to_have_value("")
    list_entry(page, "Adam — edited example").check()
    expect(box(page, "phrases")).to_have_value("profit logic\nwillingness to pay\nask first")
    expect(box(page, "examples")).to_have_value(re.compile(re.escape(POSTS[0])))

    page.locator("#style-clear").click()
    expect(box(page, "examples")).to_have_value("")
    expect(dirty).to_contain_text("Unsaved changes")
    page.locator("#personas-save").click()
    expect(dirty).to_have_text("")
    assert PersonaStore(settings).get("adam").style.is_default
