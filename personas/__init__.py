"""Personas: who the avatar is, how it talks and the rules it keeps.

- ``model``: the typed ``Persona`` (with ``Rule``, ``Mode``, ``LLMChoice``, ``KnowledgeUse``,
  ``StyleUse``, ``ReviewPolicy``, ``Speaking``), validated where built; ``check_slug`` and ``slugify`` for ids.
- ``yamlfile``: reading and writing ``persona.yaml`` (strict on the way in, byte-stable out).
- ``store``: ``PersonaStore`` — shipped examples (``personas/examples``) and the user's own
  (``<data dir>/personas``), a user copy overriding an example of the same id.
- ``prompt``: ``build_system_prompt``, the one place a persona becomes a system prompt.
- ``style``: ``style_from_profile`` (a measured style as the persona's section) and
  ``pick_examples`` (the examples of it most like a question).
- ``check``: ``run_check``, the scored "does it answer as the persona?" check.

Imports the pipeline's errors, controls, settings and LLM interface; never gradio.
"""

from .check import CheckReport, QuestionResult, format_report, run_check, score_reply
from .model import KnowledgeUse, LLMChoice, Mode, Persona, ReviewPolicy, Rule, Speaking, StyleUse, check_slug, slugify
from .prompt import build_system_prompt
from .store import EXAMPLES_DIR, PersonaStore

__all__ = [
    "EXAMPLES_DIR",
    "CheckReport",
    "KnowledgeUse",
    "LLMChoice",
    "Mode",
    "Persona",
    "PersonaStore",
    "QuestionResult",
    "ReviewPolicy",
    "Rule",
    "Speaking",
    "StyleUse",
    "build_system_prompt",
    "check_slug",
    "format_report",
    "run_check",
    "score_reply",
    "slugify",
]
