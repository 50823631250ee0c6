"""Reports: a reply someone found wrong, what they said about it, and the fix it became.

``report_reply`` files a report on an assistant turn of one of the owner's conversations: the
question it answered (the user turn before it), the reply, the sources the reply was given, a
reason and, optionally, the right answer. ``reports`` lists them per persona, newest first.
``note_from_report`` turns a report's correction into a knowledge note — a small Markdown
document, ``correction-<report id>.md``, added to the persona's knowledge like any other — so the
next answer to that question finds it; ``dismiss`` closes a report without one. All of it is per
owner: a user reports, sees and acts on their own conversations' reports only.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from .db import ConversationStore, JobStore
from .db.reports import Report, ReportStore
from .errors import BadInput
from .settings import Settings

MAX_TEXT = 4000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: str | None, what: str, limit: int = MAX_TEXT) -> str | None:
    """A person's free text (a reason, a correction, an edited reply): control characters out,
    trimmed, at most ``limit`` characters (else ``BadInput`` naming ``what``); None when empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"the {what} must be text, got {value!r}")
    cleaned = _CONTROL.sub("", value).strip()
    if len(cleaned) > limit:
        raise BadInput(f"the {what} is {len(cleaned):,} characters; at most {limit:,}")
    return cleaned or None


def report_reply(settings: Settings, turn_id: str, *, reason: str | None = None, correction: str | None = None,
                 owner: str | None = None) -> Report:
    """File a report on the reply ``turn_id`` (one of ``owner``'s conversations)."""
    chats = ConversationStore(JobStore(settings.db_path).for_owner(owner))
    turn = chats.turn(str(turn_id or ""))  # another owner's turn is not there
    if turn.role != "assistant":
        raise BadInput(f"turn {turn.id} is a question, not a reply: report the reply that answered it")
    conversation = chats.get(turn.conversation_id)
    asked = [earlier for earlier in chats.turns(conversation.id) if earlier.role == "user" and earlier.seq < turn.seq]
    return ReportStore(settings.db_path, owner).add(
        persona=conversation.persona, conversation_id=conversation.id, turn_id=turn.id,
        question=asked[-1].content if asked else None, reply=turn.content, sources=turn.sources,
        reason=clean_text(reason, "reason"), correction=clean_text(correction, "correction"))


def reports(settings: Settings, *, persona: str | None = None, status: str | None = None,
            owner: str | None = None) -> list[Report]:
    return ReportStore(settings.db_path, owner).list(persona=persona or None, status=status or None)


def note_from_report(settings: Settings, report_id: str, *, correction: str | None = None,
                     owner: str | None = None) -> Report:
    """The report's correction (or ``correction``, which replaces it) added to its persona's
    knowledge as ``correction-<id>.md``; the report is then "noted" and names the note."""
    from .knowledge import Knowledge

    store = ReportStore(settings.db_path, owner)
    report = store.get(report_id)
    fixed = clean_text(correction, "correction") or report.correction
    if not fixed:
        raise BadInput(f"report {report.id} has no correction to learn from: write the right answer first")
    name = f"correction-{report.id}.md"
    question = " ".join((report.question or "an earlier question").split())
    note = (f"# Correction: {question}\n\n{fixed}\n\n"
            f"(This corrects an earlier answer that was reported as inaccurate.)\n")
    with tempfile.TemporaryDirectory(prefix="report-note-") as folder:
        path = Path(folder) / name
        path.write_text(note, encoding="utf-8")
        Knowledge(settings, owner).add_file(report.persona, path, name)
    return store.update(report.id, status="noted", note=name, correction=fixed)


def dismiss(settings: Settings, report_id: str, *, owner: str | None = None) -> Report:
    return ReportStore(settings.db_path, owner).update(str(report_id), status="dismissed")
