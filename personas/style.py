"""A persona's style at work: the section learned from a creator's own writing, and the few
examples of it that go with each question.

``style_from_profile`` turns what ``pipeline.style.analyse`` measured into the persona's ``style``
section — the measured habits in a sentence ("Sentences of about 9 words, emoji now and then
(🚀)."), the signature phrases, and the pool of representative, diverse samples as ``examples``. It is a proposal: the
studio shows it in the editor and nothing is kept until the creator saves; ``app.py style
--persona ID --save`` keeps it at once.

``pick_examples`` chooses, for one question, the ``k`` examples nearest to it in meaning (cosine
similarity of the bundled WordLlama vectors, the model knowledge search uses), most similar first.
A question about pricing is answered beside the creator's posts about pricing, so the model sees
the voice to match on the subject at hand. The examples' vectors are computed once per distinct
set of examples (kept for the last ``CACHED_SETS`` sets, keyed by the texts themselves, so an
edited style is embedded again and an unchanged one never); only the question is embedded per
call. In a mode out of persona there is no style, and nothing is picked. Embedding needs the
bundled model: without it this raises ``BackendUnavailable``, which the chat and the check note and
go on without examples.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from pipeline.knowledge.embed import embed
from pipeline.style import StyleProfile

from .model import MAX_ITEMS, Persona, StyleUse

PICKED = 3  # examples shown with a question: enough to show a voice, few enough for a 135M model
CACHED_SETS = 32


def style_from_profile(profile: StyleProfile) -> StyleUse:
    """The persona section a measured profile proposes (see the module docstring)."""
    habits = ", ".join(profile.habits()) + "."
    examples = profile.pool or profile.examples
    return StyleUse(description=habits[:1].upper() + habits[1:], phrases=tuple(profile.phrases),
                    examples=tuple(examples[:MAX_ITEMS["examples"]]))


def pick_examples(persona: Persona, question: str, cache: Path, k: int = PICKED, *,
                  mode: str | None = None) -> list[str]:
    """The ``k`` examples of ``persona``'s style most like ``question``, most similar first; none
    without a style or in a mode out of persona."""
    examples = persona.style_for(mode).examples
    if not examples or k < 1:
        return []
    vectors = _example_vectors(Path(cache), examples)
    similarity = vectors @ embed(cache, [question])[0]
    order = np.argsort(-similarity, kind="stable")  # ties (a question of no known word): the pool's order
    return [examples[index] for index in order[:k]]


@lru_cache(maxsize=CACHED_SETS)
def _example_vectors(cache: Path, examples: tuple[str, ...]) -> np.ndarray:
    vectors = embed(cache, list(examples))
    vectors.setflags(write=False)  # shared between calls
    return vectors
