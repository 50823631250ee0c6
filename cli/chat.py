"""``chat`` and ``conversations``: talk with a persona from the command line, and read back what was said.

``chat`` streams the reply to stdout as it is written; a progress bar on stderr covers the model
loading and thinking before it and a video render after it, never while the reply streams (the
two would garble one terminal line). Under the reply come the passages of the persona's documents
it was given, numbered as the reply cites them ("Sources: [1] handbook.md — Staff handbook ›
Holidays").

``chat --video --stream`` answers live (``pipeline.converse``): the reply streams to stdout as it is
written, and a line on stderr says when each sentence's segment is ready and where
(``segment 1 ready at 0.92 s: …/segment-000.mp4``). With ``--json`` it prints one JSON line per
segment as it is ready — ``{"segment": path, "text": the sentence, "t_s": seconds since the
question, "index", "duration_s", "timings"}`` — then the usual reply object last.
"""

from __future__ import annotations

import json
import sys

from pipeline.chat import Chat, ChatRequest
from pipeline.converse import converse
from pipeline.errors import BadInput, StudioError
from pipeline.knowledge import source_label
from pipeline.settings import resolve

from .output import ProgressBar, fail


def cmd_chat(args) -> int:
    settings = resolve()
    chat = Chat(settings)
    chat.jobs.mark_orphans_interrupted()
    request = ChatRequest(persona=args.persona, message=args.message, conversation_id=args.conversation,
                          mode=args.mode, llm=args.llm, model=args.model, output=args.output or "text",
                          temperature=args.temperature, max_tokens=args.max_tokens, use_cache=not args.no_cache,
                          controller=args.controller, hold=args.hold)
    if args.stream:
        if request.output != "video":
            return fail(BadInput("--stream answers with a live video: add --video"))
        return _chat_live(args, chat, request)
    streamed = []
    bars: list[ProgressBar] = []

    def progress(fraction: float, message: str) -> None:
        # A bar while the model loads and thinks, gone while the reply streams to stdout, and a
        # fresh one if a video is rendered afterwards (the two would garble one terminal line).
        if streamed and not args.json and message in ("thinking", "done"):
            return
        if not bars:
            if streamed and not args.json:
                print(flush=True)  # end the streamed reply's line before the render's bar
                streamed.append("\n")
            bars.append(ProgressBar())
        bars[-1](fraction, message)

    def close_bar() -> None:
        while bars:
            bars.pop().close()

    def on_token(chunk: str) -> None:  # the reply appears as it is written (text output only)
        if not args.json:
            if not streamed:
                close_bar()
                print(f"{args.persona}: ", end="", flush=True)
            print(chunk, end="", flush=True)
        streamed.append(chunk)

    try:
        reply = chat.ask(request, on_token=on_token, progress=progress)
    except StudioError as error:
        close_bar()
        if streamed and not args.json:
            print()
        job_id = getattr(error, "job_id", None)
        if args.json and job_id:
            print(json.dumps({"job_id": job_id, "error": str(error)}))
        return fail(error)
    except KeyboardInterrupt as interrupt:
        close_bar()
        job_id = getattr(interrupt, "job_id", None)
        print("\ninterrupted" + (f": continue the render with `python app.py resume {job_id}`" if job_id else ""),
              file=sys.stderr)
        return 130
    close_bar()
    return _print_reply(args, reply, ended_line=bool(streamed) and streamed[-1] == "\n")


def _chat_live(args, chat: Chat, request: ChatRequest) -> int:
    """``chat --video --stream``: see the module docstring."""
    shown = ""
    reply = None
    try:
        for event in converse(chat, request):
            if event.kind == "text" and not args.json:
                if not shown:
                    print(f"{args.persona}: ", end="", flush=True)
                print(event.text[len(shown):], end="", flush=True)
                shown = event.text
            elif event.kind == "segment":
                segment = event.segment
                if args.json:
                    print(json.dumps({"segment": str(segment.video), "text": segment.text, "t_s": round(event.t_s, 3),
                                      "index": segment.index, "duration_s": segment.duration_s,
                                      "timings": segment.timings}), flush=True)
                else:
                    print(f"segment {segment.index + 1} ready at {segment.ready_s:.2f} s: {segment.video}",
                          file=sys.stderr, flush=True)
            elif event.kind == "note":
                print(f"note: {event.note}", file=sys.stderr, flush=True)
            elif event.kind == "reply":
                reply = event.reply
    except StudioError as error:
        if shown and not args.json:
            print()
        return fail(error)
    except KeyboardInterrupt:
        print("\ninterrupted: what was said is kept in its job (python app.py jobs)", file=sys.stderr)
        return 130
    if reply is None:
        return fail(StudioError("the live reply ended without a reply"))
    return _print_reply(args, reply, ended_line=False)


def _print_reply(args, reply, *, ended_line: bool) -> int:
    """The reply's closing lines (sources, notes, conversation, audio or video), or its JSON."""
    if args.json:
        print(json.dumps(reply.to_dict()))
        return 0
    if not ended_line:
        print()
    for line in source_lines(reply.sources):
        print(line)
    for note in reply.notes:
        print(f"note: {note}")
    facts = f"{reply.llm} {reply.model}, " + ("cached" if reply.cached else f"{reply.latency_s:.1f} s")
    print(f"[conversation {reply.conversation_id} · {facts}]")
    if reply.audio:
        print(f"audio: {reply.audio}")
    if reply.video:
        print(f"video: job {reply.job_id} → {reply.video}")
    return 0


def source_lines(sources: list[dict]) -> list[str]:
    """"Sources: [1] handbook.md — Staff handbook › Holidays", one source a line, aligned."""
    return [f"{'Sources:' if number == 1 else ' ' * len('Sources:')} [{number}] "
            f"{source_label(source['source'], source['locator'])}" for number, source in enumerate(sources, 1)]


REVIEW_MARKS = {"pending": "  [held for review]", "rejected": "  [rejected in review: {reason}]",
                "approved": "  [approved{edited}]"}


def cmd_conversations(args) -> int:
    chat = Chat(resolve())
    if args.conversation_id:
        conversation = chat.store.get(args.conversation_id)
        turns = chat.history(conversation.id)
        if args.json:
            print(json.dumps({**conversation.to_dict(), "turns": [turn.to_dict() for turn in turns]}))
            return 0
        print(f"{conversation.id} with {conversation.persona}" + (f" ({conversation.mode})" if conversation.mode else ""))
        for turn in turns:
            who = "you" if turn.role == "user" else conversation.persona
            extra = f"  [error: {turn.error}]" if turn.error else ""
            extra += f"  [video job {turn.job_id}]" if turn.job_id else ""
            extra += REVIEW_MARKS.get(turn.review, "").format(reason=turn.review_reason,
                                                              edited=" with your edit" if turn.original else "")
            print(f"{who}: {turn.content}{extra}")
            for line in source_lines(turn.sources):
                print(f"  {line}")
        return 0
    conversations = chat.store.list(persona=args.persona, limit=args.limit)
    if args.json:
        print(json.dumps([c.to_dict() for c in conversations]))
        return 0
    if not conversations:
        print('no conversations yet — try: python app.py chat --persona jenniel --message "Hello"')
    for c in conversations:
        print(f"{c.id}  {c.persona:<12} {c.mode or '':<10} {c.llm or '':<8} {(c.title or '')[:50]!r}")
    return 0
