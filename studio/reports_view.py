"""What the studio shows of reports: the Chat tab's "Report this reply" answer, and the Personas
tab's Reports section (a persona's reports as a table, the picker's labels) — and the plain shapes
the ``report_*`` endpoints answer with. Plain functions of ``pipeline.reports``' ``Report``; no
Gradio, no decisions.
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from pipeline.db.reports import STATUSES, Report

REPORT_HEADERS = ["id", "status", "question", "reply", "reason", "correction", "created (UTC)"]
ALL = "all"
STATUS_CHOICES = [("All", ALL), *((status.capitalize(), status) for status in STATUSES)]
SHORT = 80
NO_CONVERSATION = "Nothing to report yet: send a message first, then report the reply you got."
NO_REPLY = "This conversation has no reply yet to report."
SAVE_FIRST = "Open a saved persona to see the replies reported on it."
NONE_YET = "No reports yet: a reply reported in the Chat tab shows here."
NONE_WITH = "No {status} reports."
ABOUT = ("Replies of this persona that were reported in the Chat tab as wrong, with the reason and the right "
         "answer. “Make it a knowledge note” adds the correction to this persona's knowledge, so the next answer "
         "finds it; “Dismiss” closes a report without one.")


def reported(report: Report) -> str:
    """The Chat tab's line once a reply is reported."""
    return f"Reported as `{report.id}` — the creator can turn your correction into knowledge."


def short(text: str | None, limit: int = SHORT) -> str:
    """``text`` on one line, cut to ``limit`` characters with "…"."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def reports_table(reports: Iterable[Report]) -> pd.DataFrame:
    """One row per report, in ``REPORT_HEADERS`` order (the headers stay when there is none)."""
    rows = [[report.id, report.status, short(report.question) or "—", short(report.reply),
             short(report.reason) or "—", short(report.correction) or "—",
             (report.created_at or "")[:16].replace("T", " ")]
            for report in reports]
    return pd.DataFrame(rows, columns=REPORT_HEADERS)


def report_choices(reports: Iterable[Report]) -> list[tuple[str, str]]:
    """(label, id) for the picker: "r20260101-abc123 · open · the question"."""
    return [(f"{report.id} · {report.status} · {short(report.question, 50) or 'no question'}", report.id)
            for report in reports]


def nothing_shown(status: str | None) -> str:
    return NONE_WITH.format(status=status) if status and status != ALL else NONE_YET


def noted(report: Report) -> str:
    return (f"Report `{report.id}` became the knowledge note `{report.note}`: the next answer to that question "
            f"finds it (it is in the Knowledge section's sources when this persona is opened again).")


def dismissed(report: Report) -> str:
    return f"Report `{report.id}` dismissed."


def reports_answer(reports: Iterable[Report]) -> list[dict[str, Any]]:
    return [report.to_dict() for report in reports]
