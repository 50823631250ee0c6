"""What the History tab's Analytics section shows of ``pipeline.analytics.PersonaAnalytics``: the
headline numbers as Markdown, the plots' data (pandas frames with the columns the plots name), the
topics table, and the sentence for a period without questions. Plain functions; no Gradio, no
decisions — what is counted, and how, is the pipeline's.
"""

from __future__ import annotations

import pandas as pd

from pipeline.analytics import PersonaAnalytics

DAY_CHOICES = [("7 days", 7), ("30 days", 30), ("90 days", 90)]
DEFAULT_DAYS = 30
DAY, QUESTIONS = "day", "questions"
MEASURE, SECONDS, OF = "measure", "seconds", "time to"
WHOLE_REPLY, FIRST_TOKEN = "the whole reply", "the first token"
LATENCY_ORDER = ["reply p50", "reply p95", "1st token p50", "1st token p95"]
TOPIC_HEADERS = ["topic", "questions", "share", "example question"]
PICK_FIRST = "Pick a persona to see what people ask it."
ABOUT = ("What people asked a persona in the chat and how it answered, counted from your conversations with it: "
         "questions per day, what they were about (questions grouped by meaning), how often a reply drew on the "
         "persona's documents or was reported, and how long replies took.")


def is_empty(found: PersonaAnalytics) -> bool:
    return found.questions == 0


def nothing_asked(found: PersonaAnalytics, name: str) -> str:
    """The section's only words when the period has no questions."""
    return f"Nobody asked {name} anything in the last {found.days} days: there is nothing to count yet."


def headline(found: PersonaAnalytics, name: str) -> str:
    """The numbers above the plots, one topic a line."""
    latency = found.latency_s
    outcomes = ", ".join(f"{count} {status}" for status, count in sorted(found.report_outcomes.items()))
    return "\n\n".join([
        f"**{name}**, last {found.days} days: **{_count(found.questions, 'question')}** in "
        f"**{_count(found.conversations, 'conversation')}**, {_count(found.replies, 'reply', 'replies')}",
        f"Grounded in its documents: **{_share(found.grounding_rate)}** of replies "
        f"({found.grounded_replies} of {found.replies})",
        f"Reported: **{_share(found.report_rate)}** of replies ({_count(found.reports, 'report')}"
        f"{': ' + outcomes if outcomes else ''})",
        f"Reply time: p50 **{_seconds(latency.get('p50'))}**, p95 **{_seconds(latency.get('p95'))}** · "
        f"first token: p50 **{_seconds(latency.get('first_token_p50'))}**, "
        f"p95 **{_seconds(latency.get('first_token_p95'))}**",
    ])


def questions_per_day(found: PersonaAnalytics) -> pd.DataFrame:
    """Every day of the period, oldest first, days without questions as 0 (the bar plot's data)."""
    return pd.DataFrame({DAY: list(found.questions_per_day), QUESTIONS: list(found.questions_per_day.values())})


def latency_summary(found: PersonaAnalytics) -> pd.DataFrame | None:
    """p50 and p95 of the whole reply and of its first token, in seconds, in ``LATENCY_ORDER``
    (None: no timed reply)."""
    rows = [[f"{short} {percentile}", value, what]
            for what, short, prefix in ((WHOLE_REPLY, "reply", ""), (FIRST_TOKEN, "1st token", "first_token_"))
            for percentile in ("p50", "p95")
            if (value := found.latency_s.get(prefix + percentile)) is not None]
    return pd.DataFrame(rows, columns=[MEASURE, SECONDS, OF]) if rows else None


def topics_table(found: PersonaAnalytics | None) -> pd.DataFrame:
    """One row per topic, biggest first: its words, its questions, their share of all, an example
    (the headers alone for None)."""
    rows = [[", ".join(topic.words) or "—", topic.questions, f"{topic.questions / found.questions:.0%}", topic.label]
            for topic in (found.topics if found else [])]
    return pd.DataFrame(rows, columns=TOPIC_HEADERS)


def _count(number: int, thing: str, things: str | None = None) -> str:
    return f"{number} {thing if number == 1 else things or thing + 's'}"


def _share(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"
