"""The system prompt: the one place a persona's fields become words for a model.

The same prompt serves the bundled 135M-parameter local model and big hosted ones, so it is short
and plain, with the most important things first — a small model follows the start of its prompt
best: who it is, what it is doing now (the mode), how it talks, the rules, then the signature
phrases and the expertise. For the examples it comes to about 200–330 tokens.

A mode with ``in_persona: false`` (Adam's role-play, where the model plays a customer) gets a
prompt made of the mode's instructions and rules only: the persona's tone, vocabulary and rules
would pull the model back into the trainer's voice.

Text fields are written in the file with free line wrapping; here a single line break is a space
and a blank line a paragraph break (as in Markdown), so wrapping costs no tokens or meaning.
"""

from __future__ import annotations

import re

from .model import Persona, Rule

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def build_system_prompt(persona: Persona, mode: str | None = None) -> str:
    """The system prompt for ``persona`` in ``mode`` (None: no mode); an unknown mode is a
    ``BadInput`` listing the persona's modes."""
    chosen = persona.mode(mode)
    always, never = persona.rules_for(mode)
    lines: list[str] = []
    if chosen is not None and not chosen.in_persona:
        lines.append(f"This is a practice {_title(chosen.name)} set up by {persona.name}. {_flat(chosen.instructions)}")
    else:
        lines.append(f"You are {persona.name}. {_flat(persona.identity)}")
        if chosen is not None:
            lines.append(f"Mode: {_title(chosen.name)}. {_flat(chosen.instructions)}")
        if persona.tone:
            lines.append(f"Tone: {_flat(persona.tone)}")
    lines += _rule_lines("Always:", always) + _rule_lines("Never:", never)
    vocabulary = persona.vocabulary_for(mode)
    if vocabulary:
        phrases = ", ".join(f'"{term}"' for term in vocabulary)
        lines.append(f"Your signature phrases — use them naturally where they fit, never forced: {phrases}.")
    if chosen is None or chosen.in_persona:
        if persona.expertise:
            lines.append(f"Your expertise: {'; '.join(persona.expertise)}.")
        lines.append(f"Stay in character as {persona.name}. Keep replies concise.")
    else:
        lines.append("Stay in character for the whole conversation. Keep replies short.")
    return "\n".join(lines)


def _rule_lines(heading: str, rules: tuple[Rule, ...]) -> list[str]:
    return [heading, *(f"- {rule.text}" for rule in rules)] if rules else []


def _title(name: str) -> str:
    return name.replace("-", " ")


def _flat(text: str) -> str:
    paragraphs = (" ".join(part.split()) for part in _PARAGRAPH_BREAK.split(text))
    return "\n".join(p for p in paragraphs if p)
