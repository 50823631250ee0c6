"""Reports of inaccurate replies (``migrations.m009_reports``), one owner's at a time.

A report keeps its own copy of the question, the reply and the sources the reply was given, so it
reads the same after its conversation is gone. ``owner`` is "" in a studio without users; every
query here carries ``owner = ?``, so a user never sees or changes another user's reports.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BadInput
from .connection import connect, open_database
from .jobs import now

STATUSES = ("open", "noted", "dismissed")


@dataclass(frozen=True)
class Report:
    id: str
    persona: str
    conversation_id: str | None
    turn_id: str
    question: str | None
    reply: str
    reason: str | None
    correction: str | None
    status: str
    created_at: str
    updated_at: str | None = None
    note: str | None = None  # the knowledge source the correction became
    sources: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Report:
        values = {name: row.get(name) for name in cls.__dataclass_fields__}
        values["sources"] = json.loads(row.get("sources") or "[]")
        return cls(**values)


class ReportStore:
    def __init__(self, db_path: Path, owner: str | None = None) -> None:
        self.db_path = Path(db_path)
        self.owner = owner or ""
        open_database(self.db_path)

    def add(self, *, persona: str, conversation_id: str | None, turn_id: str, question: str | None, reply: str,
            sources: list[dict[str, str]], reason: str | None, correction: str | None) -> Report:
        report_id = f"r{now()[:10].replace('-', '')}-{secrets.token_hex(3)}"
        row = {"id": report_id, "owner": self.owner, "persona": persona, "conversation_id": conversation_id,
               "turn_id": turn_id, "question": question, "reply": reply,
               "sources": json.dumps(sources, ensure_ascii=False) if sources else None,
               "reason": reason, "correction": correction, "status": "open", "created_at": now()}
        with connect(self.db_path) as db:
            db["reports"].insert(row)
        return self.get(report_id)

    def get(self, report_id: str) -> Report:
        with connect(self.db_path) as db:
            rows = list(db["reports"].rows_where("id = ? and owner = ?", [str(report_id), self.owner]))
        if not rows:
            raise BadInput(f"no report with id {report_id!r} — `python app.py reports list --persona ID` lists them")
        return Report.from_row(rows[0])

    def list(self, persona: str | None = None, status: str | None = None, limit: int = 200) -> list[Report]:
        conditions, params = ["owner = ?"], [self.owner]
        if persona:
            conditions.append("persona = ?")
            params.append(persona)
        if status:
            if status not in STATUSES:
                raise BadInput(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
            conditions.append("status = ?")
            params.append(status)
        with connect(self.db_path) as db:
            rows = db["reports"].rows_where(" and ".join(conditions), params, order_by="created_at desc, id desc",
                                            limit=int(limit))
            return [Report.from_row(row) for row in rows]

    def update(self, report_id: str, **values: Any) -> Report:
        self.get(report_id)  # someone else's is not there
        with connect(self.db_path) as db:
            db["reports"].update(report_id, {**values, "updated_at": now()})
        return self.get(report_id)

    def count(self, persona: str) -> int:
        with connect(self.db_path) as db:
            (count,) = db.execute("select count(*) from reports where owner = ? and persona = ?",
                                  [self.owner, persona]).fetchone()
        return int(count)
