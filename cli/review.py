"""``review list|approve|reject``: the replies held for the creator's review, and acting on them.

``approve`` delivers the reply as its turn asked — text, spoken (the WAV's path is printed) or
rendered (a progress bar on stderr while the video renders, then its job and path).
"""

from __future__ import annotations

import json

from pipeline import review
from pipeline.db import HeldReply
from pipeline.settings import resolve

from .output import ProgressBar

NONE_LISTED = {"pending": "no replies pending review", "approved": "no approved replies",
               "rejected": "no rejected replies", "all": "no replies were held for review"}


def cmd_review(args) -> int:
    settings = resolve()
    if args.review_command == "list":
        found = review.pending(settings, persona=args.persona, status=args.status)
        if args.json:
            print(json.dumps([held.to_dict() for held in found], ensure_ascii=False))
            return 0
        if not found:
            print(NONE_LISTED[args.status])
        for held in found:
            print(line(held))
        return 0
    if args.review_command == "approve":
        bar = ProgressBar()
        try:
            held = review.approve(settings, args.turn_id, text=args.text, progress=bar)
        finally:
            bar.close()
    else:
        held = review.reject(settings, args.turn_id, args.reason)
    if args.json:
        print(json.dumps(held.to_dict(), ensure_ascii=False))
        return 0
    print(settled(held))
    return 0


def line(held: HeldReply) -> str:
    """One held reply on one line: turn, status, persona, when, the question and the reply."""
    return (f"{held.turn_id:<11} {held.review:<8} {held.persona:<12} {held.created_at[:16].replace('T', ' ')}  "
            f"{(held.question or '')[:50]!r} → {held.reply[:60]!r}")


def settled(held: HeldReply) -> str:
    if held.review == "rejected":
        return f"{held.turn_id} rejected: {held.review_reason}"
    said = [f"{held.turn_id} approved" + (" with your edit" if held.original is not None else "")]
    if held.audio_path:
        said.append(f"audio: {held.audio_path}")
    if held.job_id:
        said.append(f"video: job {held.job_id} → {held.video_path or held.job_status}")
    return "\n".join(said)
