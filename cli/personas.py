"""``persona list|show|check``: the personas from the command line. ``check`` asks as the chat
would, with the persona's documents and the examples of its creator's writing."""

from __future__ import annotations

import json
import sys

from personas import PersonaStore, build_system_prompt
from personas.check import format_report, run_check, unanswered
from pipeline.chat import check_reply_length, persona_llm
from pipeline.errors import StudioError
from pipeline.knowledge import Knowledge
from pipeline.settings import resolve

from .output import ProgressBar, fail


def cmd_persona(args) -> int:
    settings = resolve()
    store = PersonaStore(settings)
    if args.persona_command == "list":
        personas = store.list()
        if args.json:
            print(json.dumps([{"id": p.id, "name": p.name, "modes": [m.name for m in p.modes],
                               "origin": p.origin} for p in personas]))
        for persona in personas if not args.json else []:
            modes = ", ".join(m.name for m in persona.modes) or "-"
            print(f"{persona.id:<14} {persona.name:<20} {persona.origin or '':<15} modes: {modes}")
        for problem in store.problems():
            print(f"warning: {problem}", file=sys.stderr)
        return 0
    persona = store.get(args.persona_id)
    if args.persona_command == "show":
        prompt = build_system_prompt(persona, args.mode)
        if args.json:
            print(json.dumps({"persona": persona.to_data(), "system_prompt": prompt}))
        else:
            print(prompt)
        return 0
    build_system_prompt(persona, args.mode)  # an unknown mode, and
    check_reply_length(args.max_tokens)  # a reply length out of range, are refused before the model loads
    llm = persona_llm(settings, persona, args.llm, args.model)
    bar = ProgressBar()
    try:
        llm.prepare(progress=lambda fraction, message: bar(0.1 * fraction, message))
        report = run_check(persona, llm, questions=args.question, mode=args.mode, max_tokens=args.max_tokens,
                           progress=lambda fraction, message: bar(0.1 + 0.9 * fraction, message),
                           knowledge=Knowledge(settings), cache=settings.cache)
    finally:
        bar.close()
    print(json.dumps(report.to_dict()) if args.json else format_report(report))
    if (problem := unanswered(report)) is not None:  # the report above says what each question hit
        return fail(StudioError(problem))
    return 0
