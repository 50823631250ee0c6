"""The relevance floor: which of the passages a search ranks are about the question at all.

A ranking always has a best passage, even for "hi!". Hybrid search (``Knowledge.search``) keeps a
passage only when it is found by either signal on its own merit:

- **a word**: BM25 matched at least one of the question's *content words* — its words less
  ``STOPWORDS`` (English function words) and ``SMALL_TALK`` (greetings, thanks, yes/no, "ok").
  BM25 is only ever asked for content words (``content_words``), so any BM25 hit is such a match;
- **a meaning**: the cosine similarity of its vector to the question's is at least ``VECTOR_FLOOR``.

A message with no content word and no passage that close gets no passages: the chat answers a
greeting without reference material, and a grounded persona is told that nothing matches. The
word lists are English; in another language every word is a content word, and small talk is held
back by the vector floor alone.

``VECTOR_FLOOR`` was calibrated on the 1 MB standard-library corpus of ``bench/knowledge.py``
(1,166 passages) with ``tests/data/stdlib_questions.json``. Twenty kinds of small talk ("hi",
"thanks!", "how are you?", "ok", "what's up?", "who are you?", …) came no closer to any passage
than 0.324 ("how are you?"; "hi" 0.232, "ok" 0.162). The 36 real questions' best passage of the
right document lay between 0.23 and 0.735, 32 of them at 0.40 or more; the four below it all
match content words, so the word signal keeps them. 0.40 sits 0.076 above the closest small
talk. Hybrid recall@5 on the question set is 0.972 (35 of 36) both before and after the floor,
BM25 alone 0.944 both times; small talk given passages went from 20 of 20 to none. The benchmark
measures all of it again (``bench/knowledge.py``; docs/benchmarks.md).
"""

from __future__ import annotations

import re

VECTOR_FLOOR = 0.40

_WORD = re.compile(r"\w+", re.UNICODE)

# English function words (the usual list, less the few that carry meaning in a question such as
# "against"), and the pieces contractions leave behind ("what's" → "what", "s").
STOPWORDS = frozenset("""
a about above after again all am an and any are as at be because been before being below between both but by
can could did do does doing down during each few for from further had has have having he her here hers herself
him himself his how i if in into is it its itself just me more most my myself nor not now of off on once only or
other our ours ourselves out over own same she should so some such than that the their theirs them themselves then
there these they this those through to too under until up very was we were what when where which while who whom
why will with would you your yours yourself yourselves
s t d ll m re ve don doesn didn isn aren wasn weren won wouldn couldn shouldn
""".split())

# What people say to a persona that asks nothing of its documents.
SMALL_TALK = frozenset("""
hi hello hey hiya howdy yo greetings thanks thank thx ty cheers ok okay k kk alright yes yeah yep yup no
nope nah please bye goodbye cya cool great nice sure good morning afternoon evening lol haha wow oh ah hmm
um
""".split())


def content_words(text: str) -> list[str]:
    """The words of ``text`` that can say what it is about, lower-cased, each once, in order."""
    words = (word.lower() for word in _WORD.findall(text or ""))
    return list(dict.fromkeys(word for word in words if word not in STOPWORDS and word not in SMALL_TALK))
