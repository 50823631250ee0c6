"""Batch renders: a CSV or YAML file of rows, one render job each, run by an executor.

**The file.** A CSV with a header line, or YAML: a list of rows, or a mapping with ``rows:`` (a
list) and optional ``defaults:`` (values every row starts from). Columns (``COLUMNS``):

- a face: ``portrait`` (an image path) and/or ``persona`` (its portrait, voice, tuning, controls
  and emotion fill what the row leaves empty); a file needs one of the two columns;
- what is said: ``text`` or ``audio`` (a file); a file needs one of the two columns;
- optional: ``voice``, ``emotion``, ``backend``, ``face``, ``size``, ``seed``, ``enhance``,
  ``format``, ``background``, ``controller``, ``output`` (the video's file name), and the five
  controls by name (``blink_rate`` … ``eyebrow_raise``).

Paths are relative to the batch file's folder. An unknown column or a file without a face or a
speech column refuses the whole file before anything is made (a typo would otherwise be ignored in
every row); a row that cannot be read — too many values, not a mapping, no face, a portrait or
audio file that is not there, a value that is not a number — is a failed job with its message,
and the other rows run. Values the render itself judges (a control of 1.7 or "loud", an unknown
emotion or backend) fail that row's job at submit, in the words the CLI's ``render`` uses.

**Running it** (``BatchRunner``). Each row is a normal render job in the history, with the
batch's id and its row number. Rows run ``concurrency`` at a time on an executor
(``executors/``): ``local`` worker processes or ``ray`` actors. Workers never touch the database:
they send the job's changes back and this process records them, so the studio's SQLite history
stays the one record. A worker that dies mid-job has its job run again once (from the stage it
reached, in this folder); a second death fails the job with the reason. Hosted renders (HeyGen,
D-ID) run here, not on a worker: they only wait on the vendor, and their vendor id is recorded here
before the first poll, so no resume or retry ever submits one twice.

**Stopping and resuming.** A stopped batch (Ctrl-C, the studio's Stop, a killed driver) keeps every
finished row; running it again (the same file, or ``--resume ID``) runs only the rest: rows whose
job is ``done`` or ``failed`` are never run again, an interrupted job goes on from its stage. The
same file given again after its batch finished reopens that batch (nothing to do); ``--new`` (the
studio's "as a new batch") renders it all again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .controls import CONTROL_NAMES
from .db import Job, JobStore, new_job_id, now
from .db.batches import FINISHED, Batch, BatchStore
from .downloads import deliverables, linked
from .errors import BadInput, StudioError
from .runner import RenderRequest, Runner
from .settings import Settings

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]

FACE_COLUMNS = ("portrait", "persona")
SPEECH_COLUMNS = ("text", "audio")
OPTIONAL_COLUMNS = ("voice", "emotion", "backend", "face", "size", "seed", "enhance", "format", "background",
                    "controller", "output")
COLUMNS = (*FACE_COLUMNS, *SPEECH_COLUMNS, *OPTIONAL_COLUMNS, *CONTROL_NAMES)
WHOLE_NUMBERS = ("face", "size", "seed")
PATH_COLUMNS = ("portrait", "audio")
MAX_ROWS = 10_000
MAX_FILE_BYTES = 5 * 1024 * 1024
OUTPUT_NAME = re.compile(r"^[\w][\w .-]{0,99}$")


@dataclass
class BatchFile:
    """A batch file as read: its rows (a dict of set values each, or ``{"error": …}``)."""

    name: str
    sha256: str
    rows: list[dict[str, Any]]
    folder: Path

    @property
    def bad_rows(self) -> int:
        return sum(1 for row in self.rows if "error" in row)


def read_batch_file(path: str | Path, *, resolve_path: Callable[[str, Path], Path] | None = None) -> BatchFile:
    """Read and check a batch file (see the module docstring). ``resolve_path(value, folder)``
    turns a path cell into a file (default: relative to the file's folder); the studio passes one
    that only finds the files uploaded with the batch."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"no batch file at {path}") from None
    except IsADirectoryError:
        raise BadInput(f"{path} is a folder; give a .csv or .yaml batch file") from None
    except OSError as error:
        raise BadInput(f"cannot read the batch file {path} ({error.strerror or type(error).__name__})") from None
    if len(data) > MAX_FILE_BYTES:
        raise BadInput(f"the batch file is {len(data) / 1e6:.1f} MB; at most {MAX_FILE_BYTES // 2**20} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput("the batch file is not UTF-8 text: save it as UTF-8 CSV or YAML") from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        header, raw_rows = _csv_rows(text)
    elif suffix in (".yaml", ".yml"):
        header, raw_rows = _yaml_rows(text)
    else:
        raise BadInput(f"a batch file is .csv, .yaml or .yml, not {path.suffix or 'a file without an extension'}")
    _check_header(header)
    if not raw_rows:
        raise BadInput("the batch file has no rows")
    if len(raw_rows) > MAX_ROWS:
        raise BadInput(f"the batch file has {len(raw_rows)} rows; at most {MAX_ROWS} in one batch")
    folder = path.resolve().parent
    resolve_path = resolve_path or _relative_to
    rows: list[dict[str, Any]] = []
    outputs: dict[str, int] = {}
    for number, raw in enumerate(raw_rows, start=1):
        try:
            row = _row(raw, folder, resolve_path)
            output = row.get("output") or f"row-{number:03d}"
            if output in outputs:
                raise BadInput(f"the output name {output!r} is row {outputs[output]}'s too")
            outputs[output] = number
            row["output"] = output
        except BadInput as error:  # kept with what it says, for the history to show
            said = {name: str(raw[name]) for name in ("text", "persona", "output")
                    if isinstance(raw, dict) and raw.get(name)}
            row = {"error": str(error), **said}
        rows.append(row)
    return BatchFile(name=path.name, sha256=hashlib.sha256(data).hexdigest(), rows=rows, folder=folder)


def _csv_rows(text: str) -> tuple[list[str], list[Any]]:
    try:
        reader = csv.reader(io.StringIO(text))
        lines = [line for line in reader if any(cell.strip() for cell in line)]
    except csv.Error as error:
        raise BadInput(f"the CSV cannot be read: {error}") from None
    if not lines:
        raise BadInput("the batch file is empty: it needs a header line (e.g. portrait,text) and rows")
    header = [cell.strip().lower() for cell in lines[0]]
    rows: list[Any] = []
    for line in lines[1:]:
        if len(line) > len(header):
            rows.append(f"it has {len(line)} values but the header has {len(header)} columns")
            continue
        rows.append({name: cell for name, cell in zip(header, line)})
    return header, rows


def _yaml_rows(text: str) -> tuple[list[str], list[Any]]:
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise BadInput(f"the YAML cannot be read{where}: {getattr(error, 'problem', None) or error}") from None
    defaults: dict = {}
    if isinstance(document, dict):
        unknown = set(document) - {"rows", "defaults"}
        if unknown:
            raise BadInput(f"a YAML batch file has rows: and defaults:, not {', '.join(sorted(map(str, unknown)))}")
        defaults = document.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise BadInput("defaults: must be a mapping of column: value")
        document = document.get("rows")
    if not isinstance(document, list):
        raise BadInput("a YAML batch file is a list of rows, or a mapping with rows: (a list)")
    rows: list[Any] = []
    names = {str(name).strip().lower() for name in defaults}
    for item in document:
        if not isinstance(item, dict):
            rows.append(f"a row is a mapping of column: value, got {type(item).__name__}")
            continue
        row = {str(k).strip().lower(): v for k, v in {**defaults, **item}.items()}
        names.update(row)
        rows.append(row)
    return sorted(names), rows


def _check_header(header: list[str]) -> None:
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise BadInput(f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                       f"a batch file's columns are: {', '.join(COLUMNS)}")
    if not any(name in header for name in FACE_COLUMNS):
        raise BadInput("the batch file has no portrait or persona column: every row needs a face")
    if not any(name in header for name in SPEECH_COLUMNS):
        raise BadInput("the batch file has no text or audio column: every row needs something to say")
    for name in set(header):
        if header.count(name) > 1:
            raise BadInput(f"the column {name!r} appears twice")


def _relative_to(value: str, folder: Path) -> Path:
    return (folder / Path(value).expanduser()).resolve()


def _row(raw: Any, folder: Path, resolve_path: Callable[[str, Path], Path]) -> dict[str, Any]:
    if isinstance(raw, str):  # what the reader could not make into a row
        raise BadInput(raw)
    row: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue  # an empty cell: not set
        if isinstance(value, (dict, list)):
            raise BadInput(f"{name} is a single value, got a {type(value).__name__}")
        row[name] = value.strip() if isinstance(value, str) else value
    if not any(name in row for name in FACE_COLUMNS):
        raise BadInput("no portrait and no persona: the row needs a face")
    if not any(name in row for name in SPEECH_COLUMNS):
        raise BadInput("no text and no audio: the row needs something to say")
    for name in PATH_COLUMNS:
        if name in row:
            found = resolve_path(str(row[name]), folder)
            if not found.is_file():
                raise BadInput(f"the {name} {row[name]} is not there")
            row[name] = str(found)
    for name in WHOLE_NUMBERS:
        if name in row:
            row[name] = _whole(name, row[name])
    for name in CONTROL_NAMES:
        if name in row:
            row[name] = _number(row[name])  # a word stays a word: the render's check names it
    if "text" in row:
        row["text"] = str(row["text"])
    if "output" in row:
        output = str(row["output"])
        output = output[:-4] if output.lower().endswith(".mp4") else output
        if not OUTPUT_NAME.match(output) or output.strip(". ") != output:
            raise BadInput(f"the output name {row['output']!r} is not a plain file name (letters, digits, "
                           "spaces, '.', '-', '_'; no folders)")
        row["output"] = output
    return row


def _whole(name: str, value: Any) -> int:
    try:
        number = float(value)
        if not math.isfinite(number) or number != int(number):
            raise ValueError
        return int(number)
    except (TypeError, ValueError):
        raise BadInput(f"{name} must be a whole number, got {value!r}") from None


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return number if math.isfinite(number) else value


def row_request(row: dict[str, Any], settings: Settings, *, owner: str | None = None) -> RenderRequest:
    """The render request a (readable) row makes; a persona fills what the row leaves empty."""
    image, voice, emotion = row.get("portrait"), row.get("voice"), row.get("emotion")
    controls = {name: row[name] for name in CONTROL_NAMES if name in row}
    tuning = None
    if row.get("persona"):
        from personas import PersonaStore

        store = PersonaStore(settings, owner=owner)
        defaults = store.render_defaults(store.get(str(row["persona"])))
        image = image or defaults.portrait
        voice = voice or defaults.voice
        emotion = emotion or defaults.emotion
        tuning = defaults.voice_tuning
        controls = {**defaults.controls, **controls}
    if image is None:
        raise BadInput(f"the persona {row['persona']} has no portrait: give the row a portrait")
    return RenderRequest(
        image=image, text=row.get("text"), audio=row.get("audio"), persona=row.get("persona"),
        backend=row.get("backend"), controls=controls, emotion=emotion, voice=voice, voice_tuning=tuning,
        max_side=row.get("size"), face=row.get("face"), seed=row.get("seed", 0), controller=row.get("controller"),
        enhancer=row.get("enhance"), output_format=row.get("format"), background=row.get("background"),
    )


@dataclass
class BatchReport:
    """Where a batch stands after a run: rows per state, and whether it was stopped."""

    batch: Batch
    counts: dict[str, int]
    stopped: bool
    seconds: float

    @property
    def total(self) -> int:
        return len(self.batch.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch.id, "name": self.batch.name, "rows": self.total, "counts": self.counts,
                "stopped": self.stopped, "seconds": round(self.seconds, 2), "out_dir": self.batch.out_dir,
                "executor": self.batch.executor, "concurrency": self.batch.concurrency}


def new_batch_id() -> str:
    return "batch-" + new_job_id()


def default_executor(settings: Settings) -> str:
    """Batches run on Ray when the settings send renders there (``AVATAR_STUDIO_EXECUTOR=ray``),
    else on local worker processes."""
    return "ray" if settings.executor == "ray" else "local"


def default_concurrency() -> int:
    return max(1, os.cpu_count() or 1)


class BatchRunner:
    """Makes batches from files and runs them (see the module docstring)."""

    def __init__(self, settings: Settings, *, owner: str | None = None, store: JobStore | None = None) -> None:
        self.settings = settings
        self.owner = owner
        self.store = (store or JobStore(settings.db_path)).for_owner(owner)
        self.batches = BatchStore(settings.db_path).for_owner(owner)
        self.runner = Runner(settings, self.store)

    # -- making ------------------------------------------------------------------------------------
    def open(self, batch_file: BatchFile, *, out_dir: str | Path | None, executor: str, concurrency: int,
             new: bool = False) -> tuple[Batch, bool]:
        """The batch for this file: the last one made from the same content (resumed: its unfinished
        rows run, a finished one has nothing left to do), or with ``new`` a new one. Running the same
        file twice never renders, or pays for, its rows twice by accident. Returns the batch and
        whether it was an earlier one."""
        if not new:
            found = self.batches.latest_with_source(batch_file.sha256)
            if found is not None:
                return found, True
        batch = self.batches.create(new_batch_id(), name=batch_file.name, rows=batch_file.rows,
                                    source_sha256=batch_file.sha256,
                                    out_dir=str(Path(out_dir).resolve()) if out_dir else None,
                                    executor=executor, concurrency=concurrency)
        return batch, False

    def _make_jobs(self, batch: Batch, tell: Callable[[str], None]) -> None:
        """A job for every row that has none yet: a bad row's job is failed with its message."""
        states = self.batches.rows(batch.id)
        waiting = [state.row for state in states if state.job_id is None]
        for count, number in enumerate(waiting, start=1):
            row = batch.rows[number - 1]
            tagged = {"batch_id": batch.id, "batch_row": number}
            if "error" in row:
                self.runner.record_refused(str(row["error"]), text=row.get("text"), persona=row.get("persona"),
                                           **tagged)
            else:
                try:
                    self.runner.submit(row_request(row, self.settings, owner=self.owner), **tagged)
                except StudioError as error:
                    if getattr(error, "job_id", None) is None:  # refused before its job existed (a persona)
                        self.runner.record_refused(str(error), text=row.get("text"),
                                                   persona=row.get("persona"), **tagged)
            if count % 10 == 0 or count == len(waiting):
                tell(f"prepared {count} of {len(waiting)} rows")

    # -- running -----------------------------------------------------------------------------------
    def run(self, batch_id: str, *, executor: str | None = None, concurrency: int | None = None,
            progress: Progress | None = None, stop: threading.Event | None = None) -> BatchReport:
        from .executors import create_executor

        progress = progress or (lambda fraction, message: None)
        stop = stop or threading.Event()
        began = time.perf_counter()
        self.store.mark_orphans_interrupted()
        batch = self.batches.get(batch_id)
        if batch.status == "running" and batch.pid != os.getpid():  # a dead driver's batch reads as stopped
            raise BadInput(f"batch {batch_id} is running in process {batch.pid}")
        executor = executor or batch.executor or default_executor(self.settings)
        concurrency = max(1, int(concurrency or batch.concurrency or default_concurrency()))
        self.batches.update(batch_id, status="running", pid=os.getpid(), executor=executor, concurrency=concurrency)
        total = len(batch.rows)
        engine = None
        try:
            if any(state.status not in FINISHED for state in self.batches.rows(batch_id)):
                progress(0.0, f"starting the {executor} executor")
                engine = create_executor(executor, self.settings, concurrency)  # before any job is made
            self._make_jobs(batch, lambda message: progress(0.0, message))
            states = self.batches.rows(batch_id)
            pending = [state.job_id for state in states if state.status not in FINISHED]
            for state in states:
                if state.status == "done":
                    self._deliver(batch, state.row, self.store.get(state.job_id))
            if pending and engine is not None:
                self._run_rows(engine, batch, pending, concurrency, total - len(pending), progress, stop)
        finally:
            if engine is not None:
                engine.close()
            self._interrupt_unfinished(batch_id, stop)
            counts = self.batches.counts(batch_id)
            unfinished = sum(n for status, n in counts.items() if status not in FINISHED)
            self.batches.update(batch_id, status="stopped" if unfinished else "finished", pid=None,
                                finished_at=None if unfinished else now())
        return BatchReport(self.batches.get(batch_id), counts, stopped=bool(unfinished),
                           seconds=time.perf_counter() - began)

    def _run_rows(self, engine, batch: Batch, pending: list[str], concurrency: int, finished_before: int,
                  progress: Progress, stop: threading.Event) -> None:
        """The pending rows' jobs, ``concurrency`` at a time, with one progress bar for the batch. A
        stop (the event, Ctrl-C) stops the workers at once: their jobs are left to be resumed."""
        total = len(batch.rows)
        fractions: dict[str, float] = {}
        finished = [finished_before]
        lock = threading.Lock()

        def tell(message: str) -> None:
            with lock:
                share = (finished[0] + sum(fractions.values())) / total
            progress(min(1.0, share), message)

        def one(job_id: str) -> None:
            if stop.is_set():
                return
            job = self.store.get(job_id)

            def job_progress(fraction: float, message: str) -> None:
                with lock:
                    fractions[job_id] = fraction
                tell(f"row {job.batch_row}: {message}")

            try:
                self._run_job(engine, job, job_progress, stop)
            except Exception as error:  # a bug: this row fails, the others go on
                log.exception("batch row %s", job.batch_row)
                self.store.update(job_id, status="failed", finished_at=now(),
                                  error=f"unexpected error: {type(error).__name__}: {error}")
            with lock:
                fractions.pop(job_id, None)
                finished[0] += 1
            done = self.store.get(job_id)
            if done.status == "done":
                self._deliver(batch, done.batch_row, done)
            tell(f"row {done.batch_row} {done.status}")

        tell(f"{finished_before} of {total} rows finished; {len(pending)} to run on {engine.name} × {concurrency}")
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="batch") as pool:
            futures = [pool.submit(one, job_id) for job_id in pending]
            try:
                while not all(future.done() for future in futures):
                    if stop.wait(0.25):
                        engine.stop()  # the rows being rendered end now; the rest never start
                        break
            except KeyboardInterrupt:  # before the pool waits for the rows' threads
                stop.set()
                engine.stop()
                raise
        for future in futures:
            future.result()

    def _interrupt_unfinished(self, batch_id: str, stop: threading.Event) -> None:
        """Jobs this driver left queued or running (it was stopped) become ``interrupted``."""
        for state in self.batches.rows(batch_id):
            if state.job_id and state.status in ("queued", "running"):
                self.store.update(state.job_id, status="interrupted", finished_at=now(),
                                  error="stopped with its batch before it finished; run the batch again to continue")

    def _run_job(self, engine, job: Job, progress: Progress, stop: threading.Event) -> None:
        from .executors import is_hosted, run_with_retry

        if is_hosted(job, self.settings):  # waits on a vendor: here, where its id is recorded before the first poll
            try:
                self.runner.run(job.id, progress=progress)
            except StudioError:
                pass  # recorded on the job
            return
        run_with_retry(engine, self.runner, job.id, progress=progress, stop=stop)

    def _deliver(self, batch: Batch, number: int, job: Job) -> None:
        """A done row's video (and captions) in the batch's out folder, if it has one, under the row's
        output name: hard links where the disk allows (no second copy of the video), else copies."""
        if not batch.out_dir or not job.video_path:
            return
        name = batch.rows[number - 1].get("output") or f"row-{number:03d}"
        try:
            for source in deliverables(self.settings.job_dir(job.id)).values():
                linked(source, Path(batch.out_dir) / f"{name}{source.suffix}")
        except OSError as error:
            self.runner.log(job.id, f"could not copy the video to {batch.out_dir}: {error.strerror or error}")
