"""The command-line commands behind ``app.py`` (parsing lives there).

Human output goes to stdout, the progress bar to stderr, so ``--json`` output stays one clean JSON
object. A ``StudioError`` becomes one ``error: …`` line on stderr and exit code 2 (bad input) or 1.

``render --option KEY=VALUE`` (a local renderer's own options, e.g. SadTalker's size) and
``--enhance NAME`` (a face enhancer) only shape the request: whether the renderer takes that
option, whether the enhancer exists and is installed, is the runner's check at submit, so a
refused request is still a failed job in the history, with the same message the studio shows.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

from .controls import parse_assignments
from .errors import BadInput, StudioError
from .jobs import Job, JobStore
from .runner import RenderRequest, Runner
from .settings import resolve


def raise_interrupt(signum, frame):  # SIGTERM → the same clean "interrupted" path as Ctrl-C
    raise KeyboardInterrupt


def render_result(job: Job) -> dict:
    return {
        "job_id": job.id, "status": job.status, "video": job.video_path, "duration_s": job.duration_s,
        "controls": job.controls_final, "emotion": job.emotion, "timings": job.timings,
        **({"error": job.error} if job.error else {}), **({"notes": job.notes} if job.notes else {}),
    }


class ProgressBar:
    """A tqdm bar on stderr showing the whole job's progress and the current stage."""

    def __init__(self) -> None:
        from tqdm import tqdm

        # Only on a terminal: a script reading stderr gets nothing but the one error line.
        self._bar = tqdm(total=100, file=sys.stderr, unit="%", leave=False, disable=not sys.stderr.isatty(),
                         bar_format="{desc:<10} {bar} {n:.0f}% [{elapsed}]")

    def __call__(self, fraction: float, message: str) -> None:
        self._bar.set_description_str(message, refresh=False)
        self._bar.n = round(fraction * 100, 1)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def check_out(out: str | None) -> Path | None:
    """Where ``--out`` will copy the finished video, checked before any work: a file name (not a
    folder) in a folder that exists — made here when missing — and that this user can write in."""
    if not out:
        return None
    path = Path(out).expanduser()
    if path.is_dir():
        raise BadInput(f"--out {out} is a folder; give a file name, e.g. {path / 'clip.mp4'}")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise BadInput(f"--out: cannot make the folder {folder}: part of that path is a file, not a folder") from None
    except OSError as error:
        raise BadInput(f"--out: cannot make the folder {folder} ({error.strerror or type(error).__name__})") from None
    try:  # the real test: permissions, read-only disks and special file systems all fail here
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as error:
        raise BadInput(f"--out: cannot write in {folder} ({error.strerror or type(error).__name__})") from None
    return path


def _copy_out(job: Job, out: Path) -> None:
    try:
        shutil.copyfile(job.video_path, out)
    except OSError as error:  # the disk filled up, the folder went away: the video itself is safe
        raise StudioError(f"the video is done ({job.video_path}) but copying it to {out} failed "
                          f"({error.strerror or type(error).__name__})") from None


def _run_job(runner: Runner, action, as_json: bool, out: Path | None = None) -> int:
    bar = ProgressBar()
    try:
        job = action(bar)
        if out:
            _copy_out(job, out)
    except StudioError as error:
        bar.close()
        job_id = getattr(error, "job_id", None)
        if as_json and job_id:
            print(json.dumps(render_result(runner.store.get(job_id))))
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, BadInput) else 1
    except KeyboardInterrupt as interrupt:
        bar.close()
        job_id = getattr(interrupt, "job_id", "JOB_ID")
        print(f"interrupted: continue with `python app.py resume {job_id}`", file=sys.stderr)
        return 130
    bar.close()
    if as_json:
        print(json.dumps(render_result(job)))
    else:
        for note in job.notes:
            print(f"note: {note}")
        print(f"done: job {job.id} → {out or job.video_path} ({job.duration_s:.2f} s, "
              f"emotion {job.emotion}, {sum(job.timings.values()):.1f} s to render)")
    return 0


def parse_options(items: list[str] | None) -> dict[str, int | float | str]:
    """``["size=512", "preprocess=full"]`` (``--option``) → ``{"size": 512, "preprocess": "full"}``:
    numbers become numbers, anything else stays text for the renderer to judge."""
    options: dict[str, int | float | str] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key or not raw:
            raise BadInput(f"--option expects KEY=VALUE, e.g. --option size=512; got {item!r}")
        options[key] = _number_or_text(raw)
    return options


def _number_or_text(raw: str) -> int | float | str:
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        number = float(raw)
    except ValueError:
        return raw
    return number if math.isfinite(number) else raw  # "nan" and "inf" are words here, not numbers


def cmd_render(args) -> int:
    settings = resolve()
    out = check_out(args.out)  # where the video goes is not part of the job: refused before one exists
    runner = Runner(settings)
    runner.store.mark_orphans_interrupted()
    try:
        controls = parse_assignments(args.set)
        renderer_options = parse_options(args.option)
        image, voice, emotion = args.image, args.voice, args.emotion
        if args.persona:  # the persona fills in what the command line left out
            from personas import PersonaStore

            store = PersonaStore(settings)
            defaults = store.render_defaults(store.get(args.persona))
            image = image or defaults.portrait
            voice = voice or defaults.voice
            emotion = emotion or defaults.emotion
            controls = {**defaults.controls, **controls}
        if image is None:
            raise BadInput("give a portrait with --image, or a --persona that has one")
        request = RenderRequest(
            image=image, text=args.text, audio=args.audio, persona=args.persona, backend=args.backend,
            controls=controls, emotion=emotion, voice=voice, max_side=args.size, seed=args.seed,
            controller=args.controller, llm=args.llm,
            hosted={k: v for k, v in {"avatar_id": args.avatar_id, "voice_id": args.vendor_voice}.items() if v},
            renderer_options=renderer_options, enhancer=args.enhance,
        )
    except StudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return _run_job(runner, lambda bar: runner.render(request, progress=bar), args.json, out)


def cmd_resume(args) -> int:
    runner = Runner(resolve())
    return _run_job(runner, lambda bar: runner.resume(args.job_id, progress=bar, backend=args.backend), args.json)


def cmd_jobs(args) -> int:
    store = JobStore(resolve().db_path)
    store.mark_orphans_interrupted()
    jobs = store.list(limit=args.limit, status=args.status)
    if args.json:
        print(json.dumps([job.summary() for job in jobs]))
        return 0
    if not jobs:
        print("no jobs yet — try: python app.py render --image assets/astronaut.png --text \"Hello!\"")
    for job in jobs:
        what = (job.text or job.options.get("audio_name") or "").replace("\n", " ")[:40]
        result = job.video_path if job.status == "done" else (job.error or "")
        print(f"{job.id}  {job.status:<11} {job.backend or '':<9} {what!r:<44} {result}")
    return 0


def _fail(error: StudioError) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 2 if isinstance(error, BadInput) else 1


def cmd_chat(args) -> int:
    from .chat import Chat, ChatRequest

    settings = resolve()
    chat = Chat(settings)
    chat.jobs.mark_orphans_interrupted()
    request = ChatRequest(persona=args.persona, message=args.message, conversation_id=args.conversation,
                          mode=args.mode, llm=args.llm, model=args.model, output=args.output or "text",
                          temperature=args.temperature, max_tokens=args.max_tokens, use_cache=not args.no_cache,
                          controller=args.controller)
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
        return _fail(error)
    except KeyboardInterrupt as interrupt:
        close_bar()
        job_id = getattr(interrupt, "job_id", None)
        print("\ninterrupted" + (f": continue the render with `python app.py resume {job_id}`" if job_id else ""),
              file=sys.stderr)
        return 130
    close_bar()
    if args.json:
        print(json.dumps(reply.to_dict()))
        return 0
    if not streamed or streamed[-1] != "\n":
        print()
    for note in reply.notes:
        print(f"note: {note}")
    facts = f"{reply.llm} {reply.model}, " + ("cached" if reply.cached else f"{reply.latency_s:.1f} s")
    print(f"[conversation {reply.conversation_id} · {facts}]")
    if reply.audio:
        print(f"audio: {reply.audio}")
    if reply.video:
        print(f"video: job {reply.job_id} → {reply.video}")
    return 0


def cmd_conversations(args) -> int:
    from .chat import Chat

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
            print(f"{who}: {turn.content}{extra}")
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


def cmd_transcribe(args) -> int:
    from .speech.stt import transcribe_file

    bar = ProgressBar()
    try:
        transcript = transcribe_file(resolve(), args.file, backend=args.backend, model=args.model,
                                     language=args.language, progress=bar)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(transcript.to_dict()))
    else:
        print(transcript.text)
    return 0


def cmd_persona(args) -> int:
    from personas import PersonaStore, build_system_prompt

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
    from personas.check import format_report, run_check, unanswered

    from .chat import check_reply_length, persona_llm

    build_system_prompt(persona, args.mode)  # an unknown mode, and
    check_reply_length(args.max_tokens)  # a reply length out of range, are refused before the model loads
    llm = persona_llm(settings, persona, args.llm, args.model)
    bar = ProgressBar()
    try:
        llm.prepare(progress=lambda fraction, message: bar(0.1 * fraction, message))
        report = run_check(persona, llm, questions=args.question, mode=args.mode, max_tokens=args.max_tokens,
                           progress=lambda fraction, message: bar(0.1 + 0.9 * fraction, message))
    finally:
        bar.close()
    print(json.dumps(report.to_dict()) if args.json else format_report(report))
    if (problem := unanswered(report)) is not None:  # the report above says what each question hit
        return _fail(StudioError(problem))
    return 0


def cmd_hash_password(args) -> int:
    """A password's hash for an auth file line (``user:<hash>``): typed twice at a terminal, else
    the first line of stdin — never an argument, which the process list would show."""
    from .passwords import hash_password

    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise BadInput("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    print(hash_password(password))
    return 0


def main(args) -> int:
    commands = {"render": cmd_render, "jobs": cmd_jobs, "resume": cmd_resume, "chat": cmd_chat,
                "conversations": cmd_conversations, "transcribe": cmd_transcribe, "persona": cmd_persona,
                "hash-password": cmd_hash_password}
    try:
        return commands[args.command](args)
    except StudioError as error:
        return _fail(error)
