"""``analytics --persona ID``: what people ask a persona and how it answers, from its conversations."""

from __future__ import annotations

import json

from pipeline.analytics import persona_analytics
from pipeline.settings import resolve


def cmd_analytics(args) -> int:
    found = persona_analytics(resolve(), args.persona, days=args.days)
    if args.json:
        print(json.dumps(found.to_dict(), ensure_ascii=False))
        return 0
    rate = lambda value: "—" if value is None else f"{value:.0%}"  # noqa: E731
    print(f"{found.persona}, last {found.days} days: {found.questions} questions, {found.replies} replies; "
          f"grounded in documents {rate(found.grounding_rate)}, reported {rate(found.report_rate)} "
          f"({', '.join(f'{n} {status}' for status, n in found.report_outcomes.items()) or 'none'})")
    latency = found.latency_s
    if latency.get("p50") is not None:
        print(f"reply time p50 {latency['p50']} s, p95 {latency['p95']} s; first token p50 "
              f"{latency['first_token_p50']} s")
    outcomes = found.review_outcomes
    if outcomes.get("held"):
        print(f"held for review: {outcomes['held']} — {outcomes['pending']} pending, {outcomes['approved']} approved "
              f"as written, {outcomes['approved_with_edits']} approved with edits, {outcomes['rejected']} rejected")
    busiest = sorted(((count, day) for day, count in found.questions_per_day.items() if count), reverse=True)[:5]
    if busiest:
        print("busiest days: " + ", ".join(f"{day} ({count})" for count, day in busiest))
    for topic in found.topics:
        print(f"{topic.questions:>4}  {topic.label[:70]!r}  {', '.join(topic.words)}")
    return 0
