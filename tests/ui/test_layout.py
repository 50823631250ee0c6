"""Every tab renders, at 1280×800 and on a narrow (phone-sized) window; screenshots of each are kept."""

from __future__ import annotations

import pytest

from .conftest import open_tab, screenshot

TABS = ("Personas", "Chat", "Render lab", "History")


@pytest.mark.parametrize("width,height,label", [(1280, 800, "wide"), (390, 844, "narrow")])
def test_every_tab_renders_without_overflow(page, width, height, label):
    page.set_viewport_size({"width": width, "height": height})
    for name in TABS:
        open_tab(page, name)
        page.wait_for_timeout(300)
        slug = name.lower().replace(" ", "-")
        screenshot(page, f"{label}-{slug}")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{name} is {overflow}px wider than a {width}px window"
