"""What people ask a persona and how it answers: counted from the stored conversations.

``persona_analytics(settings, persona, days=30, owner=None)`` reads the owner's conversations with
``persona`` over the last ``days`` days and returns plain data:

- **questions per day** (UTC dates, every day of the window, zeros included), and how many
  conversations they were asked in;
- **topics**: the questions grouped by meaning — each question's WordLlama vector joins the first
  topic whose centre is at least ``TOPIC_SIMILARITY`` close (greedy, biggest topics first after a
  second pass), named by its most central question and its most frequent uncommon words;
- **grounding rate**: the share of replies that were given passages from the persona's documents;
- **report rate** and report outcomes (open, noted, dismissed) from ``reports``;
- **latency**: p50 and p95 of a reply's whole time and of its first token, from the turns;
- **review outcomes**: of the replies held for review (``pipeline.review``), how many are still
  pending, approved as written, approved with the creator's edits, and rejected.

``persona`` must be one the owner can open (``PersonaStore``) or one they have talked to (a deleted
persona's conversations stay): anything else, a typo or another user's persona, is ``BadInput``
in the store's words, never a page of zeros.

Grouping is the slow part (the questions are embedded, then compared with each topic's centre:
about a second for a few thousand): ``progress(fraction, message)`` says when it starts.

The CLI prints it (``app.py analytics --persona ID [--json]``); the studio draws it (History ›
Analytics, ``studio.analytics_section``) and its ``persona_analytics`` endpoint returns the JSON.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .db import ConversationStore, JobStore, Turn, stamp
from .db.reports import ReportStore
from .errors import BadInput
from .settings import Settings
from .style import COMMON_ZIPF

TOPIC_SIMILARITY = 0.55
MAX_TOPICS = 8
_WORD = re.compile(r"[a-zA-Z][a-zA-Z'-]{2,}")
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Topic:
    label: str  # the topic's most central question
    words: list[str]  # its most frequent uncommon words
    questions: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PersonaAnalytics:
    persona: str
    days: int
    questions: int
    replies: int
    conversations: int
    questions_per_day: dict[str, int]
    topics: list[Topic]
    grounded_replies: int
    grounding_rate: float | None  # None without replies
    reports: int
    report_rate: float | None
    report_outcomes: dict[str, int]
    latency_s: dict[str, float | None] = field(default_factory=dict)  # p50, p95, first_token_p50, first_token_p95
    # held, pending, approved (as written), approved_with_edits, rejected
    review_outcomes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "topics": [topic.to_dict() for topic in self.topics]}


def persona_analytics(settings: Settings, persona: str, *, days: int = 30, owner: str | None = None,
                      today: dt.date | None = None, progress: Progress | None = None) -> PersonaAnalytics:
    progress = progress or (lambda fraction, message: None)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
        raise BadInput(f"days must be a whole number from 1 to 3650, got {days!r}")
    today = today or dt.datetime.now(dt.timezone.utc).date()
    first = today - dt.timedelta(days=days - 1)
    since = stamp(dt.datetime.combine(first, dt.time(), tzinfo=dt.timezone.utc))
    conversations = ConversationStore(JobStore(settings.db_path).for_owner(owner))
    _check_persona(settings, persona, owner, conversations)
    progress(0.0, "Reading the conversations…")
    turns = conversations.persona_turns(persona, since)
    questions = [turn for turn in turns if turn.role == "user"]
    replies = [turn for turn in turns if turn.role == "assistant" and not turn.error]
    per_day = {(first + dt.timedelta(days=offset)).isoformat(): 0 for offset in range(days)}
    for turn in questions:
        day = turn.created_at[:10]
        if day in per_day:
            per_day[day] += 1
    reports = [report for report in ReportStore(settings.db_path, owner).list(persona=persona, limit=100000)
               if report.created_at >= since]
    grounded = sum(1 for turn in replies if turn.sources)
    progress(0.2, f"Grouping {len(questions)} questions into topics…")
    found_topics = topics([turn.content for turn in questions], settings)
    progress(1.0, "Done.")
    return PersonaAnalytics(
        persona=persona, days=days, questions=len(questions), replies=len(replies),
        conversations=len({turn.conversation_id for turn in questions}), questions_per_day=per_day,
        topics=found_topics,
        grounded_replies=grounded, grounding_rate=round(grounded / len(replies), 4) if replies else None,
        reports=len(reports), report_rate=round(len(reports) / len(replies), 4) if replies else None,
        report_outcomes=dict(Counter(report.status for report in reports)),
        latency_s={"p50": _percentile([t.latency_s for t in replies], 50),
                   "p95": _percentile([t.latency_s for t in replies], 95),
                   "first_token_p50": _percentile([t.first_token_s for t in replies], 50),
                   "first_token_p95": _percentile([t.first_token_s for t in replies], 95)},
        review_outcomes=review_outcomes(replies))


def review_outcomes(replies: Sequence[Turn]) -> dict[str, int]:
    """Held replies by what became of them: ``approved`` counts those approved as written,
    ``approved_with_edits`` those the creator corrected before approving; ``held`` is all of them."""
    held = [turn for turn in replies if turn.review]
    approved = [turn for turn in held if turn.review == "approved"]
    edited = sum(1 for turn in approved if turn.original is not None)
    return {"held": len(held), "pending": sum(1 for turn in held if turn.review == "pending"),
            "approved": len(approved) - edited, "approved_with_edits": edited,
            "rejected": sum(1 for turn in held if turn.review == "rejected")}


def _check_persona(settings: Settings, persona: str, owner: str | None, conversations: ConversationStore) -> None:
    from personas import PersonaStore

    store = PersonaStore(settings, owner=owner)
    if not store.exists(persona) and not conversations.list(persona=persona, limit=1):
        store.get(persona)  # BadInput: "no persona 'x'; known: …"


def topics(questions: Sequence[str], settings: Settings, limit: int = MAX_TOPICS) -> list[Topic]:
    """The questions grouped by meaning, biggest group first (see the module docstring)."""
    from wordfreq import zipf_frequency

    from .knowledge.embed import embed

    questions = [question for question in questions if question and question.strip()]
    if not questions:
        return []
    vectors = embed(settings.cache, questions)
    groups = _group(vectors, _group(vectors, None))  # a second pass against the first pass's centres
    found = []
    for members in sorted(groups, key=len, reverse=True)[:limit]:
        centre = vectors[members].mean(axis=0)
        central = members[int(np.argmax(vectors[members] @ centre))]
        words = Counter(word.lower() for index in members for word in _WORD.findall(questions[index])
                        if zipf_frequency(word.lower(), "en") < COMMON_ZIPF)
        found.append(Topic(label=questions[central], words=[word for word, _ in words.most_common(4)],
                           questions=len(members)))
    return found


def _group(vectors: np.ndarray, seeds: list[list[int]] | None) -> list[list[int]]:
    # A centre is kept as its group's sum: the cosine to a sum is the cosine to the mean, and one
    # matrix product per question compares it with every centre (thousands of questions in a second).
    seeds = seeds or []
    sums = np.zeros((len(seeds) + len(vectors), vectors.shape[1]), np.float64)
    norms = np.zeros(len(sums))
    groups: list[list[int]] = []
    for members in seeds:
        sums[len(groups)] = vectors[members].sum(axis=0)
        norms[len(groups)] = np.linalg.norm(sums[len(groups)])
        groups.append([])
    for index, vector in enumerate(vectors):
        count = len(groups)
        if count:
            similarity = sums[:count] @ vector / np.where(norms[:count] > 0, norms[:count], 1.0)
            best = int(np.argmax(similarity))
            if similarity[best] >= TOPIC_SIMILARITY:
                groups[best].append(index)
                if not seeds:
                    sums[best] += vector
                    norms[best] = np.linalg.norm(sums[best])
                continue
        sums[count], norms[count] = vector, np.linalg.norm(vector)
        groups.append([index])
    return [members for members in groups if members]


def _percentile(values: Sequence[float | None], percent: float) -> float | None:
    known = [float(value) for value in values if value is not None]
    return round(float(np.percentile(known, percent)), 3) if known else None
