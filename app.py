"""Avatar Studio entry point: argument parsing only.

    python app.py                      launch the studio (Gradio)
    python app.py render --image IMG (--text TEXT | --audio FILE) [--set NAME=VALUE ...] [--json]
    python app.py jobs [--json]        list recent jobs
    python app.py resume JOB_ID        finish a failed or interrupted job

The CLI paths never import gradio. Errors print one readable line to stderr and exit non-zero
(2 for bad input, 1 for anything else).
"""

from __future__ import annotations

import argparse
import signal
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description="Avatar Studio: persona-driven talking avatars.")
    parser.add_argument("--host", default="127.0.0.1", help="studio: address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="studio: port (default 7860)")
    parser.add_argument("--no-browser", action="store_true", help="studio: do not open a browser")
    commands = parser.add_subparsers(dest="command")

    render = commands.add_parser("render", help="render a talking-head video")
    render.add_argument("--image", required=True, help="portrait image (png, jpg, webp, …)")
    speech = render.add_mutually_exclusive_group(required=True)
    speech.add_argument("--text", help="script for the avatar to say")
    speech.add_argument("--audio", help="audio file to lip-sync (wav, mp3, m4a, ogg, webm)")
    render.add_argument("--set", action="append", metavar="NAME=VALUE", default=[],
                        help="set a control (blink_rate, head_tilt, expression_intensity, mouth_openness, "
                             "eyebrow_raise) to a value 0–1; repeatable; set values always win")
    render.add_argument("--emotion", help="force the emotion (happy, sad, angry, fearful, disgusted, surprised, neutral)")
    render.add_argument("--backend", help="renderer (default: embedded)")
    render.add_argument("--voice", help="TTS voice (default: the bundled en_US-joe-medium)")
    render.add_argument("--size", type=int, help="long side of the video in px, 256–1080 (default 512)")
    render.add_argument("--seed", type=int, default=0, help="seed for blinks and sway (default 0)")
    render.add_argument("--persona", help="persona id to record with the job")
    render.add_argument("--out", help="also copy the finished MP4 here")
    render.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    jobs = commands.add_parser("jobs", help="list recent jobs, newest first")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument("--status", choices=["queued", "running", "done", "failed", "interrupted"])
    jobs.add_argument("--json", action="store_true")

    resume = commands.add_parser("resume", help="finish a failed or interrupted job from where it stopped")
    resume.add_argument("job_id")
    resume.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        from studio.launch import launch

        return launch(host=args.host, port=args.port, open_browser=not args.no_browser)
    from pipeline import cli

    signal.signal(signal.SIGTERM, cli.raise_interrupt)
    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
