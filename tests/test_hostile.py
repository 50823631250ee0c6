"""Hostile and careless inputs (issue 12): every one a clear error, never a traceback.

One row per kind of mistake, as a person would make it: what they typed, and what they must see —
the exit code (2 for bad input, 1 otherwise), exactly one ``error: …`` line on stderr that starts
with the row's message, and for a render whether the job was recorded as failed with that same
message (so the history shows what the terminal said) or no job at all (the command line itself
could not be read, or where the video goes was refused before any work).

Rows run in this process through ``app.main`` — the whole command, parsing included — with the
file descriptors captured (``capfd``), so a native library writing to fd 2 would break a row too.
No row renders a video: each fails at the command line, at submit, or in the inputs, speech or
chat checks, and the ones that need an LLM answer use the scripted ``FakeLLM``.

To add a row, append a ``Row`` to ``ROWS``: ``args`` may name files in the test's folder as
``{tmp}/NAME`` where ``NAME`` is a key of ``FILES`` (made on demand), and ``env`` may point
settings there too. The studio and its API go through the same pipeline checks: their rows can
be added with ``surface="api"`` and a runner in ``SURFACES`` taking the same ``Row``.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from audio_fixtures import write_wav
from PIL import Image

import fake_llm
from pipeline.db import JobStore
from pipeline.errors import RemoteError
from pipeline.llm import llms

FAILED, NO_JOB = "failed", "no job"  # ``Row.job``; None: not checked (the store itself is the problem)
ASTRONAUT = "assets/astronaut.png"
DONE_JOB = "20260101-000000-d0d0d0"

# Files a row can name as {tmp}/NAME, made only for the rows that use them.
FILES: dict[str, Callable[[Path], object]] = {
    "empty.png": lambda path: path.write_bytes(b""),
    "notes.png": lambda path: path.write_text("meeting notes, renamed to look like a picture"),
    "folder.png": lambda path: path.mkdir(),
    "poster.png": lambda path: Image.new("1", (9000, 8000)).save(path),  # 72 megapixels in a few KB
    "empty.wav": lambda path: path.write_bytes(b""),
    "noise.mp3": lambda path: path.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, np.uint8).tobytes()),
    "notes.wav": lambda path: path.write_text("not a recording"),
    "silent.wav": lambda path: write_wav(path, np.zeros(32000), 16000),
    "blocker": lambda path: path.write_text("a file where the data folder should be"),
    "damaged/studio.db": lambda path: path.write_bytes(bytes(range(256)) * 64),
}


@dataclass(frozen=True)
class Row:
    id: str
    args: tuple[str, ...]  # after ``app.py``
    message: str | None  # what the one stderr line says after "error: " (its start); None: no error
    code: int = 2
    job: str | None = NO_JOB  # FAILED, NO_JOB, or None when the store cannot be opened at all
    env: dict[str, str] = field(default_factory=dict)
    llm_answers: tuple = ()  # a FakeLLM registered as "fake" gives these (an exception is raised)
    stdout: str | None = None  # for rows that succeed: what is printed
    surface: str = "cli"


def render(*extra: str) -> tuple[str, ...]:
    return ("render", "--image", ASTRONAUT, *extra)


ROWS = [
    # -- render: the script -------------------------------------------------------------------------
    Row("script with NUL", render("--text", "Hello\x00world"), "The script contains a control character (NUL, "
        "U+0000) at character 6 — remove it; only tabs and line breaks may be in a script.", job=FAILED),
    Row("script with an escape code", render("--text", "\x1b[31mRed\x1b[0m alert"),
        "The script contains a control character (ESC, U+001B) at character 1", job=FAILED),
    Row("script of punctuation only", render("--text", "?!…"), "The script has nothing to speak", job=FAILED),
    Row("script over 5000 characters", render("--text", "word " * 1200),
        "The script is 5,999 characters long; the limit is 5,000", job=FAILED),
    Row("script not UTF-8", render("--text", "caf\udce9"), "the argument 'caf\ufffd' is not valid UTF-8 (byte 0xe9 at "
        "character 4) — set the terminal to UTF-8, or rename the file"),
    # -- render: --set ------------------------------------------------------------------------------
    Row("--set unknown control", render("--text", "hi", "--set", "smile=0.5"), "unknown control 'smile'; known: "
        "blink_rate, head_tilt, expression_intensity, mouth_openness, eyebrow_raise", job=FAILED),
    Row("--set NaN", render("--text", "hi", "--set", "mouth_openness=nan"),
        "mouth_openness must be a number between 0 and 1, got 'nan'", job=FAILED),
    Row("--set inf", render("--text", "hi", "--set", "head_tilt=inf"),
        "head_tilt must be a number between 0 and 1, got 'inf'", job=FAILED),
    Row("--set without =", render("--text", "hi", "--set", "mouth_openness"),
        "mouth_openness has no value; set it as mouth_openness=VALUE with VALUE a number between 0 and 1", job=FAILED),
    Row("--set a word", render("--text", "hi", "--set", "blink_rate=often"),
        "blink_rate must be a number between 0 and 1, got 'often'", job=FAILED),
    # -- render: other options ----------------------------------------------------------------------
    Row("--size out of range", render("--text", "hi", "--size", "100"), "size must be between 256 and 1080 px, "
        "got 100", job=FAILED),
    Row("--size not a number", render("--text", "hi", "--size", "big"), "argument --size: expected a whole number, "
        "got 'big' — see python app.py render --help"),
    Row("--seed not a number", render("--text", "hi", "--seed", "x"), "argument --seed: expected a whole number"),
    Row("--seed negative", render("--text", "hi", "--seed", "-1"), "seed must be 0 or more, got -1", job=FAILED),
    Row("unknown --backend", render("--text", "hi", "--backend", "sadtaker"), "renderer 'sadtaker' not found; "
        "known: embedded", code=1, job=FAILED),
    Row("unknown --emotion", render("--text", "hi", "--emotion", "smug"), "unknown emotion 'smug'; choose one of: ",
        job=FAILED),
    Row("unknown --voice", render("--text", "hi", "--voice", "robot"), "unknown voice 'robot'; known voices: ",
        job=FAILED),
    Row("--text and --audio", render("--text", "hi", "--audio", "assets/sample_speech.mp3"),
        "argument --audio: not allowed with argument --text"),
    # -- render: --out --------------------------------------------------------------------------------
    Row("--out is a folder", render("--text", "hi", "--out", "{tmp}"), "--out {tmp} is a folder; give a file "
        "name, e.g. {tmp}/clip.mp4"),
    Row("--out under a file", render("--text", "hi", "--out", "{tmp}/blocker/clip.mp4"),
        "--out: cannot make the folder {tmp}/blocker: part of that path is a file, not a folder"),
    Row("--out where nobody may write", render("--text", "hi", "--out", "/sys/clip.mp4"),
        "--out: cannot write in /sys (Permission denied)"),
    # -- render: the portrait and the recording ------------------------------------------------------
    Row("missing --image", ("render", "--image", "{tmp}/nope.png", "--text", "hi"), "portrait not found: nope.png",
        job=FAILED),
    Row("a folder as --image", ("render", "--image", "{tmp}/folder.png", "--text", "hi"),
        "portrait not found: folder.png", job=FAILED),
    Row("an empty --image", ("render", "--image", "{tmp}/empty.png", "--text", "hi"),
        "could not read 'empty.png' as an image: unknown or corrupt image format", job=FAILED),
    Row("a text file renamed .png", ("render", "--image", "{tmp}/notes.png", "--text", "hi"),
        "could not read 'notes.png' as an image: unknown or corrupt image format", job=FAILED),
    Row("a PNG too large to decode", ("render", "--image", "{tmp}/poster.png", "--text", "hi"),
        "'poster.png' is 9000×8000 px; a PNG is decoded at full size, so the limit for it is 64 megapixels",
        job=FAILED),
    Row("an empty --audio", render("--audio", "{tmp}/empty.wav"),
        "The audio file 'empty.wav' is empty (0 bytes) — upload it again.", job=FAILED),
    Row("a corrupt --audio", render("--audio", "{tmp}/noise.mp3"),
        "could not read the audio file 'noise.mp3': it is not a supported audio format or is damaged", job=FAILED),
    # -- the data folder -------------------------------------------------------------------------------
    Row("garbage studio.db", ("jobs",), "studio.db at {tmp}/damaged/studio.db is not a SQLite database (file is "
        "not a database) — move it aside and run again; a new one will be created",
        env={"AVATAR_STUDIO_HOME": "{tmp}/damaged"}, job=None),
    Row("garbage studio.db, render", render("--text", "hi"), "studio.db at {tmp}/damaged/studio.db is not a SQLite "
        "database", env={"AVATAR_STUDIO_HOME": "{tmp}/damaged"}, job=None),
    Row("data folder under a file", ("chat", "--persona", "adam", "--message", "hi"), "the data folder "
        "{tmp}/blocker/home cannot be written (Not a directory) — set AVATAR_STUDIO_HOME to a folder this user can "
        "write", env={"AVATAR_STUDIO_HOME": "{tmp}/blocker/home"}, job=None),
    # -- jobs and resume --------------------------------------------------------------------------------
    Row("jobs --limit 0", ("jobs", "--limit", "0"), "argument --limit: must be between 1 and 10000, got 0"),
    Row("jobs --limit huge", ("jobs", "--limit", "99999999999999999999"), "argument --limit: must be between 1 and "
        "10000, got 99999999999999999999"),
    Row("resume an unknown id", ("resume", "20990101-000000-abcdef"), "no job with id '20990101-000000-abcdef' — "
        "`python app.py jobs` lists them"),
    Row("resume a done job", ("resume", DONE_JOB), f"job {DONE_JOB} is already done — its video is", job=None),
    # -- chat -------------------------------------------------------------------------------------------
    Row("chat: unknown persona", ("chat", "--persona", "nobody", "--message", "hi"),
        "no persona 'nobody'; known: adam, jenniel"),
    Row("chat: unknown mode", ("chat", "--persona", "jenniel", "--mode", "dance", "--message", "hi"),
        "persona 'jenniel' has no mode 'dance'; its modes: lecture, office-hours"),
    Row("chat: unknown conversation", ("chat", "--persona", "jenniel", "--conversation", "c-nope", "--message", "hi"),
        "no conversation with id 'c-nope' — `python app.py conversations` lists them"),
    Row("chat: empty message", ("chat", "--persona", "jenniel", "--message", "  "),
        "type a message for the persona to answer"),
    Row("chat: 5000-character message", ("chat", "--persona", "jenniel", "--message", "x" * 5000),
        "the message is 5000 characters long; the limit is 4000"),
    Row("chat: temperature NaN", ("chat", "--persona", "jenniel", "--message", "hi", "--temperature", "nan"),
        "the temperature must be a number from 0 to 2 (0 is the most predictable), got nan"),
    Row("chat: temperature -1", ("chat", "--persona", "jenniel", "--message", "hi", "--temperature=-1"),
        "the temperature must be a number from 0 to 2 (0 is the most predictable), got -1"),
    Row("chat: a billion tokens", ("chat", "--persona", "jenniel", "--message", "hi", "--max-tokens", "1000000000"),
        "a reply of up to 1,000,000,000 tokens is longer than a chat reply may be (4,096 tokens, about 3,000 words) "
        "— ask for 4,096 or fewer"),
    Row("chat: the backend fails", ("chat", "--persona", "jenniel", "--message", "hi", "--llm", "fake"),
        "mistral answered 503: down for maintenance", code=1, llm_answers=(RemoteError(
            "mistral answered 503: down for maintenance"),)),
    Row("conversations: unknown id", ("conversations", "c-nope"), "no conversation with id 'c-nope'"),
    # -- transcribe ---------------------------------------------------------------------------------------
    Row("transcribe a missing file", ("transcribe", "{tmp}/gone.wav"),
        "The audio file 'gone.wav' was not found — upload it again."),
    Row("transcribe a text file", ("transcribe", "{tmp}/notes.wav"), "could not read the audio file 'notes.wav': "
        "it is not a supported audio format or is damaged"),
    Row("transcribe an empty file", ("transcribe", "{tmp}/empty.wav"), "The audio file 'empty.wav' is empty"),
    Row("transcribe a folder", ("transcribe", "{tmp}/folder.png"), "'folder.png' is a folder, not an audio file."),
    Row("transcribe silence", ("transcribe", "{tmp}/silent.wav"), None, code=0, stdout="\n"),
    # -- personas -----------------------------------------------------------------------------------------
    Row("persona show: unknown id", ("persona", "show", "nobody"), "no persona 'nobody'; known: adam, jenniel"),
    Row("persona: no subcommand", ("persona",), "the following arguments are required: list|show|check"),
    Row("persona check: unknown mode", ("persona", "check", "adam", "--mode", "nope"),
        "persona 'adam' has no mode 'nope'; its modes: training, role-play"),
    Row("persona check: reply length 0", ("persona", "check", "adam", "--max-tokens", "0"),
        "the reply length must be at least 1 token, got 0"),
    Row("persona check: every question fails", ("persona", "check", "jenniel", "--llm", "fake", "--question", "One?",
        "--question", "Two?"), "no question got an answer from fake (scripted): all 2 failed, the first with: "
        "mistral answered 503: down for maintenance", code=1,
        llm_answers=(RemoteError("mistral answered 503: down for maintenance"),) * 2),
]


def _filled(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp))


def _make_files(row: Row, tmp: Path) -> None:
    named = " ".join([*row.args, *row.env.values()])
    for name, make in FILES.items():
        if "{tmp}/" + name.split("/")[0] in named:  # "damaged/studio.db" is made for "{tmp}/damaged"
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            make(tmp / name)


def _record_a_done_job(home: Path) -> None:
    JobStore(home / "studio.db").create(id=DONE_JOB, status="done", text="Already said.",
                                        video_path=str(home / "jobs" / DONE_JOB / "output.mp4"))


def run_cli_row(row: Row, capfd) -> tuple[int, str, str]:
    import app as entry

    sigterm = signal.getsignal(signal.SIGTERM)  # app.main turns SIGTERM into an interrupt: not for pytest
    try:
        code = entry.main(list(row.args))
    except SystemExit as exit_:  # argparse's way out, as the process would end
        code = exit_.code
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    out, err = capfd.readouterr()
    return code, out, err


SURFACES = {"cli": run_cli_row}


@pytest.fixture
def fake_backend():
    """A FakeLLM registered as "fake" for the rows that need an answer, removed afterwards."""
    fake = fake_llm.install()
    yield fake
    llms.unregister("fake")


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_a_hostile_input_is_one_clear_line(row, tmp_path, studio_home, monkeypatch, capfd, fake_backend):
    if "/sys/" in " ".join(row.args) and not os.path.isdir("/sys"):
        pytest.skip("needs /sys, a folder no one may write in")
    _make_files(row, tmp_path)
    for name, value in row.env.items():
        monkeypatch.setenv(name, _filled(value, tmp_path))
    if DONE_JOB in row.args:
        _record_a_done_job(studio_home)
    fake_backend.enqueue(*row.llm_answers)
    row = Row(**{**row.__dict__, "args": tuple(_filled(arg, tmp_path) for arg in row.args)})

    code, out, err = SURFACES[row.surface](row, capfd)

    assert code == row.code, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    if row.message is None:
        assert err == "" and (row.stdout is None or out == row.stdout)
        return
    message = _filled(row.message, tmp_path)
    [line] = err.splitlines() or [""]
    assert line.startswith("error: " + message), err
    if row.job is None:
        return
    store_path = studio_home / "studio.db"
    jobs = JobStore(store_path).list() if store_path.exists() else []
    if row.job == NO_JOB:
        assert jobs == [], f"{row.id}: a job was recorded: {jobs[0].error if jobs else ''}"
    else:
        [job] = jobs
        assert (job.status, job.error) == ("failed", line.removeprefix("error: "))
