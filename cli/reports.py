"""``report`` and ``reports list|note|dismiss``: replies found wrong, and what became of them."""

from __future__ import annotations

import json

from pipeline.reports import dismiss, note_from_report, report_reply, reports
from pipeline.settings import resolve


def cmd_report(args) -> int:
    report = report_reply(resolve(), args.turn_id, reason=args.reason, correction=args.correction)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print(f"reported {report.turn_id} as {report.id} ({report.persona})")
    return 0


def cmd_reports(args) -> int:
    settings = resolve()
    if args.reports_command == "list":
        found = reports(settings, persona=args.persona, status=args.status)
        if args.json:
            print(json.dumps([report.to_dict() for report in found], ensure_ascii=False))
            return 0
        if not found:
            print("no reports")
        for report in found:
            print(f"{report.id}  {report.status:<9} {report.persona:<12} {report.created_at}  "
                  f"{(report.question or '')[:50]!r}: {(report.reason or 'no reason given')[:60]}")
        return 0
    if args.reports_command == "note":
        report = note_from_report(settings, args.report_id, correction=args.correction)
        print(f"{report.id}: the correction is now the knowledge note {report.note} of {report.persona}")
        return 0
    report = dismiss(settings, args.report_id)
    print(f"{report.id} dismissed")
    return 0
