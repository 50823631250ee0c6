"""The Personas tab's Knowledge section in a real browser: a new persona says to save it first; an
example persona gets a handbook (and a damaged PDF, refused in one line), shows it in its sources,
finds the right passage for a question, keeps it to itself when another persona is opened, and
forgets it on Remove. Assertions are on what a person sees and on what the database holds.
"""

from __future__ import annotations

from playwright.sync_api import expect

from pipeline.knowledge import Knowledge

from .conftest import open_tab, screenshot

HANDBOOK = """# Staff handbook

## Holidays

Every employee has 28 days of paid holiday a year, including public holidays. Holiday requests go
to your line manager at least two weeks ahead.

## Expenses

Travel expenses are refunded within 30 days when the receipt is uploaded to the finance portal.
"""


def list_entry(page, label: str):
    return page.locator("#personas-list").get_by_label(label, exact=True)


def test_add_see_search_and_remove_a_personas_knowledge(page, live_studio, tmp_path):
    open_tab(page, "Personas")  # the studio opens on the Render lab
    _, settings = live_studio
    status, sources, results = (page.locator(f"#knowledge-{name}") for name in ("status", "sources", "results"))
    handbook = tmp_path / "handbook.md"
    handbook.write_text(HANDBOOK)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"Just some words, no PDF.\n" * 20)

    # The editor opens on a new persona: there is no id to keep knowledge under yet.
    expect(page.locator("#persona-knowledge")).to_be_visible()
    expect(status).to_contain_text("Save this persona first")

    list_entry(page, "Adam — example").check()
    expect(page.locator("#personas-name").get_by_role("textbox")).to_have_value("Adam")
    expect(status).to_contain_text("No knowledge yet")

    page.locator("#knowledge-files input[type=file]").set_input_files([str(handbook), str(broken)])
    for name in ("handbook.md", "broken.pdf"):  # uploaded: each listed in the file box
        expect(page.locator("#knowledge-files").get_by_role("cell", name=name, exact=True)).to_be_visible()
    page.locator("#knowledge-add").click()
    expect(status).to_contain_text("Added 1 of 2 files.", timeout=60_000)
    expect(status).to_contain_text("✓ handbook.md — Markdown, ")
    expect(status).to_contain_text("✗ broken.pdf — refused: “broken.pdf” could not be read as a PDF (")
    expect(sources).to_contain_text("handbook.md")
    expect(sources).to_contain_text("Markdown")
    expect(sources).not_to_contain_text("broken.pdf")
    expect(page.locator("#knowledge-files").get_by_role("cell")).to_have_count(0)  # the box is ready for more
    [source] = Knowledge(settings).sources("adam")
    assert source.name == "handbook.md" and source.chunks >= 2

    page.locator("#knowledge-query").get_by_role("textbox").fill("How many days of paid holiday do I get?")
    page.locator("#knowledge-search").click()
    expect(results).to_contain_text("1. handbook.md — Staff handbook › Holidays")
    expect(results.locator("blockquote").first).to_contain_text("28 days of paid holiday")
    screenshot(page, "personas-knowledge")

    # Another persona has its own knowledge (none); Adam's is there again when he is reopened.
    list_entry(page, "Jenniel — example").check()
    expect(status).to_contain_text("No knowledge yet")
    expect(sources).not_to_contain_text("handbook.md")
    expect(results).to_have_text("")
    list_entry(page, "Adam — example").check()
    expect(sources).to_contain_text("handbook.md")

    expect(page.locator("#knowledge-source input")).to_have_value("handbook.md")
    page.locator("#knowledge-remove").click()
    expect(status).to_contain_text("Removed handbook.md.")
    expect(sources).not_to_contain_text("handbook.md")
    assert Knowledge(settings).sources("adam") == []
