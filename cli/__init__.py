"""The command-line commands behind ``app.py``: an interface over the pipeline, like ``studio/``.

``app.py`` parses the arguments and calls ``main(args)``; each command is one ``cmd_*`` function
taking those parsed arguments and returning the exit code: ``render`` (render, resume, jobs),
``chat`` (chat, conversations), ``personas`` (persona list / show / check), ``speech``
(transcribe, voices), ``users`` (hash-password), ``backends`` (what is installed and ready),
``knowledge`` (a persona's documents), ``style`` (a creator's writing, measured, and kept in a
persona with ``--save``), ``reports`` (replies found wrong), ``review`` (replies held for the
creator) and ``analytics`` (what people ask a persona). Nothing in ``pipeline/`` or ``personas/``
imports this package, and nothing here imports gradio.

Human output goes to stdout, the progress bar to stderr (``output.ProgressBar``), so ``--json``
output stays one clean JSON object. A ``StudioError`` becomes one ``error: …`` line on stderr and
exit code 2 (bad input) or 1 (``output.fail``); Ctrl-C, and SIGTERM through ``raise_interrupt``,
exit 130 and say how to resume.
"""

from __future__ import annotations

import importlib

from pipeline.errors import StudioError

from .output import fail

# command → (module, function); a command's module is imported when it runs, so a quick command
# (``jobs``) does not pay for loading the LLM, persona and speech code the others need.
COMMANDS = {"render": ("render", "cmd_render"), "jobs": ("render", "cmd_jobs"), "resume": ("render", "cmd_resume"),
            "batch": ("batch", "cmd_batch"),
            "chat": ("chat", "cmd_chat"), "conversations": ("chat", "cmd_conversations"),
            "transcribe": ("speech", "cmd_transcribe"), "voices": ("speech", "cmd_voices"),
            "persona": ("personas", "cmd_persona"),
            "hash-password": ("users", "cmd_hash_password"), "backends": ("backends", "cmd_backends"),
            "knowledge": ("knowledge", "cmd_knowledge"), "style": ("style", "cmd_style"),
            "report": ("reports", "cmd_report"), "reports": ("reports", "cmd_reports"),
            "review": ("review", "cmd_review"), "analytics": ("analytics", "cmd_analytics")}


def raise_interrupt(signum, frame):  # SIGTERM → the same clean "interrupted" path as Ctrl-C
    raise KeyboardInterrupt


def main(args) -> int:
    module, function = COMMANDS[args.command]
    command = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    try:
        return command(args)
    except StudioError as error:
        return fail(error)
