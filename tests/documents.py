"""Documents made in the tests with maintained libraries, for the knowledge tests, and a
creator's posts for the style tests."""

from __future__ import annotations

from pathlib import Path


def text_pdf(path: Path, pages: list[str]) -> Path:
    """A real PDF with one page of text per item of ``pages`` (fpdf2)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


# A creator's posts: signature phrases, emoji, exclamations, a hashtag — what a style is learned from.
POSTS = [
    "Morning crew! 🚀 Today we talk profit logic, not vanity metrics. Who's in?",
    "Quick reminder: market share without profit logic is just expensive applause... 💸",
    "Pricing is a conversation about willingness to pay. Ask first, price second! 🚀",
    "Your customers already told you what they value. Did you listen? Profit logic starts there.",
    "Big launch week!!! Willingness to pay beats discount panic every single time 🔥",
    "Stop chasing share. Start asking about willingness to pay. That's the whole post 🚀",
    "Weekend read: the profit logic behind subscriptions... thread below #pricing",
]
