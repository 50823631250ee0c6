"""What the Personas tab's Style section shows: a measured profile in words, and the plain shape
the ``learn_style`` endpoint answers with. Plain functions of what ``pipeline.style`` and
``personas.style`` return; no Gradio, no decisions.
"""

from __future__ import annotations

from typing import Any

from personas.model import StyleUse
from pipeline.style import StyleProfile

FILE_TYPES = [".txt", ".md", ".markdown", ".docx", ".pdf", ".html", ".htm", ".csv"]
ABOUT = ("How this persona writes. Upload samples of the creator's own writing — posts or captions (text or "
         "Markdown, one per paragraph), a transcript, a Word or PDF document, a CSV export (one row each) — and "
         "**Learn style** proposes a description, signature phrases and up to 24 examples. The chat shows the model "
         "the few examples most like each question, as the voice to match.")
CHOOSE_FILES = "Choose files of the creator's own writing to learn from first (text, Markdown, Word, PDF, HTML or CSV)."
CLEARED = "Style cleared. Press **Save** to keep the persona without a style (nothing is saved until then)."


def profile_markdown(profile: StyleProfile, style: StyleUse) -> str:
    """What was measured, and what was proposed from it."""
    emoji = f" ({' '.join(profile.top_emoji)})" if profile.top_emoji else ""
    lines = [
        f"**Learned from {profile.samples:,} samples, {profile.words:,} words.**",
        f"- Sentences: median {profile.sentence_words_median:g} words, mean {profile.sentence_words_mean:g}",
        f"- Emoji: {profile.emoji_per_100_words:g} per 100 words{emoji}",
        f"- Per sentence: {profile.exclamations_per_sentence:g} exclamation marks, "
        f"{profile.questions_per_sentence:g} question marks",
        f"- Per sample: {profile.ellipses_per_sample:g} ellipses, {profile.hashtags_per_sample:g} hashtags, "
        f"{profile.mentions_per_sample:g} mentions; words in capitals: {profile.capitals_per_100_words:g} per 100",
        "- Phrases: " + (", ".join(f"“{phrase}”" for phrase in profile.phrases) or "none stand out"),
        "",
        f"The proposal fills the style fields: the description, {len(style.phrases)} phrases and "
        f"{len(style.examples)} examples. Edit them as you like and press **Save** to keep this style — nothing is "
        "saved until then.",
    ]
    return "\n".join(lines)


def style_answer(profile: StyleProfile, style: StyleUse) -> dict[str, Any]:
    """The endpoint's answer: the whole profile, and the persona section it proposes (every key)."""
    return {"profile": profile.to_dict(), "style": {"description": style.description, "phrases": list(style.phrases),
                                                   "examples": list(style.examples)}}
