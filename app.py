"""Avatar Studio entry point: argument parsing only.

    python app.py [--host H] [--port P] [--share] [--auth USER:PASS ...] [--auth-file FILE] [--no-browser]
                                       launch the studio (Gradio); --auth/--auth-file give it users
    python app.py hash-password        print a password's hash for an --auth-file line
    python app.py render --image IMG (--text TEXT | --audio FILE) [--set NAME=VALUE ...] [--json]
                         [--backend NAME] [--option KEY=VALUE ...] [--enhance NAME] [--burn-captions]
                         [--format as-is|1:1|9:16|16:9 [--background blurred|extended]]
    python app.py jobs [--json]        list recent jobs
    python app.py batch FILE [--executor local|ray] [--concurrency N] [--json]  render every row of a CSV/YAML
    python app.py resume JOB_ID [--backend NAME]  finish a failed or interrupted job
    python app.py chat --persona ID --message TEXT [--llm NAME] [--video [--stream]] [--hold|--no-hold] [--json]
    python app.py review list|approve|reject ...  replies held for your review
    python app.py conversations [ID]   list conversations, or show one
    python app.py transcribe FILE      speech to text
    python app.py voices [--json]      every TTS voice (your Piper voice files too), and why one cannot be used
    python app.py persona list|show|check ...

The CLI paths never import gradio. Errors print one readable line to stderr and exit non-zero
(2 for bad input, 1 for anything else); a mistake on the command line itself (a missing or
malformed flag, an argument that is not UTF-8) is one such line too, exit 2.
"""

from __future__ import annotations

import argparse
import signal
import sys


class OneLineParser(argparse.ArgumentParser):
    """A mistake on the command line is one ``error: …`` line and exit code 2, like every other bad
    input, instead of argparse's usage block (``--help`` still prints it)."""

    def error(self, message: str) -> None:
        self.exit(2, f"error: {message} — see python {self.prog} --help\n")


def whole_number(raw: str) -> int:
    """An argparse type: an int, refused in words (argparse names the flag)."""
    try:
        return int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {raw!r}") from None


def bounded_int(low: int, high: int):
    """An argparse type: a whole number from ``low`` to ``high``. (Ranges the pipeline checks itself —
    a render's size, a reply's length — are left to it, so the studio gets the same words.)"""
    def parse(raw: str) -> int:
        value = whole_number(raw)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value
    return parse


def undecodable_argument(argv: list[str]) -> str | None:
    """The error for the first argument that is not valid UTF-8 (Python keeps such bytes as lone
    surrogates, which nothing downstream — SQLite, the TTS, the terminal — can store or print)."""
    for argument in argv:
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError as error:
            shown = argument.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            byte = argument[error.start].encode("utf-8", "surrogateescape")[0]
            return (f"the argument {shown!r} is not valid UTF-8 (byte 0x{byte:02x} at character {error.start + 1}) "
                    "— set the terminal to UTF-8, or rename the file")
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="app.py", description="Avatar Studio: persona-driven talking avatars.")
    # No defaults here: studio.launch falls back on GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (a Space sets them).
    parser.add_argument("--host", help="studio: address to listen on (default $GRADIO_SERVER_NAME, else 127.0.0.1)")
    parser.add_argument("--port", type=int, help="studio: port (default $GRADIO_SERVER_PORT, else 7860)")
    parser.add_argument("--no-browser", action="store_true", help="studio: do not open a browser")
    parser.add_argument("--share", action="store_true", help="studio: also serve it on a public gradio.live link")
    parser.add_argument("--auth", metavar="USER:PASS", action="append",
                        help="studio: a user and their password (repeatable); with users, every job, conversation "
                             "and persona is its user's own. Visible in the process list: prefer --auth-file")
    parser.add_argument("--auth-file", metavar="FILE",
                        help="studio: users, one user:password (or user:hash from `app.py hash-password`) a line "
                             "(default $AVATAR_STUDIO_AUTH_FILE)")
    commands = parser.add_subparsers(dest="command")

    render = commands.add_parser("render", help="render a talking-head video")
    render.add_argument("--image", help="portrait image (png, jpg, webp, …); default: the --persona's portrait")
    speech = render.add_mutually_exclusive_group(required=True)
    speech.add_argument("--text", help="script for the avatar to say")
    speech.add_argument("--audio", help="audio file to lip-sync (wav, mp3, m4a, ogg, webm)")
    render.add_argument("--set", action="append", metavar="NAME=VALUE", default=[],
                        help="set a control (blink_rate, head_tilt, expression_intensity, mouth_openness, "
                             "eyebrow_raise) to a value 0–1; repeatable; set values always win")
    render.add_argument("--emotion", help="force the emotion (happy, sad, angry, fearful, disgusted, surprised, neutral)")
    render.add_argument("--backend", help="renderer: embedded (default), sadtalker (needs SADTALKER_DIR and a GPU), "
                                          "heygen, did")
    render.add_argument("--option", action="append", metavar="KEY=VALUE", default=[],
                        help="the renderer's own option; repeatable. sadtalker: size=256|512, preprocess=crop|full, "
                             "pose_style=0–45, batch_size=1–64 (default: the SADTALKER_* settings)")
    render.add_argument("--enhance", metavar="NAME", help="run a face enhancer on the rendered video: gfpgan "
                                                          "(needs the GPU extras and its weights)")
    render.add_argument("--burn-captions", action="store_true",
                        help="draw the captions into the video too (they are always written beside it as "
                             "output.vtt and output.srt)")
    render.add_argument("--format", dest="output_format", choices=["as-is", "1:1", "9:16", "16:9"],
                        help="frame the video for where it is posted, the face in the format's safe area "
                             "(default as-is)")
    render.add_argument("--background", choices=["blurred", "extended"],
                        help="around a framed video: the picture blurred (default) or its edges extended")
    render.add_argument("--avatar-id", help="heygen: a HeyGen avatar instead of the portrait (default: HEYGEN_AVATAR_ID)")
    render.add_argument("--vendor-voice", help="heygen/did: the vendor speaks the script with this voice id "
                                               "(default: HEYGEN_VOICE_ID / DID_VOICE_ID)")
    render.add_argument("--voice", help="TTS voice (default: the bundled en_US-joe-medium)")
    render.add_argument("--size", type=whole_number, help="long side of the video in px, 256–1080 (default 512)")
    render.add_argument("--seed", type=whole_number, default=0, help="seed for blinks and sway (default 0)")
    render.add_argument("--face", type=whole_number, metavar="N",
                        help="in a group photo, the face to animate, counted from the left (default: the largest)")
    render.add_argument("--persona", help="persona id: its portrait, voice and default controls (yours win)")
    render.add_argument("--controller", choices=["rules", "llm"],
                        help="who proposes the controls: the rule-based controller (default) or an LLM")
    render.add_argument("--llm", help="LLM backend for --controller llm: local, mistral, gemini, openai")
    render.add_argument("--out", help="also copy the finished MP4 here (and its captions beside it: the same name "
                                      "with .vtt and .srt)")
    render.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    batch = commands.add_parser("batch", help="render every row of a CSV or YAML file, each a job in the history")
    batch.add_argument("file", nargs="?", help="the batch file (.csv, .yaml): columns portrait or persona, text or "
                                               "audio, and optionally voice, emotion, backend, face, size, seed, "
                                               "enhance, "
                                               "format, background, controller, output and the five controls")
    batch.add_argument("--executor", choices=["local", "ray"],
                       help="where rows run: local worker processes (default) or Ray (RAY_ADDRESS: a cluster's "
                            "address, or 'local' to start Ray here; needs bash scripts/setup.sh --scale)")
    batch.add_argument("--concurrency", type=bounded_int(1, 1024),
                       help="rows rendered at once (default: this machine's cores)")
    batch.add_argument("--out-dir", help="copy each video (and its captions) here, named by the row's output "
                                         "column (default: a folder beside the file, FILE-videos)")
    batch.add_argument("--new", action="store_true",
                       help="start a new batch even if this file was run before (default: resume its last batch, "
                            "whose finished rows are not run again)")
    batch.add_argument("--resume", metavar="BATCH_ID", help="run the unfinished rows of this batch")
    batch.add_argument("--list", action="store_true", help="list batches, newest first")
    batch.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    jobs = commands.add_parser("jobs", help="list recent jobs, newest first")
    jobs.add_argument("--limit", type=bounded_int(1, 10_000), default=20)
    jobs.add_argument("--status", choices=["queued", "running", "done", "failed", "interrupted"])
    jobs.add_argument("--json", action="store_true")

    resume = commands.add_parser("resume", help="finish a failed or interrupted job from where it stopped")
    resume.add_argument("job_id")
    resume.add_argument("--backend", help="finish it on this renderer instead (its speech and controls are kept)")
    resume.add_argument("--json", action="store_true")

    chat = commands.add_parser("chat", help="ask a persona something; optionally speak or render the reply")
    chat.add_argument("--persona", required=True, help="persona id (python app.py persona list)")
    chat.add_argument("--message", required=True, help="what to ask")
    chat.add_argument("--llm", help="LLM backend: local (offline default), mistral, gemini, openai")
    chat.add_argument("--model", help="model for that backend (default: the persona's or the configured one)")
    chat.add_argument("--mode", help="persona mode, e.g. role-play (new conversations only)")
    chat.add_argument("--conversation", help="continue this conversation id")
    output = chat.add_mutually_exclusive_group()
    output.add_argument("--video", dest="output", action="store_const", const="video",
                        help="render the reply as a talking-head video")
    output.add_argument("--no-video", dest="output", action="store_const", const="text", help="text only (default)")
    output.add_argument("--speak", dest="output", action="store_const", const="audio",
                        help="speak the reply (audio only, instant)")
    chat.add_argument("--controller", choices=["rules", "llm"], help="with --video: who proposes the controls")
    chat.add_argument("--stream", action="store_true",
                      help="with --video: speak and draw the reply sentence by sentence as it is written, each "
                           "segment playable as soon as it is ready (--json: one line per segment)")
    hold = chat.add_mutually_exclusive_group()
    hold.add_argument("--hold", dest="hold", action="store_const", const=True,
                      help="hold this conversation's replies for your review (python app.py review)")
    hold.add_argument("--no-hold", dest="hold", action="store_const", const=False,
                      help="deliver this conversation's replies, whatever its persona says (default: as the "
                           "persona says)")
    chat.add_argument("--no-cache", action="store_true", help="ask the model even if this was answered before")
    chat.add_argument("--max-tokens", type=whole_number, default=200,
                      help="longest reply in tokens, 1–4096 (default 200)")
    chat.add_argument("--temperature", type=float, default=0.7, help="0 (predictable) to 2 (default 0.7)")
    chat.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    conversations = commands.add_parser("conversations", help="list conversations, or show one with its turns")
    conversations.add_argument("conversation_id", nargs="?")
    conversations.add_argument("--persona", help="only this persona's")
    conversations.add_argument("--limit", type=bounded_int(1, 10_000), default=20)
    conversations.add_argument("--json", action="store_true")

    transcribe = commands.add_parser("transcribe", help="speech to text (wav, mp3, m4a, ogg, webm, …)")
    transcribe.add_argument("file")
    transcribe.add_argument("--backend", help="faster-whisper (default) or openai-whisper")
    transcribe.add_argument("--model", help="model name or path (default: the bundled tiny.en)")
    transcribe.add_argument("--language", help="language code, e.g. en (default: detect)")
    transcribe.add_argument("--json", action="store_true")

    voices = commands.add_parser("voices", help="every TTS voice: the bundled one and your Piper voice files "
                                                "(AVATAR_STUDIO_VOICES_DIR, voices/ in the data folder), and why "
                                                "one cannot be used")
    voices.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    backends = commands.add_parser("backends", help="list every backend (plugins included), whether it can run "
                                                    "here and why not, and each renderer's controls and options")
    backends.add_argument("--kind", choices=["renderer", "enhancer", "tts", "stt", "llm"], help="only this kind")
    backends.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    commands.add_parser("hash-password", help="read a password (typed, or one line on stdin) and print its hash "
                                              "for an --auth-file line: user:<hash>")

    knowledge = commands.add_parser("knowledge", help="documents a persona answers from: add, list, remove, search")
    knowledge_commands = knowledge.add_subparsers(dest="knowledge_command", required=True,
                                                  metavar="add|list|remove|search")
    knowledge_add = knowledge_commands.add_parser("add", help="read files into a persona's knowledge (PDF, DOCX, "
                                                             "Markdown, text, HTML); a file of the same name is replaced")
    knowledge_add.add_argument("--persona", required=True)
    knowledge_add.add_argument("files", nargs="+", metavar="FILE")
    knowledge_add.add_argument("--json", action="store_true")
    knowledge_list = knowledge_commands.add_parser("list", help="the sources a persona has, with passage counts")
    knowledge_list.add_argument("--persona", required=True)
    knowledge_list.add_argument("--json", action="store_true")
    knowledge_remove = knowledge_commands.add_parser("remove", help="forget one source")
    knowledge_remove.add_argument("--persona", required=True)
    knowledge_remove.add_argument("source", help="the source's name, as knowledge list shows it")
    knowledge_search = knowledge_commands.add_parser("search", help="the passages that best answer a question")
    knowledge_search.add_argument("--persona", required=True)
    knowledge_search.add_argument("query")
    knowledge_search.add_argument("--k", type=bounded_int(1, 50), default=5, help="how many passages (1–50, default 5)")
    knowledge_search.add_argument("--mode", choices=["hybrid", "bm25", "vector"], default="hybrid",
                                  help="how to rank: both rankings fused (default), words only, or meaning only")
    knowledge_search.add_argument("--json", action="store_true")

    style = commands.add_parser("style", help="measure a creator's style from samples of their writing: "
                                              "signature phrases, sentence length, habits, typical samples")
    style.add_argument("files", nargs="+", metavar="FILE",
                       help="posts or captions (.txt/.md: one per paragraph), a transcript, a document, a CSV export")
    style.add_argument("--persona", metavar="ID", help="the persona the learned style is for (shown; kept with --save)")
    style.add_argument("--save", action="store_true",
                       help="keep the learned style in the persona (your copy, as the studio's Save does)")
    style.add_argument("--json", action="store_true")

    report = commands.add_parser("report", help="report a chat reply as inaccurate (its turn id: chat --json)")
    report.add_argument("turn_id")
    report.add_argument("--reason", help="what is wrong with it")
    report.add_argument("--correction", help="the right answer (it can become a knowledge note)")
    report.add_argument("--json", action="store_true")
    reports = commands.add_parser("reports", help="reported replies: list them, make a correction a knowledge "
                                                  "note, or dismiss one")
    reports_commands = reports.add_subparsers(dest="reports_command", required=True, metavar="list|note|dismiss")
    reports_list = reports_commands.add_parser("list", help="reports, newest first")
    reports_list.add_argument("--persona")
    reports_list.add_argument("--status", choices=["open", "noted", "dismissed"])
    reports_list.add_argument("--json", action="store_true")
    reports_note = reports_commands.add_parser("note", help="add the report's correction to its persona's knowledge")
    reports_note.add_argument("report_id")
    reports_note.add_argument("--correction", help="the right answer, if the report has none or it needs changing")
    reports_dismiss = reports_commands.add_parser("dismiss", help="close a report without a note")
    reports_dismiss.add_argument("report_id")

    review = commands.add_parser("review", help="replies held for your review: list them, approve one (as written "
                                                "or edited; then it is spoken or rendered as asked), reject one")
    review_commands = review.add_subparsers(dest="review_command", required=True, metavar="list|approve|reject")
    review_list = review_commands.add_parser("list", help="held replies, newest first")
    review_list.add_argument("--persona")
    review_list.add_argument("--status", choices=["pending", "approved", "rejected", "all"], default="pending",
                             help="which (default: pending)")
    review_list.add_argument("--json", action="store_true")
    review_approve = review_commands.add_parser("approve", help="deliver a held reply as its turn asked")
    review_approve.add_argument("turn_id")
    review_approve.add_argument("--text", help="your edit of the reply, delivered instead (the model's is kept)")
    review_approve.add_argument("--json", action="store_true")
    review_reject = review_commands.add_parser("reject", help="never deliver a held reply")
    review_reject.add_argument("turn_id")
    review_reject.add_argument("--reason", required=True, help="why (kept with the reply)")
    review_reject.add_argument("--json", action="store_true")

    analytics = commands.add_parser("analytics", help="what people ask a persona: questions per day, topics, "
                                                      "grounding and report rates, reply times")
    analytics.add_argument("--persona", required=True)
    analytics.add_argument("--days", type=bounded_int(1, 3650), default=30, help="the window, in days (default 30)")
    analytics.add_argument("--json", action="store_true")

    persona = commands.add_parser("persona", help="list, show or check personas")
    persona_commands = persona.add_subparsers(dest="persona_command", required=True, metavar="list|show|check")
    persona_list = persona_commands.add_parser("list", help="list personas")
    persona_list.add_argument("--json", action="store_true")
    persona_show = persona_commands.add_parser("show", help="show a persona's system prompt and fields")
    persona_show.add_argument("persona_id")
    persona_show.add_argument("--mode")
    persona_show.add_argument("--json", action="store_true")
    check = persona_commands.add_parser("check", help="ask a persona sample questions and score its replies")
    check.add_argument("persona_id")
    check.add_argument("--llm", help="LLM backend (default: the persona's or the configured one)")
    check.add_argument("--model")
    check.add_argument("--mode")
    check.add_argument("--question", action="append", help="ask this instead of the sample questions; repeatable")
    check.add_argument("--max-tokens", type=whole_number, default=200)
    check.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if (problem := undecodable_argument(argv)) is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    if args.command is None:
        from pipeline.errors import StudioError
        from studio.launch import launch

        try:
            return launch(host=args.host, port=args.port, open_browser=not args.no_browser, share=args.share,
                          auth=args.auth, auth_file=args.auth_file)
        except StudioError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    import cli

    signal.signal(signal.SIGTERM, cli.raise_interrupt)
    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
