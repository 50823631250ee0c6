"""``knowledge add|list|remove|search``: what a persona knows, from the command line.

``add`` reads each file on its own: one that cannot be read is one ``error: …`` line naming it,
the others still go in, and the exit status is 2 when any file was refused (0 when all went in).
"""

from __future__ import annotations

import json
import sys

from pipeline.knowledge import Knowledge
from pipeline.settings import resolve

from .output import ProgressBar


def cmd_knowledge(args) -> int:
    knowledge = Knowledge(resolve())
    if args.knowledge_command == "add":
        bar = ProgressBar()
        try:
            added = knowledge.add(args.persona, args.files, progress=bar)
        finally:
            bar.close()
        for item in added:
            if not item.ok:
                print(f"error: {item.error}", file=sys.stderr)
        if args.json:
            print(json.dumps([item.to_dict() for item in added]))
        else:
            for item in added:
                if item.ok:
                    pages = f", {item.source.pages} pages" if item.source.pages else ""
                    print(f"added {item.name}: {item.source.kind}{pages}, {item.source.chunks} passages")
        return 0 if all(item.ok for item in added) else 2
    if args.knowledge_command == "list":
        sources = knowledge.sources(args.persona)
        if args.json:
            print(json.dumps([source.to_dict() for source in sources]))
        elif not sources:
            print(f"{args.persona} has no knowledge yet — try: python app.py knowledge add --persona "
                  f"{args.persona} FILE.pdf")
        for source in sources if not args.json else []:
            pages = f"{source.pages} pages" if source.pages else "-"
            print(f"{source.name:<40} {source.kind:<14} {pages:<10} {source.chunks:>5} passages  {source.added_at}")
        return 0
    if args.knowledge_command == "remove":
        knowledge.remove(args.persona, args.source)
        print(f"removed {args.source} from {args.persona}")
        return 0
    hits = knowledge.search(args.persona, args.query, args.k, mode=args.mode)
    if args.json:
        print(json.dumps([hit.to_dict() for hit in hits]))
        return 0
    for number, hit in enumerate(hits, start=1):
        where = f" — {hit.locator}" if hit.locator else ""
        print(f"[{number}] {hit.source}{where} (score {hit.score:.4f})\n    {hit.text[:300]}")
    return 0
